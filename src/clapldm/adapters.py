"""Low-rank adapters (LoRA; Hu et al. 2021, arXiv 2106.09685) on the AudioLDM UNet.

A LoRA on a layer with weight W adds ``scale * (alpha / rank) * B A x`` to its output,
with A (rank x in) and B (out x rank, zero at the start, so a fresh adapter changes
nothing). Only A and B train; W stays frozen, so an adapter is a few MB and several can
be mixed on one base model. The layers are wrapped by `peft` (the library diffusers and
transformers use); this module adds what the project needs around it:

- target groups named by what they are (``attention``, ``ff``, ``conv``), checked against
  the UNet's layers;
- a fingerprint of the *base* UNet weights, written into every adapter, so loading an
  adapter onto another model is a clear error instead of quiet noise;
- the adapter folder format::

      adapter_config.json        {"format": "clapldm-lora", "format_version": 1,
                                  "rank", "alpha", "targets", "dropout",
                                  "base": {"name", "unet_hash", "unet_config"}, ...}
      adapter_model.safetensors  A and B of every wrapped layer (peft's key names)

It knows nothing about pipelines or training: it takes a UNet (any ``nn.Module`` whose
layer names are the AudioLDM UNet's) and returns or changes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
from peft import set_peft_model_state_dict as _set_peft_state
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from clapldm.checkpoints.native import load_weights, save_weights
from clapldm.config import write_json_atomic
from clapldm.errors import ConfigError, ModelLoadError
from clapldm.fileio import atomic_folder

ADAPTER_FORMAT = "clapldm-lora"
ADAPTER_FORMAT_VERSION = 1
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
ADAPTER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Layer-name suffixes per group. "attention": the q/k/v/out projections of both
# self-attention layers of every transformer block (the usual LoRA target, as in diffusers'
# text-to-image LoRA); "ff": the GEGLU feed-forward; "conv": the two 3x3 convolutions of
# every res block (what spreads an adapter over the whole UNet, at about 10x the size).
TARGET_GROUPS: dict[str, tuple[str, ...]] = {
    "attention": ("to_q", "to_k", "to_v", "to_out.0"),
    "ff": ("ff.net.0.proj", "ff.net.2"),
    "conv": ("conv1", "conv2"),
}
DEFAULT_TARGETS = ("attention",)
_WRAPPABLE = (nn.Linear, nn.Conv2d)


@dataclass(frozen=True)
class LoraSpec:
    """Shape of an adapter: ``rank`` r, ``alpha`` (the update is scaled by alpha / r; 0 =
    alpha equal to the rank), ``targets`` (group names of `TARGET_GROUPS` or layer-name
    suffixes), ``dropout`` on the adapter's input while training."""

    rank: int
    alpha: float = 0.0
    targets: tuple[str, ...] = DEFAULT_TARGETS
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"LoRA rank must be a positive integer, got {self.rank!r}")
        if not math.isfinite(self.alpha) or self.alpha < 0:
            raise ConfigError(f"LoRA alpha must be >= 0 (0 = the rank), got {self.alpha!r}")
        if not self.targets:
            raise ConfigError("LoRA targets are empty; name at least one group or layer")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def effective_alpha(self) -> float:
        return float(self.alpha) if self.alpha > 0 else float(self.rank)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "alpha": self.effective_alpha,
            "targets": list(self.targets),
            "dropout": self.dropout,
        }


@dataclass
class Adapter:
    """An adapter read from disk: its shape, weights and the base model it was trained on."""

    spec: LoraSpec
    state: dict[str, torch.Tensor]
    base_hash: str
    base_name: str = ""
    folder: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_parameters(self) -> int:
        return sum(t.numel() for t in self.state.values())


# ------------------------------------------------------------------------------ targets
def target_suffixes(targets: Iterable[str]) -> tuple[str, ...]:
    """Group names expanded to layer-name suffixes (other entries are suffixes already)."""
    suffixes: list[str] = []
    for target in targets:
        for suffix in TARGET_GROUPS.get(target, (target,)):
            if suffix not in suffixes:
                suffixes.append(suffix)
    return tuple(suffixes)


def target_layers(unet: nn.Module, targets: Iterable[str]) -> list[str]:
    """Names of the UNet's linear / conv layers that ``targets`` select. A target that
    selects nothing is a `ConfigError` naming the groups there are."""
    wanted = target_suffixes(targets)
    names = [name for name, module in unet.named_modules() if isinstance(module, _WRAPPABLE)]
    selected: list[str] = []
    for suffix in wanted:
        hits = [n for n in names if n == suffix or n.endswith("." + suffix)]
        if not hits:
            raise ConfigError(
                f"LoRA target {suffix!r} matches no linear or conv layer of the UNet; "
                f"use {sorted(TARGET_GROUPS)} or a layer-name suffix such as 'to_q'"
            )
        selected.extend(n for n in hits if n not in selected)
    return sorted(selected)


