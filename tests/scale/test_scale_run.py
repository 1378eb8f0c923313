"""`clapldm generate --prompts FILE.jsonl`: 1 process, 2 processes, 3 "nodes", kill + resume.

The tiny model at 2 steps; the processes talk over gloo on localhost, one thread each.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scale_helpers import child_env, cli

from clapldm.audio.io import read_tags
from clapldm.cli import main
from clapldm.eval import cli as eval_cli
from clapldm.scale.store import STATE_FOLDER, read_manifest

pytest.importorskip("lightning")

BAD_LINE = 6
INPAINT_LINE = 10
LINES = 24
TIMEOUT = 300


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 lines: generate at three durations, one bad line, one inpaint, one named item."""
    folder = tmp_path_factory.mktemp("scale")
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    sf.write(folder / "in.wav", noise, 16000)
    lines = []
    for line in range(1, LINES + 1):
        if line == BAD_LINE:
            entry: dict[str, object] = {"prompt": "a typo", "stepz": 2}
        elif line == INPAINT_LINE:
            entry = {
                "prompt": "a door",
                "mode": "inpaint",
                "input": "in.wav",
                "regions": [[0.1, 0.3]],
            }
        else:
            entry = {"prompt": f"sound number {line}", "duration": [0.1, 0.2, 0.3][line % 3]}
        if line == 3:
            entry.update(name="named", seed=1234)
        lines.append(json.dumps(entry))
    (folder / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "short.jsonl").write_text("\n".join(lines[:8]) + "\n")
    return folder


def command(work: Path, model: Path, out: Path, jobs: str = "jobs.jsonl") -> list[str]:
    return [
        "generate",
        "--prompts",
        str(work / jobs),
        "--model",
        str(model),
        "--steps",
        "2",
        "--no-progress",
        "-o",
        str(out),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clips(out: Path) -> dict[str, tuple[bytes, dict[str, str]]]:
    """Every clip of a run: its samples' bytes and its tags."""
    return {
        path.name: (sf.read(path, dtype="float32")[0].tobytes(), read_tags(path))
        for path in sorted(out.glob("*.wav"))
    }


def check_manifest(out: Path) -> list[dict[str, object]]:
    rows = read_manifest(out / "manifest.jsonl")
    assert [row["line"] for row in rows] == list(range(1, len(rows) + 1))
    bad = [row for row in rows if row["status"] != "done"]
    assert [(row["line"], row["status"]) for row in bad] == [(BAD_LINE, "invalid")]
    assert "unknown key 'stepz'" in str(bad[0]["error"])
    for row in rows:
        if row["status"] == "done":
            assert (out / str(row["file"])).is_file() and row["seconds"] is not None
    return rows


@pytest.fixture(scope="module")
def reference(work: Path, tiny_model_dir: Path) -> Path:
    """The 24 lines through one process (in this process)."""
    out = work / "one"
    assert main(command(work, tiny_model_dir, out)) == 1  # 1: line 6 failed, nothing else
    rows = check_manifest(out)
    assert len(rows) == LINES and {row["rank"] for row in rows if row["file"]} == {0}
    inpaint = rows[INPAINT_LINE - 1]
    assert inpaint["mode"] == "inpaint" and inpaint["recipe"]["regions"] == [[0.1, 0.3]]  # type: ignore[index]
    assert rows[2]["file"] == "named.wav" and rows[2]["seed"] == 1234
    assert rows[3]["seed"] == 3  # base seed 0 + index 3
    return out


def test_two_processes_write_the_same_clips(
    work: Path, tiny_model_dir: Path, reference: Path
) -> None:
    out = work / "two"
    run = subprocess.run(
        cli(*command(work, tiny_model_dir, out), "--devices", "2", "--accelerator", "cpu"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert run.returncode == 1, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("clapldm: ")]
    assert len(errors) == 1 and errors[0].startswith(f"clapldm: line {BAD_LINE}: unknown key")
    rows = check_manifest(out)
    assert {row["rank"] for row in rows if row["file"]} == {0, 1}
    expected = clips(reference)
    assert len(expected) == LINES - 1
    assert clips(out) == expected


def test_three_nodes_through_lightning_environment_variables(
    work: Path, tiny_model_dir: Path, reference: Path
) -> None:
    """What a 3-node launcher (SLURM, torchrun) sets up: one process per node, each told
    its NODE_RANK; here all three on this machine."""
    out = work / "three"
    port = str(free_port())
    args = cli(*command(work, tiny_model_dir, out, "short.jsonl"), "--num-nodes", "3")
    procs = [
        subprocess.Popen(
            args,
            env=child_env(
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
                WORLD_SIZE="3",
                NODE_RANK=str(node),
                LOCAL_RANK="0",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in range(3)
    ]
    results = [proc.communicate(timeout=TIMEOUT) for proc in procs]
    assert [proc.returncode for proc in procs] == [1, 1, 1], results[0][1]
    rows = check_manifest(out)
    assert len(rows) == 8 and {row["rank"] for row in rows if row["file"]} == {0, 1, 2}
    expected = clips(reference)
    assert clips(out) == {name: expected[name] for name in clips(out)}
    assert "8 items: 7 written" in results[0][0]


def test_killed_run_resumes_every_item_exactly_once(
    work: Path, tiny_model_dir: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = work / "killed"
    records = out / STATE_FOLDER / "items"
    proc = subprocess.Popen(
        cli(*command(work, tiny_model_dir, out)),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + TIMEOUT
    while len(list(records.glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.stem for p in records.glob("*.json")}
    assert 3 <= len(finished) < LINES - 1, "the run was not killed part-way"
    before = {name: (out / name).stat() for name in finished}

    capsys.readouterr()
    assert main(command(work, tiny_model_dir, out)) == 1
    summary = capsys.readouterr().out
    # Items recorded before the kill are kept as they were; the rest are written once.
    counts = re.search(r"(\d+) written, (\d+) already done, (\d+) failed", summary)
    assert counts is not None, summary
    written, done_before, failed = map(int, counts.groups())
    assert (written, done_before, failed) == (LINES - 1 - len(finished), len(finished), 1)
    for name, stat in before.items():
        now = (out / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    rows = check_manifest(out)
    assert len(rows) == LINES
    assert clips(out) == clips(reference)  # complete, none truncated, same bytes
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


class _Embedder:
    """A stand-in CLAP for `clapldm eval`: mean spectrum features, hashed texts."""

    name = "stub"

    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        spec = torch.stft(wave, 256, 64, window=torch.hann_window(256), return_complex=True)
        return torch.nn.functional.normalize(spec.abs().mean(dim=-1)[:, :16], dim=-1)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        rows = [torch.randn(16, generator=torch.Generator().manual_seed(len(t))) for t in texts]
        return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


def test_eval_takes_the_manifest_as_the_generated_set(work: Path, reference: Path) -> None:
    references = work / "references"
    references.mkdir()
    for k in range(3):
        sf.write(
            references / f"r{k}.wav", np.random.default_rng(k).standard_normal(4000) * 0.1, 16000
        )
    manifest = reference / "manifest.jsonl"
    args = eval_cli.build_parser().parse_args(
        [
            str(manifest),
            str(references),
            "--metrics",
            "fd,clap",
            "--backbone",
            "clap",
            "--json",
            str(work / "scores.json"),
        ]
    )
    assert eval_cli.run(args, lambda spec, device: _Embedder()) == 0
    report = json.loads((work / "scores.json").read_text())
    assert report["files"]["generated"]["used"] == LINES - 1  # the done rows, not the bad line
    assert any(key.startswith("clap") for key in report["metrics"])  # captions: the prompts
