"""End to end against diffusers' AudioLDMPipeline: same random weights, same latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clapldm import AudioLDM
from clapldm.testing import tiny_diffusers_pipeline

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")


def test_end_to_end_matches_diffusers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reference = tiny_diffusers_pipeline(tmp_path)
    ours = AudioLDM.from_pretrained(tmp_path / "diffusers")
    duration = 0.128  # 2048 samples = 128 mel frames at hop 16 -> 64 latent frames
    latents = torch.randn(2, 4, 64, 8, generator=torch.Generator().manual_seed(0))
    prompts = ["a dog barking", "rain on a tin roof, distant thunder"]
    expected = reference(
        prompts,
        audio_length_in_s=duration,
        num_inference_steps=5,
        guidance_scale=2.5,
        latents=latents.clone(),
        eta=0.0,
        output_type="np",
    ).audios
    out = ours.generate(
        prompts,
        duration=duration,
        steps=5,
        guidance_scale=2.5,
        sampler="ddim",
        eta=0.0,
        latents=latents.clone(),
    )
    assert out.audio.shape == expected.shape == (2, 2048)
    diff = np.abs(out.audio - expected).max()
    print(f"max abs diff vs diffusers: {diff:.3g}")
    assert diff <= 1e-4, diff
    assert np.abs(expected).max() > 1e-3  # not trivially silent


def test_text_embedding_matches_diffusers_encode_prompt(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reference = tiny_diffusers_pipeline(tmp_path)
    ours = AudioLDM.from_pretrained(tmp_path / "diffusers")
    prompts = ["a dog", "a very long prompt about birds singing in the morning forest"]
    expected = reference._encode_prompt(prompts, "cpu", 1, False)
    np.testing.assert_allclose(
        ours.embed_text(prompts).numpy(), expected.detach().numpy(), atol=1e-5
    )
    info = ours.config.extra
    assert info["attention_heads"] == [2, 2]
