"""AudioLDM UNet: parity with diffusers, odd latent sizes, original layout, preset sizes."""

from __future__ import annotations

import pytest
import torch

from clapldm.checkpoints.keys_unet import (
    unet_config_from_diffusers,
    unet_config_from_original,
    unet_config_to_diffusers,
    unet_from_original,
    unet_to_original,
)
from clapldm.config import UNetConfig
from clapldm.models.unet import AudioLDMUNet, timestep_embedding

TINY = UNetConfig(
    in_channels=4,
    out_channels=4,
    model_channels=16,
    channel_mult=(1, 2, 3),
    num_res_blocks=2,
    attention_levels=(1, 2),
    heads=(2, 2, 4),
    cond_dim=12,
    norm_groups=8,
)


@pytest.mark.parametrize("shape", [(2, 4, 16, 8), (2, 4, 10, 6), (1, 4, 13, 5)])
def test_matches_diffusers_unet(shape: tuple[int, ...]) -> None:
    diffusers = pytest.importorskip("diffusers")
    from clapldm.testing import randomize_

    reference = diffusers.UNet2DConditionModel(**unet_config_to_diffusers(TINY)).eval()
    randomize_(reference, 0, scale=0.2)
    assert unet_config_from_diffusers(dict(reference.config)) == TINY
    ours = AudioLDMUNet(TINY).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=gen)
    t = torch.tensor([10, 500][: shape[0]])
    cond = torch.nn.functional.normalize(torch.randn(shape[0], 12, generator=gen), dim=-1)
    with torch.no_grad():
        expected = reference(x, t, encoder_hidden_states=None, class_labels=cond).sample
        got = ours(x, t, cond)
    diff = (got - expected).abs().max().item()
    print(
        f"\nparity: UNet vs diffusers UNet2DConditionModel {shape}, max abs diff {diff:.2g} (tolerance 1e-5)"
    )
    assert diff <= 1e-5
    assert got.abs().mean() > 0.05


def test_condition_changes_output_and_time_embedding_values() -> None:
    net = AudioLDMUNet(TINY).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        a = net(x, torch.tensor([5]), torch.ones(1, 12))
        b = net(x, torch.tensor([5]), -torch.ones(1, 12))
    assert not torch.allclose(a, b)
    emb = timestep_embedding(torch.tensor([0.0]), 8)
    assert torch.equal(emb, torch.tensor([[1.0, 1, 1, 1, 0, 0, 0, 0]]))


def test_original_layout_round_trip_and_config_inference() -> None:
    net = AudioLDMUNet(TINY)
    original = unet_to_original(net.state_dict(), TINY)
    assert "film_emb.weight" in original and "input_blocks.0.0.weight" in original
    assert "input_blocks.3.0.op.weight" in original  # first downsample after 2 res blocks
    assert "output_blocks.2.2.conv.weight" in original  # upsample after attention at level 2
    inferred = unet_config_from_original(original, head_dim=8)
    assert inferred.replace(heads=TINY.heads, norm_groups=8) == TINY
    back = unet_from_original(original, TINY, list(net.state_dict()))
    assert all(torch.equal(back[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize(
    "channels,heads,millions",
    [(128, (4, 8, 12, 20), 185.0), (192, (6, 12, 18, 30), 416.0), (256, (4, 8, 12, 20), 739.1)],
)
def test_audioldm_preset_sizes(channels: int, heads: tuple[int, ...], millions: float) -> None:
    with torch.device("meta"):
        net = AudioLDMUNet(UNetConfig(model_channels=channels, heads=heads))
    count = sum(p.numel() for p in net.parameters()) / 1e6
    assert count == pytest.approx(millions, abs=0.1)
