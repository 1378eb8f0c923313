"""scripts/model_card_parts.py: the model card's parts table, counted from the weights."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from clapldm import AudioLDM

SCRIPT = Path(__file__).parents[1] / "scripts" / "model_card_parts.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("model_card_parts", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_parts_counted_from_the_loaded_model(
    script: ModuleType,
    tiny_model_dir: Path,
    tiny_pipe: AudioLDM,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert script.main([str(tiny_model_dir), "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    for component in ("clap", "vae", "unet", "vocoder"):
        module = getattr(tiny_pipe, component)
        assert rows[component]["parameters"] == sum(p.numel() for p in module.parameters())
        assert rows[component]["cls"] == type(module).__name__
        assert rows[component]["source"] == "folder"
    assert "ch_mult (1, 2)" in rows["vae"]["structure"]
    assert "model_channels 16" in rows["unet"]["structure"]
    projection = rows["clap.model.text_projection"]
    assert projection["structure"] == "Linear 32->16, ReLU, Linear 16->16"
    parts = [row for name, row in rows.items() if name.startswith("clap.")]
    assert sum(row["parameters"] for row in parts) == rows["clap"]["parameters"]


def test_markdown_table_and_bad_folder(
    script: ModuleType, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert script.main([str(tiny_model_dir)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| part | class | parameters |") and len(lines) >= 2 + 4
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    assert script.main([str(tmp_path)]) == 2
    assert "not a clapldm model folder" in capsys.readouterr().err
