"""CLAP with the aiSFX audio backbone, trained text layers and pre-encoded features:
features equal what the model computes, parts concatenate to the whole, batches are
balanced and carry hard negatives, training runs and resumes with the trained text layers,
and the LDM pre-encoding reuses the features exactly."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clapldm.config import ClapConfig, MelConfig
from clapldm.data.dataset import ManifestStore
from clapldm.data.manifest import read_manifest
from clapldm.models.compact_clap import CompactClap, SfxAudioEncoder, load_text_tower, profile_stats
from clapldm.training.clap_features import (
    ClapFeatureDataset,
    is_clap_features,
    preencode_clap,
    read_clap_features,
)
from clapldm.training.config import load_training_config
from clapldm.training.preencode import preencode_clap_features

from .conftest import TINY, make_corpus, run_stage

V2_SETS = [
    "model.audio_backbone=aisfx",
    "model.text_train_layers=1",
    "clap.pitch_weight=0.3",
    "clap.hard_negatives=2",
    "clap.source_balance=0.5",
]


def _notes_manifest(folder: Path) -> Path:
    """12 generated clips; the first 8 labelled as notes of two instruments."""
    manifest = make_corpus(folder, clips=12, seconds=0.6)
    lines = []
    for index, line in enumerate(manifest.read_text().splitlines()):
        row = json.loads(line)
        if index < 8:
            program, pitch = index % 2, 60 + index
            row["source"] = "notes"
            row["meta"] = {"kind": "midi_note", "pitch": pitch, "program": program}
            row["caption"] = f"instrument {program} plays note {pitch}"
            row["captions"] = [row["caption"]]
        else:
            row["source"] = "effects"
        lines.append(json.dumps(row))
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _notes_manifest(tmp_path_factory.mktemp("notes"))


@pytest.fixture(scope="module")
def tiny_v2(tmp_path_factory: pytest.TempPathFactory, text_tower: Path) -> CompactClap:
    run = load_training_config(TINY / "clap.json", V2_SETS)
    encoder, tokenizer = load_text_tower(text_tower)
    torch.manual_seed(0)
    return CompactClap(run.model, encoder, tokenizer).eval()


def test_embed_audio_equals_features_path(tiny_v2: CompactClap) -> None:
    wave = 0.3 * torch.randn(2, 16_000)
    direct = tiny_v2.embed_audio(wave, 16_000)
    encoder = tiny_v2.audio_encoder
    assert isinstance(encoder, SfxAudioEncoder)
    from clapldm.models.clap_base import resample_batch

    features = encoder.aisfx_features(resample_batch(wave, 16_000, 44_100))
    stats = profile_stats(tiny_v2.mel(wave))
    torch.testing.assert_close(tiny_v2.embed_features(features, stats), direct)
    assert torch.allclose(direct.norm(dim=-1), torch.ones(2))


def test_profile_ignores_trailing_silence() -> None:
    logmel = torch.randn(1, 30, 16) - 4.0
    padded = torch.cat([logmel, torch.full((1, 90, 16), -11.5)], dim=1)
    torch.testing.assert_close(profile_stats(padded), profile_stats(logmel))


def test_trained_text_layers_save_and_load(tiny_v2: CompactClap, tmp_path: Path) -> None:
    trainable = {n for n, p in tiny_v2.named_parameters() if p.requires_grad}
    assert any(n.startswith("text_encoder.encoder.layer.0.") for n in trainable)
    assert not any(n.startswith("text_encoder.embeddings.") for n in trainable)
    assert not any(n.startswith("audio_encoder.aisfx.") for n in trainable)  # frozen trunk
    with torch.no_grad():
        for parameter in tiny_v2.text_encoder.encoder.layer[0].parameters():
            parameter.add_(0.01)  # as training would move them
    tiny_v2.save_pretrained(tmp_path / "clap")
    loaded = CompactClap.from_pretrained(tmp_path / "clap")
    texts = ["a dog barks", "rain"]
    torch.testing.assert_close(loaded.embed_text(texts), tiny_v2.embed_text(texts))
    wave = 0.3 * torch.randn(1, 12_000)
    torch.testing.assert_close(loaded.embed_audio(wave, 16_000), tiny_v2.embed_audio(wave, 16_000))


def test_text_gradients_reach_trained_layers_only(tiny_v2: CompactClap) -> None:
    tiny_v2.train()
    tiny_v2.zero_grad()
    tiny_v2.embed_text(["a dog barks", "a cat"]).sum().backward()
    tiny_v2.eval()
    layer = tiny_v2.text_encoder.encoder.layer[0]
    assert all(p.grad is not None for p in layer.parameters() if p.requires_grad)
    assert all(p.grad is None for p in tiny_v2.text_encoder.embeddings.parameters())


def test_features_parts_and_dataset(notes: Path, tiny_v2: CompactClap, tmp_path: Path) -> None:
    entries = read_manifest(notes)
    store = ManifestStore(entries)
    extras = [dict(e.extra) for e in entries]
    whole = tmp_path / "whole"
    assert preencode_clap(tiny_v2, store, whole, entries_extra=extras) == 12
    parted = tmp_path / "parted"
    preencode_clap(tiny_v2, store, parted, entries_extra=extras, part=(2, 2))
    assert not is_clap_features(parted)  # one part of two is not a usable folder
    preencode_clap(tiny_v2, store, parted, entries_extra=extras, part=(1, 2))
    assert is_clap_features(parted) and is_clap_features(whole)
    meta_w, tensors_w = read_clap_features(whole)
    meta_p, tensors_p = read_clap_features(parted)
    order = [meta_w["rows"].index(row) for row in meta_p["rows"]]
    assert sorted(order) == list(range(12))
    for key in ("aisfx", "stats", "pitch", "program"):
        torch.testing.assert_close(tensors_p[key], tensors_w[key][order])
    assert tensors_w["pitch"][:8].tolist() == list(range(60, 68))
    assert (tensors_w["pitch"][8:] == -1).all()

    dataset = ClapFeatureDataset(whole, batch_size=4, seed=3, source_balance=1.0, hard_negatives=2)
    again = ClapFeatureDataset(whole, batch_size=4, seed=3, source_balance=1.0, hard_negatives=2)
    indices = [dataset.clip_index(p) for p in range(400)]
    assert indices == [again.clip_index(p) for p in range(400)]  # a pure function of position
    programs = tensors_w["program"]
    for batch in range(100):
        first, second = indices[4 * batch], indices[4 * batch + 1]
        assert first != second and int(programs[first]) == int(programs[second]) >= 0
    free = [indices[p] for p in range(400) if p % 4 >= 2]
    share_effects = np.mean([i >= 8 for i in free])
    assert 0.35 < share_effects < 0.65  # source_balance 1: both sources equally often
    item = dataset[0]
    assert item["aisfx"].shape == (512,) and item["stats"].shape == (2 * 16,)


def test_train_and_resume_keep_text_layers(notes: Path, text_tower: Path, tmp_path: Path) -> None:
    sets = [f"clap.text_tower={text_tower}", *V2_SETS]
    run = load_training_config(TINY / "clap.json", sets)
    features = tmp_path / "features"
    preencode_clap_features(run, notes, features)
    result, recorder = run_stage(
        "clap",
        features,
        tmp_path / "run",
        [*V2_SETS, "train.max_steps=3", "train.checkpoint_every=3"],
        text_tower=text_tower,
    )
    assert result.train_step == 3 and recorder.series("pitch")[0] > 0
    checkpoint = torch.load(
        tmp_path / "run" / "checkpoints" / "step=00000003.ckpt", weights_only=False
    )
    keys = checkpoint["state_dict"]
    assert any(k.startswith("clap.text_encoder.encoder.layer.0.") for k in keys)
    assert not any(k.startswith("clap.text_encoder.embeddings.") for k in keys)
    original, _ = load_text_tower(text_tower)
    key = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(keys[f"clap.text_encoder.{key}"], original.state_dict()[key])
    resumed, _ = run_stage(
        "clap",
        features,
        tmp_path / "run",
        [*V2_SETS, "train.max_steps=4", "train.checkpoint_every=3"],
        resume=True,
        text_tower=text_tower,
    )
    assert resumed.train_step == 4


def test_config_defaults_keep_v1_models() -> None:
    config = ClapConfig(kind="compact", mel=MelConfig().to_dict())
    assert (config.audio_backbone, config.text_train_layers) == ("cnn", 0)


def test_trains_from_raw_audio_too(notes: Path, text_tower: Path, tmp_path: Path) -> None:
    """Without pre-encoding the same model trains from the manifest (features per step)."""
    result, recorder = run_stage(
        "clap",
        notes,
        tmp_path / "run",
        [*V2_SETS, "train.max_steps=2", "train.checkpoint_every=2"],
        text_tower=text_tower,
    )
    assert result.train_step == 2 and all(np.isfinite(recorder.series("loss")))


def test_ldm_preencode_reuses_clap_features(
    notes: Path, tiny_v2: CompactClap, tiny_parts: dict[str, Path], tmp_path: Path
) -> None:
    """`--clap-features` gives the audio embeddings embed_audio gives, without aiSFX."""
    from clapldm.data.shards import index_shards, read_member, shard_paths
    from clapldm.training.preencode import preencode

    tiny_v2.save_pretrained(tmp_path / "clap")
    entries = read_manifest(notes)
    features = tmp_path / "features"
    preencode_clap(
        tiny_v2, ManifestStore(entries), features, entries_extra=[dict(e.extra) for e in entries]
    )
    run = load_training_config(
        TINY / "ldm.json", [f"ldm.vae={tiny_parts['vae']}", f"ldm.clap={tmp_path / 'clap'}"]
    )
    preencode(run, notes, tmp_path / "direct")
    preencode(run, notes, tmp_path / "reused", clap_features=features, text_embeddings=False)

    def embeds(folder: Path) -> list[np.ndarray]:
        samples = index_shards(shard_paths(folder))
        return [np.load(io.BytesIO(read_member(m["audio_embed.npy"]))) for _, m in samples]

    direct, reused = embeds(tmp_path / "direct"), embeds(tmp_path / "reused")
    assert len(direct) == len(reused) == 12
    for a, b in zip(direct, reused, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-3)  # float16 storage
