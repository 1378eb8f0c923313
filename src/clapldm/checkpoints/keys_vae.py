"""VAE weight/config conversion: diffusers ``AutoencoderKL`` and original LDM/AudioLDM.

Our module names equal diffusers', so a diffusers state dict loads as is (older diffusers
attention names ``query/key/value/proj_attn`` are renamed). The original layout
(``first_stage_model.*`` with the prefix stripped) is renamed key by key:

=========================================  ==============================================
original                                   ours (= diffusers)
=========================================  ==============================================
encoder.down.{i}.block.{j}.nin_shortcut    encoder.down_blocks.{i}.resnets.{j}.conv_shortcut
encoder.down.{i}.downsample.conv           encoder.down_blocks.{i}.downsamplers.0.conv
{en,de}coder.mid.block_1 / block_2         {en,de}coder.mid_block.resnets.0 / 1
{en,de}coder.mid.attn_1.{norm,q,k,v,       {en,de}coder.mid_block.attentions.0.{group_norm,
proj_out} (1x1 Conv2d)                     to_q,to_k,to_v,to_out.0} (Linear)
{en,de}coder.norm_out                      {en,de}coder.conv_norm_out
decoder.up.{i}.block.{j}                   decoder.up_blocks.{L-1-i}.resnets.{j}
decoder.up.{i}.upsample.conv               decoder.up_blocks.{L-1-i}.upsamplers.0.conv
=========================================  ==============================================

(the original indexes decoder levels from the highest resolution, diffusers from the
deepest). Every converter checks the result against the module built from the config,
so a missing, unexpected or mis-shaped tensor raises `ModelLoadError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch

from clapldm.config import VAEConfig
from clapldm.errors import ConfigError, ModelLoadError
from clapldm.models.vae import AutoencoderKL

# Keys of an original first_stage_model that are not the autoencoder (AudioLDM keeps
# the vocoder inside the first stage; training checkpoints may keep the loss).
_ORIGINAL_IGNORED_PREFIXES = ("vocoder.", "loss.")
_DEPRECATED_ATTENTION = {
    "query": "to_q",
    "key": "to_k",
    "value": "to_v",
    "proj_attn": "to_out.0",
}
_ORIGINAL_ATTENTION = {
    "norm": "group_norm",
    "q": "to_q",
    "k": "to_k",
    "v": "to_v",
    "proj_out": "to_out.0",
}
_DIFFUSERS_REQUIRED = (
    "block_out_channels",
    "layers_per_block",
    "latent_channels",
    "norm_num_groups",
    "in_channels",
    "out_channels",
    "scaling_factor",
)

StateDict = dict[str, torch.Tensor]


def check_vae_state_dict(
    config: VAEConfig, state_dict: Mapping[str, torch.Tensor], source: str
) -> None:
    """Raise `ModelLoadError` unless ``state_dict`` has exactly our keys and shapes."""
    with torch.device("meta"):
        reference = AutoencoderKL(config).state_dict()
    missing = sorted(set(reference) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(reference))
    if missing or unexpected:
        raise ModelLoadError(
            f"{source}: VAE weights do not match the config "
            f"(missing {missing[:4]}{'...' if len(missing) > 4 else ''}, "
            f"unexpected {unexpected[:4]}{'...' if len(unexpected) > 4 else ''})"
        )
    for key, tensor in reference.items():
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise ModelLoadError(
                f"{source}: VAE tensor {key} has shape {tuple(state_dict[key].shape)}, "
                f"the config needs {tuple(tensor.shape)}"
            )


def vae_from_diffusers(
    config_dict: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]
) -> tuple[VAEConfig, StateDict]:
    """diffusers AutoencoderKL ``config.json`` + state dict -> (VAEConfig, our state dict).

    Refuses (``ModelLoadError``) anything that is not the plain LDM KL autoencoder.
    """
    class_name = config_dict.get("_class_name", "AutoencoderKL")
    if class_name != "AutoencoderKL":
        raise ModelLoadError(f"diffusers VAE: class {class_name!r} is not AutoencoderKL")
    missing = [key for key in _DIFFUSERS_REQUIRED if key not in config_dict]
    if missing:
        raise ModelLoadError(f"diffusers VAE config.json lacks {missing}")
    widths = [int(width) for width in config_dict["block_out_channels"]]
    levels = len(widths)
    down_types = list(config_dict.get("down_block_types", ["DownEncoderBlock2D"] * levels))
    up_types = list(config_dict.get("up_block_types", ["UpDecoderBlock2D"] * levels))
    if down_types != ["DownEncoderBlock2D"] * levels or up_types != ["UpDecoderBlock2D"] * levels:
        raise ModelLoadError(
            f"diffusers VAE: block types {down_types} / {up_types} are not supported; "
            "need DownEncoderBlock2D / UpDecoderBlock2D per level"
        )
    if config_dict.get("act_fn", "silu") != "silu":
        raise ModelLoadError(f"diffusers VAE: act_fn {config_dict['act_fn']!r} is not supported")
    if not config_dict.get("use_quant_conv", True) or not config_dict.get(
        "use_post_quant_conv", True
    ):
        raise ModelLoadError("diffusers VAE without quant_conv/post_quant_conv is not supported")
    for key in ("shift_factor", "latents_mean", "latents_std"):
        if config_dict.get(key) is not None:
            raise ModelLoadError(f"diffusers VAE: {key} is not supported")
    base = widths[0]
    if any(width % base for width in widths):
        raise ModelLoadError(
            f"diffusers VAE: block_out_channels {widths} are not multiples of {base}"
        )
    try:
        config = VAEConfig(
            in_channels=int(config_dict["in_channels"]),
            out_channels=int(config_dict["out_channels"]),
            ch=base,
            ch_mult=tuple(width // base for width in widths),
            num_res_blocks=int(config_dict["layers_per_block"]),
            z_channels=int(config_dict["latent_channels"]),
            norm_groups=int(config_dict["norm_num_groups"]),
            norm_eps=1e-6,  # fixed inside diffusers' Encoder/Decoder
            mid_attention=bool(config_dict.get("mid_block_add_attention", True)),
            scale_factor=float(config_dict["scaling_factor"]),
        )
    except (TypeError, ValueError, ConfigError) as exc:
        raise ModelLoadError(f"diffusers VAE config.json: {exc}") from None

    converted: StateDict = {}
    for key, tensor in state_dict.items():
        parts = key.split(".")
        if "attentions" in parts and parts[-2] in _DEPRECATED_ATTENTION:
            parts[-2] = _DEPRECATED_ATTENTION[parts[-2]]
            key = ".".join(parts)
        if ".attentions." in key and tensor.dim() == 4:  # 1x1-conv form of a Linear
            tensor = tensor[:, :, 0, 0]
        converted[key] = tensor
    check_vae_state_dict(config, converted, "diffusers VAE")
    return config, converted


def vae_config_from_original_shapes(
    state_dict: Mapping[str, torch.Tensor], *, scale_factor: float = 1.0
) -> VAEConfig:
    """Infer ch, ch_mult, num_res_blocks, z/in/out channels from original LDM tensor shapes.

    GroupNorm's group count is not visible in shapes; LDM always uses 32.
    """
    try:
        ch = state_dict["encoder.conv_in.weight"].shape[0]
        in_channels = state_dict["encoder.conv_in.weight"].shape[1]
        out_channels = state_dict["decoder.conv_out.weight"].shape[0]
        z_channels = state_dict["post_quant_conv.weight"].shape[0]
    except KeyError as exc:
        raise ModelLoadError(f"original VAE weights lack {exc.args[0]}") from None
    levels = sorted(
        {int(m.group(1)) for key in state_dict if (m := re.match(r"encoder\.down\.(\d+)\.", key))}
    )
    if not levels or levels != list(range(len(levels))):
        raise ModelLoadError(
            "original VAE weights: encoder.down.{i} levels missing or not contiguous"
        )
    widths = [state_dict[f"encoder.down.{level}.block.0.conv1.weight"].shape[0] for level in levels]
    if any(width % ch for width in widths):
        raise ModelLoadError(
            f"original VAE weights: level widths {widths} are not multiples of {ch}"
        )
    num_res_blocks = len(
        {
            int(m.group(1))
            for key in state_dict
            if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", key))
        }
    )
    return VAEConfig(
        in_channels=in_channels,
        out_channels=out_channels,
        ch=ch,
        ch_mult=tuple(width // ch for width in widths),
        num_res_blocks=num_res_blocks,
        z_channels=z_channels,
        mid_attention="encoder.mid.attn_1.q.weight" in state_dict,
        scale_factor=float(scale_factor),
    )


def _rename_resnet_leaf(leaf: str) -> str:
    return leaf.replace("nin_shortcut", "conv_shortcut")


def _original_key_to_ours(key: str, levels: int) -> str:
    if key.startswith(("quant_conv.", "post_quant_conv.")):
        return key
    if re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out)\.(\w+)", key):
        return key
    if m := re.fullmatch(r"(encoder|decoder)\.norm_out\.(\w+)", key):
        return f"{m.group(1)}.conv_norm_out.{m.group(2)}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid\.block_([12])\.(.+)", key):
        return f"{m.group(1)}.mid_block.resnets.{int(m.group(2)) - 1}.{_rename_resnet_leaf(m.group(3))}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid\.attn_1\.(\w+)\.(\w+)", key):
        if m.group(2) in _ORIGINAL_ATTENTION:
            return f"{m.group(1)}.mid_block.attentions.0.{_ORIGINAL_ATTENTION[m.group(2)]}.{m.group(3)}"
    if m := re.fullmatch(r"encoder\.down\.(\d+)\.block\.(\d+)\.(.+)", key):
        return f"encoder.down_blocks.{m.group(1)}.resnets.{m.group(2)}.{_rename_resnet_leaf(m.group(3))}"
    if m := re.fullmatch(r"encoder\.down\.(\d+)\.downsample\.conv\.(\w+)", key):
        return f"encoder.down_blocks.{m.group(1)}.downsamplers.0.conv.{m.group(2)}"
    if m := re.fullmatch(r"decoder\.up\.(\d+)\.block\.(\d+)\.(.+)", key):
        index = levels - 1 - int(m.group(1))
        return f"decoder.up_blocks.{index}.resnets.{m.group(2)}.{_rename_resnet_leaf(m.group(3))}"
    if m := re.fullmatch(r"decoder\.up\.(\d+)\.upsample\.conv\.(\w+)", key):
        index = levels - 1 - int(m.group(1))
        return f"decoder.up_blocks.{index}.upsamplers.0.conv.{m.group(2)}"
    raise ModelLoadError(f"original VAE weights: unexpected key {key!r}")


def vae_from_original(
    state_dict: Mapping[str, torch.Tensor],
    scale_factor: float | torch.Tensor,
    vae_config: VAEConfig,
) -> StateDict:
    """Original LDM first-stage state dict (``first_stage_model.`` stripped) -> ours.

    ``vocoder.*`` and ``loss.*`` keys are skipped. ``scale_factor`` (the checkpoint's
    ``scale_factor`` entry) is checked to be a positive finite number; it belongs in
    ``vae_config.replace(scale_factor=...)``, which the caller builds. The result is
    checked against ``vae_config``.
    """
    factor = float(scale_factor.item() if isinstance(scale_factor, torch.Tensor) else scale_factor)
    if not (math.isfinite(factor) and factor > 0):
        raise ModelLoadError(f"original VAE: scale_factor {factor} is not a positive number")
    levels = len(vae_config.ch_mult)
    converted: StateDict = {}
    for key, tensor in state_dict.items():
        if key.startswith(_ORIGINAL_IGNORED_PREFIXES):
            continue
        ours = _original_key_to_ours(key, levels)
        if ".attentions." in ours and ours.endswith(".weight") and tensor.dim() == 4:
            tensor = tensor[:, :, 0, 0]  # 1x1 Conv2d -> Linear
        converted[ours] = tensor
    check_vae_state_dict(vae_config, converted, "original VAE")
    return converted


def vae_to_original(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Our (= diffusers) VAE state dict -> original LDM naming; attention as 1x1 convs."""
    up_levels = {
        int(m.group(1))
        for key in state_dict
        if (m := re.match(r"decoder\.up_blocks\.(\d+)\.", key))
    }
    levels = max(up_levels) + 1 if up_levels else 0
    inverse_attention = {ours: original for original, ours in _ORIGINAL_ATTENTION.items()}
    converted: StateDict = {}
    for key, tensor in state_dict.items():
        original = key
        if m := re.fullmatch(r"(encoder|decoder)\.conv_norm_out\.(\w+)", key):
            original = f"{m.group(1)}.norm_out.{m.group(2)}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d)\.(.+)", key):
            leaf = m.group(3).replace("conv_shortcut", "nin_shortcut")
            original = f"{m.group(1)}.mid.block_{int(m.group(2)) + 1}.{leaf}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(\w+)", key):
            original = f"{m.group(1)}.mid.attn_1.{inverse_attention[m.group(2)]}.{m.group(3)}"
            if tensor.dim() == 2:
                tensor = tensor[:, :, None, None]
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            leaf = m.group(3).replace("conv_shortcut", "nin_shortcut")
            original = f"encoder.down.{m.group(1)}.block.{m.group(2)}.{leaf}"
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(\w+)", key):
            original = f"encoder.down.{m.group(1)}.downsample.conv.{m.group(2)}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            leaf = m.group(3).replace("conv_shortcut", "nin_shortcut")
            original = f"decoder.up.{levels - 1 - int(m.group(1))}.block.{m.group(2)}.{leaf}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(\w+)", key):
            original = f"decoder.up.{levels - 1 - int(m.group(1))}.upsample.conv.{m.group(2)}"
        converted[original] = tensor
    return converted
