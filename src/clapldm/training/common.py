"""What every stage's LightningModule shares: step counting, per-step RNG, EMA, LR
schedule, checkpoint hygiene and export.

Reproducibility contract: every random draw of a training step (posterior sample,
diffusion timestep and noise, condition dropout) comes from `StageModule.step_generator`,
seeded by (seed, step, rank), and the data of a step depends only on (seed, step, rank)
(see `clapldm.data.dataset`). So a run resumed at step k continues exactly like the
uninterrupted run, and 1 or N data workers give the same batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from clapldm.training.config import TrainingRun

logger = logging.getLogger(__name__)

CHECKPOINT_META_KEY = "clapldm"
EMA_KEY = "clapldm_ema"


class EMA:
    """Exponential moving average of a module's trainable parameters (LDM's LitEma).

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after n updates, so early
    averages are not dominated by the random init. Kept outside the module tree (plain
    tensors), so DDP never broadcasts it and it is saved under its own checkpoint key.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = {
            name: p.detach().clone().float()
            for name, p in module.named_parameters()
            if p.requires_grad
        }

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, param in module.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(param.detach().float(), 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        """Overwrite ``module``'s trainable parameters with the averages."""
        for name, param in module.named_parameters():
            if name in self.shadow:
                param.copy_(self.shadow[name].to(param.dtype))

    def to(self, device: torch.device) -> None:
        self.shadow = {k: v.to(device) for k, v in self.shadow.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "updates": self.updates,
            "shadow": {k: v.detach().cpu() for k, v in self.shadow.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(self.shadow) - set(state["shadow"])
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:3]}")
        self.updates = int(state["updates"])
        device = next(iter(self.shadow.values())).device if self.shadow else torch.device("cpu")
        self.shadow = {
            k: v.to(device).float() for k, v in state["shadow"].items() if k in self.shadow
        }


def warmup_lambda(warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear from 1/warmup to 1 over ``warmup_steps``, then 1."""

    def factor(step: int) -> float:
        if warmup_steps <= 0:
            return 1.0
        return min(1.0, (step + 1) / warmup_steps)

    return factor


def mel_frames_for(seconds: float, hop_length: int, sample_rate: int, multiple: int) -> int:
    """Mel frames in ``seconds`` (rounded), then down to a multiple of ``multiple`` (at least one)."""
    frames = round(seconds * sample_rate / hop_length)
    return max(multiple, frames // multiple * multiple)


class StageModule(L.LightningModule):
    """Base of the four stage modules.

    Subclasses set ``optimizers_per_step`` (2 for GANs: Lightning counts each optimiser's
    step in ``global_step``), implement `trained_module` (what EMA averages and export
    writes), `segment_samples`, `export` and the Lightning hooks.
    """

    optimizers_per_step: int = 1
    # Submodule prefixes whose (frozen, re-loadable) weights stay out of checkpoints.
    checkpoint_exclude: tuple[str, ...] = ()

    def __init__(self, run: TrainingRun) -> None:
        super().__init__()
        self.run = run
        self.ema: EMA | None = None
        self._checkpoint_step = 0

    # -------------------------------------------------------------------- counting
    @property
    def train_step(self) -> int:
        """Completed training steps (batches), whatever the number of optimisers."""
        trainer = self._trainer
        if trainer is None:  # exporting: the step of the checkpoint loaded, if any
            return self._checkpoint_step
        return trainer.global_step // self.optimizers_per_step

    def step_generator(self, salt: int = 0) -> torch.Generator:
        """A CPU generator seeded by (seed, step, rank, salt): all per-step randomness."""
        rank = self.global_rank if self._trainer is not None else 0
        state = np.random.SeedSequence(
            [self.run.train.seed, self.train_step, rank, salt]
        ).generate_state(2)
        return torch.Generator("cpu").manual_seed(int(state[0]) << 32 | int(state[1]))

    # ------------------------------------------------------------------- to override
    def trained_module(self) -> nn.Module:
        raise NotImplementedError

    def segment_samples(self) -> int:
        """Length of one training crop, samples at the mel config's rate."""
        raise NotImplementedError

    def export(self, folder: Path) -> None:
        """Write the trained component as a native component folder."""
        raise NotImplementedError

    def requires_caption(self) -> bool:
        return False

    def prepare_data_info(self, captions: list[str], cache_dir: Path | None) -> None:  # noqa: B027
        """Called once with every caption of the training data (CLAP caches text features)."""

    # ------------------------------------------------------------------------- EMA
    def setup_ema(self) -> None:
        if self.run.train.ema_decay > 0 and self.ema is None:
            self.ema = EMA(self.trained_module(), self.run.train.ema_decay)

    def on_fit_start(self) -> None:
        if self.ema is not None:
            self.ema.to(self.device)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.trained_module())

    def module_for_export(self, use_ema: bool = True) -> nn.Module:
        """The trained module on the CPU, with EMA weights when there are any."""
        import copy

        module = copy.deepcopy(self.trained_module()).cpu().eval()
        if use_ema and self.ema is not None:
            self.ema.copy_to(module)
        return module

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["state_dict"]
        for key in (
            [k for k in state if k.startswith(self.checkpoint_exclude)]
            if self.checkpoint_exclude
            else []
        ):
            del state[key]
        checkpoint[CHECKPOINT_META_KEY] = {
            "config": self.run.to_dict(),
            "train_step": self.train_step,
            "clapldm_version": _version(),
        }
        if self.ema is not None:
            checkpoint[EMA_KEY] = self.ema.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["state_dict"]
        if self.checkpoint_exclude:
            for key, value in self.state_dict().items():
                if key.startswith(self.checkpoint_exclude):
                    state[key] = value
        if self.ema is not None and EMA_KEY in checkpoint:
            self.ema.load_state_dict(checkpoint[EMA_KEY])

    def load_weights_from_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Load a Lightning checkpoint's weights (and EMA) outside a Trainer (export)."""
        self.on_load_checkpoint(checkpoint)
        self.load_state_dict(checkpoint["state_dict"], strict=True)
        self._checkpoint_step = int(checkpoint.get(CHECKPOINT_META_KEY, {}).get("train_step", 0))

    # ------------------------------------------------------------------ plumbing
    def optimizer_list(self) -> list[Any]:
        """``self.optimizers()`` as a list, however many there are."""
        optimizers = self.optimizers()
        return list(optimizers) if isinstance(optimizers, list) else [optimizers]

    def scheduler_list(self) -> list[Any]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return list(schedulers) if isinstance(schedulers, list) else [schedulers]

    def gather(self, value: torch.Tensor, sync_grads: bool = False) -> torch.Tensor:
        """(N, ...) on each rank -> (world * N, ...) (``value`` itself on one process)."""
        if self.trainer.world_size <= 1:
            return value
        gathered = self.all_gather(value, sync_grads=sync_grads)
        assert isinstance(gathered, torch.Tensor)
        return gathered.flatten(0, 1) if value.dim() > 0 else gathered

    # ------------------------------------------------------------------- logging
    def log_losses(
        self, values: dict[str, torch.Tensor | float], prog_bar: tuple[str, ...] = ("loss",)
    ) -> None:
        for name, value in values.items():
            tensor = (
                value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
            )
            self.log(
                f"train/{name}",
                tensor.float(),
                prog_bar=False,
                on_step=True,
                on_epoch=False,
                batch_size=self.run.train.batch_size,
            )
            if name in prog_bar:
                self.log(
                    name,
                    tensor.float(),
                    prog_bar=True,
                    logger=False,
                    on_step=True,
                    on_epoch=False,
                    batch_size=self.run.train.batch_size,
                )

    def check_finite(self, loss: torch.Tensor, what: str = "loss") -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{what} is {loss.item()} at step {self.train_step}; lower train.lr, enable "
                "train.grad_clip, or resume from an earlier checkpoint"
            )


def _version() -> str:
    from clapldm import __version__

    return __version__


def make_adam(
    params: Any, lr: float, run: TrainingRun, betas: tuple[float, float] | None = None
) -> torch.optim.Optimizer:
    """AdamW with the run's betas / weight decay (weight decay 0 makes it plain Adam)."""
    return torch.optim.AdamW(
        params, lr=lr, betas=betas or run.train.betas, weight_decay=run.train.weight_decay
    )


def lr_lambda(run: TrainingRun, decay: float = 1.0, decay_every: int = 1) -> Callable[[int], float]:
    """Warm-up then constant, times ``decay ** (step / decay_every)``."""
    warm = warmup_lambda(run.train.warmup_steps)

    def factor(step: int) -> float:
        return warm(step) * (decay ** (step / decay_every) if decay != 1.0 else 1.0)

    return factor


__all__ = [
    "EMA",
    "StageModule",
    "lr_lambda",
    "make_adam",
    "mel_frames_for",
    "warmup_lambda",
]
