"""`CLAPLDM_REQUIRE_ALL=1` turns every kind of skip into a failure (run in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SKIPPING = """
import pytest
needs = pytest.importorskip("no_such_module_clapldm_ci")

def test_never_runs():
    pass
"""
SKIPPING_INSIDE = """
import pytest

def test_skips():
    pytest.skip("needs chromium")

@pytest.mark.skipif(True, reason="needs fluidsynth")
def test_marked():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    pass
"""


def run_pytest(folder: Path, require_all: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop("CLAPLDM_REQUIRE_ALL", None)
    if require_all:
        env["CLAPLDM_REQUIRE_ALL"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "require_all",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            str(folder),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=120,
    )


@pytest.mark.parametrize("require_all", [False, True])
def test_skips_fail_only_when_required(tmp_path: Path, require_all: bool) -> None:
    (tmp_path / "test_module_skip.py").write_text(SKIPPING)
    (tmp_path / "test_inside.py").write_text(SKIPPING_INSIDE)
    result = run_pytest(tmp_path, require_all)
    output = result.stdout + result.stderr
    if not require_all:
        assert result.returncode == 0, output
        assert "1 passed, 3 skipped, 1 xfailed" in output, output
        assert "needs chromium" in output  # -rs: the reasons are listed
        return
    assert result.returncode == 1, output
    for reason in ("no_such_module_clapldm_ci", "needs chromium", "needs fluidsynth"):
        assert reason in output, output
    # the skipif mark fails at setup (an error), pytest.skip in the body as a failure
    assert "1 failed, 1 passed, 1 xfailed, 2 errors" in output, output
    assert "skipped" not in output.splitlines()[-1]
