"""CLAP weight conversion: LAION-CLAP (``laion_clap``) layout <-> transformers ``ClapModel``.

An original AudioLDM ``.ckpt`` stores its CLAP under ``cond_stage_model.model.*`` in the
layout of the ``laion_clap`` package: ``text_branch`` (a transformers RobertaModel, so HF
naming inside), ``text_projection.{0,2}``, ``audio_branch`` (HTSAT, Swin naming with fused
``attn.qkv``), ``audio_projection.{0,2}``, ``logit_scale_{a,t}``, plus modules transformers
does not have (``text_transform``/``audio_transform`` MLPs used only by the training loss,
HTSAT's ``tscam_conv``/``head`` classifier, torchlibrosa ``spectrogram_extractor``/
``logmel_extractor`` buffers, Swin ``attn_mask`` buffers). The renaming follows transformers'
``convert_clap_original_pytorch_to_hf.py`` (``rename_state_dict``): the same substitutions,
written here as one anchored rule per key so that every key is either mapped or named
as ignored, and anything else is an error.

Keys here carry no ``cond_stage_model.model.`` prefix: the caller strips it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import torch
from transformers import ClapAudioConfig, ClapTextConfig
from transformers import ClapConfig as HFClapConfig

from clapldm.errors import ModelLoadError

_AUDIO = "audio_model.audio_encoder."

# LAION key (regex, anchored) -> transformers key template. Applied to every key but the
# fused qkv, which is split into query/key/value below.
_LAION_TO_HF: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"text_branch\.(.+)"), r"text_model.\1"),
    (re.compile(r"(text|audio)_projection\.0\.(weight|bias)"), r"\1_projection.linear1.\2"),
    (re.compile(r"(text|audio)_projection\.2\.(weight|bias)"), r"\1_projection.linear2.\2"),
    (re.compile(r"logit_scale_(a|t)"), r"logit_scale_\1"),
    (re.compile(r"audio_branch\.bn0\.(.+)"), _AUDIO + r"batch_norm.\1"),
    (re.compile(r"audio_branch\.patch_embed\.(.+)"), _AUDIO + r"patch_embed.\1"),
    (re.compile(r"audio_branch\.norm\.(weight|bias)"), _AUDIO + r"norm.\1"),
    (
        re.compile(r"audio_branch\.layers\.(\d+)\.downsample\.(reduction|norm)\.(.+)"),
        _AUDIO + r"layers.\1.downsample.\2.\3",
    ),
    (
        re.compile(r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.norm1\.(.+)"),
        _AUDIO + r"layers.\1.blocks.\2.layernorm_before.\3",
    ),
    (
        re.compile(r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.norm2\.(.+)"),
        _AUDIO + r"layers.\1.blocks.\2.layernorm_after.\3",
    ),
    (
        re.compile(r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.attn\.proj\.(.+)"),
        _AUDIO + r"layers.\1.blocks.\2.attention.output.dense.\3",
    ),
    (
        re.compile(
            r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.attn\."
            r"(relative_position_bias_table|relative_position_index)"
        ),
        _AUDIO + r"layers.\1.blocks.\2.attention.self.\3",
    ),
    (
        re.compile(r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.(.+)"),
        _AUDIO + r"layers.\1.blocks.\2.intermediate.dense.\3",
    ),
    (
        re.compile(r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.(.+)"),
        _AUDIO + r"layers.\1.blocks.\2.output.dense.\3",
    ),
]

_QKV = re.compile(r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)")

# LAION keys with no transformers counterpart: not needed to embed text or audio.
IGNORED_LAION_KEYS = re.compile(
    r"(text_transform|audio_transform)\..+"  # MLPs used only inside the contrastive loss
    r"|audio_branch\.(tscam_conv|head)\..+"  # HTSAT's AudioSet classifier
    r"|audio_branch\.(spectrogram_extractor|logmel_extractor)\..+"  # torchlibrosa STFT/mel
    r"|audio_branch\.layers\.\d+\.blocks\.\d+\.attn_mask"  # shifted-window mask buffer
)

# transformers key template -> LAION key, for the inverse direction.
_HF_TO_LAION: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"text_model\.(.+)"), r"text_branch.\1"),
    (re.compile(r"(text|audio)_projection\.linear1\.(.+)"), r"\1_projection.0.\2"),
    (re.compile(r"(text|audio)_projection\.linear2\.(.+)"), r"\1_projection.2.\2"),
    (re.compile(r"logit_scale_(a|t)"), r"logit_scale_\1"),
    (re.compile(r"audio_model\.audio_encoder\.batch_norm\.(.+)"), r"audio_branch.bn0.\1"),
    (re.compile(r"audio_model\.audio_encoder\.patch_embed\.(.+)"), r"audio_branch.patch_embed.\1"),
    (re.compile(r"audio_model\.audio_encoder\.norm\.(.+)"), r"audio_branch.norm.\1"),
    (
        re.compile(r"audio_model\.audio_encoder\.layers\.(\d+)\.downsample\.(.+)"),
        r"audio_branch.layers.\1.downsample.\2",
    ),
    (
        re.compile(
            r"audio_model\.audio_encoder\.layers\.(\d+)\.blocks\.(\d+)\.layernorm_before\.(.+)"
        ),
        r"audio_branch.layers.\1.blocks.\2.norm1.\3",
    ),
    (
        re.compile(
            r"audio_model\.audio_encoder\.layers\.(\d+)\.blocks\.(\d+)\.layernorm_after\.(.+)"
        ),
        r"audio_branch.layers.\1.blocks.\2.norm2.\3",
    ),
    (
        re.compile(
            r"audio_model\.audio_encoder\.layers\.(\d+)\.blocks\.(\d+)\.attention\.output\.dense\.(.+)"
        ),
        r"audio_branch.layers.\1.blocks.\2.attn.proj.\3",
    ),
    (
        re.compile(
            r"audio_model\.audio_encoder\.layers\.(\d+)\.blocks\.(\d+)\.attention\.self\."
            r"(relative_position_bias_table|relative_position_index)"
        ),
        r"audio_branch.layers.\1.blocks.\2.attn.\3",
    ),
    (
        re.compile(
            r"audio_model\.audio_encoder\.layers\.(\d+)\.blocks\.(\d+)\.intermediate\.dense\.(.+)"
        ),
        r"audio_branch.layers.\1.blocks.\2.mlp.fc1.\3",
    ),
    (
        re.compile(
            r"audio_model\.audio_encoder\.layers\.(\d+)\.blocks\.(\d+)\.output\.dense\.(.+)"
        ),
        r"audio_branch.layers.\1.blocks.\2.mlp.fc2.\3",
    ),
]

_HF_QKV = re.compile(
    r"audio_model\.audio_encoder\.layers\.(\d+)\.blocks\.(\d+)\.attention\.self\."
    r"(query|key|value)\.(weight|bias)"
)

# Dropped on export: LAION's RoBERTa kept token_type_ids as a non-persistent buffer.
_HF_ONLY = re.compile(r"text_model\.embeddings\.token_type_ids")


def clap_from_laion(
    state_dict: Mapping[str, torch.Tensor], config: HFClapConfig | None = None
) -> dict[str, torch.Tensor]:
    """LAION-CLAP state dict (``cond_stage_model.model.`` stripped) -> ``ClapModel`` state dict.

    The fused Swin ``attn.qkv`` (3C, C) is split row-wise into query/key/value (C, C).
    Keys in ``IGNORED_LAION_KEYS`` are dropped; any other unknown key raises
    ``ModelLoadError``. Buffers that transformers stores but a LAION checkpoint may lack
    (``position_ids``, ``token_type_ids``, ``relative_position_index``) are rebuilt from
    ``config`` (inferred from the tensor shapes when None). Tensors are not copied.
    """
    if config is None:
        config = clap_config_from_laion_state_dict(state_dict)
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        qkv = _QKV.fullmatch(key)
        if qkv is not None:
            layer, block, kind = qkv.groups()
            base = f"{_AUDIO}layers.{layer}.blocks.{block}.attention.self"
            query, key_part, value_part = value.chunk(3, dim=0)
            converted[f"{base}.query.{kind}"] = query
            converted[f"{base}.key.{kind}"] = key_part
            converted[f"{base}.value.{kind}"] = value_part
            continue
        for pattern, template in _LAION_TO_HF:
            match = pattern.fullmatch(key)
            if match is not None:
                converted[match.expand(template)] = value
                break
        else:
            if IGNORED_LAION_KEYS.fullmatch(key) is None:
                unknown.append(key)
    if unknown:
        raise ModelLoadError(
            f"CLAP checkpoint has {len(unknown)} unrecognised keys (not LAION-CLAP layout?): "
            f"{sorted(unknown)[:8]}"
        )
    _fill_buffers(converted, config)
    return converted


def clap_to_laion(
    state_dict: Mapping[str, torch.Tensor], *, include_unused: bool = False
) -> dict[str, torch.Tensor]:
    """``ClapModel`` state dict -> LAION-CLAP layout (inverse of ``clap_from_laion``).

    query/key/value are concatenated into ``attn.qkv`` (3C, C). With ``include_unused``
    the modules transformers lacks are added as placeholder tensors of plausible shapes
    (``text_transform``, ``audio_transform``, ``tscam_conv``, ``head``), so tests can build
    checkpoints that look like the released ones. Used to build original-layout test
    checkpoints.
    """
    out: dict[str, torch.Tensor] = {}
    qkv_parts: dict[tuple[str, str, str], dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        qkv = _HF_QKV.fullmatch(key)
        if qkv is not None:
            layer, block, part, kind = qkv.groups()
            qkv_parts.setdefault((layer, block, kind), {})[part] = value
            continue
        if _HF_ONLY.fullmatch(key) is not None:
            continue
        for pattern, template in _HF_TO_LAION:
            match = pattern.fullmatch(key)
            if match is not None:
                out[match.expand(template)] = value
                break
        else:
            raise ModelLoadError(f"ClapModel key {key!r} has no LAION-CLAP counterpart")
    for (layer, block, kind), parts in qkv_parts.items():
        if set(parts) != {"query", "key", "value"}:
            raise ModelLoadError(f"audio layer {layer} block {block}: incomplete q/k/v {kind}")
        out[f"audio_branch.layers.{layer}.blocks.{block}.attn.qkv.{kind}"] = torch.cat(
            [parts["query"], parts["key"], parts["value"]], dim=0
        )
    if include_unused:
        out.update(_unused_placeholders(out))
    return out


def _unused_placeholders(laion: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Zero tensors standing in for the LAION modules transformers has no use for."""
    embed = laion["audio_projection.0.weight"].shape[0]
    features = laion["audio_branch.norm.weight"].shape[0]
    classes = 527  # AudioSet classes of HTSAT's head
    extra: dict[str, torch.Tensor] = {}
    for branch in ("text_transform", "audio_transform"):
        for index in (0, 3):  # MLPLayers: Linear, ReLU, Dropout, Linear, ReLU, Dropout
            extra[f"{branch}.sequential.{index}.weight"] = torch.zeros(embed, embed)
            extra[f"{branch}.sequential.{index}.bias"] = torch.zeros(embed)
    extra["audio_branch.tscam_conv.weight"] = torch.zeros(classes, features, 2, 3)
    extra["audio_branch.tscam_conv.bias"] = torch.zeros(classes)
    extra["audio_branch.head.weight"] = torch.zeros(classes, features)
    extra["audio_branch.head.bias"] = torch.zeros(classes)
    extra["audio_branch.logmel_extractor.melW"] = torch.zeros(513, 64)
    return extra


