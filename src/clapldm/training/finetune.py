"""Fine-tuning: an LDM run that starts from a loadable model instead of random weights.

``ldm.init`` names anything `AudioLDM.from_pretrained` loads (``"bundled"``, a native
folder, a diffusers folder, an original ``.ckpt``, a hub id when online); the run takes
that model's UNet weights and keeps its VAE, CLAP, vocoder, mel and scheduler configs, so
a plain folder of unlabelled clips is enough data (AudioLDM conditions on the CLAP
*audio* embedding of each clip). With ``ldm.lora_rank > 0`` only low-rank adapters train
(`clapldm.adapters`) and export writes an adapter folder; otherwise the whole UNet trains
and export writes a full model folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from clapldm.adapters import LoraSpec, save_adapter
from clapldm.config import ConfigBase, MelConfig, SchedulerConfig, UNetConfig
from clapldm.errors import ConfigError
from clapldm.fileio import atomic_folder
from clapldm.pipeline import AudioLDM
from clapldm.training.config import (
    LdmTrainConfig,
    TrainingRun,
    apply_overrides,
    parse_training_config,
)

logger = logging.getLogger(__name__)

BUNDLED = "bundled"


def load_init_model(options: LdmTrainConfig) -> AudioLDM:
    """The model ``ldm.init`` names (through `AudioLDM.from_pretrained`), on the CPU."""
    source = None if options.init in ("", BUNDLED) else options.init
    return AudioLDM.from_pretrained(source, device="cpu", **dict(options.init_options))


def lora_spec(options: LdmTrainConfig) -> LoraSpec | None:
    """The run's adapter shape, or None for full fine-tuning."""
    if options.lora_rank <= 0:
        return None
    return LoraSpec(
        rank=options.lora_rank,
        alpha=options.lora_alpha,
        targets=options.lora_targets,
        dropout=options.lora_dropout,
    )


def default_precision() -> str:
    """bf16 autocast on a GPU that has it, exact fp32 elsewhere."""
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def init_run(
    init: str,
    model: Any,
    config: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
) -> TrainingRun:
    """The ldm training run that fine-tunes ``model`` (loaded from ``init``).

    ``config`` (a training config's JSON, optional) supplies the ``train`` and ``ldm``
    settings; ``model``, ``mel`` and ``scheduler`` always come from the model (a config
    that states other values is refused, so nothing silently trains a different shape).
    ``overrides`` (``section.key=value``) apply last.
    """
    data: dict[str, Any] = dict(config or {})
    if data.get("stage", "ldm") != "ldm":
        raise ConfigError(f"--init fine-tunes the ldm stage; the config is for {data['stage']!r}")
    from_model = {
        "model": model.unet.config.to_dict(),
        "mel": model.mel_config.to_dict(),
        "scheduler": model.scheduler_config.to_dict(),
    }
    for key, value in from_model.items():
        if key in data and _parsed(key, data[key]) != _parsed(key, value):
            raise ConfigError(
                f"the config's '{key}' differs from the --init model's; leave it out "
                "(fine-tuning keeps the model's shape)"
            )
    ldm = dict(data.get("ldm", {}))
    ldm["init"] = init
    ldm.setdefault("scale_factor", float(model.vae.config.scale_factor))
    ldm.setdefault("name", f"{model.name or 'clapldm'}-finetuned")
    ldm.setdefault("max_duration", float(model.config.max_duration))
    train = dict(data.get("train", {}))
    train.setdefault("precision", default_precision())
    data.update({"stage": "ldm", **from_model, "ldm": ldm, "train": train})
    return parse_training_config(apply_overrides(data, overrides or []), f"--init {init}")


def _parsed(key: str, value: Any) -> Any:
    """A config section as its dataclass, so defaults left out compare equal."""
    classes: dict[str, type[ConfigBase]] = {
        "model": UNetConfig,
        "mel": MelConfig,
        "scheduler": SchedulerConfig,
    }
    cls = classes[key]
    try:
        return cls.from_dict(value)
    except ConfigError:
        return value


def export_finetuned(
    module: Any,
    output: str | os.PathLike[str],
    *,
    use_ema: bool = True,
    fmt: str = "auto",
) -> Path:
    """Export an ``ldm.init`` run: ``fmt`` "adapter" (LoRA runs only), "full" (the init
    model with the trained UNet, adapters merged in), or "auto" (adapter for LoRA runs,
    else full)."""
    options: LdmTrainConfig = module.run.options
    spec = lora_spec(options)
    if fmt not in ("auto", "adapter", "full"):
        raise ConfigError(f"export format must be auto, adapter or full, got {fmt!r}")
    if fmt == "adapter" and spec is None:
        raise ConfigError("this run fine-tuned the whole UNet; it has no adapter to export")
    unet = module.module_for_export(use_ema)
    out = Path(output)
    info = {
        "train_step": module.train_step,
        "ema": bool(use_ema and module.ema is not None),
        "init": options.init,
    }
    if spec is not None and fmt in ("auto", "adapter"):
        save_adapter(
            out,
            unet,
            spec,
            base_hash=module.base_hash,
            base_name=module.base_name,
            info=info,
        )
        logger.info("exported the adapter (step %d) to %s", module.train_step, out)
        return out
    pipe = load_init_model(options)
    if spec is None:
        pipe.unet.load_state_dict(unet.state_dict(), strict=True)
    else:
        # The adapters go onto the init model's own weights (checked by the base hash):
        # the export module's base weights are placeholders, only its adapters were saved.
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "adapter"
            save_adapter(folder, unet, spec, base_hash=module.base_hash, base_name=module.base_name)
            pipe.load_lora(folder).merge_lora()
    pipe.name = options.name
    pipe.config = pipe.config.replace(
        name=options.name,
        extra={**pipe.config.extra, "fine_tuned_from": options.init or BUNDLED, **info},
    )
    with atomic_folder(out) as staging:
        pipe.save_pretrained(staging)
    logger.info("exported the fine-tuned model (step %d) to %s", module.train_step, out)
    return out


__all__ = [
    "BUNDLED",
    "default_precision",
    "export_finetuned",
    "init_run",
    "load_init_model",
    "lora_spec",
]