# -------------------------------------------------------------------------- base identity
def base_state(unet: nn.Module) -> dict[str, torch.Tensor]:
    """The UNet's own weights, whether or not adapters wrap its layers (peft's
    ``base_layer`` level removed, adapter weights left out)."""
    state = {}
    for key, value in unet.state_dict().items():
        if ".lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = value
    return state


def unet_hash(unet: nn.Module) -> str:
    """Short sha256 of the base UNet weights (names and fp32 values): the identity an
    adapter records and checks."""
    digest = hashlib.sha256()
    for key, tensor in sorted(base_state(unet).items()):
        digest.update(key.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------------ wrapping layers
def _peft_config(spec: LoraSpec, layers: Sequence[str]) -> LoraConfig:
    # Exact layer names (a regex over full names): no suffix can match outside the UNet
    # layers checked by `target_layers`.
    pattern = "^(" + "|".join(re.escape(name) for name in layers) + ")$"
    return LoraConfig(
        r=spec.rank,
        lora_alpha=spec.effective_alpha,  # type: ignore[arg-type]  # typed int; used as alpha / r
        target_modules=pattern,
        lora_dropout=spec.dropout,
        bias="none",
    )


def check_adapter_name(name: str) -> str:
    if not isinstance(name, str) or not ADAPTER_NAME_PATTERN.match(name):
        raise ConfigError(
            f"adapter name {name!r}: use 1-64 letters, digits, '_', '-' or '.' (not first)"
        )
    return name


def add_adapter(unet: nn.Module, spec: LoraSpec, name: str = "default") -> list[str]:
    """Wrap the target layers with a fresh adapter ``name`` (B = 0: outputs unchanged);
    every base weight is frozen and only the new A and B require grad. Returns the
    wrapped layer names."""
    check_adapter_name(name)
    if name in adapter_names(unet):
        raise ConfigError(f"the UNet already holds an adapter named {name!r}")
    layers = target_layers(unet, spec.targets)
    unet.requires_grad_(False)
    with warnings.catch_warnings():
        # peft warns that a second adapter makes a model hold several: that is the point.
        warnings.filterwarnings("ignore", message=".*multiple adapters in the model.*")
        inject_adapter_in_model(_peft_config(spec, layers), unet, adapter_name=name)
    for param_name, param in unet.named_parameters():
        param.requires_grad_(f".lora_A.{name}." in param_name or f".lora_B.{name}." in param_name)
    return layers


def tuner_layers(unet: nn.Module) -> list[tuple[str, BaseTunerLayer]]:
    return [(n, m) for n, m in unet.named_modules() if isinstance(m, BaseTunerLayer)]


def adapter_names(unet: nn.Module) -> list[str]:
    """Names of the adapters the UNet holds, in the order they were added."""
    names: list[str] = []
    for _, layer in tuner_layers(unet):
        for name in getattr(layer, "r", {}):
            if name not in names:
                names.append(name)
    return names


def adapter_state(unet: nn.Module, name: str = "default") -> dict[str, torch.Tensor]:
    """A and B of adapter ``name`` (peft's key names, without the adapter name)."""
    if name not in adapter_names(unet):
        raise ConfigError(f"the UNet holds no adapter named {name!r}")
    state = get_peft_model_state_dict(unet, adapter_name=name)
    return {k: v.detach().float().cpu().contiguous() for k, v in state.items()}


def attach(unet: nn.Module, adapter: Adapter, name: str) -> None:
    """Add a saved adapter to ``unet`` under ``name`` (its base must match: see `check_base`)."""
    check_base(unet, adapter)
    add_adapter(unet, adapter.spec, name)
    result = _set_peft_state(unet, adapter.state, adapter_name=name)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing = [k for k in getattr(result, "missing_keys", []) or [] if f".{name}." in k]
    if unexpected or missing:
        remove_adapter(unet, name)
        keys = (unexpected or missing)[:2]
        raise ModelLoadError(
            f"{adapter.folder or 'adapter'}: weights do not fit its own config ({keys} ...)"
        )
    unet.requires_grad_(False)


def check_base(unet: nn.Module, adapter: Adapter) -> None:
    """Refuse an adapter trained on other base weights (one-line `ModelLoadError`)."""
    actual = unet_hash(unet)
    if adapter.base_hash != actual:
        where = adapter.folder or "adapter"
        base = f" ({adapter.base_name})" if adapter.base_name else ""
        raise ModelLoadError(
            f"{where}: trained on base model {adapter.base_hash}{base}, but this model's UNet "
            f"is {actual}; load the adapter onto the model it was trained on"
        )


def activate(unet: nn.Module, scales: Mapping[str, float]) -> None:
    """Make exactly the adapters in ``scales`` active, each at its scale (1 = as trained;
    0.5 = half the learnt change); an empty mapping switches every adapter off."""
    known = adapter_names(unet)
    for name in scales:
        if name not in known:
            raise ConfigError(f"the UNet holds no adapter named {name!r}")
    for _, layer in tuner_layers(unet):
        present = [n for n in scales if n in getattr(layer, "r", {})]
        if not present:
            layer.enable_adapters(False)
            continue
        layer.enable_adapters(True)
        layer.set_adapter(present)
        for name in present:
            layer.set_scale(name, float(scales[name]))  # type: ignore[attr-defined]
    unet.requires_grad_(False)


def _replace(unet: nn.Module, path: str, module: nn.Module) -> None:
    parent_name, _, child = path.rpartition(".")
    parent = unet.get_submodule(parent_name) if parent_name else unet
    setattr(parent, child, module)


def merge_active(unet: nn.Module) -> None:
    """Add the active adapters (at their scales) into the base weights and remove every
    adapter: the UNet is a plain UNet again, with no extra cost per step."""
    for path, layer in tuner_layers(unet):
        if not layer.disable_adapters and layer.active_adapters:
            layer.merge(adapter_names=list(layer.active_adapters))
        _replace(unet, path, layer.get_base_layer())


def remove_adapter(unet: nn.Module, name: str | None = None) -> None:
    """Remove adapter ``name`` (None: all) without merging it."""
    for path, layer in tuner_layers(unet):
        names = list(getattr(layer, "r", {}))
        if name is None or names == [name]:
            _replace(unet, path, layer.get_base_layer())
        elif name in names:
            layer.delete_adapter(name)


# -------------------------------------------------------------------------------- folders
def save_adapter(
    folder: str | os.PathLike[str],
    unet: nn.Module,
    spec: LoraSpec,
    *,
    name: str = "default",
    base_hash: str,
    base_name: str = "",
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write adapter ``name`` of ``unet`` as an adapter folder (atomically)."""
    state = adapter_state(unet, name)
    config: Any = getattr(unet, "config", None)
    data = {
        "format": ADAPTER_FORMAT,
        "format_version": ADAPTER_FORMAT_VERSION,
        **spec.to_dict(),
        "base": {
            "name": base_name,
            "unet_hash": base_hash,
            "unet_config": config.to_dict() if hasattr(config, "to_dict") else None,
        },
        "parameters": sum(t.numel() for t in state.values()),
        **dict(info or {}),
    }
    out = Path(folder)
    with atomic_folder(out) as staging:
        save_weights(state, staging / WEIGHTS_FILE)
        write_json_atomic(staging / CONFIG_FILE, data)
    return out


def is_adapter_folder(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def read_adapter(folder: str | os.PathLike[str]) -> Adapter:
    """An adapter folder -> `Adapter`; anything missing or malformed is a `ModelLoadError`."""
    path = Path(folder)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise ModelLoadError(f"{path}: not a LoRA adapter folder (no {CONFIG_FILE})")
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{config_path}: unreadable ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != ADAPTER_FORMAT:
        raise ModelLoadError(f"{config_path}: not a clapldm LoRA adapter config")
    if int(data.get("format_version", 0)) > ADAPTER_FORMAT_VERSION:
        raise ModelLoadError(
            f"{config_path}: format version {data.get('format_version')} is newer than "
            "this clapldm supports"
        )
    try:
        spec = LoraSpec(
            rank=int(data["rank"]),
            alpha=float(data["alpha"]),
            targets=tuple(str(t) for t in data["targets"]),
            dropout=float(data.get("dropout", 0.0)),
        )
        base = dict(data["base"])
        base_hash = str(base["unet_hash"])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise ModelLoadError(f"{config_path}: incomplete adapter config ({exc})") from None
    state = load_weights(path / WEIGHTS_FILE)
    return Adapter(spec, state, base_hash, str(base.get("name") or ""), path, data)


def weights_sha256(folder: str | os.PathLike[str]) -> str:
    """sha256 of an adapter folder's weights file (what a recipe checks before reuse)."""
    digest = hashlib.sha256()
    with open(Path(folder) / WEIGHTS_FILE, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_size_mb(folder: str | os.PathLike[str]) -> float:
    """Size on disk of a folder's files, in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 1e6


__all__ = [
    "ADAPTER_FORMAT",
    "DEFAULT_TARGETS",
    "TARGET_GROUPS",
    "Adapter",
    "LoraSpec",
    "activate",
    "adapter_names",
    "adapter_state",
    "add_adapter",
    "attach",
    "base_state",
    "check_adapter_name",
    "check_base",
    "folder_size_mb",
    "is_adapter_folder",
    "merge_active",
    "read_adapter",
    "remove_adapter",
    "save_adapter",
    "target_layers",
    "target_suffixes",
    "tuner_layers",
    "unet_hash",
    "weights_sha256",
]
