"""Import an original AudioLDM `.ckpt` (the training repo's Lightning checkpoint).

Read with `torch.load(weights_only=True)`: a checkpoint holding pickled code is refused,
never executed. Keys: `model.diffusion_model.*` (UNet), `model_ema.*` (EMA UNet, names
flattened without dots; preferred), `first_stage_model.*` (VAE) incl. `.vocoder.*`
(HiFi-GAN), `cond_stage_model.model.*` (LAION-CLAP), and `scale_factor`.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel, PreTrainedTokenizerBase
from transformers import ClapConfig as HFClapConfig

from clapldm.checkpoints.hub import download
from clapldm.checkpoints.keys_clap import clap_config_from_laion_state_dict, clap_from_laion
from clapldm.checkpoints.keys_unet import unet_config_from_original, unet_from_original
from clapldm.checkpoints.keys_vae import vae_config_from_original_shapes, vae_from_original
from clapldm.checkpoints.keys_vocoder import hifigan_config_from_state_dict, vocoder_from_original
from clapldm.checkpoints.native import build_loaded
from clapldm.components import Components
from clapldm.config import MelConfig, PipelineConfig, SchedulerConfig
from clapldm.errors import ModelLoadError
from clapldm.models.clap import LaionClap, laion_feature_extractor
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL

logger = logging.getLogger(__name__)

UNET = "model.diffusion_model."
EMA = "model_ema."
VAE = "first_stage_model."
VOCODER = "first_stage_model.vocoder."
CLAP = "cond_stage_model.model."


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The flat state dict of a `.ckpt`, refusing anything but tensors and plain data."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ModelLoadError(
            f"{path}: refused to load: the checkpoint contains pickled code or objects that are "
            f"not plain weights ({first})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelLoadError(
            f"{path}: not a readable PyTorch checkpoint ({str(exc).splitlines()[0][:200]})"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelLoadError(f"{path}: expected a state dict of tensors")
    return data


def strip(
    state: dict[str, torch.Tensor], prefix: str, exclude: str | None = None
) -> dict[str, torch.Tensor]:
    return {
        k[len(prefix) :]: v.float() if v.is_floating_point() else v
        for k, v in state.items()
        if k.startswith(prefix) and not (exclude and k.startswith(exclude))
    }


def ema_unet(
    state: dict[str, torch.Tensor], unet_state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor] | None:
    """EMA weights renamed back to UNet keys (LitEma drops the dots), or None if absent."""
    flat = {k[len(EMA) :]: v for k, v in state.items() if k.startswith(EMA)}
    if not flat:
        return None
    out = {}
    for key in unet_state:
        name = ("diffusion_model." + key).replace(".", "")
        if name not in flat:
            logger.warning("EMA weights incomplete (%s missing); using the raw UNet weights", key)
            return None
        out[key] = flat[name].float()
    return out


def load_original(
    path: Path,
    *,
    tokenizer: str | Path | None = None,
    clap_audio: str = "auto",
    head_dim: int | None = None,
    use_ema: bool = True,
    norm_groups: tuple[int, int] = (32, 32),
    **_: Any,
) -> Components:
    """The components of an original `.ckpt` (on the CPU).

    `tokenizer`: a folder with a RoBERTa tokenizer (the checkpoint holds none); when
    omitted, `roberta-base` is fetched from the hub if online. `head_dim`: attention head
    size (32 for S/M, 64 for L; inferred from the width when omitted). `norm_groups`:
    GroupNorm groups of (UNet, VAE) — invisible in weights, 32 in every released model.
    """
    state = read_checkpoint(path)
    unet_state = strip(state, UNET)
    if not unet_state:
        raise ModelLoadError(
            f"{path}: no 'model.diffusion_model.*' weights: not an AudioLDM checkpoint"
        )
    if use_ema:
        unet_state = ema_unet(state, unet_state) or unet_state
    unet_config = unet_config_from_original(unet_state, head_dim=head_dim).replace(
        norm_groups=norm_groups[0]
    )
    with torch.device("meta"):
        unet_keys = list(AudioLDMUNet(unet_config).state_dict())
    unet = build_loaded(
        AudioLDMUNet, unet_config, unet_from_original(unet_state, unet_config, unet_keys), path
    )

    scale = state.get("scale_factor")
    scale_factor = float(scale) if scale is not None else 1.0
    vae_state = strip(state, VAE, exclude=VOCODER)
    vae_config = vae_config_from_original_shapes(vae_state, scale_factor=scale_factor).replace(
        norm_groups=norm_groups[1]
    )
    vae = build_loaded(
        AutoencoderKL, vae_config, vae_from_original(vae_state, scale_factor, vae_config), path
    )

    voc_state = vocoder_from_original(strip(state, VOCODER))
    voc_config = hifigan_config_from_state_dict(voc_state)
    # AudioLDM's front end (16 kHz, n_fft 1024, Slaney 0-8000 Hz) at the vocoder's mel
    # count and hop: 64 bins / hop 160 for every released checkpoint.
    mel = MelConfig(n_mels=voc_config.num_mels, hop_length=voc_config.hop_length)
    vocoder = build_loaded(HifiGan, voc_config, voc_state, path)

    clap = load_original_clap(strip(state, CLAP), path, tokenizer=tokenizer, audio=clap_audio)
    split = f"head dim {head_dim or (64 if unet_config.model_channels >= 256 else 32)} (heads {list(unet_config.heads)})"
    config = PipelineConfig(
        name=path.stem, max_duration=30.0, source="original", extra={"head_split": split}
    )
    return Components(clap, vae, unet, vocoder, mel, SchedulerConfig(), config)


def load_original_clap(
    state: dict[str, torch.Tensor], path: Path, *, tokenizer: str | Path | None, audio: str
) -> LaionClap:
    """LAION-CLAP weights (prefix stripped) -> LaionClap over a transformers ClapModel.

    The checkpoint holds no tokenizer: `tokenizer` names a RoBERTa tokenizer folder, else
    `roberta-base` is fetched from the hub (online only).
    """
    del audio  # the HTSAT size is inferred from the tensor shapes
    if not state:
        raise ModelLoadError(f"{path}: no 'cond_stage_model.model.*' (CLAP) weights")
    if tokenizer is None:
        tokenizer = download("roberta-base")
    try:
        tokenizer_obj = AutoTokenizer.from_pretrained(str(tokenizer))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"{tokenizer}: cannot load the RoBERTa tokenizer ({str(exc).splitlines()[0][:160]})"
        ) from None
    return laion_clap_from_state_dict(state, tokenizer_obj)


def laion_clap_from_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    tokenizer: PreTrainedTokenizerBase,
    feature_extractor: ClapFeatureExtractor | None = None,
    config: HFClapConfig | None = None,
) -> LaionClap:
    """An original LAION-CLAP state dict (``cond_stage_model.model.`` stripped) as a LaionClap.

    ``config`` defaults to the one inferred from the tensor shapes; the feature
    extractor defaults to `laion_feature_extractor`. Every ClapModel weight must be
    present (strict load).
    """
    if config is None:
        config = clap_config_from_laion_state_dict(state_dict)
    converted = clap_from_laion(state_dict, config)
    with torch.device("meta"):
        model = ClapModel(config)
    try:
        model.load_state_dict(converted, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"CLAP weights do not fit the CLAP config: {exc}") from None
    return LaionClap(model.float(), tokenizer, feature_extractor or laion_feature_extractor())
