"""`clapldm generate --from FILE` reproduces every kind of recipe bit for bit, and refuses
what it cannot reproduce (missing or changed audio, another model) with one line.

Tiny random models (see `clapldm.debug.tiny_pipeline`); each test writes under tmp_path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from clapldm.audio.io import read_tags, write_audio
from clapldm.cli import main
from clapldm.debug import tiny_pipeline
from clapldm.recipe import (
    WAV_COMMENT_LIMIT,
    check_tags_fit,
    read_file_recipe,
    read_recipe,
    recipe_tags,
)

FAST = ["--steps", "2", "--duration", "0.3"]


def write_clip(path: Path, seconds: float = 0.5, rate: int = 16000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    sf.write(path, wave.astype(np.float32), rate)
    return path


def samples(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float32")[0]


def reproduces(clip: Path, *extra: str) -> None:
    again = clip.with_name(f"again_{clip.name}")
    assert main(["generate", "--from", str(clip), "-o", str(again), *extra]) == 0
    assert np.array_equal(samples(clip), samples(again))
    assert without_paths(read_file_recipe(again)) == without_paths(read_file_recipe(clip))


def without_paths(recipe: dict[str, Any]) -> dict[str, Any]:
    """A recipe less where its files are (a rerun records where it found them)."""
    kept = {key: value for key, value in recipe.items() if key != "model_path"}
    for key in ("input", "audio_prompt"):
        if isinstance(kept.get(key), dict):
            kept[key] = kept[key]["sha256"]
    return kept


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_bf16_recipe(tiny_model_dir: Path, tmp_path: Path) -> None:
    clip = tmp_path / "bf16.wav"
    argv = ["generate", "a bell", "--model", str(tiny_model_dir), "--precision", "bf16", *FAST]
    assert main([*argv, "-o", str(clip)]) == 0
    assert read_recipe(clip).precision == "bf16"
    reproduces(clip)
    fp32 = tmp_path / "fp32.wav"
    assert main([*argv[:-6], *FAST, "-o", str(fp32)]) == 0
    assert not np.array_equal(samples(clip), samples(fp32))  # the precision mattered


def test_audio_prompt_recipe(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bird = write_clip(tmp_path / "bird.wav")
    clip = tmp_path / "more_birds.wav"
    # an audio prompt alone, no text (the README's command)
    argv = ["generate", "--audio-prompt", str(bird), "--model", str(tiny_model_dir), *FAST]
    assert main([*argv, "-o", str(clip)]) == 0
    stored = read_file_recipe(clip)["audio_prompt"]
    assert stored["path"] == str(bird.resolve()) and len(stored["sha256"]) == 64
    reproduces(clip)
    # moved: refused, unless --audio-prompt says where it is now (same bytes)
    moved = bird.rename(tmp_path / "moved.wav")
    one_line_error(
        capsys, ["generate", "--from", str(clip), "-o", str(tmp_path / "x.wav")], "missing"
    )
    reproduces(clip, "--audio-prompt", str(moved))
    # changed bytes: refused
    write_clip(bird, seed=1)
    one_line_error(
        capsys, ["generate", "--from", str(clip), "-o", str(tmp_path / "x.wav")], "has changed"
    )
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize(
    "mode, args",
    [
        ("transfer", ["a drum", "--strength", "0.6"]),
        ("inpaint", ["a horn", "--region", "0.1:0.3"]),
        ("superres", ["--cutoff", "3000", "--prompt", "speech"]),
        ("extend", ["rain", "--to", "0.8", "--window", "0.5", "--overlap", "0.2"]),
    ],
)
def test_edit_mode_recipes(
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    args: list[str],
) -> None:
    source = write_clip(tmp_path / "input.wav", rate=8000 if mode == "superres" else 16000)
    clip = tmp_path / f"{mode}.wav"
    argv = [mode, str(source), *args, "--model", str(tiny_model_dir), "--steps", "2"]
    assert main([*argv, "--seed", "3", "-o", str(clip)]) == 0
    recipe = read_recipe(clip)
    assert recipe.mode == mode and recipe.input is not None
    assert recipe.input.path == str(source.resolve())
    reproduces(clip)
    source.unlink()
    one_line_error(
        capsys, ["generate", "--from", str(clip), "-o", str(tmp_path / "x.wav")], "missing"
    )


def test_batch_item_recipe(tiny_model_dir: Path, tmp_path: Path) -> None:
    from clapldm import AudioLDM

    pipe = AudioLDM.from_pretrained(tiny_model_dir)
    prompts = ["a dog", "rain on a roof", "a bell"]
    out = pipe.generate(prompts, duration=0.3, steps=2, seed=[7, 3, 11], negative_prompt="hum")
    clip = tmp_path / "item1.wav"
    write_audio(clip, out.audio[1], out.sample_rate, tags=recipe_tags(pipe, out, 1))
    recipe = read_recipe(clip)
    assert recipe.prompts == tuple(prompts) and recipe.seeds == (7, 3, 11)
    assert recipe.index == 1 and read_file_recipe(clip)["prompt"] == "rain on a roof"
    reproduces(clip)  # by rerunning the batch and keeping item 1


def test_prompts_file_batch_item_recipe(tiny_model_dir: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog\nrain on a roof\na bell\n", encoding="utf-8")
    argv = ["generate", "--prompts", str(prompts), "--batch-size", "3", "--seed", "5"]
    outs = tmp_path / "outs"
    assert main([*argv, "--model", str(tiny_model_dir), *FAST, "-o", str(outs)]) == 0
    (clip,) = outs.glob("001_*.wav")
    recipe = read_recipe(clip)
    assert recipe.index == 1 and recipe.seeds == (5, 6, 7) and len(recipe.prompts) == 3
    reproduces(clip)


def test_api_outputs_record_the_files_they_read(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A writer that knows only a file's name (the --prompts runner, the server) still
    records the path and hash the pipeline read it from."""
    from clapldm import AudioLDM

    pipe = AudioLDM.from_pretrained(tiny_model_dir)
    source = write_clip(tmp_path / "street.wav")
    outputs = {
        "inpaint": pipe.inpaint(source, "a horn", regions=[(0.1, 0.2)], steps=2, seed=1),
        "generate": pipe.generate(audio_prompt=str(source), duration=0.3, steps=2, seed=1),
    }
    for mode, out in outputs.items():
        key = "input" if mode == "inpaint" else "audio_prompt"
        clip = tmp_path / f"{mode}.flac"
        tags = recipe_tags(pipe, out, 0, {key: "street.wav"})
        write_audio(clip, out.audio[0], out.sample_rate, tags=tags)
        assert read_file_recipe(clip)[key]["path"] == str(source.resolve())
        reproduces(clip)


