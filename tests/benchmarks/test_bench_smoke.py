"""The benchmark scripts run end to end at tiny sizes (no timing is asserted here).

Real measurements are `python benchmarks/*.py` runs (see benchmarks/README.md); this only
guards the scripts against rot: one round each, in this process, tiny random models.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("diffusers")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script(name: str) -> ModuleType:
    """Import benchmarks/<name>.py under its own name (the scripts import each other so)."""
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(
        BENCHMARKS / f"{name}.py"
    ):
        return sys.modules[name]
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def peer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    common = load_script("common")
    return common.build_peer_folder(tmp_path_factory.mktemp("peer") / "tiny", "tiny")


def test_bench_vs_diffusers_quick(
    peer_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_script("bench_vs_diffusers")
    out_json = tmp_path / "result.json"
    argv = [
        "--quick",
        "--threads",
        "1",
        "--repeats",
        "1",
        "--skip",
        "memory,text",
        "--model-dir",
        str(peer_dir),
        "--json",
        str(out_json),
    ]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| UNet step (CFG, batch 2) |" in printed and "end to end clapldm" in printed
    result = json.loads(out_json.read_text())
    assert result["e2e_max_abs_diff"] <= 1e-4  # same weights, same latents: same waveform
    assert result["bf16_snr_db"] > 10


def test_memory_child_reports_peaks(peer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script("bench_vs_diffusers")
    argv = [
        "--quick",
        "--threads",
        "1",
        "--memory-child",
        "clapldm:fp32",
        "--model-dir",
        str(peer_dir),
    ]
    assert bench.main(argv) == 0
    peaks = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert peaks["job_peak_mib"] >= peaks["loaded_mib"] > 0


def test_bench_batch_quick(peer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = load_script("bench_batch")
    argv = [
        "--quick",
        "--threads",
        "1",
        "--prompts",
        "2",
        "--repeats",
        "1",
        "--model-dir",
        str(peer_dir),
    ]
    assert batch.main(argv) == 0
    assert "clapldm batched is" in capsys.readouterr().out


def test_sweep_steps_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = load_script("sweep_steps")
    out_json = tmp_path / "sweep.json"
    argv = [
        "--quick",
        "--threads",
        "1",
        "--samplers",
        "ddim,dpmpp-2m",
        "--steps",
        "2",
        "--json",
        str(out_json),
    ]
    assert sweep.main(argv) == 0
    rows = json.loads(out_json.read_text())["rows"]
    assert [(row["sampler"], row["steps"]) for row in rows] == [
        ("ddim x3 (faithful)", 4),
        ("ddim", 2),
        ("dpmpp-2m", 2),
    ]
    assert rows[0]["fad"] == pytest.approx(0.0, abs=1e-9)  # the faithful clips are the reference
    assert all(row["fad"] >= 0 and row["time_ratio"] > 0 for row in rows)


def test_sweep_steps_with_real_reference(tmp_path: Path) -> None:
    """With a folder of real clips each row gets its FAD relative to the faithful preset."""
    import numpy as np
    import soundfile as sf

    real = tmp_path / "real"
    real.mkdir()
    rng = np.random.default_rng(0)
    for index in range(6):
        sf.write(real / f"clip{index}.wav", 0.1 * rng.standard_normal(8000), 16000)
    sweep = load_script("sweep_steps")
    out_json = tmp_path / "sweep.json"
    argv = ["--quick", "--threads", "1", "--samplers", "ddim", "--steps", "2"]
    assert sweep.main([*argv, "--reference-dir", str(real), "--json", str(out_json)]) == 0
    rows = json.loads(out_json.read_text())["rows"]
    assert rows[0]["fad_ratio"] == pytest.approx(1.0)
    assert rows[1]["fad_ratio"] == pytest.approx(rows[1]["fad"] / rows[0]["fad"])
