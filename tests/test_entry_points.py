"""Entry points a newcomer tries first: `python -m clapldm` and `clapldm info` alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clapldm.checkpoints import BUNDLED
from clapldm.cli import main


def test_python_dash_m_clapldm_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clapldm", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: clapldm") and "generate" in result.stdout


def test_python_dash_m_clapldm_reports_errors_like_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clapldm", "generate", "x", "-o", "out.mp3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip() == "clapldm: error: output 'out.mp3' must end in .wav, .flac or .ogg"
    )


def test_info_without_argument_describes_the_bundled_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not (BUNDLED / "model_index.json").is_file():
        pytest.skip("the bundled model is not installed")
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model      clapldm-mini")
    assert any(line.startswith("unet ") for line in lines)
    assert any(line.startswith("defaults ") for line in lines)


def test_info_on_a_model_folder(tiny_model_dir, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["info", str(tiny_model_dir)]) == 0
    assert capsys.readouterr().out.startswith("model      tiny-random")
