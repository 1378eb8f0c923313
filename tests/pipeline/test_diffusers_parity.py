"""End to end against diffusers' AudioLDMPipeline: same random weights, same latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clapldm import AudioLDM
from clapldm.checkpoints.keys_unet import unet_config_to_diffusers
from clapldm.debug import tiny_configs

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")


def build_diffusers_pipeline(folder):  # type: ignore[no-untyped-def]
    from clapldm.testing import randomize_, tiny_clap_text_encoder

    tmp_text, tmp_tok = folder / "_text", folder / "_tok"
    text_encoder = tiny_clap_text_encoder(tmp_text, tmp_tok, seed=0, projection_dim=16)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_tok)
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(
        in_channels=1,
        out_channels=1,
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        scaling_factor=0.9,
    )
    unet_cfg = tiny_configs()[2].replace(heads=(2, 2))  # diffusers-style: same head count everywhere
    unet = diffusers.UNet2DConditionModel(**unet_config_to_diffusers(unet_cfg))
    vocoder = transformers.SpeechT5HifiGan(
        transformers.SpeechT5HifiGanConfig(
            model_in_dim=16,
            sampling_rate=16000,
            upsample_initial_channel=32,
            upsample_rates=[4, 4],
            upsample_kernel_sizes=[8, 8],
            resblock_kernel_sizes=[3, 7],
            resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
            normalize_before=False,
        )
    )
    for i, module in enumerate((vae, unet, vocoder)):
        randomize_(module, i + 1, scale=0.1)
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.0015,
        beta_end=0.0195,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        num_train_timesteps=1000,
    )
    pipe = diffusers.AudioLDMPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        vocoder=vocoder,
    )
    pipe.save_pretrained(folder / "diffusers")
    return pipe


def test_end_to_end_matches_diffusers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reference = build_diffusers_pipeline(tmp_path)
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
    reference = build_diffusers_pipeline(tmp_path)
    ours = AudioLDM.from_pretrained(tmp_path / "diffusers")
    prompts = ["a dog", "a very long prompt about birds singing in the morning forest"]
    expected = reference._encode_prompt(prompts, "cpu", 1, False)
    np.testing.assert_allclose(
        ours.embed_text(prompts).numpy(), expected.detach().numpy(), atol=1e-5
    )
    info = ours.config.extra
    assert info["attention_heads"] == [2, 2]
