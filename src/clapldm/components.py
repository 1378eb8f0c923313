"""The parts of a pipeline, as the loaders in `checkpoints/` return them.

A loader reads a model in some format and returns `Components`; it knows nothing of the
pipeline. `AudioLDM.from_pretrained` builds the pipeline from them and
`AudioLDM.components()` hands them back (to save them, for example). `check_components`
refuses parts that cannot work together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clapldm.config import MelConfig, PipelineConfig, SchedulerConfig
from clapldm.errors import ModelLoadError
from clapldm.models.clap_base import TextAudioEncoder
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL


@dataclass
class Components:
    """CLAP, VAE, UNet and vocoder with the configs that tie them together.

    `config` holds the pipeline's name, defaults and maximum duration."""

    clap: TextAudioEncoder
    vae: AutoencoderKL
    unet: AudioLDMUNet
    vocoder: HifiGan
    mel_config: MelConfig
    scheduler_config: SchedulerConfig = field(default_factory=SchedulerConfig)
    config: PipelineConfig = field(default_factory=PipelineConfig)

    @property
    def name(self) -> str:
        return self.config.name


def check_components(parts: Components) -> None:
    """Refuse components that cannot work together (one-line ModelLoadError)."""
    mel, vae = parts.mel_config, parts.vae.config
    unet, vocoder = parts.unet.config, parts.vocoder.config
    problems = []
    if vocoder.num_mels != mel.n_mels:
        problems.append(
            f"vocoder expects {vocoder.num_mels} mel bins but the mel config has {mel.n_mels}"
        )
    if vocoder.hop_length != mel.hop_length:
        problems.append(f"vocoder hop {vocoder.hop_length} != mel hop {mel.hop_length}")
    if unet.in_channels != vae.z_channels or unet.out_channels != vae.z_channels:
        problems.append(
            f"UNet channels {unet.in_channels}/{unet.out_channels} "
            f"!= VAE latent channels {vae.z_channels}"
        )
    if unet.cond_dim != parts.clap.embed_dim:
        problems.append(
            f"UNet condition size {unet.cond_dim} != CLAP embedding size {parts.clap.embed_dim}"
        )
    factor = 2 ** (len(vae.ch_mult) - 1)
    if mel.n_mels % factor:
        problems.append(f"{mel.n_mels} mel bins are not divisible by the VAE factor {factor}")
    if problems:
        raise ModelLoadError("mismatched components: " + "; ".join(problems))
