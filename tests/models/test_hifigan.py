"""HiFi-GAN generator: output lengths, normalisation buffers, weight norm, preset size."""

from __future__ import annotations

import pytest
import torch

from clapldm.config import HifiGanConfig
from clapldm.models.hifigan import HifiGan

TINY = HifiGanConfig(
    num_mels=16,
    upsample_initial_channel=32,
    upsample_rates=(4, 4),
    upsample_kernel_sizes=(8, 8),
    resblock_kernel_sizes=(3, 7),
    resblock_dilations=((1, 3, 5), (1, 3, 5)),
)


@pytest.mark.parametrize(
    ("rates", "kernels", "extra"),
    [
        ((4, 4), (8, 8), 0),
        ((5, 4, 2, 2, 2), (16, 16, 8, 4, 4), 32),
        ((8, 8, 2, 2), (16, 16, 4, 4), 0),
    ],
)
def test_output_length(rates, kernels, extra) -> None:
    config = TINY.replace(
        upsample_initial_channel=2 ** (len(rates) + 2),
        upsample_rates=rates,
        upsample_kernel_sizes=kernels,
    )
    vocoder = HifiGan(config)
    with torch.no_grad():
        wave = vocoder(torch.randn(2, 7, 16))
    assert wave.shape == (2, vocoder.num_samples(7)) == (2, 7 * config.hop_length + extra)
    assert wave.abs().max() <= 1.0


def test_normalize_before_buffers() -> None:
    plain = HifiGan(TINY)
    assert "mean" not in plain.state_dict()
    normed = HifiGan(TINY.replace(normalize_before=True))
    normed.load_state_dict(
        plain.state_dict() | {"mean": torch.full((16,), 2.0), "scale": torch.full((16,), 4.0)}
    )
    mel = torch.randn(1, 5, 16)
    with torch.no_grad():
        assert torch.allclose(normed(mel), plain((mel - 2.0) / 4.0))


def test_weight_norm_apply_remove_keeps_output() -> None:
    torch.manual_seed(0)
    vocoder = HifiGan(TINY)
    mel = torch.randn(1, 6, 16)
    with torch.no_grad():
        before = vocoder(mel)
        vocoder.apply_weight_norm()
        assert any("parametrizations" in key for key in vocoder.state_dict())
        during = vocoder(mel)
        vocoder.remove_weight_norm()
        after = vocoder(mel)
    assert set(vocoder.state_dict()) == set(HifiGan(TINY).state_dict())
    assert torch.allclose(before, during, atol=1e-6) and torch.allclose(before, after, atol=1e-6)


def test_audioldm_preset_size() -> None:
    with torch.device("meta"):
        vocoder = HifiGan(HifiGanConfig())
    assert abs(sum(p.numel() for p in vocoder.parameters()) - 55.3e6) < 0.05e6
    assert vocoder.num_samples(1024) == 160 * 1024 + 32
