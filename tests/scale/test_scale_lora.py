"""`clapldm generate --prompts FILE --lora ADAPTER[:SCALE]`: every process loads the
adapters, each clip's record hashes them, each file's recipe names them.

The tiny model at 2 steps, with a small adapter of random (non-zero) weights.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scale_helpers import child_env, cli

from clapldm import AudioLDM
from clapldm.adapters import LoraSpec, add_adapter, save_adapter, unet_hash
from clapldm.audio.io import read_tags
from clapldm.cli import main
from clapldm.debug import tiny_pipeline
from clapldm.scale.store import RunFolder, read_manifest

PROMPTS = ("a dog barks", "rain on a roof", "a door slams")
SETTINGS = {"duration": 0.3, "steps": 2}
SEED = 5
TIMEOUT = 300


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adapter folder for the tiny model, its A and B drawn at random (as training
    would leave them: B non-zero)."""
    pipe = AudioLDM.from_pretrained(tiny_model_dir)
    base = unet_hash(pipe.unet)
    spec = LoraSpec(2, targets=("attention", "conv"))
    add_adapter(pipe.unet, spec)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in pipe.unet.named_parameters():
            if ".lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    folder = tmp_path_factory.mktemp("adapters") / "kit"
    save_adapter(folder, pipe.unet, spec, base_hash=base, base_name=pipe.name)
    return folder


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "prompts.txt"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    return path


def command(model: Path, prompts: Path, out: Path, *extra: str) -> list[str]:
    return [
        "generate", "--prompts", str(prompts), "--model", str(model),
        "--duration", str(SETTINGS["duration"]), "--steps", str(SETTINGS["steps"]),
        "--seed", str(SEED), "--no-progress", "-o", str(out), *extra,
    ]  # fmt: skip


def clip(path: Path) -> np.ndarray:
    return np.asarray(sf.read(path, dtype="float32")[0])


def specs(out: Path) -> dict[str, str]:
    """Item name -> the spec hash its record holds."""
    folder, found = RunFolder(out), {}
    for row in read_manifest(out / "manifest.jsonl"):
        record = folder.read_record(str(row["file"]))
        assert record is not None
        found[str(row["file"])] = str(record["spec"])
    return found


