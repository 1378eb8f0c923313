"""Import a diffusers `AudioLDMPipeline` folder (unet/, vae/, text_encoder/, tokenizer/,
vocoder/, scheduler/) as pipeline components, without importing diffusers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from clapldm.checkpoints.keys_unet import unet_config_from_diffusers
from clapldm.checkpoints.keys_vae import vae_from_diffusers
from clapldm.checkpoints.keys_vocoder import vocoder_from_speecht5
from clapldm.checkpoints.native import build_loaded, load_weights
from clapldm.components import Components
from clapldm.config import MelConfig, PipelineConfig, SchedulerConfig
from clapldm.errors import ModelLoadError
from clapldm.models.clap import LaionClap
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL

WEIGHT_FILES = (
    "diffusion_pytorch_model.safetensors",
    "model.safetensors",
    "diffusion_pytorch_model.bin",
    "pytorch_model.bin",
)


def is_diffusers_folder(path: Path) -> bool:
    index = path / "model_index.json"
    if not index.is_file():
        return False
    try:
        return (
            json.loads(index.read_text(encoding="utf-8")).get("_class_name") == "AudioLDMPipeline"
        )
    except (OSError, ValueError, AttributeError):
        return False


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: missing") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: unreadable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    return data


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """A component's weights: safetensors preferred, else a .bin read with weights_only."""
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            if path.suffix == ".safetensors":
                return load_weights(path)
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - any unpickling failure is a refusal
                raise ModelLoadError(
                    f"{path}: refused or unreadable ({str(exc).splitlines()[0][:200]})"
                ) from None
            return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    raise ModelLoadError(f"{folder}: no weights file ({', '.join(WEIGHT_FILES)})")


def scheduler_from_diffusers(config: dict[str, Any]) -> SchedulerConfig:
    schedule = config.get("beta_schedule", "scaled_linear")
    if schedule not in ("scaled_linear", "linear") or config.get("trained_betas"):
        raise ModelLoadError(f"diffusers scheduler: beta_schedule {schedule!r} is not supported")
    if config.get("prediction_type", "epsilon") != "epsilon":
        raise ModelLoadError("diffusers scheduler: only epsilon prediction is supported")
    return SchedulerConfig(
        num_train_timesteps=int(config.get("num_train_timesteps", 1000)),
        beta_start=float(config.get("beta_start", 0.0015)),
        beta_end=float(config.get("beta_end", 0.0195)),
        beta_schedule=schedule,
    )


def load_diffusers(folder: Path, **_: Any) -> Components:
    """The components of a diffusers AudioLDMPipeline folder (on the CPU).

    The mel front end is AudioLDM's (n_fft 1024, Slaney mel 0-8000 Hz) at the vocoder's
    sampling rate, mel count and hop. diffusers' UNet config states `attention_head_dim`
    (which diffusers uses as the number of heads per level): imported as is.
    """
    for part in ("unet", "vae", "text_encoder", "tokenizer", "vocoder"):
        if not (folder / part).is_dir():
            raise ModelLoadError(f"{folder}: diffusers component folder '{part}' is missing")
    vae_config, vae_state = vae_from_diffusers(
        read_json(folder / "vae" / "config.json"), read_state_dict(folder / "vae")
    )
    vae = build_loaded(AutoencoderKL, vae_config, vae_state, folder / "vae")

    unet_json = read_json(folder / "unet" / "config.json")
    unet = build_loaded(
        AudioLDMUNet,
        unet_config_from_diffusers(unet_json),
        read_state_dict(folder / "unet"),
        folder / "unet",
    )

    vocoder_json = read_json(folder / "vocoder" / "config.json")
    vocoder_config, vocoder_state = vocoder_from_speecht5(
        vocoder_json, read_state_dict(folder / "vocoder")
    )
    vocoder = build_loaded(HifiGan, vocoder_config, vocoder_state, folder / "vocoder")

    sample_rate = int(vocoder_json.get("sampling_rate", 16000))
    mel = MelConfig(
        sample_rate=sample_rate,
        hop_length=vocoder_config.hop_length,
        n_mels=vocoder_config.num_mels,
        f_max=min(8000.0, sample_rate / 2),
    )
    scheduler_path = folder / "scheduler" / "scheduler_config.json"
    scheduler = (
        scheduler_from_diffusers(read_json(scheduler_path))
        if scheduler_path.is_file()
        else SchedulerConfig()
    )
    clap = LaionClap.from_diffusers(folder / "text_encoder", folder / "tokenizer")
    heads = unet_json.get("num_attention_heads") or unet_json.get("attention_head_dim")
    pipeline_config = PipelineConfig(
        name=folder.name,
        max_duration=30.0,
        source="diffusers",
        extra={"attention_heads": heads, "head_split": "as stated by the diffusers config"},
    )
    return Components(clap, vae, unet, vocoder, mel, scheduler, pipeline_config)


def diffusers_latent_frames(duration: float, vae_factor: int, sample_rate: int, hop: int) -> int:
    """The latent length diffusers' AudioLDMPipeline uses for `duration` (for parity tests)."""
    height = int(duration / (hop / sample_rate))
    if height % vae_factor:
        height = math.ceil(height / vae_factor) * vae_factor
    return height // vae_factor
