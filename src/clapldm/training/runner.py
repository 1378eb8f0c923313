"""Build and run a training stage: `train` is what ``clapldm train STAGE`` calls.

Run folder layout::

    RUN_DIR/config.json                  the resolved training config (paths absolute)
    RUN_DIR/data.json                    what --data was
    RUN_DIR/checkpoints/step=NNNNNNNN.ckpt, last.ckpt -> newest   (atomic, see callbacks)
    RUN_DIR/logs/csv/version_N/metrics.csv, RUN_DIR/logs/tensorboard/
    RUN_DIR/cache/                       frozen text features (clap stage)

The same call runs on one CPU, N GPUs (``devices=N, strategy="ddp"``) or several nodes
(``num_nodes``; under torchrun or SLURM Lightning reads the environment).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.strategies import DDPStrategy, Strategy

from clapldm.config import write_json_atomic
from clapldm.errors import ConfigError
from clapldm.training.callbacks import (
    CHECKPOINT_DIR,
    AtomicCheckpointIO,
    AverageBatchNormStats,
    LogProgress,
    StepCheckpoint,
    StepProgressBar,
    find_resume_checkpoint,
)
from clapldm.training.common import StageModule
from clapldm.training.config import TrainingRun, parse_training_config, resolve_paths
from clapldm.training.data import DataSpec, TrainingData, preencoded_meta, resolve_data

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
DATA_FILE = "data.json"


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path | None
    train_step: int
    interrupted: bool


def build_module(
    run: TrainingRun, spec: DataSpec | None = None, init_model: Any = None
) -> StageModule:
    """The stage's LightningModule (frozen parts loaded, weights freshly initialised, or
    the ``ldm.init`` model's: ``init_model`` when the caller has it loaded already)."""
    if run.stage == "clap":
        from clapldm.training.clap_module import ClapModule

        return ClapModule(run)
    if run.stage == "vae":
        from clapldm.training.vae_module import VaeModule

        return VaeModule(run)
    if run.stage == "vocoder":
        from clapldm.training.vocoder_module import VocoderModule

        return VocoderModule(run)
    from clapldm.training.ldm_module import LdmModule

    return LdmModule(
        run, preencoded_meta(spec) if spec is not None else None, init_model=init_model
    )


def build_data(run: TrainingRun, spec: DataSpec, module: StageModule) -> TrainingData:
    latent_frames = getattr(module, "latent_frames", 0) if run.stage == "ldm" else 0
    pad_latent = None
    meta = preencoded_meta(spec)
    if meta is not None and meta.get("pad_latent") is not None:
        pad_latent = np.asarray(meta["pad_latent"], dtype=np.float32)
    return TrainingData(
        run,
        spec,
        segment_samples=module.segment_samples(),
        require_caption=module.requires_caption(),
        latent_frames=latent_frames,
        pad_latent=pad_latent,
    )


def build_strategy(strategy: str, stage: str) -> str | Strategy:
    """GAN stages leave some parameters out of some backward passes: DDP must look for
    unused parameters there."""
    if stage in ("vae", "vocoder") and strategy in ("ddp", "ddp_spawn"):
        return DDPStrategy(
            find_unused_parameters=True,
            start_method="spawn" if strategy == "ddp_spawn" else "popen",
        )
    return strategy


def build_trainer(
    run: TrainingRun,
    run_dir: Path,
    module: StageModule,
    *,
    devices: int | str = 1,
    strategy: str = "auto",
    num_nodes: int = 1,
    accelerator: str = "auto",
    progress: bool | None = None,
    callbacks: Sequence[L.Callback] = (),
) -> L.Trainer:
    train = run.train
    per_step = module.optimizers_per_step
    if progress is None:
        progress = sys.stderr.isatty()
    all_callbacks: list[L.Callback] = [
        StepCheckpoint(
            run_dir / CHECKPOINT_DIR, train.checkpoint_every, train.keep_checkpoints, per_step
        ),
        LogProgress(train.log_every, train.max_steps, per_step),
        AverageBatchNormStats(),
        *callbacks,
    ]
    if progress:
        all_callbacks.append(StepProgressBar(train.max_steps))
    loggers = [
        CSVLogger(run_dir / "logs", name="csv"),
        TensorBoardLogger(
            run_dir / "logs", name="tensorboard", version="events", default_hp_metric=False
        ),
    ]
    return L.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=build_strategy(strategy, run.stage),
        precision=train.precision,  # type: ignore[arg-type]
        max_steps=train.max_steps * per_step,
        max_epochs=-1,
        logger=loggers,
        callbacks=all_callbacks,
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=train.log_every,
        gradient_clip_val=train.grad_clip
        if module.automatic_optimization and train.grad_clip > 0
        else None,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=False,
        # SyncBatchNorm exists for GPUs only; on CPUs see AverageBatchNormStats.
        sync_batchnorm=accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available(),
        default_root_dir=run_dir,
    )


