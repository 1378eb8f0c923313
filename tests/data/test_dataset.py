"""Training clips: crops, normalisation, determinism by position, bad files, shards."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from clapldm.data.dataset import AudioClipDataset, ManifestStore, StepSampler, read_crop, rms_db
from clapldm.data.manifest import read_manifest
from clapldm.data.shards import ShardStore, write_audio_shards
from clapldm.errors import DataError

RATE = 16000


def sine(
    path: Path, freq: float, seconds: float = 1.0, rate: int = RATE, amplitude: float = 0.3
) -> Path:
    t = np.arange(round(seconds * rate)) / rate
    sf.write(path, (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return path


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    records = []
    for index, freq in enumerate((220, 330, 440, 550, 660)):
        sine(tmp_path / f"s{index}.wav", freq, seconds=1.0 + 0.2 * index)
        records.append(
            {
                "path": f"s{index}.wav",
                "caption": f"tone {freq}",
                "captions": [f"tone {freq}", f"a {freq} hz tone"],
            }
        )
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def dataset(manifest: Path, **kwargs: Any) -> AudioClipDataset:
    options: dict[str, Any] = {"sample_rate": RATE, "segment_samples": 4000, "seed": 3}
    options.update(kwargs)
    return AudioClipDataset(ManifestStore(read_manifest(manifest)), **options)  # type: ignore[arg-type]


def test_item_is_a_normalised_fixed_length_crop(manifest: Path) -> None:
    item = dataset(manifest)[0]
    wave = item["wave"].numpy()
    assert wave.shape == (4000,) and wave.dtype == np.float32
    assert np.abs(wave).max() == pytest.approx(0.5, abs=1e-4)  # reference normalisation
    assert abs(float(wave.mean())) < 1e-4
    assert item["caption"].startswith(("tone", "a "))


def test_same_position_same_item_any_instance(manifest: Path) -> None:
    first, second = dataset(manifest), dataset(manifest)
    for position in (0, 3, 17):
        a, b = first[position], second[position]
        assert torch.equal(a["wave"], b["wave"]) and a["caption"] == b["caption"]
    assert not torch.equal(first[0]["wave"], first[5]["wave"])  # next epoch: a new crop / order
    assert not torch.equal(dataset(manifest, seed=4)[0]["wave"], first[0]["wave"])


def test_every_clip_once_per_epoch(manifest: Path) -> None:
    data = dataset(manifest)
    assert sorted(data[p]["index"] for p in range(5)) == [0, 1, 2, 3, 4]


def test_short_clips_are_zero_padded(tmp_path: Path) -> None:
    sine(tmp_path / "short.wav", 440, seconds=0.1)
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "short.wav"}) + "\n")
    wave = dataset(tmp_path / "m.jsonl")[0]["wave"].numpy()
    assert np.abs(wave[:1600]).max() > 0.4 and np.all(wave[1700:] == 0)


def test_resampling_and_regions(tmp_path: Path) -> None:
    path = sine(tmp_path / "hi.wav", 440, seconds=2.0, rate=44100)
    rng = np.random.default_rng(0)
    assert read_crop(path, RATE, None, rng).shape == (32000,)
    assert read_crop(path, RATE, 0.5, rng).shape == (8000,)
    assert read_crop(path, RATE, None, rng, start=0.5, end=1.0).shape == (8000,)


def test_silent_crops_are_redrawn_and_silent_clips_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = np.arange(RATE * 2) / RATE
    half = np.where(t < 1.0, 0.0, 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "half.wav", half, RATE)
    sf.write(tmp_path / "silent.wav", np.zeros(RATE, np.float32), RATE)
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"path": "half.wav"}) + "\n" + json.dumps({"path": "silent.wav"}) + "\n"
    )
    data = dataset(tmp_path / "m.jsonl", max_crop_tries=20)
    with caplog.at_level(logging.WARNING):
        items = [data[p] for p in range(6)]
    assert all(rms_db(item["wave"].numpy()) > -30 for item in items)
    assert all(item["index"] == 0 for item in items)
    assert "silent.wav: silent" in caplog.text
    strict = dataset(tmp_path / "m.jsonl", on_error="raise")
    with pytest.raises(DataError, match="silent.wav: silent"):
        [strict[p] for p in range(4)]


def test_corrupt_file_mid_run_is_skipped_or_raises(
    manifest: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (manifest.parent / "s2.wav").write_bytes(
        b"RIFF" + b"\x00" * 100
    )  # corrupted after the manifest was read
    data = dataset(manifest)
    with caplog.at_level(logging.WARNING):
        batch = next(iter(DataLoader(data, batch_size=5, sampler=StepSampler(5))))
    assert batch["wave"].shape == (5, 4000) and 2 not in batch["index"].tolist()
    assert "s2.wav" in caplog.text
    with pytest.raises(DataError, match="s2.wav"):
        [dataset(manifest, on_error="raise")[p] for p in range(5)]


def test_all_bad_clips_give_one_clear_error(tmp_path: Path) -> None:
    sine(tmp_path / "a.wav", 440)
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "a.wav"}) + "\n")
    data = dataset(tmp_path / "m.jsonl")
    (tmp_path / "a.wav").write_bytes(b"garbage")
    with pytest.raises(DataError, match="unusable clips in a row"):
        data[0]


def test_step_sampler_positions() -> None:
    def first(sampler: StepSampler, count: int) -> list[int]:
        iterator = iter(sampler)
        return [next(iterator) for _ in range(count)]

    assert first(StepSampler(2), 6) == [0, 1, 2, 3, 4, 5]
    assert first(StepSampler(2, rank=1, world_size=2), 4) == [2, 3, 6, 7]
    assert first(StepSampler(2, start_step=3), 2) == [6, 7]  # a resume at step 3


def test_loader_workers_do_not_change_batches(manifest: Path) -> None:
    data = dataset(manifest)
    plain = next(iter(DataLoader(data, batch_size=4, sampler=StepSampler(4, start_step=2))))
    workers = next(
        iter(DataLoader(data, batch_size=4, sampler=StepSampler(4, start_step=2), num_workers=2))
    )
    assert torch.equal(plain["wave"], workers["wave"]) and plain["caption"] == workers["caption"]


def test_shards_round_trip_and_webdataset_compatibility(manifest: Path, tmp_path: Path) -> None:
    entries = read_manifest(manifest)
    shards = write_audio_shards(entries, tmp_path / "shards", max_count=2)
    assert [s.name for s in shards] == ["audio-000000.tar", "audio-000001.tar", "audio-000002.tar"]
    store = ShardStore(tmp_path / "shards")
    assert len(store) == 5 and store.captions(1) == entries[1].all_captions
    rng = np.random.default_rng(0)
    assert np.allclose(
        store.read(1, RATE, None, rng), ManifestStore(entries).read(1, RATE, None, rng), atol=1e-6
    )
    from_shards = AudioClipDataset(store, sample_rate=RATE, segment_samples=4000, seed=3)
    assert from_shards[0]["wave"].shape == (4000,)
    import webdataset as wds

    sample = next(iter(wds.WebDataset(str(shards[0]), shardshuffle=False, empty_check=False)))
    assert {"__key__", "wav", "json"} <= set(sample)
