"""Super-resolution crossover: where the input is silent, nothing appears at the cutoff.

A brick-wall crossover turned energy the generator put near the cutoff into a steady tone at
exactly the cutoff over the whole clip (`clapldm superres speech8k.wav --cutoff 4000`: -28 dB at
4 kHz in the silent tail against -65 dB for the rest of the generated band). The tiny random
model's own output is noise with no silence in it, so these tests stand in a controlled
"generated" waveform (loud wide-band sound, then a flat -60 dB floor) for the decoder output
and run the real `super_resolve` around it.
"""

from __future__ import annotations

import numpy as np
import pytest

from clapldm import AudioLDM
from clapldm.editing import CROSSOVER_WIDTH_HZ, lowpass, lowpass_taps

RATE = 16000  # the tiny model's sample rate
SECONDS = 1.0
VOICED_SECONDS = 0.6  # sound until here, silence after
TAIL_SECONDS = 0.25  # measured: the last 0.25 s, well inside the silence
CUTOFFS = (1000.0, 2500.0, 4000.0, 6000.0)


def speech_like(rate: int = RATE) -> np.ndarray:
    """Voiced syllables (120 Hz glottal pulse train shaped by four formants, 4 per second)
    for VOICED_SECONDS, then silence; energy up to Nyquist like real speech."""
    t = np.arange(int(SECONDS * rate)) / rate
    f0 = 120 + 15 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = np.zeros_like(t)
    for k in range(1, int(rate / 2 / 140)):
        envelope = 0.01 + sum(
            np.exp(-(((k * 120 - formant) / width) ** 2))
            for formant, width in ((700, 150), (1200, 200), (2600, 300), (3500, 400))
        )
        wave += envelope / np.sqrt(k) * np.sin(k * phase)
    voiced = (np.sin(2 * np.pi * 4 * t) > -0.3) & (t < VOICED_SECONDS)
    return (0.3 * wave / np.abs(wave).max() * voiced).astype(np.float32)


def generated_stand_in(samples: int) -> np.ndarray:
    """What a generator might decode: loud wide-band noise while the input sounds, and a flat
    white floor 60 dB down everywhere (the generated band where the input is silent)."""
    rng = np.random.default_rng(0)
    loud = rng.standard_normal(samples) * (np.arange(samples) < VOICED_SECONDS * RATE)
    return (0.3 * loud + 3e-4 * rng.standard_normal(samples)).astype(np.float32)


def tail_powers(wave: np.ndarray, cutoff: float) -> tuple[float, float]:
    """Mean power (Hann-windowed FFT of the silent tail) within +-100 Hz of `cutoff`, and in
    the generated band above it (cutoff + 100 Hz .. Nyquist)."""
    tail = wave[-int(TAIL_SECONDS * RATE) :].astype(np.float64)
    power = np.abs(np.fft.rfft(tail * np.hanning(len(tail)))) ** 2
    freqs = np.fft.rfftfreq(len(tail), 1 / RATE)
    near = power[np.abs(freqs - cutoff) <= 100].mean()
    band = power[freqs > cutoff + 100].mean()
    return float(near), float(band)


@pytest.mark.parametrize("cutoff", CUTOFFS)
@pytest.mark.parametrize("kind", ["silent", "speech"])
def test_no_tone_at_the_cutoff_where_the_input_is_silent(
    tiny_pipe: AudioLDM, monkeypatch: pytest.MonkeyPatch, kind: str, cutoff: float
) -> None:
    wave = np.zeros(int(SECONDS * RATE), np.float32) if kind == "silent" else speech_like()
    stand_in = generated_stand_in(len(wave))
    monkeypatch.setattr(
        tiny_pipe, "decode_latents", lambda latents, samples: np.stack([stand_in] * len(latents))
    )
    out = tiny_pipe.super_resolve(wave, "", cutoff_hz=cutoff, sample_rate=RATE, steps=1, seed=0)
    near, band = tail_powers(out.audio[0], cutoff)
    assert near <= band, f"{10 * np.log10(near / band):+.1f} dB at {cutoff:g} Hz"


@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_crossover_filter_response(cutoff: float) -> None:
    """-6 dB at the cutoff, flat below the transition band, about 80 dB down above it (Kaiser's
    length formula lands within a dB of its target)."""
    taps = lowpass_taps(RATE, cutoff)
    assert len(taps) % 2 == 1
    np.testing.assert_allclose(taps, taps[::-1])  # linear phase
    freqs = np.fft.rfftfreq(1 << 16, 1 / RATE)
    gain = np.abs(np.fft.rfft(taps, n=1 << 16))
    half = CROSSOVER_WIDTH_HZ / 2
    assert np.abs(gain[freqs <= cutoff - half] - 1).max() < 1e-3
    assert gain[freqs >= cutoff + half].max() < 10 ** (-78 / 20)
    assert abs(float(np.interp(cutoff, freqs, gain)) - 0.5) < 0.01


def test_crossover_is_complementary_and_zero_phase() -> None:
    """low + (x - low) == x trivially; what matters: a tone well below the cutoff passes
    unchanged and in place (no delay), one well above is removed, away from the clip's ends."""
    t = np.arange(RATE) / RATE
    below, above = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 5000 * t)
    low = lowpass((below + above).astype(np.float32), RATE, 3000.0)
    inner = slice(RATE // 10, -RATE // 10)
    np.testing.assert_allclose(low[inner], below[inner], atol=2e-3)
