"""Mel AutoencoderKL: shapes, posterior behaviour, names and size of the AudioLDM preset."""

from __future__ import annotations

import torch

from clapldm.config import VAEConfig
from clapldm.models.vae import AutoencoderKL, DiagonalGaussian

TINY = VAEConfig(ch=8, ch_mult=(1, 2, 2), num_res_blocks=1, z_channels=4, norm_groups=4)


def test_encode_decode_shapes() -> None:
    torch.manual_seed(0)
    vae = AutoencoderKL(TINY).eval()
    mel = torch.randn(2, 1, 32, 16)
    posterior = vae.encode(mel)
    assert posterior.mean.shape == posterior.logvar.shape == (2, 4, 8, 4)
    assert vae.downsample_factor == 4
    assert vae.decode(posterior.mode()).shape == (2, 1, 32, 16)
    reconstruction, _ = vae(mel, sample_posterior=False)
    assert torch.equal(reconstruction, vae.decode(posterior.mean))


def test_no_mid_attention_option() -> None:
    vae = AutoencoderKL(TINY.replace(mid_attention=False))
    assert not any("attentions" in key for key in vae.state_dict())
    assert vae.decode(torch.randn(1, 4, 2, 2)).shape == (1, 1, 8, 8)


def test_diagonal_gaussian() -> None:
    params = torch.cat([torch.zeros(1, 2, 3, 3), torch.full((1, 2, 3, 3), -100.0)], dim=1)
    posterior = DiagonalGaussian(params)
    assert float(posterior.logvar.min()) == -30.0  # clamped
    assert torch.equal(posterior.mode(), torch.zeros(1, 2, 3, 3))
    standard = DiagonalGaussian(torch.zeros(2, 4, 3, 3))
    assert torch.equal(standard.kl(), torch.zeros(2))
    first = standard.sample(torch.Generator().manual_seed(7))
    second = standard.sample(torch.Generator().manual_seed(7))
    assert torch.equal(first, second) and first.std() > 0.5
    shifted = DiagonalGaussian(torch.cat([torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)], 1))
    assert torch.allclose(shifted.kl(), torch.tensor([0.5]))


def test_audioldm_preset_layout() -> None:
    with torch.device("meta"):
        vae = AutoencoderKL(VAEConfig())
    params = sum(p.numel() for p in vae.parameters())
    assert abs(params - 55.38e6) < 0.05e6
    keys = vae.state_dict().keys()
    assert "encoder.mid_block.attentions.0.to_out.0.weight" in keys
    assert "decoder.up_blocks.2.resnets.0.conv_shortcut.weight" in keys  # 256 -> 128
    assert "decoder.up_blocks.2.resnets.2.conv2.weight" in keys  # num_res_blocks + 1
    assert "decoder.up_blocks.2.upsamplers.0.conv.weight" not in keys
    assert vae.encoder.conv_out.out_channels == 16 and vae.quant_conv.in_channels == 16
