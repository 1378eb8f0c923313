"""clapldm: text-to-audio generation and editing with CLAP-conditioned latent diffusion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clapldm.version import __version__

if TYPE_CHECKING:
    from clapldm.pipeline import AudioLDM, GenerationOutput

__all__ = ["AudioLDM", "GenerationOutput", "load_model", "__version__"]


def load_model(model: str | None = None, device: str = "cpu", **kwargs: Any) -> AudioLDM:
    """Same as `AudioLDM.from_pretrained`."""
    from clapldm.pipeline import AudioLDM

    return AudioLDM.from_pretrained(model, device=device, **kwargs)


def __getattr__(name: str) -> Any:
    # Lazy: `import clapldm` stays cheap (torch loads only when a model is used).
    if name in ("AudioLDM", "GenerationOutput"):
        from clapldm import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
