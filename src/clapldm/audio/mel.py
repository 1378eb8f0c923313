"""Log-mel front end shared by dataset, VAE, vocoder and pipeline (AudioLDM-exact).

waveform (B, samples) -> [optional peak normalisation] -> |STFT| (periodic Hann, power 1)
-> Slaney mel filterbank with Slaney area normalisation -> log(clamp(mel, log_clamp)).

The filterbank is computed here (numpy, float64) and equals
``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney")``;
librosa is only a test reference.

Output is **time-major**, (B, frames, n_mels): the VAE takes it as (B, 1, T, F) with
time on the height axis (as AudioLDM does), and the vocoder takes (B, frames, n_mels).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clapldm.config import MelConfig
from clapldm.errors import InvalidInputError

# Slaney mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3.0  # Hz per mel in the linear region
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # = 15 mel
_SLANEY_LOGSTEP = np.log(6.4) / 27.0  # 27 mel steps per factor 6.4 in Hz


def hz_to_mel(freqs_hz: np.ndarray) -> np.ndarray:
    """Hz -> Slaney mel (librosa ``hz_to_mel(htk=False)``). Any shape, float64."""
    freqs = np.asarray(freqs_hz, dtype=np.float64)
    mels = freqs / _SLANEY_F_SP
    log_region = freqs >= _SLANEY_MIN_LOG_HZ
    safe = np.where(log_region, freqs, _SLANEY_MIN_LOG_HZ)
    log_mels = _SLANEY_MIN_LOG_MEL + np.log(safe / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return np.where(log_region, log_mels, mels)


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Slaney mel -> Hz (librosa ``mel_to_hz(htk=False)``). Any shape, float64."""
    mels = np.asarray(mels, dtype=np.float64)
    freqs = _SLANEY_F_SP * mels
    log_region = mels >= _SLANEY_MIN_LOG_MEL
    log_freqs = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (mels - _SLANEY_MIN_LOG_MEL))
    return np.where(log_region, log_freqs, freqs)


def slaney_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float
) -> np.ndarray:
    """Triangular mel filters, Slaney scale and area normalisation.

    Returns (n_mels, n_fft // 2 + 1) float64, equal to librosa's
    ``filters.mel(htk=False, norm="slaney")``: each triangle spans its two neighbouring
    mel-band edges and is scaled by 2 / (upper_hz - lower_hz) so every filter has unit area.
    """
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)  # (n_freq,) Hz
    # n_mels + 2 band edges equally spaced in mel between f_min and f_max.
    edges_mel = np.linspace(hz_to_mel(np.array(f_min)), hz_to_mel(np.array(f_max)), n_mels + 2)
    edges_hz = mel_to_hz(edges_mel)
    edge_gaps = np.diff(edges_hz)  # (n_mels + 1,)
    ramps = edges_hz[:, None] - fft_freqs[None, :]  # (n_mels + 2, n_freq)
    weights = np.zeros((n_mels, fft_freqs.shape[0]), dtype=np.float64)
    for band in range(n_mels):
        rising = -ramps[band] / edge_gaps[band]
        falling = ramps[band + 2] / edge_gaps[band + 1]
        weights[band] = np.maximum(0.0, np.minimum(rising, falling))
    area_norm = 2.0 / (edges_hz[2 : n_mels + 2] - edges_hz[:n_mels])
    return weights * area_norm[:, None]


def normalize_waveform(wave: torch.Tensor) -> torch.Tensor:
    """AudioLDM's input normalisation, per item: remove mean, divide by peak, times 0.5.

    wave: (..., samples) float. Returns the same shape; silent input stays (near) zero
    because the peak gets +1e-8.
    """
    centred = wave - wave.mean(dim=-1, keepdim=True)
    peak = centred.abs().amax(dim=-1, keepdim=True)
    return 0.5 * centred / (peak + 1e-8)


class MelFrontEnd(nn.Module):
    """Log-magnitude mel spectrogram exactly as AudioLDM computes it.

    Input (B, samples) float at ``config.sample_rate``; output (B, frames, n_mels), natural
    log of the magnitude mel clamped at ``config.log_clamp``.
    """

    window: torch.Tensor
    mel_basis: torch.Tensor

    def __init__(self, config: MelConfig) -> None:
        super().__init__()
        self.config = config
        # Periodic Hann (scipy get_window("hann", fftbins=True)), as AudioLDM's STFT uses.
        self.register_buffer(
            "window", torch.hann_window(config.win_length, periodic=True), persistent=False
        )
        basis = slaney_mel_filterbank(
            config.sample_rate, config.n_fft, config.n_mels, config.f_min, config.f_max
        )
        self.register_buffer(
            "mel_basis", torch.from_numpy(basis).to(torch.float32), persistent=False
        )

    @property
    def _side_pad(self) -> int:
        """Reflect padding added to each side of the waveform, samples."""
        cfg = self.config
        if cfg.padding == "center":
            return cfg.n_fft // 2
        return (cfg.n_fft - cfg.hop_length) // 2

    def frames_for_samples(self, num_samples: int) -> int:
        """Number of STFT frames ``forward`` returns for ``num_samples`` input samples.

        "center": 1 + samples // hop (AudioLDM: 163840 samples -> 1025 frames, trimmed to
        1024 by the caller). "audioldm_train": 1 + (samples + 2 * pad - n_fft) // hop.
        """
        padded = num_samples + 2 * self._side_pad
        if padded < self.config.n_fft:
            return 0
        return 1 + (padded - self.config.n_fft) // self.config.hop_length

    def samples_for_frames(self, frames: int) -> int:
        """Duration covered by ``frames`` mel frames, samples: ``frames * hop_length``.

        This is the nominal length a vocoder makes from ``frames`` frames. Note that
        ``frames_for_samples(samples_for_frames(n))`` is ``n + 1`` with "center" padding.
        """
        return frames * self.config.hop_length

    def forward(self, wave: torch.Tensor, *, normalize: bool | None = None) -> torch.Tensor:
        """wave (B, samples) or (samples,) float -> log-mel (B, frames, n_mels) in the buffers dtype.

        ``normalize`` (default ``config.normalize_waveform``) applies ``normalize_waveform``
        per item first, as the reference does for every clip it encodes.
        """
        if wave.dim() == 1:
            wave = wave.unsqueeze(0)
        if wave.dim() != 2:
            raise InvalidInputError(
                f"mel front end: expected (B, samples), got {tuple(wave.shape)}"
            )
        cfg = self.config
        pad = self._side_pad
        if wave.shape[-1] <= pad:
            raise InvalidInputError(
                f"mel front end: {wave.shape[-1]} samples is too short; need more than {pad}"
            )
        if normalize if normalize is not None else cfg.normalize_waveform:
            wave = normalize_waveform(wave)
        wave = wave.to(self.mel_basis.dtype)
        # Explicit reflect padding covers both modes; the STFT itself never centres.
        padded = F.pad(wave.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            padded,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window=self.window,
            center=False,
            return_complex=True,
        )  # (B, n_freq, frames)
        magnitude = spec.abs()
        mel = torch.matmul(self.mel_basis, magnitude)  # (B, n_mels, frames)
        log_mel = torch.log(torch.clamp(mel, min=cfg.log_clamp))
        return log_mel.transpose(1, 2)
