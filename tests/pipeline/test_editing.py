"""Editing modes on a tiny model: transfer, inpaint, super-resolution, extension, audio prompts."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from clapldm import AudioLDM
from clapldm.diffusion import schedule
from clapldm.diffusion.guidance import guided_eps_model
from clapldm.editing import CROSSFADE_SECONDS, time_mask
from clapldm.errors import InvalidInputError

RATE = 16000


def clip(seconds: float = 1.0, rate: int = RATE, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(0).standard_normal(
        len(t)
    )
    wave = wave.astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


class LatentSpy:
    """Capture the latents the pipeline decodes."""

    def __init__(self, pipe: AudioLDM, monkeypatch: pytest.MonkeyPatch) -> None:
        self.latents: list[torch.Tensor] = []
        original = pipe.decode_latents

        def spy(latents: torch.Tensor, num_samples: int) -> np.ndarray:
            self.latents.append(latents.clone())
            return original(latents, num_samples)

        monkeypatch.setattr(pipe, "decode_latents", spy)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp-2m"])
def test_transfer_strength_selects_the_reference_timesteps(
    tiny_pipe: AudioLDM, sampler: str
) -> None:
    steps = 10
    out = tiny_pipe.transfer(
        clip(), "a bell", strength=0.5, steps=steps, seed=0, sampler=sampler, sample_rate=RATE
    )
    grid = tiny_pipe.timesteps(sampler, steps)
    t_enc = int(0.5 * steps)
    # the reference decodes ddim_timesteps[:t_enc] flipped: the t_enc lowest grid points
    assert out.settings["start_timestep"] == sorted(grid)[t_enc - 1]
    if sampler == "ddim":
        assert out.settings["start_timestep"] == schedule.ddim_timesteps(steps)[::-1][t_enc - 1]
    assert out.audio.shape == (1, RATE)


def test_transfer_strength_near_zero_returns_the_input_latent(
    tiny_pipe: AudioLDM, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    spy = LatentSpy(tiny_pipe, monkeypatch)
    tiny_pipe.transfer(clip(), "a bell", strength=0.01, steps=10, seed=0, sample_rate=RATE)
    x0, _ = tiny_pipe.encode_clip(clip())
    assert torch.equal(spy.latents[0], x0)


def test_transfer_strength_one_equals_generate(tiny_pipe: AudioLDM) -> None:
    a = tiny_pipe.transfer(
        clip(), "a bell", strength=1.0, steps=4, seed=3, sampler="ddim", sample_rate=RATE
    )
    b = tiny_pipe.generate("a bell", duration=1.0, steps=4, seed=3, sampler="ddim")
    np.testing.assert_array_equal(a.audio, b.audio)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_transfer_rejects_bad_strength(tiny_pipe: AudioLDM, bad: float) -> None:
    with pytest.raises(InvalidInputError, match="strength"):
        tiny_pipe.transfer(clip(), "a bell", strength=bad, sample_rate=RATE)


def test_inpaint_keeps_latent_and_waveform(tiny_pipe: AudioLDM, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    spy = LatentSpy(tiny_pipe, monkeypatch)
    wave = clip(1.0)
    out = tiny_pipe.inpaint(
        wave, "a dog barking", regions=[(0.4, 0.6)], sample_rate=RATE, steps=4, seed=1
    )
    x0, _ = tiny_pipe.encode_clip(wave)
    mask = time_mask(tiny_pipe.seconds_per_latent_frame, [(0.4, 0.6)], x0.shape).expand_as(x0)
    final = spy.latents[0]
    assert torch.equal(final[mask == 1], x0[mask == 1])
    assert not torch.equal(final[mask == 0], x0[mask == 0])
    kept = np.r_[0 : int(0.4 * RATE), int(0.6 * RATE) : RATE]
    np.testing.assert_allclose(out.audio[0, kept], wave[kept], atol=1e-6)
    inside = slice(int((0.4 + CROSSFADE_SECONDS) * RATE), int((0.6 - CROSSFADE_SECONDS) * RATE))
    assert np.abs(out.audio[0, inside] - wave[inside]).max() > 1e-3  # regenerated


def test_masked_loop_equals_reference_algorithm(tiny_pipe: AudioLDM, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """paste_back=False: our loop == re-noise known region and mix before each model call."""
    spy = LatentSpy(tiny_pipe, monkeypatch)
    wave, steps, seed = clip(1.0), 4, 5
    tiny_pipe.inpaint(
        wave,
        "rain",
        regions=[(0.2, 0.5)],
        sample_rate=RATE,
        steps=steps,
        seed=seed,
        sampler="ddim",
        paste_back=False,
        guidance_scale=2.5,
    )
    x0, _ = tiny_pipe.encode_clip(wave)
    mask = time_mask(tiny_pipe.seconds_per_latent_frame, [(0.2, 0.5)], x0.shape)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(x0.shape[1:], generator=generator)[None]
    cond = tiny_pipe.embed_text(["rain"])
    uncond = tiny_pipe.embed_text([""])
    model = guided_eps_model(tiny_pipe.unet, cond, uncond, 2.5)
    alphas = tiny_pipe.alphas_cumprod
    grid = schedule.ddim_timesteps(steps)
    with torch.no_grad():
        for i, t in enumerate(grid):
            known = schedule.q_sample(
                x0, torch.randn(x0.shape[1:], generator=generator)[None], t, alphas
            )
            x = mask * known + (1 - mask) * x
            eps = model(x, t)
            a = float(alphas[t])
            a_prev = float(alphas[grid[i + 1]]) if i + 1 < len(grid) else float(alphas[0])
            pred = (x - (1 - a) ** 0.5 * eps) / a**0.5
            x = a_prev**0.5 * pred + (1 - a_prev) ** 0.5 * eps
    torch.testing.assert_close(spy.latents[0], x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "regions,match",
    [
        ([(0.5, 2.0)], "outside"),
        ([(0.6, 0.4)], "reversed"),
        ([(0.1, 0.5), (0.4, 0.7)], "overlap"),
        ([], "at least one"),
        ([(-0.1, 0.2)], "outside"),
    ],
)
def test_inpaint_rejects_bad_regions(tiny_pipe: AudioLDM, regions: list, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        tiny_pipe.inpaint(clip(1.0), "rain", regions=regions, sample_rate=RATE)


def band_energy(wave: np.ndarray, low: float, high: float) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(wave))
    freqs = np.fft.rfftfreq(len(wave), 1 / RATE)
    return spectrum[(freqs >= low) & (freqs < high)]


def test_super_resolution_keeps_low_band_fills_high_band(tiny_pipe: AudioLDM, tmp_path) -> None:  # type: ignore[no-untyped-def]
    low_rate = 8000
    t = np.arange(low_rate) / low_rate
    narrow = (0.3 * np.sin(2 * np.pi * 300 * t) + 0.1 * np.sin(2 * np.pi * 1200 * t)).astype(
        np.float32
    )
    sf.write(tmp_path / "narrow.wav", narrow, low_rate)
    out = tiny_pipe.super_resolve(str(tmp_path / "narrow.wav"), "", cutoff_hz=4000, steps=3, seed=0)
    assert out.sample_rate == RATE and out.audio.shape == (1, RATE)
    assert out.settings["cutoff_hz"] == 4000.0
    from clapldm.audio.io import read_audio

    upsampled = read_audio(tmp_path / "narrow.wav", RATE)
    below_out, below_in = band_energy(out.audio[0], 0, 3900), band_energy(upsampled, 0, 3900)
    assert np.abs(below_out - below_in).max() <= 1e-3 * below_in.max()
    assert (
        band_energy(out.audio[0], 4100, 8000).sum()
        > 10 * band_energy(upsampled, 4100, 8000).sum() + 1e-3
    )


def test_super_resolution_rejects_cutoff_at_nyquist(tiny_pipe: AudioLDM) -> None:
    with pytest.raises(InvalidInputError, match="Nyquist"):
        tiny_pipe.super_resolve(clip(), cutoff_hz=8000, sample_rate=RATE)


def test_extend_exact_length_and_first_window_kept(tiny_pipe: AudioLDM) -> None:
    wave = clip(0.5)
    out = tiny_pipe.extend(
        wave, "rain", total_duration=1.7, window=0.8, overlap=0.3, sample_rate=RATE, steps=2, seed=0
    )
    assert out.audio.shape == (1, round(1.7 * RATE))
    np.testing.assert_allclose(out.audio[0, : len(wave)], wave, atol=1e-6)
    assert out.settings["windows"] >= 2


def test_audio_prompt_conditions_generation(tiny_pipe: AudioLDM) -> None:
    text = tiny_pipe.generate("rain", duration=0.3, steps=2, seed=0)
    audio = tiny_pipe.generate(
        None, duration=0.3, steps=2, seed=0, audio_prompt=clip(), audio_prompt_sample_rate=RATE
    )
    mixed = tiny_pipe.generate(
        "rain",
        duration=0.3,
        steps=2,
        seed=0,
        audio_prompt=clip(),
        audio_prompt_sample_rate=RATE,
        audio_prompt_weight=0.5,
    )
    assert not np.allclose(text.audio, audio.audio) and not np.allclose(mixed.audio, audio.audio)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp-2m"])
def test_every_mode_runs_with_every_sampler(tiny_pipe: AudioLDM, sampler: str) -> None:
    common = {
        "steps": 2,
        "seed": 1,
        "sampler": sampler,
        "candidates": 2,
        "negative_prompt": "noise",
    }
    stereo_48k = clip(0.6, rate=48000, channels=2)
    for out in (
        tiny_pipe.transfer(stereo_48k, "a bell", strength=0.6, sample_rate=48000, **common),
        tiny_pipe.inpaint(stereo_48k, "a bell", regions=[(0.1, 0.3)], sample_rate=48000, **common),
        tiny_pipe.super_resolve(stereo_48k, "a bell", cutoff_hz=3000, sample_rate=48000, **common),
    ):
        assert out.audio.shape == (1, round(0.6 * RATE))
        assert np.isfinite(out.audio).all() and np.isfinite(out.scores).all()