def test_preset_with_eta_recipe(tiny_model_dir: Path, tmp_path: Path) -> None:
    clip = tmp_path / "preset.wav"
    argv = ["generate", "steps", "--preset", "audioldm", "--model", str(tiny_model_dir), *FAST]
    assert main([*argv, "-o", str(clip)]) == 0
    recipe = read_recipe(clip)
    assert (recipe.sampler, recipe.eta, recipe.candidates) == ("ddim", 1.0, 3)
    reproduces(clip)


def test_moved_model_folder_and_other_model(
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(tiny_model_dir, work / "model")
    monkeypatch.chdir(work)
    clip = work / "clip.wav"
    assert main(["generate", "a cat", "--model", "model", *FAST, "-o", str(clip)]) == 0
    assert read_recipe(clip).model_path == str((work / "model").resolve())
    # from another folder: the stored path is absolute
    monkeypatch.chdir(tmp_path)
    reproduces(clip)
    # the folder moved: refused with a hint, accepted when --model names the new place
    (work / "model").rename(tmp_path / "moved-model")
    one_line_error(
        capsys, ["generate", "--from", str(clip), "-o", str(tmp_path / "x.wav")], "--model"
    )
    reproduces(clip, "--model", str(tmp_path / "moved-model"))
    # another model: refused, or with --allow-other-model a warning and a different clip
    tiny_pipeline(tmp_path / "other", seed=5)
    argv = ["generate", "--from", str(clip), "--model", str(tmp_path / "other")]
    one_line_error(capsys, [*argv, "-o", str(tmp_path / "x.wav")], "--allow-other-model")
    assert not (tmp_path / "x.wav").exists()
    assert main([*argv, "--allow-other-model", "-o", str(tmp_path / "y.wav")]) == 0
    assert "the output will differ" in caplog.text
    assert not np.array_equal(samples(clip), samples(tmp_path / "y.wav"))


def test_bundled_model_is_recorded_by_name(tmp_path: Path) -> None:
    from clapldm import AudioLDM

    pipe = AudioLDM.from_pretrained()
    out = pipe.generate("a click", duration=0.2, steps=1, seed=0)
    tags = recipe_tags(pipe, out, 0)
    assert json.loads(tags["clapldm"])["model_path"] == "bundled:clapldm-mini"
    clip = write_audio(tmp_path / "c.flac", out.audio[0], out.sample_rate, tags=tags)
    assert read_recipe(clip).model_path is None  # --from loads the bundled model


def test_wav_limit(tmp_path: Path) -> None:
    """libsndfile keeps a WAV INFO comment of WAV_COMMENT_LIMIT characters, drops longer."""

    def comment_of(size: int) -> dict[str, str]:
        overhead = len(json.dumps({"clapldm": ""}))
        return {"clapldm": "a" * (size - overhead)}

    wave = np.zeros(100, np.float32)
    for size, kept in ((WAV_COMMENT_LIMIT, True), (WAV_COMMENT_LIMIT + 1, False)):
        path = write_audio(tmp_path / f"{size}.wav", wave, 16000, tags=comment_of(size))
        assert bool(read_tags(path).get("clapldm")) == kept, size
    check_tags_fit(tmp_path / "a.wav", comment_of(WAV_COMMENT_LIMIT))
    check_tags_fit(tmp_path / "a.flac", comment_of(WAV_COMMENT_LIMIT + 1))
    with pytest.raises(Exception, match="does not fit in a WAV"):
        check_tags_fit(tmp_path / "a.wav", comment_of(WAV_COMMENT_LIMIT + 1))
