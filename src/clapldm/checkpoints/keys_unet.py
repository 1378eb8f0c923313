"""UNet weight/config conversion: diffusers `UNet2DConditionModel` and original AudioLDM.

Our module names equal diffusers', so a diffusers state dict loads as is; only its config
needs reading. The original (openaimodel) layout is renamed key by key.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from clapldm.config import UNetConfig
from clapldm.errors import ModelLoadError


def unet_config_from_diffusers(config: dict[str, Any]) -> UNetConfig:
    """Read a diffusers UNet config.json as an AudioLDM UNet, refusing what it cannot be."""
    if config.get("class_embed_type") != "simple_projection" or not config.get(
        "class_embeddings_concat"
    ):
        raise ModelLoadError(
            "diffusers UNet is not an AudioLDM UNet: needs class_embed_type='simple_projection' "
            "and class_embeddings_concat=true"
        )
    if config.get("use_linear_projection"):
        raise ModelLoadError("diffusers UNet uses linear projections; AudioLDM uses 1x1 convs")
    channels = list(config["block_out_channels"])
    base = channels[0]
    if any(ch % base for ch in channels):
        raise ModelLoadError(f"block_out_channels {channels} are not multiples of {base}")
    levels = len(channels)
    heads_value = config.get("num_attention_heads") or config.get("attention_head_dim") or 8
    heads = (
        tuple(heads_value)
        if isinstance(heads_value, (list, tuple))
        else (int(heads_value),) * levels
    )
    layers = config.get("layers_per_block", 2)
    if not isinstance(layers, int):
        raise ModelLoadError("per-level layers_per_block is not supported")
    depth = config.get("transformer_layers_per_block", 1)
    if not isinstance(depth, int):
        raise ModelLoadError("per-level transformer_layers_per_block is not supported")
    cross = config.get("cross_attention_dim")
    cross_dims = list(cross) if isinstance(cross, (list, tuple)) else [cross] * levels
    attention_levels = tuple(
        i for i, kind in enumerate(config["down_block_types"]) if "CrossAttn" in kind
    )
    for level in attention_levels:
        if cross_dims[level] not in (None, channels[level]):
            raise ModelLoadError(
                f"cross_attention_dim {cross_dims[level]} at level {level} is not self-attention; "
                "AudioLDM UNets have no cross-attention"
            )
    return UNetConfig(
        in_channels=config.get("in_channels", 8),
        out_channels=config.get("out_channels", 8),
        model_channels=base,
        channel_mult=tuple(ch // base for ch in channels),
        num_res_blocks=layers,
        attention_levels=attention_levels,
        heads=heads,
        transformer_depth=depth,
        cond_dim=config["projection_class_embeddings_input_dim"],
        norm_groups=config.get("norm_num_groups", 32),
        norm_eps=config.get("norm_eps", 1e-5),
    )


def unet_config_to_diffusers(cfg: UNetConfig) -> dict[str, Any]:
    """Our config as diffusers' UNet2DConditionModel kwargs (used by tests and exports)."""
    channels = [cfg.model_channels * m for m in cfg.channel_mult]
    down = [
        "CrossAttnDownBlock2D" if i in cfg.attention_levels else "DownBlock2D"
        for i in range(len(channels))
    ]
    up = [
        "CrossAttnUpBlock2D" if i in cfg.attention_levels else "UpBlock2D"
        for i in reversed(range(len(channels)))
    ]
    return {
        "sample_size": 64,
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "down_block_types": down,
        "up_block_types": up,
        "block_out_channels": channels,
        "layers_per_block": cfg.num_res_blocks,
        "cross_attention_dim": channels,
        "attention_head_dim": list(cfg.heads),
        "transformer_layers_per_block": cfg.transformer_depth,
        "class_embed_type": "simple_projection",
        "projection_class_embeddings_input_dim": cfg.cond_dim,
        "class_embeddings_concat": True,
        "norm_num_groups": cfg.norm_groups,
        "norm_eps": cfg.norm_eps,
    }


# our res-block names -> the original ResBlock's
_RES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def _rename_res(rest: str) -> str:
    for old, new in _RES.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    raise KeyError(rest)


