"""Corpus building with a fake source of generated tones (offline, no apt downloads)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clapldm.corpus import build as builder
from clapldm.corpus.build import SPLITS, build_corpus, condition, cut, item_split, main_build_corpus
from clapldm.corpus.sources.base import ClipSpec, Copyright, Source, SourceContext
from clapldm.corpus.sources.midi import INSTRUMENTS, heldout_combos, midi_bytes, note_grid

SR = 16000
KEYS = {
    "path",
    "caption",
    "captions",
    "source",
    "package",
    "license",
    "item",
    "split",
    "duration",
    "sample_rate",
    "meta",
}


def _tone(freq: float, seconds: float, sr: int = 22050, amp: float = 0.3) -> np.ndarray:
    seconds_axis = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * seconds_axis)).astype(np.float32)


def collect_tones(ctx: SourceContext):
    rng = np.random.default_rng(7)
    for index in range(24):  # 24 items x 2 takes
        for take in range(2):
            yield ClipSpec(
                key=f"tone{index:02d}_{take}",
                item=f"tones:{index}",
                captions=[f"a tone number {index}", f"tone {index}"],
                license="CC0",
                meta={"freq": 200 + 20 * index},
                audio=_tone(200 + 20 * index, 0.5 + rng.random()),
                sr=22050,
                package="fake-tones",
            )
    yield ClipSpec(
        key="silent",
        item="tones:silent",
        captions=["silence"],
        license="CC0",
        audio=np.zeros(22050),
        sr=22050,
    )
    yield ClipSpec(
        key="short",
        item="tones:short",
        captions=["a blip"],
        license="CC0",
        audio=_tone(440, 0.1),
        sr=22050,
    )
    yield ClipSpec(
        key="ambience",
        item="tones:ambience",
        captions=["a long hum"],
        license="CC0",
        audio=_tone(100, 9.0),
        sr=22050,
        allow_segments=True,
    )
    yield ClipSpec(
        key="long",
        item="tones:long",
        captions=["a long beep"],
        license="CC0",
        audio=_tone(300, 6.0),
        sr=22050,
    )
    yield ClipSpec(
        key="nocaption", item="tones:x", captions=[], license="CC0", audio=_tone(300, 1.0), sr=22050
    )


def collect_notes(ctx: SourceContext):
    progs = sorted(INSTRUMENTS)[:12]
    for index, prog in enumerate(progs):
        # 5 pitches each, overlapping between instruments
        for pitch in range(48 + index % 3, 48 + index % 3 + 10, 2):
            yield ClipSpec(
                key=f"{prog}/{pitch}",
                item=f"midi:{prog}:{pitch}",
                captions=[f"note {pitch}"],
                license="MIT",
                audio=_tone(110 * 2 ** ((pitch - 45) / 12), 0.3),
                sr=22050,
                meta={
                    "kind": "midi_note",
                    "instrument": INSTRUMENTS[prog][0],
                    "program": prog,
                    "pitch": pitch,
                    "velocity": 80,
                },
            )


REGISTRY = {
    "tones": Source("tones", (), collect_tones, "synthetic"),
    "notes": Source("notes", (), collect_notes, "synthetic"),
}


def _build(out: Path, seed: int = 0, **kw):
    return build_corpus(
        out,
        registry=REGISTRY,
        sample_rate=SR,
        max_clip_seconds=4.0,
        seed=seed,
        progress=lambda msg: None,
        **kw,
    )


def _manifest(out: Path, name: str = "manifest.jsonl") -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    summary = _build(out)
    return out, summary


def test_manifest_schema(built):
    out, summary = built
    rows = _manifest(out)
    assert rows and summary.clips == len(rows)
    for row in rows:
        assert set(row) == KEYS
        assert not Path(row["path"]).is_absolute() and (out / row["path"]).is_file()
        assert row["caption"] == row["captions"][0] and all(
            isinstance(caption, str) and caption for caption in row["captions"]
        )
        assert row["split"] in SPLITS
        info = sf.info(str(out / row["path"]))
        assert info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16"
        assert abs(info.duration - row["duration"]) < 1e-3
        assert 0.2 <= row["duration"] <= 4.0 + 1e-6
    summ = json.loads((out / "summary.json").read_text())
    assert summ["clips"] == len(rows)
    assert abs(summ["hours"] - sum(row["duration"] for row in rows) / 3600) < 1e-3
    assert sum(totals["clips"] for totals in summ["per_source"].values()) == len(rows)
    assert sum(totals["clips"] for totals in summ["per_split"].values()) == len(rows)
    per_split = sum((_manifest(out, f"manifest_{split}.jsonl") for split in SPLITS), [])
    assert sorted(row["path"] for row in per_split) == sorted(row["path"] for row in rows)


def test_skips_and_long_clips(built):
    out, _ = built
    rows = _manifest(out)
    items = {row["item"] for row in rows}
    assert "tones:silent" not in items and "tones:short" not in items and "tones:x" not in items
    amb = [row for row in rows if row["item"] == "tones:ambience"]
    assert len(amb) == 2 and {row["meta"]["segment"] for row in amb} == {
        0,
        1,
    }  # 9 s -> two 4 s segments
    (long_,) = [row for row in rows if row["item"] == "tones:long"]
    assert long_["duration"] == pytest.approx(4.0) and long_["meta"]["cropped_from"] > 5.5
    assert {row["source"] for row in rows} == {"tones", "notes"}


def test_split_by_item(built):
    out, _ = built
    splits = defaultdict(set)
    for row in _manifest(out):
        splits[row["item"]].add(row["split"])
    assert all(len(item_splits) == 1 for item_splits in splits.values())
    assert {item_splits for values in splits.values() for item_splits in values} == set(SPLITS)


def test_reproducible_and_seeded(built, tmp_path):
    out, _ = built
    _build(tmp_path / "again")
    first = [(row["path"], row["split"], row["caption"], row["duration"]) for row in _manifest(out)]
    second = [
        (row["path"], row["split"], row["caption"], row["duration"])
        for row in _manifest(tmp_path / "again")
    ]
    assert first == second
    _build(tmp_path / "seed1", seed=1)
    tones = [(row["path"], row["split"]) for row in _manifest(out) if row["source"] == "tones"]
    other_seed = [
        (row["path"], row["split"])
        for row in _manifest(tmp_path / "seed1")
        if row["source"] == "tones"
    ]
    assert [entry[0] for entry in other_seed] == [
        entry[0] for entry in tones
    ] and other_seed != tones  # same clips, other splits


def test_resume_skips_done_work(built, tmp_path, monkeypatch):
    out = tmp_path / "copy"
    shutil.copytree(built[0], out)
    before = {wav: wav.stat().st_mtime_ns for wav in (out / "audio").rglob("*.wav")}
    logs = []
    build_corpus(out, registry=REGISTRY, sample_rate=SR, max_clip_seconds=4.0, progress=logs.append)
    assert any("already built" in message for message in logs)
    # forced re-collection reuses converted files instead of writing them again
    monkeypatch.setattr(
        builder, "write_wav", lambda *args, **key: pytest.fail("re-converted a clip")
    )
    build_corpus(
        out,
        registry=REGISTRY,
        sample_rate=SR,
        max_clip_seconds=4.0,
        progress=logs.append,
        force=True,
    )
    assert {wav: wav.stat().st_mtime_ns for wav in (out / "audio").rglob("*.wav")} == before
    assert _manifest(out) == _manifest(built[0])


def test_midi_heldout_combos_in_manifest(built):
    out, _ = built
    rows = [row for row in _manifest(out) if row["meta"].get("kind") == "midi_note"]
    train = {
        (row["meta"]["program"], row["meta"]["pitch"]) for row in rows if row["split"] == "train"
    }
    test = {
        (row["meta"]["program"], row["meta"]["pitch"]) for row in rows if row["split"] == "test"
    }
    assert test and not (test & train)
    for prog, pitch in test:
        assert any(other_program == prog for other_program, _ in train)
        assert any(
            other_pitch == pitch and other_program != prog for other_program, other_pitch in train
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heldout_combos_property(seed):
    combos = {
        (grid_program, grid_pitch) for grid_program, grid_pitch, _, _ in note_grid(2000, seed)
    }
    split = heldout_combos(combos, seed=seed, valid_frac=0.05, test_frac=0.1)
    assert set(split) == combos
    held = [combo for combo, combo_split in split.items() if combo_split != "train"]
    train = [combo for combo, combo_split in split.items() if combo_split == "train"]
    assert 0.12 * len(combos) <= len(held) <= 0.16 * len(combos)
    train_inst = {grid_program for grid_program, _ in train}
    for prog, pitch in held:
        assert prog in train_inst
        assert any(
            grid_pitch == pitch and grid_program != prog for grid_program, grid_pitch in train
        )
    assert heldout_combos(combos, seed=seed) == heldout_combos(set(sorted(combos)), seed=seed)


def test_note_grid_covers_targets():
    grid = note_grid(2000, 0)
    assert 1800 <= len(grid) <= 2300
    assert len({program for program, *_ in grid}) >= 40
    pitches = [pitch for _, pitch, _, _ in grid]
    assert min(pitches) >= 36 and max(pitches) <= 84
    assert {velocity for *_, velocity, _ in grid} and len(
        {velocity for _, _, velocity, _ in grid}
    ) == 3


def test_item_split_is_stable():
    assert item_split("x:1", 0) == item_split("x:1", 0)
    counts = defaultdict(int)
    for index in range(4000):
        counts[item_split(f"item{index}", 3)] += 1
    assert 0.85 < counts["train"] / 4000 < 0.95 and counts["valid"] > 100 and counts["test"] > 100


def test_condition_and_cut():
    sr = 22050
    samples = np.concatenate([np.zeros(sr), _tone(440, 1.0), np.zeros(sr)])
    conditioned = condition(samples, sr, 16000)
    assert 0.95 < len(conditioned) / 16000 < 1.1
    assert condition(np.zeros(sr), sr, sr) is None
    assert condition(_tone(440, 0.1), sr, sr) is None
    assert condition(np.full(sr, np.nan), sr, sr) is None
    segs = cut(_tone(440, 25.0, sr), sr, 10.0, True, 6)
    assert [start for start, _ in segs] == [0.0, 10.0] and all(
        len(piece) == 10 * sr for _, piece in segs
    )
    (only,) = cut(_tone(440, 25.0, sr), sr, 10.0, False, 6)
    assert len(only[1]) == 10 * sr


def test_copyright_globs(tmp_path):
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: x\nLicense: GPL-2\n\n"
        "Files: share/game/Data/Sounds/*\nCopyright: y\nLicense: GFDL-1.3\n\n"
        "Files: share/game/Data/Sounds/Droplet*.ogg\nCopyright: z\nLicense: CC-BY-SA-3.0\n\n"
        "Files: debian/*\nCopyright: d\nLicense: GPL-2+\n"
    )
    (tmp_path / "copyright").write_text(text)
    licenses = Copyright(tmp_path / "copyright", "unknown")
    assert licenses.license_for("usr/share/game/Data/Sounds/splash.ogg") == "GFDL-1.3"
    assert licenses.license_for("usr/share/game/Data/Sounds/Droplet1.ogg") == "CC-BY-SA-3.0"
    assert licenses.license_for("usr/share/game/Data/Graphics/x.png") == "GPL-2"
    assert Copyright(None, "fallback").license_for("a/b.ogg") == "fallback"


def test_midi_file_bytes():
    data = midi_bytes(
        [(0.0, bytes([0xC0, 0])), (0.1, bytes([0x90, 60, 100])), (1.0, bytes([0x80, 60, 0]))], 2.0
    )
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk" and data.endswith(b"\xff\x2f\x00")


def test_cli_lists_sources(capsys):
    assert main_build_corpus(["--list-sources"]) == 0
    out = capsys.readouterr().out
    assert "0ad-data" in out and "midi-notes" in out and "speech" in out


def test_unknown_source_is_an_error(tmp_path):
    from clapldm.errors import DataError

    with pytest.raises(DataError):
        build_corpus(tmp_path, sources=["nope"], registry=REGISTRY, progress=lambda message: None)


# ----------------------------------------------------------------- real renders (need apt tools)
def _ctx(tmp_path: Path, **options) -> SourceContext:
    return SourceContext(
        roots={},
        out_dir=tmp_path,
        sample_rate=22050,
        seed=0,
        tmp_dir=tmp_path / "tmp",
        options=options,
        is_done=lambda source, key: False,
        log=lambda message: None,
    )


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None
    or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file(),
    reason="fluidsynth / fluid-soundfont-gm not installed "
    "(apt-get install fluidsynth fluid-soundfont-gm)",
)
def test_fluidsynth_renders_the_right_pitch(tmp_path):
    from clapldm.corpus.sources.midi import note_events, program_event, render

    sr = 22050
    flute_a4 = [program_event(73), *note_events(0.05, 1.0, 69, 100)]
    samples = render(flute_a4, 1.5, sr, tmp_path)
    assert np.max(np.abs(samples)) > 0.01
    spec = np.abs(np.fft.rfft(samples[int(0.2 * sr) : int(1.0 * sr)]))
    f0 = np.argmax(spec) * sr / (2 * (len(spec) - 1))
    assert abs(f0 - 440) < 15


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None and shutil.which("flite") is None,
    reason="espeak-ng / flite not installed (apt-get install espeak-ng flite)",
)
def test_speech_renders(tmp_path):
    from clapldm.corpus.sources.speech import collect_speech

    specs = []
    for spec in collect_speech(_ctx(tmp_path, speech_lines=3)):
        specs.append(spec)
        if len(specs) == 2:
            break
    assert specs and all(
        rendered.audio is not None and len(rendered.audio) > 0.2 * rendered.sr for rendered in specs
    )
    assert all(
        rendered.meta["text"] in rendered.captions[0]
        and rendered.meta["gender"] in ("male", "female")
        for rendered in specs
    )
