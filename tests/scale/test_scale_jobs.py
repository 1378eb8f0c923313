"""Work files, batch plans, run records and progress: no model needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clapldm.errors import InvalidInputError
from clapldm.scale.jobs import BadLine, JobDefaults, JobItem, read_jobs
from clapldm.scale.plan import assign, plan_batches
from clapldm.scale.progress import Tally
from clapldm.scale.store import Counts, RunFolder, read_manifest


def write_jobs(tmp_path: Path, lines: list[object], name: str = "jobs.jsonl") -> Path:
    path = tmp_path / name
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def test_plain_text_keeps_prompt_index_seeds_and_names(tmp_path: Path) -> None:
    path = write_jobs(tmp_path, ["a dog barks", "", "   ", "Rain, on a roof!"], "p.txt")
    jobs = read_jobs(path, JobDefaults(seed=7, duration=2.0))
    assert all(isinstance(job, JobItem) for job in jobs)
    assert [(j.index, j.line, j.seed, j.name) for j in jobs] == [
        (0, 1, 7, "000_a_dog_barks.wav"),
        (1, 4, 8, "001_rain_on_a_roof.wav"),
    ]
    assert jobs[0].duration == 2.0 and jobs[0].mode == "generate"


def test_jsonl_fields_override_defaults_and_bad_lines_name_their_line(tmp_path: Path) -> None:
    (tmp_path / "in.wav").write_bytes(b"")  # only its existence is checked here
    path = write_jobs(
        tmp_path,
        [
            {"prompt": "a", "seed": 99, "steps": 3, "duration": 1.5, "name": "first"},
            {"prompt": "b", "stepz": 3},
            "{not json",
            {"prompt": "c", "strength": 0.5},
            {"prompt": "d", "mode": "inpaint", "input": "in.wav", "regions": [[0.1, 0.2]]},
            {"prompt": "e", "mode": "inpaint", "input": "missing.wav", "regions": [[0, 1]]},
            {"prompt": "f", "name": "first.wav"},
            {"prompt": "g", "steps": "ten"},
            {"prompt": "h", "mode": "extend", "input": "in.wav"},
            ["a list"],
            {"prompt": "i", "mode": "warp"},
        ],
    )
    jobs = read_jobs(path, JobDefaults(seed=10, steps=5))
    good = {j.line: j for j in jobs if isinstance(j, JobItem)}
    bad = {j.line: j.message() for j in jobs if isinstance(j, BadLine)}
    assert sorted(good) == [1, 5]
    assert (good[1].seed, good[1].steps, good[1].duration, good[1].name) == (
        99,
        3,
        1.5,
        "first.wav",
    )
    assert good[5].seed == 14 and good[5].steps == 5 and good[5].regions == ((0.1, 0.2),)
    assert good[5].input == str((tmp_path / "in.wav").resolve()) and good[5].duration is None
    assert bad[2].startswith("line 2: unknown key 'stepz' (known: prompt,")
    assert bad[3].startswith("line 3: not valid JSON")
    assert bad[4] == "line 4: 'strength' applies to mode transfer, not to generate"
    assert bad[6].startswith("line 6: input file 'missing.wav' not found")
    assert bad[7] == "line 7: name 'first.wav' is already used by line 1"
    assert bad[8] == 'line 8: steps must be an integer, got "ten"'
    assert bad[9] == "line 9: mode extend needs 'total_duration' (seconds)"
    assert bad[10] == "line 10: must be a JSON object, got list"
    assert bad[11].startswith("line 11: unknown mode 'warp'")


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "holds no prompts"), (None, "not found")],
)
def test_unusable_file_is_one_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "jobs.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        read_jobs(path, JobDefaults())


def _items(count: int, durations: list[float]) -> list[JobItem]:
    return [
        JobItem(i, i + 1, f"{i}.wav", "generate", f"p{i}", i, None, durations[i % len(durations)],
                2, None, None, 0.0, 1)
        for i in range(count)
    ]  # fmt: skip


def test_batches_group_equal_settings_in_file_order_whatever_the_ranks() -> None:
    items = _items(7, [1.0, 2.0])
    batches = plan_batches(items, batch_size=2)
    assert [[i.index for i in b.items] for b in batches] == [[0, 2], [1, 3], [4, 6], [5]]
    for world in (1, 2, 3):
        shares = assign(batches, world, lambda item: item.duration or 0.0)
        flat = sorted(b.number for share in shares for b in share)
        assert flat == [0, 1, 2, 3]  # every batch once, the batches themselves unchanged
    two = assign(batches, 2, lambda item: item.duration or 0.0)
    assert [[b.number for b in share] for share in two] == [[1, 3], [0, 2]]  # loads 6 and 4


def test_done_needs_matching_spec_and_file_hash(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "out")
    folder.prepare(["a.wav"])
    (folder.root / "a.wav").write_bytes(b"audio")
    folder.write_done("a.wav", "spec1", {"file": "a.wav"})
    assert folder.done_row("a.wav", "spec1") == {"file": "a.wav"}
    assert folder.done_row("a.wav", "spec2") is None  # the line changed
    (folder.root / "a.wav").write_bytes(b"audi")  # truncated after its record
    assert folder.done_row("a.wav", "spec1") is None
    folder.write_failed("b.wav", "spec1", {"error": "x"})
    assert folder.done_row("b.wav", "spec1") is None


def test_prepare_removes_leftover_temp_files_of_its_items_only(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    for name in (".a.wav.1234abcd.tmp", ".other.wav.99.tmp", "a.wav"):
        (root / name).write_bytes(b"x")
    assert RunFolder(root).prepare(["a.wav"]) == 1
    assert sorted(p.name for p in root.iterdir()) == [".clapldm-run", ".other.wav.99.tmp", "a.wav"]


def test_tally_rate_and_eta() -> None:
    now = [100.0]
    tally = Tally(total=10, clock=lambda: now[0])
    assert tally.snapshot([Counts()]).eta_seconds is None
    now[0] = 160.0
    snap = tally.snapshot([Counts(done=3), Counts(done=1, failed=1)])
    assert (snap.done, snap.per_minute, snap.eta_seconds) == (5, 5.0, 60.0)
    assert snap.line() == "5/10 clips, 5.0 clips/min, ETA 1:00"


def test_read_manifest_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    path.write_text('{"file": "a.wav"}\n\n[1]\n')
    with pytest.raises(InvalidInputError, match="line 3: not a JSON object"):
        read_manifest(path)
