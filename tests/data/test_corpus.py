"""Corpus building with a fake source of generated tones (offline, no apt downloads)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clapldm.data import corpus as corpus_mod
from clapldm.data.corpus import SPLITS, build_corpus, condition, cut, item_split, main_build_corpus
from clapldm.data.sources.base import ClipSpec, Copyright, Source, SourceContext
from clapldm.data.sources.midi import INSTRUMENTS, heldout_combos, midi_bytes, note_grid

SR = 16000
KEYS = {"path", "caption", "captions", "source", "package", "license", "item", "split", "duration",
        "sample_rate", "meta"}


def _tone(freq: float, seconds: float, sr: int = 22050, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def collect_tones(ctx: SourceContext):
    rng = np.random.default_rng(7)
    for i in range(24):  # 24 items x 2 takes
        for take in range(2):
            yield ClipSpec(key=f"tone{i:02d}_{take}", item=f"tones:{i}", captions=[f"a tone number {i}", f"tone {i}"],
                           license="CC0", meta={"freq": 200 + 20 * i}, audio=_tone(200 + 20 * i, 0.5 + rng.random()),
                           sr=22050, package="fake-tones")
    yield ClipSpec(key="silent", item="tones:silent", captions=["silence"], license="CC0", audio=np.zeros(22050), sr=22050)
    yield ClipSpec(key="short", item="tones:short", captions=["a blip"], license="CC0", audio=_tone(440, 0.1), sr=22050)
    yield ClipSpec(key="ambience", item="tones:ambience", captions=["a long hum"], license="CC0",
                   audio=_tone(100, 9.0), sr=22050, allow_segments=True)
    yield ClipSpec(key="long", item="tones:long", captions=["a long beep"], license="CC0", audio=_tone(300, 6.0),
                   sr=22050)
    yield ClipSpec(key="nocaption", item="tones:x", captions=[], license="CC0", audio=_tone(300, 1.0), sr=22050)


def collect_notes(ctx: SourceContext):
    progs = sorted(INSTRUMENTS)[:12]
    for k, prog in enumerate(progs):
        for pitch in range(48 + k % 3, 48 + k % 3 + 10, 2):  # 5 pitches each, overlapping between instruments
            yield ClipSpec(key=f"{prog}/{pitch}", item=f"midi:{prog}:{pitch}", captions=[f"note {pitch}"],
                           license="MIT", audio=_tone(110 * 2 ** ((pitch - 45) / 12), 0.3), sr=22050,
                           meta={"kind": "midi_note", "instrument": INSTRUMENTS[prog][0], "program": prog,
                                 "pitch": pitch, "velocity": 80})


REGISTRY = {"tones": Source("tones", (), collect_tones, "synthetic"),
            "notes": Source("notes", (), collect_notes, "synthetic")}


def _build(out: Path, seed: int = 0, **kw):
    return build_corpus(out, registry=REGISTRY, sample_rate=SR, max_clip_seconds=4.0, seed=seed,
                        progress=lambda msg: None, **kw)


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
    for r in rows:
        assert set(r) == KEYS
        assert not Path(r["path"]).is_absolute() and (out / r["path"]).is_file()
        assert r["caption"] == r["captions"][0] and all(isinstance(c, str) and c for c in r["captions"])
        assert r["split"] in SPLITS
        info = sf.info(str(out / r["path"]))
        assert info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16"
        assert abs(info.duration - r["duration"]) < 1e-3
        assert 0.2 <= r["duration"] <= 4.0 + 1e-6
    summ = json.loads((out / "summary.json").read_text())
    assert summ["clips"] == len(rows)
    assert abs(summ["hours"] - sum(r["duration"] for r in rows) / 3600) < 1e-3
    assert sum(d["clips"] for d in summ["per_source"].values()) == len(rows)
    assert sum(d["clips"] for d in summ["per_split"].values()) == len(rows)
    per_split = sum((_manifest(out, f"manifest_{s}.jsonl") for s in SPLITS), [])
    assert sorted(r["path"] for r in per_split) == sorted(r["path"] for r in rows)


def test_skips_and_long_clips(built):
    out, _ = built
    rows = _manifest(out)
    items = {r["item"] for r in rows}
    assert "tones:silent" not in items and "tones:short" not in items and "tones:x" not in items
    amb = [r for r in rows if r["item"] == "tones:ambience"]
    assert len(amb) == 2 and {r["meta"]["segment"] for r in amb} == {0, 1}  # 9 s -> two 4 s segments
    (long_,) = [r for r in rows if r["item"] == "tones:long"]
    assert long_["duration"] == pytest.approx(4.0) and long_["meta"]["cropped_from"] > 5.5
    assert {r["source"] for r in rows} == {"tones", "notes"}


def test_split_by_item(built):
    out, _ = built
    splits = defaultdict(set)
    for r in _manifest(out):
        splits[r["item"]].add(r["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert {s for v in splits.values() for s in v} == set(SPLITS)


def test_reproducible_and_seeded(built, tmp_path):
    out, _ = built
    _build(tmp_path / "again")
    a = [(r["path"], r["split"], r["caption"], r["duration"]) for r in _manifest(out)]
    b = [(r["path"], r["split"], r["caption"], r["duration"]) for r in _manifest(tmp_path / "again")]
    assert a == b
    _build(tmp_path / "seed1", seed=1)
    tones = [(r["path"], r["split"]) for r in _manifest(out) if r["source"] == "tones"]
    c = [(r["path"], r["split"]) for r in _manifest(tmp_path / "seed1") if r["source"] == "tones"]
    assert [x[0] for x in c] == [x[0] for x in tones] and c != tones  # same clips, other splits


def test_resume_skips_done_work(built, tmp_path, monkeypatch):
    out = tmp_path / "copy"
    shutil.copytree(built[0], out)
    before = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")}
    logs = []
    build_corpus(out, registry=REGISTRY, sample_rate=SR, max_clip_seconds=4.0, progress=logs.append)
    assert any("already built" in m for m in logs)
    # forced re-collection reuses converted files instead of writing them again
    monkeypatch.setattr(corpus_mod, "write_wav", lambda *a, **k: pytest.fail("re-converted a clip"))
    build_corpus(out, registry=REGISTRY, sample_rate=SR, max_clip_seconds=4.0, progress=logs.append, force=True)
    assert {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")} == before
    assert _manifest(out) == _manifest(built[0])


def test_midi_heldout_combos_in_manifest(built):
    out, _ = built
    rows = [r for r in _manifest(out) if r["meta"].get("kind") == "midi_note"]
    train = {(r["meta"]["program"], r["meta"]["pitch"]) for r in rows if r["split"] == "train"}
    test = {(r["meta"]["program"], r["meta"]["pitch"]) for r in rows if r["split"] == "test"}
    assert test and not (test & train)
    for prog, pitch in test:
        assert any(p == prog for p, _ in train)
        assert any(q == pitch and p != prog for p, q in train)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heldout_combos_property(seed):
    combos = {(p, q) for p, q, _, _ in note_grid(2000, seed)}
    split = heldout_combos(combos, seed=seed, valid_frac=0.05, test_frac=0.1)
    assert set(split) == combos
    held = [c for c, s in split.items() if s != "train"]
    train = [c for c, s in split.items() if s == "train"]
    assert 0.12 * len(combos) <= len(held) <= 0.16 * len(combos)
    train_inst = {p for p, _ in train}
    for prog, pitch in held:
        assert prog in train_inst
        assert any(q == pitch and p != prog for p, q in train)
    assert heldout_combos(combos, seed=seed) == heldout_combos(set(sorted(combos)), seed=seed)


def test_note_grid_covers_targets():
    grid = note_grid(2000, 0)
    assert 1800 <= len(grid) <= 2300
    assert len({p for p, *_ in grid}) >= 40
    pitches = [q for _, q, _, _ in grid]
    assert min(pitches) >= 36 and max(pitches) <= 84
    assert {v for *_, v, _ in grid} and len({v for _, _, v, _ in grid}) == 3


def test_item_split_is_stable():
    assert item_split("x:1", 0) == item_split("x:1", 0)
    counts = defaultdict(int)
    for i in range(4000):
        counts[item_split(f"item{i}", 3)] += 1
    assert 0.85 < counts["train"] / 4000 < 0.95 and counts["valid"] > 100 and counts["test"] > 100


def test_condition_and_cut():
    sr = 22050
    y = np.concatenate([np.zeros(sr), _tone(440, 1.0), np.zeros(sr)])
    z = condition(y, sr, 16000)
    assert 0.95 < len(z) / 16000 < 1.1
    assert condition(np.zeros(sr), sr, sr) is None
    assert condition(_tone(440, 0.1), sr, sr) is None
    assert condition(np.full(sr, np.nan), sr, sr) is None
    segs = cut(_tone(440, 25.0, sr), sr, 10.0, True, 6)
    assert [s for s, _ in segs] == [0.0, 10.0] and all(len(x) == 10 * sr for _, x in segs)
    (only,) = cut(_tone(440, 25.0, sr), sr, 10.0, False, 6)
    assert len(only[1]) == 10 * sr


def test_copyright_globs(tmp_path):
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: x\nLicense: GPL-2\n\n"
            "Files: share/game/Data/Sounds/*\nCopyright: y\nLicense: GFDL-1.3\n\n"
            "Files: share/game/Data/Sounds/Droplet*.ogg\nCopyright: z\nLicense: CC-BY-SA-3.0\n\n"
            "Files: debian/*\nCopyright: d\nLicense: GPL-2+\n")
    (tmp_path / "copyright").write_text(text)
    c = Copyright(tmp_path / "copyright", "unknown")
    assert c.license_for("usr/share/game/Data/Sounds/splash.ogg") == "GFDL-1.3"
    assert c.license_for("usr/share/game/Data/Sounds/Droplet1.ogg") == "CC-BY-SA-3.0"
    assert c.license_for("usr/share/game/Data/Graphics/x.png") == "GPL-2"
    assert Copyright(None, "fallback").license_for("a/b.ogg") == "fallback"


def test_midi_file_bytes():
    data = midi_bytes([(0.0, bytes([0xC0, 0])), (0.1, bytes([0x90, 60, 100])), (1.0, bytes([0x80, 60, 0]))], 2.0)
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk" and data.endswith(b"\xff\x2f\x00")


def test_cli_lists_sources(capsys):
    assert main_build_corpus(["--list-sources"]) == 0
    out = capsys.readouterr().out
    assert "0ad-data" in out and "midi-notes" in out and "speech" in out


def test_unknown_source_is_an_error(tmp_path):
    from clapldm.errors import DataError

    with pytest.raises(DataError):
        build_corpus(tmp_path, sources=["nope"], registry=REGISTRY, progress=lambda m: None)


# --------------------------------------------------------------------------- real renders (need apt tools)
def _ctx(tmp_path: Path, **options) -> SourceContext:
    return SourceContext(roots={}, out_dir=tmp_path, sample_rate=22050, seed=0, tmp_dir=tmp_path / "tmp",
                         options=options, is_done=lambda s, k: False, log=lambda m: None)


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file(),
                    reason="fluidsynth / fluid-soundfont-gm not installed (apt-get install fluidsynth fluid-soundfont-gm)")
def test_fluidsynth_renders_the_right_pitch(tmp_path):
    from clapldm.data.sources.midi import note_events, program_event, render

    sr = 22050
    y = render([program_event(73), *note_events(0.05, 1.0, 69, 100)], 1.5, sr, tmp_path)  # flute A4
    assert np.max(np.abs(y)) > 0.01
    spec = np.abs(np.fft.rfft(y[int(0.2 * sr): int(1.0 * sr)]))
    f0 = np.argmax(spec) * sr / (2 * (len(spec) - 1))
    assert abs(f0 - 440) < 15


@pytest.mark.skipif(shutil.which("espeak-ng") is None and shutil.which("flite") is None,
                    reason="espeak-ng / flite not installed (apt-get install espeak-ng flite)")
def test_speech_renders(tmp_path):
    from clapldm.data.sources.speech import collect_speech

    specs = []
    for spec in collect_speech(_ctx(tmp_path, speech_lines=3)):
        specs.append(spec)
        if len(specs) == 2:
            break
    assert specs and all(s.audio is not None and len(s.audio) > 0.2 * s.sr for s in specs)
    assert all(s.meta["text"] in s.captions[0] and s.meta["gender"] in ("male", "female") for s in specs)
