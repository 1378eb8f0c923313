"""A tiny random AudioLDM reachable through the public API, for tests and debugging.

(Its component sizes, `tiny_configs`, live in testing.py with the other tiny builders.)

`tiny_pipeline()` builds every component at toy size (16 mel bins, 4 latent channels,
UNet channels (16, 32), head size 8), runs end to end on a CPU in well under a second, and can be saved
as a native folder. Its output is noise-like: it exists to exercise code paths.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from clapldm.config import PipelineConfig
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL
from clapldm.pipeline import AudioLDM
from clapldm.testing import randomize_, tiny_clap_model, tiny_configs


def tiny_pipeline(
    folder: str | os.PathLike[str] | None = None, seed: int = 0, device: str = "cpu"
) -> AudioLDM:
    """A random tiny AudioLDM; saved as a native folder at `folder` when given."""
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