def test_prompts_with_an_adapter_match_the_library_and_record_it(
    tiny_model_dir: Path, adapter: Path, prompts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "kit"
    assert main(command(tiny_model_dir, prompts, out, "--lora", f"{adapter}:0.7")) == 0
    rows = read_manifest(out / "manifest.jsonl")
    assert [row["status"] for row in rows] == ["done"] * len(PROMPTS)

    plain = AudioLDM.from_pretrained(tiny_model_dir)
    with_adapter = AudioLDM.from_pretrained(tiny_model_dir).load_lora(adapter, scale=0.7)
    for row in rows:
        # One clip per call on a CPU (batch size 1): the same call as the library's.
        wave = clip(out / str(row["file"]))
        seed = int(row["seed"])  # type: ignore[call-overload]
        expected = with_adapter.generate(str(row["prompt"]), seed=seed, **SETTINGS).audio[0]
        np.testing.assert_allclose(wave, expected, rtol=0, atol=1e-4)  # the file: 16-bit PCM
        without = plain.generate(str(row["prompt"]), seed=seed, **SETTINGS).audio[0]
        assert np.abs(wave - without).max() > 1e-3

        recipe = json.loads(read_tags(out / str(row["file"]))["clapldm"])
        (use,) = recipe["loras"]
        assert use["path"] == str(adapter.resolve()) and use["scale"] == 0.7
        assert use["sha256"] == with_adapter.loras["kit"].sha256
        assert row["recipe"]["loras"] == recipe["loras"]  # type: ignore[index]


def test_from_on_a_batch_item_loads_the_adapter_again(
    tiny_model_dir: Path, adapter: Path, prompts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "batched"
    args = command(tiny_model_dir, prompts, out, "--lora", f"{adapter}:0.7", "--batch-size", "3")
    assert main(args) == 0
    second = out / str(read_manifest(out / "manifest.jsonl")[1]["file"])
    recipe = json.loads(read_tags(second)["clapldm"])
    assert recipe["batch"]["index"] == 1 and recipe["loras"][0]["scale"] == 0.7
    again = tmp_path / "again.wav"
    assert main(["generate", "--from", str(second), "-o", str(again)]) == 0
    np.testing.assert_array_equal(clip(again), clip(second))
    # The file is clip 1 of the batched call with the adapter (batched convolutions round
    # differently from single ones, so the batch is what it is compared with).
    with_adapter = AudioLDM.from_pretrained(tiny_model_dir).load_lora(adapter, scale=0.7)
    batch = with_adapter.generate(list(PROMPTS), seed=[SEED, SEED + 1, SEED + 2], **SETTINGS)
    np.testing.assert_allclose(clip(second), batch.audio[1], rtol=0, atol=1e-4)


def test_another_scale_regenerates_and_the_same_reuses(
    tiny_model_dir: Path,
    adapter: Path,
    prompts: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "resume"
    n = len(PROMPTS)

    def run(*extra: str) -> str:
        capsys.readouterr()
        assert main(command(tiny_model_dir, prompts, out, *extra)) == 0
        return capsys.readouterr().out

    assert f"{n} written, 0 already done" in run("--lora", f"{adapter}:0.7")
    first = specs(out)
    files = {name: (out / name).stat() for name in first}
    waves = {name: clip(out / name) for name in first}

    assert f"0 written, {n} already done" in run("--lora", f"{adapter}:0.7")
    assert specs(out) == first
    for name, stat in files.items():
        now = (out / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)

    assert f"{n} written, 0 already done" in run("--lora", f"{adapter}:0.3")
    third = specs(out)
    assert all(third[name] != first[name] for name in first)
    for name in first:
        assert np.abs(clip(out / name) - waves[name]).max() > 1e-4
        assert json.loads(read_tags(out / name)["clapldm"])["loras"][0]["scale"] == 0.3

    assert f"{n} written, 0 already done" in run()  # no adapter: the base model's clips
    assert all(spec not in (first[name], third[name]) for name, spec in specs(out).items())
    assert "loras" not in json.loads(read_tags(out / next(iter(first)))["clapldm"])


def test_a_missing_or_foreign_adapter_is_one_line_error_before_any_file(
    tiny_model_dir: Path,
    adapter: Path,
    prompts: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "no-such-adapter"
    tiny_pipeline(tmp_path / "other", seed=9)  # another base model
    for model, lora, reason in (
        (tiny_model_dir, f"{missing}:0.5", f"{missing}: not a LoRA adapter folder"),
        (tmp_path / "other", str(adapter), "trained on base model"),
    ):
        assert main(command(model, prompts, out, "--lora", lora)) != 0
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.count("\n") == 0 and err.startswith("clapldm: error: ") and reason in err
        assert captured.out == "" and not out.exists()


def test_two_processes_load_the_adapter(
    tiny_model_dir: Path, adapter: Path, prompts: Path, tmp_path: Path
) -> None:
    pytest.importorskip("lightning")
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(command(tiny_model_dir, prompts, one, "--lora", f"{adapter}:0.7")) == 0
    args = command(tiny_model_dir, prompts, two, "--lora", f"{adapter}:0.7", "--devices", "2")
    run = subprocess.run(
        cli(*args, "--accelerator", "cpu"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert run.returncode == 0, run.stderr
    rows = read_manifest(two / "manifest.jsonl")
    assert {row["rank"] for row in rows} == {0, 1}
    for row in rows:
        name = str(row["file"])
        np.testing.assert_array_equal(clip(two / name), clip(one / name))
        assert read_tags(two / name) == read_tags(one / name)  # the recipe names the adapter
