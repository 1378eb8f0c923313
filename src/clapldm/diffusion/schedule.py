"""Noise schedules and timestep grids: pure functions of a `SchedulerConfig`."""

from __future__ import annotations

import numpy as np
import torch

from clapldm.config import SchedulerConfig
from clapldm.errors import InvalidInputError


def betas(config: SchedulerConfig) -> torch.Tensor:
    """(num_train_timesteps,) float64. AudioLDM: linspace(sqrt(b0), sqrt(b1))**2."""
    n = config.num_train_timesteps
    if config.beta_schedule == "scaled_linear":
        return (
            torch.linspace(config.beta_start**0.5, config.beta_end**0.5, n, dtype=torch.float64)
            ** 2
        )
    return torch.linspace(config.beta_start, config.beta_end, n, dtype=torch.float64)


def alphas_cumprod(config: SchedulerConfig) -> torch.Tensor:
    """(num_train_timesteps,) float64 cumulative product of (1 - beta)."""
    return torch.cumprod(1.0 - betas(config), dim=0)


def ddim_timesteps(steps: int, num_train_timesteps: int = 1000, offset: int = 1) -> list[int]:
    """Descending DDIM grid: range(0, T, T // steps) + 1 (the original AudioLDM sampler and
    diffusers' DDIMScheduler with "leading" spacing and steps_offset 1). Exactly `steps` long;
    the original code returns one more when T % steps != 0, diffusers does not; we follow
    diffusers there.
    """
    check_steps(steps, num_train_timesteps)
    ratio = num_train_timesteps // steps
    return [int(i * ratio + offset) for i in reversed(range(steps))]


def linspace_timesteps(steps: int, num_train_timesteps: int = 1000) -> list[int]:
    """Descending grid linspace(0, T-1, steps+1) rounded, highest first, 0 dropped: the
    spacing diffusers' DPMSolverMultistepScheduler uses ("linspace")."""
    check_steps(steps, num_train_timesteps)
    grid = np.linspace(0, num_train_timesteps - 1, steps + 1).round()[::-1][:-1]
    return [int(t) for t in grid]


def check_steps(steps: int, num_train_timesteps: int) -> None:
    if (
        isinstance(steps, bool)
        or not isinstance(steps, int)
        or not 1 <= steps <= num_train_timesteps
    ):
        raise InvalidInputError(
            f"steps must be an integer in [1, {num_train_timesteps}], got {steps!r}"
        )


def q_sample(
    x0: torch.Tensor, noise: torch.Tensor, timestep: int, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """Forward process: sqrt(a_t) x0 + sqrt(1 - a_t) noise, at one integer timestep."""
    a = float(alphas_cumprod[timestep])
    return a**0.5 * x0 + (1.0 - a) ** 0.5 * noise
