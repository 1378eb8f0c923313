"""The aiSFX sound-effects embedding network, read from the ``aisfx`` PyPI package's checkpoint.

aiSFX (Ma, Chen, Lerch; ISMIR 2022; CC-BY-4.0) is a 9-layer CNN (DCASE cross-task
baseline) trained to classify professional sound-effects libraries; its 512-d embedding
(mean over frequency, max over time of the last conv block) describes sound effects well.
Its package pins old numpy/librosa, so it is never imported: `aisfx_checkpoint_path` finds
``aisfx/models/checkpoint.pth`` inside the installed package (``pip install --no-deps
aisfx==0.1.2``) and `load_aisfx_trunk` reads it with ``torch.load(weights_only=True)``
into this module's own classes.

Front end (the package's librosa path): 44.1 kHz, peak-normalised, |STFT|^2 with a
2048-sample periodic Hann window and hop 1024 (23 ms), centred with reflect padding; 96
HTK-scale mel filters 0-22050 Hz, each scaled to unit L1 norm; ``log10(1e4 * mel + 1)``
divided by 9.4578 (the package's "original" min-max range). Frames are time-major.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clapldm.errors import ModelLoadError

AISFX_PACKAGE = "aisfx"
AISFX_VERSION = "0.1.2"
SAMPLE_RATE = 44100
N_FFT = 2048
HOP_LENGTH = 1024
N_MELS = 96
# The package's spec_norm="original": min 0, max 9.457798957824707 over its training data.
SPEC_MAX = 9.457798957824707
# The network was trained on blocks of 100 frames (~2.3 s); shorter inputs are padded with
# silence (0 in this log scale) up to one block.
BLOCK_FRAMES = 100
EMBED_DIM = 512
CHANNELS = (64, 128, 256, 512)


def htk_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float
) -> np.ndarray:
    """Triangular filters on the HTK mel scale, each scaled to unit L1 norm.

    Returns (n_mels, n_fft // 2 + 1) float64: librosa ``filters.mel(htk=True, norm=1.0)``.
    """

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    edges = mel_to_hz(
        np.linspace(hz_to_mel(np.array(f_min)), hz_to_mel(np.array(f_max)), n_mels + 2)
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    norms = weights.sum(axis=1, keepdims=True)
    return weights / np.where(norms > 0, norms, 1.0)


class AisfxFrontEnd(nn.Module):
    """(B, samples) at 44.1 kHz -> (B, frames, 96) normalised log-mel, frames >= 100."""

    filters: torch.Tensor  # (96, 1025) mel filterbank
    window: torch.Tensor  # (2048,) periodic Hann

    def __init__(self) -> None:
        super().__init__()
        filters = htk_mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS, 0.0, SAMPLE_RATE / 2)
        self.register_buffer("filters", torch.from_numpy(filters).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        wave = wave.float()
        peak = wave.abs().amax(dim=1, keepdim=True)
        wave = wave / torch.where(peak > 0, peak, torch.ones_like(peak))
        if wave.shape[1] <= N_FFT // 2:  # reflect padding needs more samples than it pads
            wave = F.pad(wave, (0, N_FFT // 2 + 1 - wave.shape[1]))
        spec = (
            torch.stft(
                wave,
                N_FFT,
                HOP_LENGTH,
                window=self.window,
                center=True,
                pad_mode="reflect",
                return_complex=True,
            )
            .abs()
            .pow(2)
        )  # (B, freq, frames)
        mel = torch.matmul(self.filters, spec).transpose(1, 2)  # (B, frames, mels)
        logmel = torch.log10(mel * 1e4 + 1.0) / SPEC_MAX
        if logmel.shape[1] < BLOCK_FRAMES:
            logmel = F.pad(logmel, (0, 0, 0, BLOCK_FRAMES - logmel.shape[1]))
        return logmel


class AisfxConvBlock(nn.Module):
    """(Conv3x3-BN-ReLU) x2 then max pooling: (B, Cin, T, F) -> (B, Cout, T/p, F/p)."""

    def __init__(self, in_channels: int, out_channels: int, pool: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, self.pool) if self.pool > 1 else x


class AisfxTrunk(nn.Module):
    """The aiSFX embedding network: (B, frames, 96) -> (B, 512), not normalised.

    Four conv blocks (64, 128, 256, 512 channels; 2x2 max pooling after the first three),
    mean over frequency, max over time. Key names match the checkpoint's ``embedding_net.``.
    """

    conv_block1: AisfxConvBlock
    conv_block2: AisfxConvBlock
    conv_block3: AisfxConvBlock
    conv_block4: AisfxConvBlock

    def __init__(self) -> None:
        super().__init__()
        widths = (1, *CHANNELS)
        pools = (2, 2, 2, 1)
        for index, pool in enumerate(pools):
            block = AisfxConvBlock(widths[index], widths[index + 1], pool)
            self.add_module(f"conv_block{index + 1}", block)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        x = logmel.unsqueeze(1)  # (B, 1, T, F)
        x = self.conv_block1(x)
        x = self.conv_block2(x)
        x = self.conv_block3(x)
        x = self.conv_block4(x)  # (B, 512, T/8, F/8)
        return x.mean(dim=3).amax(dim=2)


def aisfx_checkpoint_path() -> Path:
    """``checkpoint.pth`` inside the installed ``aisfx`` package (the package is not imported)."""
    try:
        spec = importlib.util.find_spec(AISFX_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the aiSFX weights come from the PyPI package {AISFX_PACKAGE!r}, which is not "
            f"installed; install it with `pip install --no-deps {AISFX_PACKAGE}=={AISFX_VERSION}`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "checkpoint.pth"
    if not path.is_file():
        raise ModelLoadError(f"package {AISFX_PACKAGE!r} holds no models/checkpoint.pth ({path})")
    return path


def read_aisfx_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The trunk's state dict from an aiSFX ``checkpoint.pth`` (a pickled ``(weights,
    datasets)`` pair), read with ``weights_only=True``: only tensors and plain values load.
    """
    # The pickle names numpy scalars by their numpy 1.x path (numpy.core.multiarray.scalar).
    scalar = np._core.multiarray.scalar  # type: ignore[attr-defined]
    allowed: list[Any] = [
        (scalar, "numpy.core.multiarray.scalar"),
        np.dtype,
        type(np.dtype("int64")),
        type(np.dtype("float64")),
    ]
    try:
        with torch.serialization.safe_globals(allowed):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a load error
        raise ModelLoadError(f"{path}: not a readable aiSFX checkpoint ({exc})") from None
    weights = loaded[0] if isinstance(loaded, tuple) else loaded
    prefix = "embedding_net."
    trunk = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    if not trunk:
        raise ModelLoadError(f"{path}: no embedding_net.* weights")
    return trunk


def load_aisfx_trunk(path: str | Path | None = None) -> AisfxTrunk:
    """The pretrained trunk (eval mode) from ``path`` or the installed package."""
    trunk = AisfxTrunk()
    state = read_aisfx_checkpoint(path or aisfx_checkpoint_path())
    try:
        trunk.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelLoadError(f"aiSFX weights do not fit the network: {exc}") from None
    return trunk.eval()


class AisfxEmbedder(nn.Module):
    """Waveform at 44.1 kHz (B, samples) -> aiSFX embedding (B, 512), not normalised."""

    def __init__(self, trunk: AisfxTrunk | None = None) -> None:
        super().__init__()
        self.front_end = AisfxFrontEnd()
        self.trunk = trunk if trunk is not None else AisfxTrunk()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.front_end(wave))


__all__ = [
    "AISFX_PACKAGE",
    "AISFX_VERSION",
    "EMBED_DIM",
    "SAMPLE_RATE",
    "AisfxEmbedder",
    "AisfxFrontEnd",
    "AisfxTrunk",
    "aisfx_checkpoint_path",
    "htk_mel_filterbank",
    "load_aisfx_trunk",
    "read_aisfx_checkpoint",
]
