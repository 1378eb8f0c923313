"""Weight files for the evaluation backbones: safe loading and explicit, opt-in download.

Nothing here touches the network unless ``download_file`` is called, which only happens
when a user asks for it (``clapldm eval --download``); offline it raises
``ModelLoadError`` with the URL, so the file can be fetched by hand and passed with
``--cnn14-weights`` / ``--vggish-weights``.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import torch

from clapldm.errors import ModelLoadError
from clapldm.fileio import atomic_write

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The folder downloaded weights go to: $CLAPLDM_EVAL_CACHE or ~/.cache/clapldm/eval."""
    override = os.environ.get("CLAPLDM_EVAL_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "clapldm" / "eval"


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch ``.pth``/``.pt``/``.ckpt`` file.

    Torch files are read with ``weights_only=True`` (never unpickling code). A checkpoint
    that wraps its weights (PANNs saves ``{"model": state_dict, ...}``, Lightning
    ``{"state_dict": ...}``) is unwrapped. Non-tensor entries are dropped.
    Raises ``ModelLoadError`` for a missing, unreadable or tensor-free file.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelLoadError(f"weights file not found: {file}")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: object = load_file(str(file))
        else:
            raw = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code, wrong format, ...
        raise ModelLoadError(f"cannot read weights file {file}: {exc}") from exc
    if isinstance(raw, Mapping):
        for wrapper_key in ("model", "state_dict"):
            inner = raw.get(wrapper_key)
            if isinstance(inner, Mapping):
                raw = inner
                break
    if not isinstance(raw, Mapping):
        raise ModelLoadError(f"weights file {file} does not hold a state dict")
    state = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise ModelLoadError(f"weights file {file} holds no tensors")
    return state


def download_file(url: str, destination: Path, *, timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` (atomically: temp file + rename); return the path.

    Does nothing if the file already exists. Raises ``ModelLoadError`` when offline or on
    any HTTP/IO error, naming the URL so it can be fetched by hand.
    """
    if destination.is_file():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s -> %s", url, destination)
    try:
        with (
            atomic_write(destination) as out,
            urllib.request.urlopen(url, timeout=timeout_s) as response,
        ):
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ModelLoadError(
            f"cannot download {url} ({exc}); download it by hand and pass the file path"
        ) from exc
    return destination
