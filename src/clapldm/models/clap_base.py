"""What every CLAP encoder shares: the `TextAudioEncoder` protocol and input helpers.

`LaionClap` (models/clap.py) and `CompactClap` (models/compact_clap.py) both build on this
module and never on each other; `load_clap` (models/clap.py) picks one by a folder's
config.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import soxr
import torch
from torch import nn

from clapldm.errors import InvalidInputError


@runtime_checkable
class TextAudioEncoder(Protocol):
    """What the pipeline and training need from a CLAP: one space for text and audio.

    Implementations are ``nn.Module`` s (so ``.to(device)`` moves them) and return float32
    L2-normalised rows.
    """

    embed_dim: int  # D, the length of every embedding
    sample_rate: int  # Hz that embed_audio works at (other rates are resampled)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """B prompts -> (B, D) float32, unit L2 norm."""
        ...

    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """(B, samples) float waveform at ``sample_rate`` Hz -> (B, D) float32, unit L2 norm."""
        ...

    def save_pretrained(self, folder: str | os.PathLike[str]) -> None:
        """Write ``config.json`` (ClapConfig) and weights so `load_clap` reads them back."""
        ...

    def to(self, device: torch.device | str) -> Any:
        """Move to a device (``nn.Module.to``)."""
        ...


def check_texts(texts: list[str]) -> None:
    """Raise `InvalidInputError` unless ``texts`` is a non-empty list of strings."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise InvalidInputError(f"embed_text takes a list of strings, got {type(texts).__name__}")
    if not texts:
        raise InvalidInputError("embed_text needs at least one text")
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise InvalidInputError(f"embed_text takes strings only, got {bad[0]}")


def as_wave_batch(wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Validate a waveform: (samples,) or (B, samples) finite float -> (B, samples)."""
    if not isinstance(wave, torch.Tensor):
        raise InvalidInputError(f"embed_audio takes a torch.Tensor, got {type(wave).__name__}")
    if wave.dim() == 1:
        wave = wave.unsqueeze(0)
    if wave.dim() != 2:
        raise InvalidInputError(f"embed_audio expects (B, samples), got {tuple(wave.shape)}")
    if wave.shape[0] == 0 or wave.shape[1] == 0:
        raise InvalidInputError(f"embed_audio got an empty waveform {tuple(wave.shape)}")
    if sample_rate <= 0:
        raise InvalidInputError(f"sample rate must be positive, got {sample_rate}")
    if not torch.isfinite(wave).all():
        raise InvalidInputError("embed_audio got non-finite samples (NaN or Inf)")
    return wave if wave.is_floating_point() else wave.float()


def resample_batch(wave: torch.Tensor, sample_rate: int, target_rate: int) -> torch.Tensor:
    """(B, samples) at ``sample_rate`` -> (B, samples') float32 at ``target_rate`` (soxr HQ).

    Runs on the CPU in numpy (no gradient); returns a tensor on the input's device.
    Equal rates return the input unchanged.
    """
    if sample_rate == target_rate:
        return wave
    frames_by_channel = wave.detach().to("cpu", torch.float64).numpy().T  # (samples, B)
    resampled = soxr.resample(
        np.ascontiguousarray(frames_by_channel), sample_rate, target_rate, "HQ"
    )
    if resampled.ndim == 1:
        resampled = resampled[:, None]
    return torch.from_numpy(np.ascontiguousarray(resampled.T, dtype=np.float32)).to(wave.device)


def weights_stamp(module: nn.Module) -> tuple[Any, ...]:
    """Changes whenever a weight changes: in place (version counter), moved, or replaced.

    Tensors created under ``torch.inference_mode`` keep no version counter; for those
    only moves and replacements are seen.
    """
    tensors = [*module.parameters(), *module.buffers()]
    return tuple((t.device, t.dtype, t.data_ptr(), tensor_version(t)) for t in tensors)


def tensor_version(tensor: torch.Tensor) -> int:
    try:
        return int(tensor._version)
    except RuntimeError:  # inference tensor
        return -1


class EmptyTextCache:
    """Caches the embedding of "" — CFG's unconditional text, requested on every call.

    One per encoder instance (never global); the entry is dropped as soon as any weight
    or buffer of the encoder changes, moves device or dtype.
    """

    def __init__(self) -> None:
        self._stamp: tuple[Any, ...] | None = None
        self._value: torch.Tensor | None = None

    def embed(
        self,
        module: nn.Module,
        texts: list[str],
        compute: Callable[[list[str]], torch.Tensor],
        *,
        enabled: bool = True,
    ) -> torch.Tensor:
        """``compute(texts)`` (B, D), with rows for "" served from the cache when enabled."""
        empty_rows = [i for i, text in enumerate(texts) if text == ""]
        if not enabled or not empty_rows:
            return compute(texts)
        stamp = weights_stamp(module)
        if self._value is None or self._stamp != stamp:
            self._value = compute([""])[0].detach().clone()
            self._stamp = stamp
        others = [i for i, text in enumerate(texts) if text != ""]
        rows = self._value.unsqueeze(0).expand(len(texts), -1).clone()
        if others:
            rows[others] = compute([texts[i] for i in others]).to(rows.dtype)
        return rows
