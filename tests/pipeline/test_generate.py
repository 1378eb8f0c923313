"""AudioLDM.generate on a tiny random model: lengths, seeds, batching, candidates, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clapldm import AudioLDM
from clapldm.errors import InvalidInputError, ModelLoadError
from clapldm.request import candidate_seed


def test_exact_length_for_any_duration(tiny_pipe: AudioLDM) -> None:
    for duration in (0.05, 0.33, 1.0, 1.2345):
        out = tiny_pipe.generate("a dog barking", duration=duration, steps=2, seed=0)
        assert out.audio.shape == (1, round(duration * 16000))
        assert out.audio.dtype == np.float32
        assert out.sample_rate == 16000
        assert np.isfinite(out.audio).all()


def test_same_seed_identical_different_seed_differs(tiny_pipe: AudioLDM) -> None:
    a = tiny_pipe.generate("rain", duration=0.4, steps=3, seed=7)
    b = tiny_pipe.generate("rain", duration=0.4, steps=3, seed=7)
    c = tiny_pipe.generate("rain", duration=0.4, steps=3, seed=8)
    assert np.array_equal(a.audio, b.audio)
    assert not np.allclose(a.audio, c.audio)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp-2m"])
def test_batch_equals_items_run_alone(tiny_pipe: AudioLDM, sampler: str) -> None:
    prompts = ["a dog barking", "rain on a roof", "a bell"]
    batch = tiny_pipe.generate(
        prompts, duration=0.3, steps=3, seed=[5, 9, 11], sampler=sampler, eta=0.5
    )
    for i, prompt in enumerate(prompts):
        alone = tiny_pipe.generate(
            prompt, duration=0.3, steps=3, seed=[5, 9, 11][i], sampler=sampler, eta=0.5
        )
        # batched convolutions may round differently in the last bit
        np.testing.assert_allclose(batch.audio[i], alone.audio[0], atol=1e-5, rtol=0)
    assert batch.seeds == [5, 9, 11]


def test_int_seed_gives_consecutive_seeds(tiny_pipe: AudioLDM) -> None:
    out = tiny_pipe.generate(["a", "b"], duration=0.2, steps=2, seed=3)
    assert out.seeds == [3, 4]
    random = tiny_pipe.generate("a", duration=0.2, steps=2, seed=None)
    again = tiny_pipe.generate("a", duration=0.2, steps=2, seed=random.seeds[0])
    assert np.array_equal(random.audio, again.audio)


def test_candidates_keep_the_best_clap_score(tiny_pipe: AudioLDM) -> None:
    single = tiny_pipe.generate("wind", duration=0.3, steps=2, seed=1, candidates=1)
    best = tiny_pipe.generate("wind", duration=0.3, steps=2, seed=1, candidates=3)
    assert best.audio.shape == single.audio.shape
    assert best.scores[0] >= single.scores[0] - 1e-6  # the first candidate is `single`
    assert -1.0 <= best.scores[0] <= 1.0


@pytest.mark.parametrize("sampler, eta", [("ddim", 1.0), ("ddim", 0.0), ("dpmpp-2m", 0.0)])
def test_one_candidate_is_the_first_of_n(
    tiny_pipe: AudioLDM, monkeypatch: pytest.MonkeyPatch, sampler: str, eta: float
) -> None:
    """Each candidate draws all its noise from its own generator, so candidates=1 is the
    first of candidates=n for every sampler and eta (with one shared generator, eta > 0
    interleaved the candidates' step noise)."""
    params = {"duration": 0.3, "steps": 3, "seed": 4, "sampler": sampler, "eta": eta}
    single = tiny_pipe.generate("wind", **params)

    def rank(order: int) -> None:  # make CLAP's re-ranking keep the first (or last) candidate
        monkeypatch.setattr(
            tiny_pipe, "_scores", lambda audio, cond: -order * np.arange(len(audio), dtype=float)
        )

    rank(1)
    first = tiny_pipe.generate("wind", candidates=3, **params)
    # the same noise; the UNet runs the 3 candidates as one batch, which rounds differently
    np.testing.assert_allclose(first.audio, single.audio, atol=1e-6, rtol=0)
    rank(-1)
    last = tiny_pipe.generate("wind", candidates=3, **params)
    assert not np.allclose(last.audio, single.audio, atol=1e-3)


def test_candidate_seeds() -> None:
    assert candidate_seed(12, 0) == 12  # one candidate draws what it always drew
    seeds = {candidate_seed(s, k) for s in range(50) for k in range(1, 4)}
    assert len(seeds) == 150 and not seeds & set(range(1000))
    assert all(0 <= s < 2**63 for s in seeds)
    assert candidate_seed(2**63 - 1, 3) == candidate_seed(2**63 - 1, 3)


def test_negative_prompt_changes_output(tiny_pipe: AudioLDM) -> None:
    plain = tiny_pipe.generate("wind", duration=0.3, steps=2, seed=1)
    negative = tiny_pipe.generate(
        "wind", duration=0.3, steps=2, seed=1, negative_prompt="low quality"
    )
    assert not np.allclose(plain.audio, negative.audio)


def test_latents_replace_noise(tiny_pipe: AudioLDM) -> None:
    shape = (1, *tiny_pipe.latent_shape(round(0.3 * 16000)))
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    a = tiny_pipe.generate("wind", duration=0.3, steps=2, latents=latents, seed=0)
    b = tiny_pipe.generate("wind", duration=0.3, steps=2, latents=latents, seed=99)
    assert np.array_equal(a.audio, b.audio)
    with pytest.raises(InvalidInputError, match="latents must have shape"):
        tiny_pipe.generate("wind", duration=0.3, steps=2, latents=latents[:, :, :2])


def test_latent_padded_to_unet_multiple(tiny_pipe: AudioLDM) -> None:
    frames = tiny_pipe.latent_frames(12345)
    assert frames % tiny_pipe.unet.config.latent_multiple == 0
    assert frames * tiny_pipe.vae_factor * 64 >= 12345


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"duration": 0}, "positive"),
        ({"duration": -1}, "positive"),
        ({"duration": math.nan}, "positive"),
        ({"duration": 1e6}, "maximum"),
        ({"steps": 0}, "steps"),
        ({"steps": 100000}, "steps"),
        ({"guidance_scale": math.nan}, "guidance"),
        ({"sampler": "euler-magic"}, "unknown sampler"),
        ({"candidates": 0}, "candidates"),
        ({"eta": -1.0}, "eta"),
    ],
)
def test_bad_parameters_raise_clear_errors(tiny_pipe: AudioLDM, kwargs: dict, match: str) -> None:
    args = {"duration": 0.2, "steps": 2, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        tiny_pipe.generate("a dog", **args)


def test_bad_prompts(tiny_pipe: AudioLDM) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        tiny_pipe.generate("   ", duration=0.2, steps=2)
    with pytest.raises(InvalidInputError, match="characters"):
        tiny_pipe.generate("x" * 1_000_000, duration=0.2, steps=2)


def test_save_load_identical_output(tiny_pipe: AudioLDM, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tiny_pipe.save_pretrained(tmp_path / "copy")
    again = AudioLDM.from_pretrained(tmp_path / "copy")
    a = tiny_pipe.generate("a bell", duration=0.3, steps=3, seed=4)
    b = again.generate("a bell", duration=0.3, steps=3, seed=4)
    np.testing.assert_allclose(a.audio, b.audio, atol=1e-6, rtol=0)


def test_unknown_device_and_missing_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match="device"):
        AudioLDM.from_pretrained(tmp_path, device="tpu")
    with pytest.raises(ModelLoadError, match="no such file"):
        AudioLDM.from_pretrained(str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="not a model folder"):
        AudioLDM.from_pretrained(tmp_path)


def test_hub_id_offline_is_one_clear_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="cannot be downloaded"):
        AudioLDM.from_pretrained("cvssp/audioldm-s-full-v2")
