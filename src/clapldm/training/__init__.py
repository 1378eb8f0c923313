"""Training stack (PyTorch Lightning): one LightningModule per stage, shared data module,
atomic checkpoints, export to native component folders.

Public entry points (imported lazily, so ``import clapldm.training`` stays cheap)::

    load_training_config(path, overrides) -> TrainingRun
    train(run, data, run_dir, resume=..., devices=..., strategy=..., ...) -> TrainResult
    export_run(run_dir, output, vocoder=...) -> Path
    assemble(clap=..., vae=..., unet=..., vocoder=..., output=...) -> Path
    preencode(run, data, output, ...) -> int
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "load_training_config": "clapldm.training.config",
    "parse_training_config": "clapldm.training.config",
    "TrainingRun": "clapldm.training.config",
    "train": "clapldm.training.runner",
    "TrainResult": "clapldm.training.runner",
    "export_run": "clapldm.training.export",
    "assemble": "clapldm.training.export",
    "preencode": "clapldm.training.preencode",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
