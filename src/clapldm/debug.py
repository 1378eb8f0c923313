"""A tiny random AudioLDM reachable through the public API, for tests and debugging.

`tiny_pipeline()` builds every component at toy size (16 mel bins, 4 latent channels,
UNet channels (16, 32), head size 8), runs end to end on a CPU in well under a second, and can be saved
as a native folder. Its output is noise-like: it exists to exercise code paths.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from clapldm.config import HifiGanConfig, MelConfig, PipelineConfig, UNetConfig, VAEConfig


def tiny_configs(cond_dim: int = 16) -> tuple[MelConfig, VAEConfig, UNetConfig, HifiGanConfig]:
    mel = MelConfig(
        sample_rate=16000, n_fft=256, win_length=256, hop_length=64, n_mels=16, f_max=8000.0
    )
    vae = VAEConfig(
        ch=8, ch_mult=(1, 2), num_res_blocks=1, z_channels=4, norm_groups=4, scale_factor=0.9
    )
    unet = UNetConfig(
        in_channels=4,
        out_channels=4,
        model_channels=16,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_levels=(1,),
        heads=(2, 4),
        cond_dim=cond_dim,
        norm_groups=8,
    )
    vocoder = HifiGanConfig(
        num_mels=16,
        upsample_initial_channel=32,
        upsample_rates=(8, 8),
        upsample_kernel_sizes=(16, 16),
        resblock_kernel_sizes=(3,),
        resblock_dilations=((1, 3, 5),),
    )
    return mel, vae, unet, vocoder


def tiny_pipeline(folder: str | os.PathLike[str] | None = None, seed: int = 0, device: str = "cpu"):  # type: ignore[no-untyped-def]
    """A random tiny AudioLDM; saved as a native folder at `folder` when given."""
    from clapldm.models.hifigan import HifiGan
    from clapldm.models.unet import AudioLDMUNet
    from clapldm.models.vae import AutoencoderKL
    from clapldm.pipeline import AudioLDM
    from clapldm.testing import randomize_, tiny_clap_model

    mel, vae_config, unet_config, vocoder_config = tiny_configs()
    with tempfile.TemporaryDirectory() as tmp:
        clap = tiny_clap_model(Path(tmp) / "clap", seed=seed, projection_dim=unet_config.cond_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = AutoencoderKL(vae_config)
        unet = AudioLDMUNet(unet_config)
        vocoder = HifiGan(vocoder_config)
    randomize_(unet, seed + 1, scale=0.1)
    pipe = AudioLDM(
        clap,
        vae,
        unet,
        vocoder,
        mel,
        None,
        PipelineConfig(
            name="tiny-random", max_duration=10.0, default_sampler="ddim", default_steps=4
        ),
        device=device,
        name="tiny-random",
    )
    if folder is not None:
        pipe.save_pretrained(folder)
        pipe.source = os.fspath(folder)
    return pipe
