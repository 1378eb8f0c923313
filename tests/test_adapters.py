"""LoRA adapters on the UNet (clapldm.adapters): targets, identity, mixing, merging, files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from clapldm.adapters import (
    LoraSpec,
    activate,
    adapter_names,
    add_adapter,
    attach,
    base_state,
    merge_active,
    read_adapter,
    remove_adapter,
    save_adapter,
    target_layers,
    unet_hash,
)
from clapldm.debug import tiny_configs
from clapldm.errors import ConfigError, ModelLoadError
from clapldm.models.unet import AudioLDMUNet
from clapldm.testing import randomize_


def tiny_unet(seed: int = 1) -> AudioLDMUNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = AudioLDMUNet(tiny_configs()[2])
    return randomize_(unet, seed, scale=0.1).eval()


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(2, 4, 8, 4, generator=generator),
        torch.tensor([10, 600]),
        torch.randn(2, 16, generator=generator),
    )


@torch.no_grad()
def run(unet: torch.nn.Module) -> torch.Tensor:
    return unet(*inputs())


def trained(unet: AudioLDMUNet, spec: LoraSpec, name: str, seed: int) -> None:
    """Add an adapter and give it non-zero weights (as training would)."""
    add_adapter(unet, spec, name)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, param in unet.named_parameters():
            if f".lora_A.{name}." in param_name or f".lora_B.{name}." in param_name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)


def test_targets_resolve_to_layers_and_unknown_ones_are_refused() -> None:
    unet = tiny_unet()
    attention = target_layers(unet, ["attention"])
    assert attention and all(
        n.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v", "0") for n in attention
    )
    blocks = [n for n, _ in unet.named_modules() if n.endswith("transformer_blocks.0")]
    assert len(attention) == 4 * 2 * len(blocks)  # q, k, v, out x 2 attentions per block
    conv = target_layers(unet, ["conv"])
    assert all(n.endswith(("conv1", "conv2")) and "resnets" in n for n in conv)
    assert target_layers(unet, ["to_q"]) == [n for n in attention if n.endswith("to_q")]
    with pytest.raises(ConfigError, match="matches no linear or conv layer"):
        target_layers(unet, ["attention", "cross_attn"])
    with pytest.raises(ConfigError, match="rank"):
        LoraSpec(rank=0)


def test_fresh_adapter_changes_nothing_and_freezes_the_base() -> None:
    unet = tiny_unet()
    expected, identity = run(unet), unet_hash(unet)
    add_adapter(unet, LoraSpec(4, targets=("attention", "conv")))
    assert torch.equal(run(unet), expected)
    assert unet_hash(unet) == identity  # the base identity ignores the wrappers
    trainable = [n for n, p in unet.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A.default." in n or ".lora_B.default." in n for n in trainable)


def test_save_load_and_wrong_base(tmp_path: Path) -> None:
    unet = tiny_unet()
    spec = LoraSpec(4, alpha=8.0, targets=("attention", "ff"))
    identity = unet_hash(unet)
    trained(unet, spec, "kit", seed=0)
    expected = run(unet)
    save_adapter(tmp_path / "kit", unet, spec, name="kit", base_hash=identity, base_name="tiny")
    adapter = read_adapter(tmp_path / "kit")
    assert adapter.spec == spec and adapter.base_hash == identity

    other = tiny_unet()
    attach(other, adapter, "kit")
    assert torch.equal(run(other), expected)

    wrong = tiny_unet(seed=2)
    with pytest.raises(ModelLoadError, match="trained on base model .* \\(tiny\\)"):
        attach(wrong, adapter, "kit")
    assert adapter_names(wrong) == []
    (tmp_path / "kit" / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="not a clapldm LoRA adapter"):
        read_adapter(tmp_path / "kit")


def test_scales_mixing_merging_and_removal() -> None:
    unet = tiny_unet()
    base = run(unet)
    trained(unet, LoraSpec(2), "a", seed=0)
    trained(unet, LoraSpec(3, targets=("conv",)), "b", seed=1)
    activate(unet, {"a": 1.0})
    only_a = run(unet)
    activate(unet, {})
    assert torch.equal(run(unet), base)
    activate(unet, {"a": 0.0, "b": 0.0})
    torch.testing.assert_close(run(unet), base, rtol=0, atol=1e-6)
    activate(unet, {"a": 0.5, "b": 0.8})
    mixed = run(unet)
    assert not torch.allclose(mixed, only_a) and not torch.allclose(mixed, base)
    with pytest.raises(ConfigError, match="no adapter named 'c'"):
        activate(unet, {"c": 1.0})

    merged = tiny_unet()
    trained(merged, LoraSpec(2), "a", seed=0)
    trained(merged, LoraSpec(3, targets=("conv",)), "b", seed=1)
    activate(merged, {"a": 0.5, "b": 0.8})
    merge_active(merged)
    assert adapter_names(merged) == [] and set(merged.state_dict()) == set(base_state(unet))
    torch.testing.assert_close(run(merged), mixed, rtol=0, atol=1e-5)

    remove_adapter(unet, "b")
    assert adapter_names(unet) == ["a"]
    activate(unet, {"a": 1.0})
    torch.testing.assert_close(run(unet), only_a, rtol=0, atol=0)
    remove_adapter(unet)
    assert adapter_names(unet) == [] and torch.equal(run(unet), base)
