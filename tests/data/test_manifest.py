"""Manifests: parsing, clear errors naming the line, skip-with-warning, `data check`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clapldm.data.check import check_manifest
from clapldm.data.manifest import probe_entries, read_manifest, write_manifest
from clapldm.errors import DataError


def tone(path: Path, seconds: float = 0.5, rate: int = 16000, amplitude: float = 0.3) -> Path:
    t = np.arange(round(seconds * rate)) / rate
    sf.write(path, (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    return path


def write_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_jsonl_fields_relative_paths_and_extra_keys(tmp_path: Path) -> None:
    tone(tmp_path / "a.wav")
    (tmp_path / "sub").mkdir()
    tone(tmp_path / "sub" / "b.wav")
    manifest = write_lines(
        tmp_path / "m.jsonl",
        [
            {
                "path": "a.wav",
                "caption": "a tone",
                "captions": ["a tone", "a beep"],
                "license": "CC0",
            },
            {"path": str(tmp_path / "sub" / "b.wav"), "start": 0.1, "end": 0.4, "split": "valid"},
        ],
    )
    entries = read_manifest(manifest)
    assert entries[0].path == tmp_path / "a.wav"
    assert entries[0].all_captions == ("a tone", "a beep")
    assert entries[0].extra == {"license": "CC0"}
    assert (entries[1].start, entries[1].end, entries[1].caption) == (0.1, 0.4, None)
    assert entries[1].region_seconds == pytest.approx(0.3)
    assert [e.path.name for e in read_manifest(manifest, split="train")] == ["a.wav"]


def test_csv_manifest(tmp_path: Path) -> None:
    tone(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("path,caption,captions,start\na.wav,a tone,a tone|a beep,0.1\n")
    (entry,) = read_manifest(tmp_path / "m.csv")
    assert entry.captions == ("a tone", "a beep") and entry.start == 0.1
    (tmp_path / "bad.csv").write_text("file,caption\na.wav,x\n")
    with pytest.raises(DataError, match="'path' column"):
        read_manifest(tmp_path / "bad.csv")


def test_missing_file_names_the_line_or_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tone(tmp_path / "a.wav")
    manifest = write_lines(tmp_path / "m.jsonl", [{"path": "a.wav"}, {"path": "gone.wav"}])
    with pytest.raises(DataError, match=r"m\.jsonl:2: audio file .*gone\.wav not found"):
        read_manifest(manifest)
    with caplog.at_level(logging.WARNING):
        entries = read_manifest(manifest, on_error="skip")
    assert [e.path.name for e in entries] == ["a.wav"]
    assert "gone.wav" in caplog.text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r":1: not valid JSON"),
        ('["a.wav"]', r":1: each line must be a JSON object"),
        ('{"caption": "x"}', r":1: missing 'path'"),
        ('{"path": "a.wav", "start": 2, "end": 1}', r":1: 'end' .* must be after 'start'"),
        ('{"path": "a.wav", "start": "soon"}', r":1: 'start' must be a number"),
    ],
)
def test_malformed_lines(tmp_path: Path, line: str, message: str) -> None:
    tone(tmp_path / "a.wav")
    (tmp_path / "m.jsonl").write_text(line + "\n")
    with pytest.raises(DataError, match=message):
        read_manifest(tmp_path / "m.jsonl")


def test_empty_caption_when_text_conditioning_is_asked(tmp_path: Path) -> None:
    tone(tmp_path / "a.wav")
    tone(tmp_path / "b.wav")
    manifest = write_lines(
        tmp_path / "m.jsonl",
        [{"path": "a.wav", "caption": "a tone"}, {"path": "b.wav", "caption": " "}],
    )
    assert len(read_manifest(manifest)) == 2
    with pytest.raises(DataError, match=r":2: empty caption"):
        read_manifest(manifest, require_caption=True)
    assert len(read_manifest(manifest, require_caption=True, on_error="skip")) == 1


def test_no_usable_clips_is_an_error(tmp_path: Path) -> None:
    manifest = write_lines(tmp_path / "m.jsonl", [{"path": "gone.wav"}])
    with pytest.raises(DataError, match="no usable clips"):
        read_manifest(manifest, on_error="skip")
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "nope.jsonl")


def test_probe_finds_unreadable_headers(tmp_path: Path) -> None:
    tone(tmp_path / "a.wav")
    (tmp_path / "junk.wav").write_bytes(b"definitely not audio" * 10)
    entries = read_manifest(
        write_lines(tmp_path / "m.jsonl", [{"path": "a.wav"}, {"path": "junk.wav"}])
    )
    with pytest.raises(DataError, match=r"1 unreadable audio file.*junk\.wav"):
        probe_entries(entries)
    assert [e.path.name for e in probe_entries(entries, "skip")] == ["a.wav"]


def test_data_check_reports_every_kind_of_problem(tmp_path: Path) -> None:
    from clapldm.cli import main

    tone(tmp_path / "good.wav")
    tone(tmp_path / "short.wav", seconds=0.02)
    tone(tmp_path / "silent.wav", amplitude=0.0)
    (tmp_path / "junk.wav").write_bytes(b"RIFF....WAVEjunk" * 8)
    tone(tmp_path / "nocaption.wav")
    manifest = write_lines(
        tmp_path / "m.jsonl",
        [
            {"path": "good.wav", "caption": "a tone"},
            {"path": "short.wav", "caption": "a click"},
            {"path": "silent.wav", "caption": "nothing"},
            {"path": "junk.wav", "caption": "junk"},
            {"path": "missing.wav", "caption": "gone"},
            {"path": "nocaption.wav"},
            {"caption": "no path"},
        ],
    )
    report = check_manifest(manifest, require_caption=True, clean_output=tmp_path / "clean.jsonl")
    assert report.counts() == {"unreadable": 3, "silent": 1, "too_short": 1, "no_caption": 1}
    assert [e.path.name for e in report.good] == ["good.wav"]
    assert report.total == 7
    assert [e.path.name for e in read_manifest(tmp_path / "clean.jsonl")] == ["good.wav"]
    assert main(["data", "check", str(manifest)]) == 1
    assert main(["data", "check", str(tmp_path / "clean.jsonl")]) == 0


def test_write_manifest_round_trip(tmp_path: Path) -> None:
    tone(tmp_path / "a.wav")
    manifest = write_lines(
        tmp_path / "m.jsonl",
        [{"path": "a.wav", "caption": "x", "captions": ["x", "y"], "end": 0.3, "source": "s"}],
    )
    entries = read_manifest(manifest)
    write_manifest(tmp_path / "copy.jsonl", entries)
    assert json.loads((tmp_path / "copy.jsonl").read_text()) == {
        "path": "a.wav",
        "caption": "x",
        "end": 0.3,
        "captions": ["x", "y"],
        "source": "s",
    }


def test_build_corpus_arguments_reach_the_corpus_builder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from clapldm.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["data", "build-corpus", "--help"])
    assert stop.value.code == 0
    assert "--out" in capsys.readouterr().out
