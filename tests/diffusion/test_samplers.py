"""Samplers on a toy problem with an exact denoiser, and against diffusers' schedulers."""

from __future__ import annotations

import pytest
import torch

from clapldm.config import SchedulerConfig
from clapldm.diffusion import schedule
from clapldm.diffusion.guidance import guided_eps_model
from clapldm.diffusion.samplers import check_sampler, sample_ddim, sample_dpmpp_2m
from clapldm.errors import InvalidInputError
from clapldm.testing import audioldm_ddim_scheduler

ALPHAS = schedule.alphas_cumprod(SchedulerConfig())
MU, STD = 1.5, 0.8


def exact_eps(x: torch.Tensor, t: int) -> torch.Tensor:
    """eps* for data ~ N(MU, STD^2): x_t ~ N(a MU, a^2 STD^2 + s^2)."""
    a, s = float(ALPHAS[t]) ** 0.5, (1 - float(ALPHAS[t])) ** 0.5
    return s * (x - a * MU) / (a * a * STD * STD + s * s)


def test_schedule_matches_audioldm_numbers() -> None:
    betas = schedule.betas(SchedulerConfig())
    assert betas[0].item() == pytest.approx(0.0015, rel=1e-9)
    assert betas[-1].item() == pytest.approx(0.0195, rel=1e-9)
    assert schedule.ddim_timesteps(200)[:3] == [996, 991, 986]
    assert schedule.ddim_timesteps(200)[-1] == 1
    assert len(schedule.ddim_timesteps(3)) == 3
    assert schedule.linspace_timesteps(4) == [999, 749, 500, 250]


@pytest.mark.parametrize("name,steps", [("ddim", 200), ("dpmpp-2m", 50)])
def test_toy_gaussian_lands_on_data_distribution(name: str, steps: int) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20000, generator=gen)
    if name == "ddim":
        grid = schedule.ddim_timesteps(steps)
        a = float(ALPHAS[grid[0]])
        # start at the marginal of the first timestep
        x = a**0.5 * MU + (a * STD**2 + 1 - a) ** 0.5 * x
        out = sample_ddim(exact_eps, x, grid, ALPHAS, eta=0.0)
    else:
        grid = schedule.linspace_timesteps(steps)
        a = float(ALPHAS[grid[0]])
        x = a**0.5 * MU + (a * STD**2 + 1 - a) ** 0.5 * x
        out = sample_dpmpp_2m(exact_eps, x, grid, ALPHAS)
    assert out.mean().item() == pytest.approx(MU, abs=0.02)
    assert out.std().item() == pytest.approx(STD, abs=0.02)


def test_ddim_eta_one_is_stochastic_and_correct() -> None:
    gen = torch.Generator().manual_seed(1)
    grid = schedule.ddim_timesteps(250)
    a = float(ALPHAS[grid[0]])
    x = a**0.5 * MU + (a * STD**2 + 1 - a) ** 0.5 * torch.randn(20000, generator=gen)
    out = sample_ddim(
        exact_eps, x, grid, ALPHAS, eta=1.0, noise=lambda v: torch.randn(v.shape, generator=gen)
    )
    assert out.mean().item() == pytest.approx(MU, abs=0.03)
    assert out.std().item() == pytest.approx(STD, abs=0.03)


def _toy_unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Conv2d(4, 4, 3, padding=1)


def _model(x: torch.Tensor, t: int) -> torch.Tensor:
    net = _toy_unet()
    with torch.no_grad():
        return torch.tanh(net(x)) * (1 + t / 1000)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_matches_diffusers_ddim_scheduler(eta: float) -> None:
    """Same model, same start and, for eta > 0, the same noise injected at every step
    (diffusers' `variance_noise`, our `noise` function), so the trajectories must agree."""
    pytest.importorskip("diffusers")
    scheduler = audioldm_ddim_scheduler()
    scheduler.set_timesteps(10)
    x = torch.randn(2, 4, 8, 4, generator=torch.Generator().manual_seed(0))
    injected = torch.randn(10, *x.shape, generator=torch.Generator().manual_seed(1))
    reference = x.clone()
    for i, t in enumerate(scheduler.timesteps):
        eps = _model(reference, int(t))
        reference = scheduler.step(
            eps, t, reference, eta=eta, variance_noise=injected[i]
        ).prev_sample
    assert [int(t) for t in scheduler.timesteps] == schedule.ddim_timesteps(10)
    draws = iter(injected)
    ours = sample_ddim(
        _model, x, schedule.ddim_timesteps(10), ALPHAS, eta=eta, noise=lambda _: next(draws)
    )
    if eta > 0:
        assert next(draws, None) is None  # one draw per step, as diffusers makes
        no_noise = sample_ddim(_model, x, schedule.ddim_timesteps(10), ALPHAS, eta=0.0)
        assert (ours - no_noise).abs().max() > 0.1  # the noise term is really there
    diff = (ours - reference).abs().max().item()
    print(
        f"\nparity: DDIM eta={eta:g} vs diffusers DDIMScheduler, max abs diff {diff:.2g} on values up to {reference.abs().max().item():.3g} (tolerance 1e-5 + 1e-5 x |value|)"
    )
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_dpmpp_2m_matches_diffusers_dpm_solver() -> None:
    diffusers = pytest.importorskip("diffusers")
    scheduler = diffusers.DPMSolverMultistepScheduler(
        beta_start=0.0015,
        beta_end=0.0195,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        algorithm_type="dpmsolver++",
        solver_order=2,
        solver_type="midpoint",
        lower_order_final=True,
        final_sigmas_type="zero",
    )
    for steps in (6, 20):
        scheduler.set_timesteps(steps)
        x = torch.randn(2, 4, 8, 4, generator=torch.Generator().manual_seed(0))
        reference = x.clone()
        for t in scheduler.timesteps:
            reference = scheduler.step(_model(reference, int(t)), t, reference).prev_sample
        assert [int(t) for t in scheduler.timesteps] == schedule.linspace_timesteps(steps)
        ours = sample_dpmpp_2m(_model, x, schedule.linspace_timesteps(steps), ALPHAS)
        diff = (ours - reference).abs().max().item()
        print(
            f"\nparity: DPM-Solver++(2M) {steps} steps vs diffusers, max abs diff {diff:.2g} on values up to {reference.abs().max().item():.3g} (tolerance 1e-4 + 1e-4 x |value|)"
        )
        torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)


def test_guidance_is_one_batched_call() -> None:
    calls = []

    def unet(x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return x * emb.sum(-1)[:, None, None, None]

    cond, uncond = torch.ones(2, 3), torch.zeros(2, 3)
    model = guided_eps_model(unet, cond, uncond, guidance_scale=2.5)
    x = torch.ones(2, 1, 2, 2)
    out = model(x, 10)
    assert calls == [4]
    # e_u + w (e_c - e_u) = 0 + 2.5 * (3 - 0)
    assert torch.allclose(out, torch.full_like(x, 7.5))


def test_unknown_sampler_and_bad_steps() -> None:
    with pytest.raises(InvalidInputError, match="unknown sampler"):
        check_sampler("euler-magic")
    for bad in (0, 100000, -1, 2.5):
        with pytest.raises(InvalidInputError):
            schedule.ddim_timesteps(bad)  # type: ignore[arg-type]
