"""The fused CPU inference paths (no autograd) compute the same function as the plain path.

With autograd on, every model runs the plain PyTorch ops (needed for training); without
it, the UNet, VAE and HiFi-GAN switch to in-place adds, oneDNN post-op convolutions and
channels-last layouts. Both must agree up to float rounding, also under bf16 autocast.
"""

from __future__ import annotations

import pytest
import torch

from clapldm.debug import tiny_configs
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL
from clapldm.testing import randomize_


def both_paths(fn, *args):  # type: ignore[no-untyped-def]
    with torch.enable_grad():
        plain = fn(*args).detach()
    with torch.no_grad():
        fused = fn(*args)
    return plain, fused


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp(min=1e-12))


def snr_db(a: torch.Tensor, b: torch.Tensor) -> float:
    noise = (a.double() - b.double()).pow(2).sum().clamp(min=1e-30)
    return float(10 * torch.log10(b.double().pow(2).sum() / noise))


@pytest.mark.parametrize("shape", [(2, 4, 16, 8), (1, 4, 13, 9)])
def test_unet_fused_equals_plain(shape: tuple[int, ...]) -> None:
    _, _, config, _ = tiny_configs()
    unet = AudioLDMUNet(config).eval()
    randomize_(unet, 1, scale=0.2)
    x = torch.randn(*shape)
    plain, fused = both_paths(unet, x, torch.tensor(321), torch.randn(shape[0], 16))
    assert plain.shape == fused.shape
    assert relative_error(fused, plain) < 1e-5


@pytest.mark.parametrize("odd", [False, True])
def test_vae_fused_equals_plain(odd: bool) -> None:
    _, config, _, _ = tiny_configs()
    vae = AutoencoderKL(config).eval()
    randomize_(vae, 2, scale=0.2)
    mel = torch.randn(2, 1, 17 if odd else 16, 16)
    plain, fused = both_paths(lambda m: vae.encode(m).mean, mel)
    assert relative_error(fused, plain) < 1e-5
    latents = torch.randn(2, 4, 8, 8)
    plain, fused = both_paths(vae.decode, latents)
    assert fused.is_contiguous() or fused.shape == plain.shape
    assert relative_error(fused, plain) < 1e-5


def test_hifigan_fused_equals_plain() -> None:
    _, _, _, config = tiny_configs()
    config = config.replace(resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3, 5), (1, 2, 3)))
    vocoder = HifiGan(config).eval()
    randomize_(vocoder, 3, scale=0.2)
    mel = torch.randn(2, 9, 16)
    with torch.no_grad():  # fp32 inference runs the plain ops; the fused one is bf16's
        plain, fused = vocoder(mel), vocoder._forward_fused(mel)
        assert vocoder._can_fuse(mel.bfloat16()) and not vocoder._can_fuse(mel)
    assert plain.shape == fused.shape == (2, vocoder.num_samples(9))
    assert relative_error(fused, plain) < 1e-5


def test_fused_paths_under_bf16_autocast_stay_close() -> None:
    _, vae_config, unet_config, vocoder_config = tiny_configs()
    unet, vocoder = AudioLDMUNet(unet_config).eval(), HifiGan(vocoder_config).eval()
    randomize_(unet, 4, scale=0.2)
    randomize_(vocoder, 5, scale=0.2)
    x, cond, mel = torch.randn(1, 4, 16, 8), torch.randn(1, 16), torch.randn(1, 9, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain_u, fused_u = both_paths(unet, x, torch.tensor(10), cond)
        plain_v, fused_v = both_paths(vocoder, mel)
    # bf16 has 8 mantissa bits: the two paths round differently, but stay near each other.
    assert snr_db(fused_u, plain_u) > 25.0
    assert snr_db(fused_v, plain_v) > 25.0
