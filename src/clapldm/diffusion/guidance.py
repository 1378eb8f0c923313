"""Classifier-free guidance: e = e_u + w (e_c - e_u), one batched UNet call."""

from __future__ import annotations

from collections.abc import Callable

import torch

UNetFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def guided_eps_model(
    unet: UNetFn, cond: torch.Tensor, uncond: torch.Tensor, guidance_scale: float
) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """Wrap `unet(x, t, emb)` into `model(x, t) -> eps` with classifier-free guidance.

    cond, uncond: (B, D) embeddings. With guidance_scale == 1 only the conditional pass
    runs. Conditional and unconditional halves go through the UNet as one batch of 2B.
    """
    if guidance_scale == 1.0:

        def conditional(x: torch.Tensor, t: int) -> torch.Tensor:
            timestep = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
            return unet(x, timestep, cond)

        return conditional

    both = torch.cat([cond, uncond], dim=0)

    def guided(x: torch.Tensor, t: int) -> torch.Tensor:
        timestep = torch.full((2 * x.shape[0],), t, device=x.device, dtype=torch.long)
        eps = unet(torch.cat([x, x], dim=0), timestep, both)
        eps_cond, eps_uncond = eps.chunk(2, dim=0)
        return eps_uncond + guidance_scale * (eps_cond - eps_uncond)

    return guided