def original_unet_key_map(cfg: UNetConfig) -> dict[str, str]:
    """Map every parameter name of ours to its original (openaimodel) name, prefix-free."""
    levels = len(cfg.channel_mult)
    per = cfg.num_res_blocks
    mapping: dict[str, str] = {
        "conv_in": "input_blocks.0.0",
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "class_embedding": "film_emb",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
        "mid_block.resnets.0": "middle_block.0",
        "mid_block.attentions.0": "middle_block.1",
        "mid_block.resnets.1": "middle_block.2",
    }
    for level in range(levels):
        for j in range(per):
            k = 1 + level * (per + 1) + j
            mapping[f"down_blocks.{level}.resnets.{j}"] = f"input_blocks.{k}.0"
            mapping[f"down_blocks.{level}.attentions.{j}"] = f"input_blocks.{k}.1"
        if level < levels - 1:
            mapping[f"down_blocks.{level}.downsamplers.0.conv"] = (
                f"input_blocks.{(level + 1) * (per + 1)}.0.op"
            )
    for i, level in enumerate(reversed(range(levels))):
        for j in range(per + 1):
            k = i * (per + 1) + j
            mapping[f"up_blocks.{i}.resnets.{j}"] = f"output_blocks.{k}.0"
            mapping[f"up_blocks.{i}.attentions.{j}"] = f"output_blocks.{k}.1"
        if level > 0:
            k = i * (per + 1) + per
            index = 2 if level in cfg.attention_levels else 1
            mapping[f"up_blocks.{i}.upsamplers.0.conv"] = f"output_blocks.{k}.{index}.conv"
    return mapping


def _original_name(ours: str, mapping: dict[str, str]) -> str:
    parts = ours.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in mapping:
            rest = ".".join(parts[cut:])
            target = mapping[prefix]
            if ".resnets." in f".{prefix}." or prefix.startswith("mid_block.resnets"):
                rest = _rename_res(rest)
            return f"{target}.{rest}" if rest else target
    raise KeyError(ours)


def unet_from_original(
    state_dict: dict[str, torch.Tensor], cfg: UNetConfig, our_keys: list[str]
) -> dict[str, torch.Tensor]:
    """Rename an original UNet state dict (prefix stripped) to our names; every key must match."""
    mapping = original_unet_key_map(cfg)
    out: dict[str, torch.Tensor] = {}
    missing = []
    for key in our_keys:
        source = _original_name(key, mapping)
        if source not in state_dict:
            missing.append(source)
            continue
        out[key] = state_dict[source]
    if missing:
        raise ModelLoadError(
            f"original UNet weights lack {len(missing)} tensors, e.g. {missing[:3]}"
        )
    unused = set(state_dict) - {_original_name(k, mapping) for k in our_keys}
    if unused:
        raise ModelLoadError(
            f"original UNet has {len(unused)} unexpected tensors, e.g. {sorted(unused)[:3]}"
        )
    return out


def unet_to_original(
    state_dict: dict[str, torch.Tensor], cfg: UNetConfig
) -> dict[str, torch.Tensor]:
    """Inverse of `unet_from_original` (used to write original-layout test checkpoints)."""
    mapping = original_unet_key_map(cfg)
    return {_original_name(k, mapping): v for k, v in state_dict.items()}


def unet_config_from_original(
    state_dict: dict[str, torch.Tensor], head_dim: int | None = None
) -> UNetConfig:
    """Infer an AudioLDM UNet config from original-layout tensor shapes.

    Head counts are not stored in weights: the original fixes the head *dimension* (32 for
    S/M, 64 for L, i.e. model_channels 256); pass `head_dim` to override.
    """
    try:
        conv_in = state_dict["input_blocks.0.0.weight"]
        film = state_dict["film_emb.weight"]
        out_conv = state_dict["out.2.weight"]
    except KeyError as exc:
        raise ModelLoadError(f"original UNet weights lack {exc.args[0]}") from None
    base, in_ch = conv_in.shape[0], conv_in.shape[1]
    blocks: dict[int, int] = {}
    attn: set[int] = set()
    depth = 1
    for key, value in state_dict.items():
        m = re.match(r"input_blocks\.(\d+)\.0\.out_layers\.3\.weight$", key)
        if m:
            blocks[int(m.group(1))] = value.shape[0]
        m = re.match(r"input_blocks\.(\d+)\.1\.transformer_blocks\.(\d+)\.", key)
        if m:
            attn.add(int(m.group(1)))
            depth = max(depth, int(m.group(2)) + 1)
    downs = sorted(
        int(m.group(1))
        for k in state_dict
        if (m := re.match(r"input_blocks\.(\d+)\.0\.op\.weight$", k))
    )
    per = downs[0] - 1 if downs else len(blocks)
    levels = len(downs) + 1
    mult = []
    attention_levels = []
    for level in range(levels):
        first = 1 + level * (per + 1)
        mult.append(blocks[first] // base)
        if first in attn:
            attention_levels.append(level)
    if head_dim is None:
        head_dim = 64 if base >= 256 else 32
    heads = tuple(max(1, base * m // head_dim) for m in mult)
    return UNetConfig(
        in_channels=in_ch,
        out_channels=out_conv.shape[0],
        model_channels=base,
        channel_mult=tuple(mult),
        num_res_blocks=per,
        attention_levels=tuple(attention_levels),
        heads=heads,
        transformer_depth=depth,
        cond_dim=film.shape[1],
    )
