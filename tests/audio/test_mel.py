"""MelFrontEnd: filterbank and log-mel equal librosa's; tone lands in the right bin."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from clapldm.audio.mel import MelFrontEnd, normalize_waveform, slaney_mel_filterbank
from clapldm.config import MelConfig
from clapldm.errors import InvalidInputError

AUDIOLDM = MelConfig()
UNIVERSAL = MelConfig(sample_rate=22050, hop_length=256, n_mels=80, f_max=8000.0)


def _test_signal(sample_rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 3000.0 * t)
    return (tone + 0.05 * rng.standard_normal(t.shape)).astype(np.float64)


def _librosa_log_mel(wave: np.ndarray, cfg: MelConfig) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=wave,
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window="hann",
        center=True,
        pad_mode="reflect",
        power=1.0,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        htk=False,
        norm="slaney",
    )
    return np.log(np.maximum(mel, cfg.log_clamp)).T  # (frames, n_mels)


@pytest.mark.parametrize("cfg", [AUDIOLDM, UNIVERSAL, MelConfig(n_fft=512, win_length=400)])
def test_filterbank_equals_librosa(cfg: MelConfig) -> None:
    ours = slaney_mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
    reference = librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        htk=False,
        norm="slaney",
        dtype=np.float64,
    )
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cfg", [AUDIOLDM, UNIVERSAL, MelConfig(n_fft=512, win_length=400)])
def test_log_mel_equals_librosa(cfg: MelConfig) -> None:
    wave = _test_signal(cfg.sample_rate, 0.7)
    reference = _librosa_log_mel(wave, cfg)
    front_end = MelFrontEnd(cfg).double()
    ours = front_end(torch.from_numpy(wave)[None], normalize=False)[0].numpy()
    assert ours.shape == reference.shape == (front_end.frames_for_samples(len(wave)), cfg.n_mels)
    assert np.abs(ours - reference).max() <= 1e-5
    # float32 (the production dtype) stays close too.
    ours32 = MelFrontEnd(cfg)(torch.from_numpy(wave).float()[None], normalize=False)[0].numpy()
    assert np.abs(ours32 - reference).max() <= 1e-5


def test_tone_peaks_in_the_right_mel_bin() -> None:
    cfg = AUDIOLDM
    t = np.arange(cfg.sample_rate) / cfg.sample_rate
    wave = torch.from_numpy(np.sin(2 * np.pi * 1000.0 * t)).float()
    log_mel = MelFrontEnd(cfg)(wave[None])[0]  # (frames, n_mels)
    peak_bin = int(log_mel.mean(dim=0).argmax())
    centres = librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.f_min, fmax=cfg.f_max)[1:-1]
    assert peak_bin == int(np.abs(centres - 1000.0).argmin())


def test_padding_modes_and_frame_counts() -> None:
    wave = torch.randn(2, 16000)
    centre = MelFrontEnd(AUDIOLDM)
    train = MelFrontEnd(AUDIOLDM.replace(padding="audioldm_train"))
    assert centre(wave).shape == (2, 101, 64) == (2, centre.frames_for_samples(16000), 64)
    assert train(wave).shape == (2, 100, 64) == (2, train.frames_for_samples(16000), 64)
    assert centre.frames_for_samples(163840) == 1025 and train.frames_for_samples(163840) == 1024
    assert centre.samples_for_frames(1024) == 163840
    # Training-repo layout is the centred one shifted by (hop / 2) samples: frame k of
    # "audioldm_train" is centred at k * hop + hop / 2.
    # Away from the reflected edges the two agree once the input is shifted by hop / 2.
    shifted = centre(wave[:, 80:], normalize=False)
    reference = train(wave, normalize=False)
    assert shifted.shape == reference.shape
    assert torch.allclose(shifted[:, 5:-5], reference[:, 5:-5], atol=1e-4)


def test_buffers_are_not_persistent_and_dtype_follows_module() -> None:
    front_end = MelFrontEnd(AUDIOLDM)
    assert front_end.state_dict() == {}
    assert front_end.mel_basis.shape == (64, 513)


def test_normalize_waveform() -> None:
    wave = torch.tensor([[1.0, 3.0, 2.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    out = normalize_waveform(wave)
    assert torch.allclose(out[0], torch.tensor([-0.5, 0.5, 0.0, 0.0]), atol=1e-6)
    assert torch.equal(out[1], torch.zeros(4))
    front_end = MelFrontEnd(AUDIOLDM)
    loud = torch.randn(1, 4000)
    assert torch.allclose(front_end(loud), front_end(10 * loud + 0.3), atol=1e-4)


def test_too_short_input_raises() -> None:
    with pytest.raises(InvalidInputError):
        MelFrontEnd(AUDIOLDM)(torch.zeros(1, 100))
