"""Editing with a text-to-audio LDM, no retraining: an edit is what is known, and where.

Each editing mode of `AudioLDM` (pipeline.py) turns its input into the arguments of
`AudioLDM.sample`: an initial latent (the input's), a latent mask (1 keep, 0 generate) and
a `PasteBack` (the input samples put back into the decoded audio). This module builds
those pieces; it knows nothing of the pipeline.

- transfer: the input latent noised to the level `strength` selects, then denoised.
- inpaint: a time mask; before every model call the kept region is the real latent
  noised to the current level, after the last step the real latent.
- super-resolve: the same with a frequency mask (latent bins above the cutoff generated).
- extend: windowed outpainting, each window an inpaint with its overlap kept.

The output waveform keeps the input samples wherever the user asked to keep them,
cross-faded into the generated audio over `CROSSFADE_SECONDS` inside the generated part.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf
import torch

from clapldm.audio.io import read_audio, to_mono_resampled
from clapldm.audio.mel import hz_to_mel, mel_to_hz
from clapldm.config import MelConfig
from clapldm.errors import AudioReadError, InvalidInputError

CROSSFADE_SECONDS = 0.05  # raised-cosine fade placed inside each generated region
MAX_INPUT_SECONDS = 3600.0
MIN_INPUT_SECONDS = 0.05


# ------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class InputClip:
    """An input clip: `wave` (samples,) mono float32 at the model rate, and the rate the
    clip came at (`native_rate`, Hz: nothing above its Nyquist is real)."""

    wave: np.ndarray
    native_rate: int


def load_input(audio: Any, sample_rate: int | None, target_rate: int) -> InputClip:
    """A path, array or tensor (arrays need `sample_rate`) -> mono clip at `target_rate`."""
    if isinstance(audio, (str, os.PathLike, bytes)):
        if isinstance(audio, bytes):
            raise InvalidInputError("pass audio as a file path or an array with sample_rate=")
        try:
            native_rate = sf.info(os.fspath(audio)).samplerate
        except Exception:  # noqa: BLE001 - read_audio below gives the precise error
            native_rate = target_rate
        wave = read_audio(audio, target_rate, max_seconds=MAX_INPUT_SECONDS)
        return InputClip(_check_length(wave, target_rate, os.fspath(audio)), int(native_rate))
    if sample_rate is None:
        raise InvalidInputError("an in-memory audio array needs sample_rate=")
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    array = np.asarray(audio, dtype=np.float32)
    if array.size == 0:
        raise AudioReadError("the audio array is empty")
    if not np.isfinite(array).all():
        raise AudioReadError("the audio array holds NaN or Inf samples")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or not 0 < sample_rate <= 768000
    ):
        raise InvalidInputError(
            f"sample_rate must be a positive integer in Hz, got {sample_rate!r}"
        )
    wave = to_mono_resampled(array, int(sample_rate), target_rate, max_seconds=MAX_INPUT_SECONDS)
    return InputClip(_check_length(wave, target_rate, "audio array"), int(sample_rate))


def _check_length(wave: np.ndarray, rate: int, name: str) -> np.ndarray:
    if len(wave) < MIN_INPUT_SECONDS * rate:
        raise AudioReadError(
            f"{name}: too short ({len(wave)} samples); need at least {MIN_INPUT_SECONDS:g} s"
        )
    return wave


def fit_input(wave: np.ndarray, samples: int) -> np.ndarray:
    """Crop or zero-pad (samples,) to exactly `samples` (float32)."""
    out = np.zeros(samples, dtype=np.float32)
    out[: min(samples, len(wave))] = wave[:samples]
    return out


# ------------------------------------------------------------------- what is kept, where
def strength_timesteps(grid: Sequence[int], strength: float, steps: int) -> list[int]:
    """The last int(strength * steps) timesteps of the sampler's `grid` (the reference's
    t_enc): a transfer starts from the input latent noised to the first of them."""
    t_enc = int(strength * steps)
    return list(grid[len(grid) - t_enc :]) if t_enc else []


def time_mask(
    seconds_per_frame: float, regions: Sequence[tuple[float, float]], shape: Sequence[int]
) -> torch.Tensor:
    """(1, 1, T', 1) latent mask: 0 on latent frames touching a region to generate, else 1.

    `seconds_per_frame` is one latent frame's length; `shape` the latent's (.., T', F')."""
    mask = torch.ones(1, 1, shape[-2], 1)
    for start, end in regions:
        first = int(math.floor(start / seconds_per_frame))
        last = int(math.ceil(end / seconds_per_frame))
        mask[:, :, first:last] = 0.0
    return mask


def band_mask(shape: Sequence[int], kept_bins: int) -> torch.Tensor:
    """(1, 1, 1, F') latent mask: 1 on the lowest `kept_bins` frequency bins, 0 above."""
    mask = torch.zeros(1, 1, 1, shape[-1])
    mask[..., :kept_bins] = 1.0
    return mask


def mel_bins_below(mel_config: MelConfig, cutoff_hz: float) -> int:
    """Number of mel bins whose filter lies entirely below `cutoff_hz`."""
    low = hz_to_mel(np.array([mel_config.f_min]))[0]
    high = hz_to_mel(np.array([mel_config.f_max]))[0]
    edges = mel_to_hz(np.linspace(low, high, mel_config.n_mels + 2))
    upper = edges[2:]  # bin k spans edges[k] .. edges[k+2]
    return int((upper <= cutoff_hz).sum())


def sample_weights(
    wave_len: int, sample_rate: int, regions: Sequence[tuple[float, float]]
) -> np.ndarray:
    """(samples,) weight of the input: 1 in kept time, 0 inside regions, raised-cosine
    fades of CROSSFADE_SECONDS placed inside each generated region."""
    keep = np.ones(wave_len, dtype=np.float32)
    fade = int(CROSSFADE_SECONDS * sample_rate)
    for start, end in regions:
        a, b = int(round(start * sample_rate)), min(int(round(end * sample_rate)), wave_len)
        keep[a:b] = 0.0
        width = min(fade, (b - a) // 2)
        if width > 0:
            ramp = 0.5 * (1 + np.cos(np.linspace(0, np.pi, width, dtype=np.float32)))  # 1 -> 0
            if a > 0:
                keep[a : a + width] = ramp
            if b < wave_len:
                keep[b - width : b] = ramp[::-1]
    return keep


@dataclass(frozen=True)
class PasteBack:
    """The input samples an edit keeps, put back into the decoded audio.

    Decoded audio is first scaled by `gain` (back to the input's level: the VAE saw it
    normalised). Then, when pasting: `weights` (samples,) mixes input and generated
    sample by sample (inpaint), or `keep_below_hz` keeps the input below that frequency
    and the generated audio above it (super-resolution)."""

    wave: np.ndarray  # (samples,) at `sample_rate`
    sample_rate: int
    gain: float
    weights: np.ndarray | None = None
    keep_below_hz: float | None = None

    def apply(self, audio: np.ndarray, paste: bool = True) -> np.ndarray:
        """(B, samples) decoded audio -> the edit's output."""
        audio = audio * self.gain
        if not paste:
            return audio
        if self.keep_below_hz is not None:
            return crossover(self.wave, audio, self.sample_rate, self.keep_below_hz)
        assert self.weights is not None, "PasteBack needs weights or keep_below_hz"
        return self.weights[None] * self.wave[None] + (1 - self.weights[None]) * audio


def crossover(
    low: np.ndarray, generated: np.ndarray, sample_rate: int, cutoff_hz: float
) -> np.ndarray:
    """Super-resolution output: `low` (samples,), the input below the cutoff, plus the band
    of each (B, samples) generated clip above it."""
    return low[None] + (generated - lowpass(generated, sample_rate, cutoff_hz))


CROSSOVER_WIDTH_HZ = 400.0  # super-resolution crossover: transition band centred on the cutoff
CROSSOVER_ATTENUATION_DB = 80.0  # stop-band rejection of that filter


def lowpass_taps(
    sample_rate: int, cutoff_hz: float, width_hz: float = CROSSOVER_WIDTH_HZ
) -> np.ndarray:
    """Odd-length linear-phase FIR low-pass (Kaiser-windowed sinc, -6 dB at `cutoff_hz`).

    Kaiser's design formulas (Oppenheim & Schafer, Discrete-Time Signal Processing, 7.6):
    `width_hz` is the full transition band, narrowed to fit between 0 Hz and Nyquist. A brick-wall
    filter is not used on purpose: its impulse response is a sinc at the cutoff that decays as
    1/t across the whole clip, so anything the filter removes near the cutoff comes back as a
    steady tone at the cutoff, even where the input is silent. These taps span ~13 ms at the
    default width (201 at 16 kHz), so ringing stays next to the sound that causes it.
    """
    nyquist = sample_rate / 2
    width = min(width_hz, 2 * cutoff_hz, 2 * (nyquist - cutoff_hz))
    attenuation = CROSSOVER_ATTENUATION_DB
    beta = 0.1102 * (attenuation - 8.7)
    taps = int(math.ceil((attenuation - 8) / (2.285 * 2 * math.pi * width / sample_rate)))
    taps += 1 - taps % 2  # odd: a whole-sample delay, removed below, so the filter is zero-phase
    n = np.arange(taps) - (taps - 1) / 2
    ideal = 2 * cutoff_hz / sample_rate * np.sinc(2 * cutoff_hz / sample_rate * n)
    return ideal * np.kaiser(taps, beta)


def lowpass(wave: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """Zero-phase FIR low-pass of (..., samples) with `lowpass_taps`; the signal is zero-padded
    (a linear, not circular, convolution), so `wave - lowpass(wave)` is its exact high-pass."""
    taps = lowpass_taps(sample_rate, cutoff_hz)
    samples, delay = wave.shape[-1], (len(taps) - 1) // 2
    size = samples + len(taps) - 1
    spectrum = np.fft.rfft(wave.astype(np.float64), n=size, axis=-1) * np.fft.rfft(taps, n=size)
    filtered = np.fft.irfft(spectrum, n=size, axis=-1)[..., delay : delay + samples]
    return filtered.astype(np.float32)


# ------------------------------------------------------------------------------ extend
def extend_segment(
    result: np.ndarray, total: int, window: float, overlap: float, sample_rate: int
) -> tuple[np.ndarray, int]:
    """The next window of an extension: (the window's samples, how many of them are kept).

    The window keeps the last `overlap` seconds of `result` (all of it when shorter) and
    appends zeros to generate, up to `window` seconds or the `total` samples wanted."""
    kept = int(overlap * sample_rate)
    context = result[-kept:] if len(result) > overlap * sample_rate else result
    new = min(round(window * sample_rate) - len(context), total - len(result))
    return np.concatenate([context, np.zeros(new, dtype=np.float32)]), len(context)
