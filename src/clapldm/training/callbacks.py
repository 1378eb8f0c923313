"""Checkpointing that survives SIGKILL, and progress reporting.

Lightning's own ``_atomic_save`` writes through an fsspec transaction (a uuid-named temp
file moved into place) but does not fsync, and ``ModelCheckpoint(save_last="link")``
removes ``last.ckpt`` before re-creating the link, so a kill in between leaves no
"last". Here:

- `AtomicCheckpointIO` writes through `clapldm.fileio.atomic_write` (``.NAME.<random>.tmp``
  in the checkpoint folder, fsync, rename, folder fsync): a checkpoint is complete or absent.
- `StepCheckpoint` (a ``ModelCheckpoint``) names files ``step=00001000.ckpt`` by training
  step (not Lightning's global step, which counts both optimisers of a GAN), keeps the
  newest ``keep`` of them, points ``last.ckpt`` at the newest with an atomic symlink
  swap, and always saves the final step.
- `find_resume_checkpoint` picks the newest *complete* checkpoint (``last.ckpt`` if it
  opens, else the newest ``step=*.ckpt`` that does) and removes stale temp files.
"""

from __future__ import annotations

import logging
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO

from clapldm.fileio import atomic_write, fsync_folder

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LAST_NAME = "last.ckpt"
_STEP_FILE = re.compile(r"^step=(\d+)\.ckpt$")


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save through `atomic_write` (temp file, fsync, rename): never a partial file."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target) as handle:
            self._write(checkpoint, handle)

    def _write(self, checkpoint: dict[str, Any], fh: Any) -> None:
        """Serialise into the open temp file (a seam for the SIGKILL test)."""
        torch.save(checkpoint, fh)

    def remove_checkpoint(self, path: Any) -> None:
        target = Path(path)
        if target.is_symlink() or target.is_file():
            target.unlink()


class StepCheckpoint(ModelCheckpoint):
    """Save every ``every`` training steps as ``step=NNNNNNNN.ckpt``, keep ``keep`` of
    them (newest by step), and keep ``last.ckpt`` -> newest (atomic symlink swap)."""

    def __init__(self, dirpath: Path, every: int, keep: int, optimizers_per_step: int = 1) -> None:
        super().__init__(
            dirpath=dirpath,
            filename="step={train_step:08d}",
            auto_insert_metric_name=False,
            monitor="train_step",
            mode="max",
            save_top_k=max(1, keep),
            every_n_train_steps=every * optimizers_per_step,
            save_last="link",
            save_on_train_epoch_end=False,
            # Never "last-v1.ckpt": a resumed run must keep updating the one "last".
            enable_version_counter=False,
        )
        self.optimizers_per_step = optimizers_per_step

    def _monitor_candidates(self, trainer: L.Trainer) -> dict[str, torch.Tensor]:
        candidates = super()._monitor_candidates(trainer)
        candidates["train_step"] = torch.tensor(trainer.global_step // self.optimizers_per_step)
        return candidates

    @staticmethod
    def _link_checkpoint(trainer: L.Trainer, filepath: str, linkpath: str) -> None:
        if trainer.is_global_zero and os.path.abspath(filepath) != os.path.abspath(linkpath):
            link = Path(linkpath)
            tmp = link.with_name(f".{link.name}.{os.getpid()}.lnk")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(os.path.relpath(filepath, os.path.dirname(linkpath)), tmp)
            os.replace(tmp, link)  # atomic: "last" is always the old or the new target
            fsync_folder(link.parent)
        trainer.strategy.barrier()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Also save the final step when it is not a multiple of ``every``."""
        if trainer.global_step > 0 and self._last_global_step_saved != trainer.global_step:
            candidates = self._monitor_candidates(trainer)
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)
        super().on_train_end(trainer, pl_module)


def checkpoint_is_complete(path: Path) -> bool:
    """A torch.save file is a zip whose central directory is at the end: a truncated
    file does not open. (Cheap: reads the directory, not the tensors.)"""
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def step_of(path: Path) -> int:
    match = _STEP_FILE.match(path.name)
    return int(match.group(1)) if match else -1


def clean_stale_temp_files(folder: Path) -> list[Path]:
    """Remove temp files a killed writer left behind; returns what was removed."""
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".") and (
                path.name.endswith(".tmp") or path.name.endswith(".lnk")
            ):
                path.unlink()
                removed.append(path)
    return removed


def find_resume_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``--resume`` continues from, or None when the run has none."""
    folder = run_dir / CHECKPOINT_DIR
    for stale in clean_stale_temp_files(folder):
        logger.warning("removed an incomplete checkpoint write: %s", stale.name)
    last = folder / LAST_NAME
    if last.exists() and checkpoint_is_complete(last):
        return last.resolve()
    candidates = sorted((p for p in folder.glob("step=*.ckpt")), key=step_of, reverse=True)
    for candidate in candidates:
        if checkpoint_is_complete(candidate):
            if last.is_symlink() or last.exists():
                logger.warning("%s is unusable; resuming from %s", last, candidate.name)
            return candidate
        logger.warning("skipping incomplete checkpoint %s", candidate)
    return None


class AverageBatchNormStats(L.Callback):
    """At the end of a multi-process run, average BatchNorm running statistics over ranks.

    Without SyncBatchNorm (which PyTorch supports on GPUs only) each rank's running stats
    follow its own batches; DDP re-broadcasts rank 0's before every forward, so they only
    drift after the last step. Averaging them leaves every rank with the same model.
    """

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size <= 1:
            return
        for module in pl_module.modules():
            if (
                isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
                and module.running_mean is not None
            ):
                assert module.running_var is not None
                module.running_mean.copy_(
                    trainer.strategy.reduce(module.running_mean.clone(), reduce_op="mean")
                )
                module.running_var.copy_(
                    trainer.strategy.reduce(module.running_var.clone(), reduce_op="mean")
                )


class StepProgressBar(RichProgressBar):
    """Rich bar whose total is the run's ``max_steps`` (also after a resume)."""

    def __init__(self, max_steps: int) -> None:
        super().__init__(leave=True)
        self.max_steps = max_steps

    @property
    def total_train_batches(self) -> int:  # type: ignore[override]
        return self.max_steps


class LogProgress(L.Callback):
    """One log line every ``every`` steps: step, losses, steps/s (for nohup'ed runs)."""

    def __init__(self, every: int, max_steps: int, optimizers_per_step: int = 1) -> None:
        self.every = every
        self.max_steps = max_steps
        self.optimizers_per_step = optimizers_per_step
        self._mark: tuple[float, int] | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark = (time.perf_counter(), trainer.global_step // self.optimizers_per_step)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step // self.optimizers_per_step
        if step % self.every or self._mark is None or not trainer.is_global_zero:
            return
        now = time.perf_counter()
        then, start = self._mark
        rate = (step - start) / max(now - then, 1e-9)
        self._mark = (now, step)
        metrics = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if k.startswith("train/") and k != "train/steps_per_sec"
        }
        shown = " ".join(f"{k[6:]}={v:.4g}" for k, v in sorted(metrics.items()))
        logger.info("step %d/%d %s %.3f steps/s", step, self.max_steps, shown, rate)
        pl_module.log(
            "train/steps_per_sec",
            rate,
            on_step=True,
            on_epoch=False,
            logger=True,
            rank_zero_only=True,
        )


__all__ = [
    "AtomicCheckpointIO",
    "AverageBatchNormStats",
    "LogProgress",
    "StepCheckpoint",
    "StepProgressBar",
    "checkpoint_is_complete",
    "clean_stale_temp_files",
    "find_resume_checkpoint",
    "step_of",
]
