"""LAION-CLAP <-> transformers ClapModel key conversion (original AudioLDM .ckpt CLAP)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import ClapModel  # noqa: E402

from clapldm import testing  # noqa: E402
from clapldm.checkpoints.keys_clap import (  # noqa: E402
    clap_config_from_laion_state_dict,
    clap_from_laion,
    clap_to_laion,
    laion_clap_config,
)
from clapldm.checkpoints.original import laion_clap_from_state_dict  # noqa: E402
from clapldm.errors import ModelLoadError  # noqa: E402
from clapldm.models.clap import LaionClap  # noqa: E402

PROMPTS = ["a dog barks", "", "rain on a tin roof"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> LaionClap:
    return testing.tiny_clap_model(tmp_path_factory.mktemp("clap") / "clap", seed=2)


def test_round_trip_is_exact_and_uses_every_key(tiny: LaionClap) -> None:
    hf = tiny.model.state_dict()
    laion = clap_to_laion(hf)
    # LAION naming: fused qkv, Swin/HTSAT and nn.Sequential names, no transformers names
    for key in (
        "text_branch.encoder.layer.0.attention.self.query.weight",
        "text_projection.0.weight",
        "text_projection.2.bias",
        "audio_projection.0.weight",
        "audio_branch.bn0.running_var",
        "audio_branch.patch_embed.proj.weight",
        "audio_branch.layers.0.blocks.1.attn.qkv.weight",
        "audio_branch.layers.0.blocks.1.attn.proj.bias",
        "audio_branch.layers.1.blocks.0.attn.relative_position_bias_table",
        "audio_branch.layers.0.blocks.0.norm1.weight",
        "audio_branch.layers.0.blocks.0.mlp.fc2.weight",
        "audio_branch.layers.0.downsample.reduction.weight",
        "audio_branch.norm.bias",
        "logit_scale_a",
        "logit_scale_t",
    ):
        assert key in laion, key
    assert not any("audio_model" in key or "layernorm_before" in key for key in laion)
    assert laion["audio_branch.layers.1.blocks.0.attn.qkv.weight"].shape == (48, 16)

    back = clap_from_laion(laion, tiny.model.config)
    assert set(back) == set(hf)
    for key, value in hf.items():
        assert torch.equal(back[key], value), key
    # and the inverse is exact too: LAION -> HF -> LAION
    again = clap_to_laion(back)
    assert set(again) == set(laion)
    assert all(torch.equal(again[key], laion[key]) for key in laion)


def test_round_tripped_model_gives_identical_embeddings(tiny: LaionClap) -> None:
    laion = clap_to_laion(tiny.model.state_dict(), include_unused=True)
    config = clap_config_from_laion_state_dict(laion)  # inferred from shapes alone
    rebuilt = laion_clap_from_state_dict(laion, tiny.tokenizer, tiny.feature_extractor, config)
    assert torch.equal(rebuilt.embed_text(PROMPTS), tiny.embed_text(PROMPTS))
    wave = 0.3 * torch.randn(2, 16_000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rebuilt.embed_audio(wave, 16_000), tiny.embed_audio(wave, 16_000))


def test_config_inferred_from_shapes(tiny: LaionClap) -> None:
    original = tiny.model.config
    inferred = clap_config_from_laion_state_dict(clap_to_laion(tiny.model.state_dict()))
    for name in (
        "depths",
        "num_attention_heads",
        "patch_embeds_hidden_size",
        "hidden_size",
        "window_size",
        "num_mel_bins",
        "spec_size",
        "patch_size",
        "enable_fusion",
    ):
        assert getattr(inferred.audio_config, name) == getattr(original.audio_config, name), name
    for name in (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
        "type_vocab_size",
    ):
        assert getattr(inferred.text_config, name) == getattr(original.text_config, name), name
    assert inferred.projection_dim == original.projection_dim == 16


def test_ignored_missing_and_unknown_keys(tiny: LaionClap) -> None:
    hf = tiny.model.state_dict()
    laion = clap_to_laion(hf, include_unused=True)
    assert (
        "audio_branch.tscam_conv.weight" in laion and "text_transform.sequential.0.weight" in laion
    )
    laion["audio_branch.layers.0.blocks.1.attn_mask"] = torch.zeros(64, 64, 64)
    # buffers a checkpoint may lack are rebuilt exactly
    for key in list(laion):
        if key.endswith(("position_ids", "relative_position_index")):
            del laion[key]
    back = clap_from_laion(laion, tiny.model.config)
    assert set(back) == set(hf)
    assert all(torch.equal(back[key], hf[key]) for key in hf)
    laion["audio_branch.absolute_pos_embed"] = torch.zeros(1)
    with pytest.raises(ModelLoadError, match="unrecognised"):
        clap_from_laion(laion, tiny.model.config)


def test_laion_presets_match_audioldm() -> None:
    tiny_preset = laion_clap_config("htsat-tiny")
    audio: Any = tiny_preset.audio_config
    text: Any = tiny_preset.text_config
    assert audio.depths == [2, 2, 6, 2]
    assert audio.hidden_size == 768
    assert audio.enable_fusion is False
    assert text.hidden_size == 768
    assert text.num_hidden_layers == 12
    assert text.layer_norm_eps == 1e-5
    assert tiny_preset.projection_dim == 512
    base: Any = laion_clap_config("htsat-base").audio_config
    assert base.patch_embeds_hidden_size == 128
    assert base.hidden_size == 1024
    with torch.device("meta"):
        model = ClapModel(tiny_preset)
    # every key of the full-size model has a LAION name and comes back unchanged
    laion = clap_to_laion(model.state_dict())
    assert set(clap_from_laion(laion, tiny_preset)) == set(model.state_dict())
    with pytest.raises(ModelLoadError):
        laion_clap_config("htsat-huge")  # type: ignore[arg-type]


def test_not_a_laion_state_dict(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a LAION-CLAP"):
        clap_config_from_laion_state_dict({"model.diffusion_model.x": torch.zeros(1)})