def _relative_position_index(window: int) -> torch.Tensor:
    """Swin relative position index (window^2, window^2), as transformers builds it."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = torch.flatten(coords, 1)  # (2, window^2)
    relative = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    relative[:, :, 0] += window - 1
    relative[:, :, 1] += window - 1
    relative[:, :, 0] *= 2 * window - 1
    return relative.sum(-1)


def _fill_buffers(converted: dict[str, torch.Tensor], config: HFClapConfig) -> None:
    """Add the deterministic buffers a LAION checkpoint may not store."""
    text: Any = config.text_config
    positions = text.max_position_embeddings
    converted.setdefault(
        "text_model.embeddings.position_ids", torch.arange(positions).expand((1, -1)).clone()
    )
    converted.setdefault(
        "text_model.embeddings.token_type_ids", torch.zeros((1, positions), dtype=torch.long)
    )
    audio: Any = config.audio_config
    index = _relative_position_index(audio.window_size)
    for layer, depth in enumerate(audio.depths):
        for block in range(depth):
            key = f"{_AUDIO}layers.{layer}.blocks.{block}.attention.self.relative_position_index"
            converted.setdefault(key, index.clone())


# ---------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------

# HTSAT variants of laion_clap (model_configs/HTSAT-*.json): patch embed width, depths, heads.
_HTSAT = {
    "htsat-tiny": (96, (2, 2, 6, 2), (4, 8, 16, 32)),
    "htsat-base": (128, (2, 2, 12, 2), (4, 8, 16, 32)),
    "htsat-large": (256, (2, 2, 12, 2), (4, 8, 16, 32)),
}


def laion_clap_config(
    audio: Literal["htsat-tiny", "htsat-base", "htsat-large"] = "htsat-tiny",
    text: Literal["roberta-base"] = "roberta-base",
    projection_dim: int = 512,
) -> HFClapConfig:
    """transformers ``ClapConfig`` of an unfused LAION-CLAP as AudioLDM uses it.

    AudioLDM-S/L: HTSAT-tiny (hidden 768); AudioLDM-M: HTSAT-base (hidden 1024). Text:
    roberta-base (12 layers, 768, LayerNorm eps 1e-5 as in roberta-base's own config).
    Both projections are Linear-ReLU-Linear to ``projection_dim``.
    """
    if audio not in _HTSAT:
        raise ModelLoadError(f"unknown HTSAT variant {audio!r}; choose from {sorted(_HTSAT)}")
    if text != "roberta-base":
        raise ModelLoadError(f"unknown CLAP text tower {text!r}; only 'roberta-base'")
    width, depths, heads = _HTSAT[audio]
    return make_clap_config(
        text_config={
            "vocab_size": 50265,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "max_position_embeddings": 514,
            "type_vocab_size": 1,
            "layer_norm_eps": 1e-5,
        },
        audio_config={
            "patch_embeds_hidden_size": width,
            "depths": list(depths),
            "num_attention_heads": list(heads),
            "hidden_size": width * 2 ** (len(depths) - 1),
            "window_size": 8,
            "spec_size": 256,
            "num_mel_bins": 64,
        },
        projection_dim=projection_dim,
    )


def make_clap_config(
    text_config: dict[str, Any], audio_config: dict[str, Any], projection_dim: int
) -> HFClapConfig:
    """A transformers ``ClapConfig`` from sub-config overrides (tiny test models use this).

    Fixed to what LAION-CLAP in AudioLDM uses: ReLU projections, GELU towers, no fusion,
    RoBERTa special ids (bos 0, pad 1, eos 2).
    """
    text = {
        "hidden_act": "gelu",
        "projection_hidden_act": "relu",
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "type_vocab_size": 1,
        **text_config,
    }
    audio = {"enable_fusion": False, "projection_hidden_act": "relu", **audio_config}
    return HFClapConfig(
        text_config=ClapTextConfig(**text).to_dict(),
        audio_config=ClapAudioConfig(**audio).to_dict(),
        projection_dim=projection_dim,
    )


def clap_config_from_laion_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    *,
    text_heads: int | None = None,
    spec_size: int = 256,
    text_layer_norm_eps: float = 1e-5,
) -> HFClapConfig:
    """Infer the ``ClapConfig`` of a LAION-CLAP state dict from its tensor shapes.

    Everything is read from shapes except what shapes cannot tell: the text head count
    (default ``hidden // 64``, RoBERTa's head width, at least 1), HTSAT's ``spec_size``
    (256 in every released model: 1024 frames x 64 mels folded to 256 x 256) and the text
    LayerNorm eps. Fused (``enable_fusion``) models are refused.
    """
    try:
        words = state_dict["text_branch.embeddings.word_embeddings.weight"]
        patch = state_dict["audio_branch.patch_embed.proj.weight"]
        projection = state_dict["audio_projection.0.weight"]
    except KeyError as exc:
        raise ModelLoadError(f"not a LAION-CLAP state dict: missing {exc.args[0]!r}") from None
    if any(key.startswith("audio_branch.patch_embed.fusion_model.") for key in state_dict):
        raise ModelLoadError(
            "fused LAION-CLAP (enable_fusion) is not supported; AudioLDM is unfused"
        )
    hidden = int(words.shape[1])
    text_layers = _count(state_dict, r"text_branch\.encoder\.layer\.(\d+)\.")
    audio_layers = _count(state_dict, r"audio_branch\.layers\.(\d+)\.")
    depths = [
        _count(state_dict, rf"audio_branch\.layers\.{layer}\.blocks\.(\d+)\.")
        for layer in range(audio_layers)
    ]
    heads = [
        int(
            state_dict[
                f"audio_branch.layers.{layer}.blocks.0.attn.relative_position_bias_table"
            ].shape[1]
        )
        for layer in range(audio_layers)
    ]
    table_rows = int(
        state_dict["audio_branch.layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
    )
    window = (round(table_rows**0.5) + 1) // 2
    width = int(patch.shape[0])
    fc1 = state_dict["audio_branch.layers.0.blocks.0.mlp.fc1.weight"]
    return make_clap_config(
        text_config={
            "vocab_size": int(words.shape[0]),
            "hidden_size": hidden,
            "num_hidden_layers": text_layers,
            "num_attention_heads": text_heads or max(1, hidden // 64),
            "intermediate_size": int(
                state_dict["text_branch.encoder.layer.0.intermediate.dense.weight"].shape[0]
            ),
            "max_position_embeddings": int(
                state_dict["text_branch.embeddings.position_embeddings.weight"].shape[0]
            ),
            "type_vocab_size": int(
                state_dict["text_branch.embeddings.token_type_embeddings.weight"].shape[0]
            ),
            "layer_norm_eps": text_layer_norm_eps,
        },
        audio_config={
            "patch_embeds_hidden_size": width,
            "patch_size": int(patch.shape[2]),
            "patch_stride": [int(patch.shape[2]), int(patch.shape[3])],
            "patch_embed_input_channels": int(patch.shape[1]),
            "depths": depths,
            "num_attention_heads": heads,
            "hidden_size": int(projection.shape[1]),
            "window_size": window,
            "mlp_ratio": float(fc1.shape[0]) / float(fc1.shape[1]),
            "qkv_bias": "audio_branch.layers.0.blocks.0.attn.qkv.bias" in state_dict,
            "enable_patch_layer_norm": "audio_branch.patch_embed.norm.weight" in state_dict,
            "spec_size": spec_size,
            "num_mel_bins": int(state_dict["audio_branch.bn0.weight"].shape[0]),
        },
        projection_dim=int(projection.shape[0]),
    )


def _count(state_dict: Mapping[str, torch.Tensor], pattern: str) -> int:
    """Number of distinct indices captured by ``pattern`` (1 + the largest)."""
    regex = re.compile(pattern)
    indices = {int(m.group(1)) for key in state_dict if (m := regex.match(key)) is not None}
    if not indices:
        raise ModelLoadError(f"not a LAION-CLAP state dict: no keys match {pattern!r}")
    return max(indices) + 1