def _prepare_run_dir(
    run: TrainingRun | None, data: str | None, run_dir: Path, resume: bool
) -> tuple[TrainingRun, DataSpec, Path | None]:
    """Check the folder, pick the checkpoint to resume, and settle config and data."""
    checkpoint = find_resume_checkpoint(run_dir) if (run_dir / CHECKPOINT_DIR).is_dir() else None
    saved_config = run_dir / CONFIG_FILE
    if checkpoint is not None and not resume:
        raise ConfigError(
            f"{run_dir} already holds a training run ({checkpoint.name}); "
            "pass --resume to continue it, or choose another --out"
        )
    if resume and checkpoint is None:
        logger.warning("%s has no checkpoint yet; starting from step 0", run_dir)
    if run is None:
        if not saved_config.is_file():
            raise ConfigError(f"{run_dir}: no {CONFIG_FILE}; pass --config")
        run = parse_training_config(
            json.loads(saved_config.read_text(encoding="utf-8")), str(saved_config)
        )
    elif checkpoint is not None and saved_config.is_file():
        previous = json.loads(saved_config.read_text(encoding="utf-8"))
        current = run.to_dict()
        for key in ("stage", "model", "mel", run.stage):
            if previous.get(key) != current.get(key):
                raise ConfigError(
                    f"--config differs from the run's {CONFIG_FILE} in '{key}'; "
                    "a resumed run must keep its model and stage settings"
                )
    if data is None:
        if not (run_dir / DATA_FILE).is_file():
            raise ConfigError("pass --data (a manifest, shards or a pre-encoded folder)")
        data = json.loads((run_dir / DATA_FILE).read_text(encoding="utf-8"))["data"]
    return run, resolve_data(data), checkpoint


def train(
    run: TrainingRun | None,
    data: str | os.PathLike[str] | None,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    devices: int | str = 1,
    strategy: str = "auto",
    num_nodes: int = 1,
    accelerator: str = "auto",
    precision: str | None = None,
    progress: bool | None = None,
    callbacks: Sequence[L.Callback] = (),
    init_model: Any = None,
) -> TrainResult:
    """Train one stage into ``run_dir`` (see module docstring); returns where it ended.

    ``run`` may be None when resuming (the run folder's config is used). ``init_model``:
    the model that ``ldm.init`` names, if already loaded (saves loading it twice).
    ``precision`` replaces the config's ``train.precision`` and is saved in the run's config,
    so a later ``--resume`` trains at the same precision. Raises
    `ConfigError` / `DataError` for a bad config, folder or data before any step runs.
    """
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = resolve_paths(run) if run is not None else None
    run, spec, checkpoint = _prepare_run_dir(
        run, None if data is None else os.fspath(data), out, resume
    )
    if precision is not None:  # recorded in the run's config, so --resume keeps it
        run = replace(run, train=run.train.replace(precision=precision))
    previous_threads = torch.get_num_threads()
    if run.train.threads > 0:
        torch.set_num_threads(run.train.threads)
    try:
        return _fit(
            run,
            spec,
            checkpoint,
            out,
            devices=devices,
            strategy=strategy,
            num_nodes=num_nodes,
            accelerator=accelerator,
            progress=progress,
            callbacks=callbacks,
            init_model=init_model,
        )
    finally:
        torch.set_num_threads(previous_threads)


def _fit(
    run: TrainingRun,
    spec: DataSpec,
    checkpoint: Path | None,
    out: Path,
    *,
    devices: int | str,
    strategy: str,
    num_nodes: int,
    accelerator: str,
    progress: bool | None,
    callbacks: Sequence[L.Callback],
    init_model: Any = None,
) -> TrainResult:
    write_json_atomic(out / CONFIG_FILE, run.to_dict())
    write_json_atomic(out / DATA_FILE, {"data": spec.location, "kind": spec.kind})
    L.seed_everything(run.train.seed, workers=False, verbose=False)
    module = build_module(run, spec, init_model)
    datamodule = build_data(run, spec, module)
    module.prepare_data_info(datamodule.captions(), out / "cache")
    trainer = build_trainer(
        run,
        out,
        module,
        devices=devices,
        strategy=strategy,
        num_nodes=num_nodes,
        accelerator=accelerator,
        progress=progress,
        callbacks=callbacks,
    )
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    logger.info(
        "stage %s: %.2fM trainable parameters, %d steps, resume from %s",
        run.stage,
        trainable / 1e6,
        run.train.max_steps,
        checkpoint.name if checkpoint else "scratch",
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*manual optimization and every_n_train_steps.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*The number of training batches.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        # Our loader is resumable by construction (the sampler restarts at the step).
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
        warnings.filterwarnings(
            "ignore", message=".*Checkpoint directory .* exists and is not empty.*"
        )
        trainer.fit(
            module,
            datamodule=datamodule,
            ckpt_path=str(checkpoint) if checkpoint else None,
            weights_only=True,
        )
    last = find_resume_checkpoint(out) if trainer.is_global_zero else None
    return TrainResult(out, last, module.train_step, bool(trainer.interrupted))


__all__ = ["TrainResult", "build_data", "build_module", "build_trainer", "build_strategy", "train"]
