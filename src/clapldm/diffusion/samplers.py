"""Samplers: one plain function per algorithm.

Each takes `model(x, t) -> eps` (any callable; classifier-free guidance is applied by the
caller's wrapper), a start latent `x` at the first timestep's noise level, a descending
list of integer timesteps, and the training `alphas_cumprod`. Samplers know nothing of
audio. `before_model(x, t) -> x` lets editing modes re-impose known latents before each
model call (inpainting); `noise(shape_like)` draws fresh noise (per-item generators) for
stochastic samplers; `callback(step, total)` reports progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from clapldm.errors import InvalidInputError

EpsModel = Callable[[torch.Tensor, int], torch.Tensor]
Hook = Callable[[torch.Tensor, int], torch.Tensor]
NoiseFn = Callable[[torch.Tensor], torch.Tensor]
Progress = Callable[[int, int], None]


def sample_ddim(
    model: EpsModel,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    eta: float = 0.0,
    final_alpha_cumprod: float | None = None,
    noise: NoiseFn | None = None,
    before_model: Hook | None = None,
    callback: Progress | None = None,
) -> torch.Tensor:
    """DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12).

    x_{prev} = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - s^2) eps + s z, with
    s = eta sqrt((1 - a_prev) / (1 - a) (1 - a / a_prev)). After the last timestep the
    "previous" alpha is `final_alpha_cumprod` (AudioLDM: alphas_cumprod[0], not 1).
    """
    if eta < 0 or not math.isfinite(eta):
        raise InvalidInputError(f"eta must be a finite number >= 0, got {eta!r}")
    if eta > 0 and noise is None:
        raise ValueError("eta > 0 needs a noise function")
    final = float(alphas_cumprod[0]) if final_alpha_cumprod is None else final_alpha_cumprod
    total = len(timesteps)
    for i, t in enumerate(timesteps):
        if before_model is not None:
            x = before_model(x, t)
        eps = model(x, t)
        a = float(alphas_cumprod[t])
        a_prev = float(alphas_cumprod[timesteps[i + 1]]) if i + 1 < total else final
        x0 = (x - (1 - a) ** 0.5 * eps) / a**0.5
        sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)) ** 0.5
        x = a_prev**0.5 * x0 + max(1 - a_prev - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0 and noise is not None:
            x = x + sigma * noise(x)
        if callback is not None:
            callback(i + 1, total)
    return x


def sample_dpmpp_2m(
    model: EpsModel,
    x: torch.Tensor,
    timesteps: Sequence[int],
    alphas_cumprod: torch.Tensor,
    *,
    final_alpha_cumprod: float = 1.0,
    noise: NoiseFn | None = None,
    before_model: Hook | None = None,
    callback: Progress | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2, midpoint form).

    Data-prediction multistep solver in log-SNR time lambda = log(alpha / sigma). The
    first step and the last step (to `final_alpha_cumprod`, default 1 = noise-free, as
    diffusers' final_sigmas_type "zero"; below 15 steps also to any other final level)
    are first order; the rest second order.
    """
    del noise  # deterministic solver; parameter kept so all samplers share one signature
    total = len(timesteps)
    previous_x0: torch.Tensor | None = None
    previous_h: float | None = None
    for i, t in enumerate(timesteps):
        if before_model is not None:
            x = before_model(x, t)
        eps = model(x, t)
        a_s = float(alphas_cumprod[t])
        alpha_s, sigma_s = a_s**0.5, (1 - a_s) ** 0.5
        x0 = (x - sigma_s * eps) / alpha_s
        a_t = float(alphas_cumprod[timesteps[i + 1]]) if i + 1 < total else final_alpha_cumprod
        alpha_t, sigma_t = a_t**0.5, (1 - a_t) ** 0.5
        lambda_s = math.log(alpha_s) - math.log(sigma_s)
        if sigma_t == 0.0:  # last step to clean data: x_t = x0 (first order, h = inf)
            x = x0
        else:
            lambda_t = math.log(alpha_t) - math.log(sigma_t)
            h = lambda_t - lambda_s
            # diffusers' lower_order_final: a first-order last step below 15 steps
            first_order = previous_x0 is None or (i == total - 1 and total < 15)
            if first_order:
                d = x0
            else:
                assert previous_x0 is not None and previous_h is not None
                r = previous_h / h
                d = x0 + (x0 - previous_x0) / (2 * r)
            x = (sigma_t / sigma_s) * x - alpha_t * math.expm1(-h) * d
            previous_h = h
        previous_x0 = x0
        if callback is not None:
            callback(i + 1, total)
    return x


SAMPLERS = {"ddim": sample_ddim, "dpmpp-2m": sample_dpmpp_2m}


def check_sampler(name: str) -> str:
    if name not in SAMPLERS:
        raise InvalidInputError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}")
    return name
