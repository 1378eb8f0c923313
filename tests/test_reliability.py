"""Bad-input catalogue through the Python API and the CLI (the server's half lives in
tests/serve): every case is a project error with one line, a non-zero exit and nothing
written; odd but valid inputs (8/96 kHz, 6 channels, silence, clipping) work."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clapldm import AudioLDM
from clapldm.cli import main
from clapldm.errors import AudioReadError, ClapLdmError, InvalidInputError, ModelLoadError

RATE = 16000


def tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    files: dict[str, Path] = {}
    files["missing"] = folder / "missing.wav"
    files["zero_bytes"] = folder / "zero.wav"
    files["zero_bytes"].write_bytes(b"")
    files["text_as_wav"] = folder / "text.wav"
    files["text_as_wav"].write_text("this is not audio\n" * 10)
    for fmt in ("wav", "flac", "ogg"):
        good = folder / f"good.{fmt}"
        sf.write(good, tone(1.0, RATE), RATE)
        data = good.read_bytes()
        files[f"truncated_{fmt}"] = folder / f"truncated.{fmt}"
        files[f"truncated_{fmt}"].write_bytes(data[: len(data) // 3])
    files["nan"] = folder / "nan.wav"
    sf.write(files["nan"], np.full(RATE, np.nan, dtype=np.float32), RATE, subtype="FLOAT")
    files["inf"] = folder / "inf.wav"
    sf.write(files["inf"], np.full(RATE, np.inf, dtype=np.float32), RATE, subtype="FLOAT")
    files["one_sample"] = folder / "one.wav"
    sf.write(files["one_sample"], np.zeros(1, dtype=np.float32), RATE)
    files["ten_hours"] = folder / "long.flac"  # 10 h of silence at 1 kHz compresses to ~MBs
    with sf.SoundFile(files["ten_hours"], "w", samplerate=1000, channels=1, format="FLAC") as fh:
        block = np.zeros(1000 * 600, dtype=np.float32)
        for _ in range(60):
            fh.write(block)
    return files


@pytest.mark.parametrize(
    "name",
    [
        "missing",
        "zero_bytes",
        "text_as_wav",
        "truncated_wav",
        "truncated_flac",
        "truncated_ogg",
        "nan",
        "inf",
        "one_sample",
        "ten_hours",
    ],
)
def test_bad_audio_files_api_and_cli(
    tiny_pipe: AudioLDM,
    tiny_model_dir: Path,
    bad_files: dict[str, Path],
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = bad_files[name]
    with pytest.raises(AudioReadError):
        tiny_pipe.transfer(str(path), "a bell", strength=0.5, steps=2)
    out = tmp_path / "out.wav"
    for command in (
        ["transfer", str(path), "a bell"],
        ["inpaint", str(path), "a bell", "--region", "0.1:0.2"],
        ["superres", str(path)],
        ["extend", str(path), "a bell", "--to", "3"],
    ):
        code = main([*command, "--model", str(tiny_model_dir), "--steps", "2", "-o", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0 and len(err) == 1 and err[0].startswith("clapldm: error:"), (command, err)
        assert str(path.name) in err[0] or "audio" in err[0]
        assert not out.exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize("rate,channels", [(8000, 1), (96000, 1), (48000, 6), (11025, 2)])
def test_odd_but_valid_inputs_work(
    tiny_pipe: AudioLDM, tiny_model_dir: Path, tmp_path: Path, rate: int, channels: int
) -> None:
    path = tmp_path / f"in_{rate}_{channels}.wav"
    sf.write(path, tone(0.5, rate, channels), rate)
    out = tiny_pipe.transfer(str(path), "a bell", strength=0.5, steps=2, seed=0)
    assert (
        out.audio.shape[0] == 1
        and abs(out.audio.shape[1] - RATE // 2) <= 1
        and np.isfinite(out.audio).all()
    )
    assert (
        main(
            [
                "superres",
                str(path),
                "--model",
                str(tiny_model_dir),
                "--steps",
                "2",
                "-o",
                str(tmp_path / "o.wav"),
            ]
        )
        == 0
    )
    assert sf.info(tmp_path / "o.wav").samplerate == RATE


@pytest.mark.parametrize("kind", ["zeros", "clipped"])
def test_silent_and_clipped_inputs_work(tiny_pipe: AudioLDM, kind: str) -> None:
    wave = np.zeros(RATE, np.float32) if kind == "zeros" else np.clip(tone(1.0, RATE) * 10, -1, 1)
    out = tiny_pipe.inpaint(wave, "a bell", regions=[(0.2, 0.4)], sample_rate=RATE, steps=2, seed=0)
    assert np.isfinite(out.audio).all()


@pytest.mark.parametrize(
    "args,match",
    [
        (["generate", "a dog", "--duration", "0"], "duration"),
        (["generate", "a dog", "--duration", "-2"], "duration"),
        (["generate", "a dog", "--duration", "nan"], "duration"),
        (["generate", "a dog", "--duration", "99999"], "maximum"),
        (["generate", "a dog", "--steps", "0"], "steps"),
        (["generate", "a dog", "--steps", "100000"], "steps"),
        (["generate", "a dog", "--guidance", "nan"], "guidance"),
        (["generate", "a dog", "--sampler", "heun-9000"], "sampler"),
        (["generate", "a dog", "--device", "quantum"], "device"),
        (["generate", "a dog", "--device", "cuda"], "cuda"),
        (["generate", "   "], "empty"),
        (["generate", "x" * 1_000_000], "characters"),
        (["transfer", "IN", "a bell", "--strength", "0"], "strength"),
        (["transfer", "IN", "a bell", "--strength", "1.5"], "strength"),
        (["inpaint", "IN", "a bell", "--region", "0.5:9"], "outside"),
        (["inpaint", "IN", "a bell", "--region", "0.6:0.2"], "reversed"),
        (["inpaint", "IN", "a bell", "--region", "0.1:0.5", "--region", "0.4:0.7"], "overlap"),
        (["inpaint", "IN", "a bell", "--region", "abc"], "START:END"),
        (["superres", "IN", "--cutoff", "8000"], "Nyquist"),
        (["superres", "IN", "--cutoff", "-5"], "cutoff"),
        (["generate", "a dog", "-o", "OUT.mp4"], "must end in"),
    ],
)
def test_bad_parameters_cli_one_line(
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    match: str,
) -> None:
    clip = tmp_path / "in.wav"
    sf.write(clip, tone(1.0, RATE), RATE)
    args = [str(clip) if a == "IN" else a for a in args]
    out = tmp_path / "out.wav"
    if "-o" not in args:
        args += ["-o", str(out)]
    else:
        args = [str(tmp_path / "out.mp4") if a == "OUT.mp4" else a for a in args]
    code = main(
        [*args, "--model", str(tiny_model_dir), "--steps", "2"]
        if "--steps" not in args
        else [*args, "--model", str(tiny_model_dir)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and match in err[0], err
    assert "Traceback" not in "\n".join(err)
    assert not out.exists()


def test_debug_flag_shows_traceback(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        main(
            [
                "--debug",
                "generate",
                "a",
                "--duration",
                "0",
                "--model",
                str(tiny_model_dir),
                "-o",
                str(tmp_path / "o.wav"),
            ]
        )


def test_prompt_file_edge_cases(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n\n")
    assert (
        main(
            [
                "generate",
                "--prompts",
                str(blank),
                "--model",
                str(tiny_model_dir),
                "-o",
                str(tmp_path / "o"),
            ]
        )
        != 0
    )
    assert "no prompts" in capsys.readouterr().err
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\xfa not utf8 \x80\x81")
    assert (
        main(
            [
                "generate",
                "--prompts",
                str(binary),
                "--model",
                str(tiny_model_dir),
                "-o",
                str(tmp_path / "o"),
            ]
        )
        != 0
    )
    assert "UTF-8" in capsys.readouterr().err


def test_read_only_output_folder(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from clapldm.audio.io import write_audio
    from clapldm.errors import OutputError

    with pytest.raises(OutputError):
        write_audio(tmp_path / "missing" / "x.wav", np.zeros(100, np.float32), RATE)
    assert (
        main(
            ["generate", "a", "--model", str(tiny_model_dir), "-o", str(tmp_path / "no" / "x.wav")]
        )
        != 0
    )
    assert "does not exist" in capsys.readouterr().err


@pytest.fixture
def unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder no file can be created in. chmod does not stop root (tests may run as
    root), so as root creating a file there fails the way it would for a user: EACCES from
    `os.open`, and `os.access(W_OK)` says no."""
    import errno
    import os

    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:
        real_open, real_access = os.open, os.access

        def inside(path: object) -> bool:
            return Path(os.fsdecode(path)).resolve().parent == folder.resolve()  # type: ignore[arg-type]

        def locked_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
            if flags & os.O_CREAT and inside(path):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))  # type: ignore[arg-type]
            return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

        def locked_access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
            if mode & os.W_OK and Path(os.fsdecode(path)).resolve() == folder.resolve():  # type: ignore[arg-type]
                return False
            return real_access(path, mode, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", locked_open)
        monkeypatch.setattr(os, "access", locked_access)
    yield folder
    folder.chmod(0o700)


def test_unwritable_output_folder(
    tiny_model_dir: Path, unwritable_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from clapldm.audio.io import write_audio
    from clapldm.errors import OutputError

    with pytest.raises(OutputError, match="cannot write audio"):
        write_audio(unwritable_folder / "x.wav", np.zeros(100, np.float32), RATE)
    out = unwritable_folder / "x.wav"
    code = main(["generate", "a", "--model", str(tiny_model_dir), "--steps", "1", "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "not writable" in err and len(err.strip().splitlines()) == 1, err
    assert list(unwritable_folder.iterdir()) == []  # no file, no temp file left behind


def _copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_broken_model_folders(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = _copy_model(tiny_model_dir, tmp_path / "missing")
    shutil.rmtree(missing / "vocoder")
    with pytest.raises(ModelLoadError, match="vocoder"):
        AudioLDM.from_pretrained(missing)

    mismatched = _copy_model(tiny_model_dir, tmp_path / "mismatched")
    mel = json.loads((mismatched / "vocoder" / "mel_config.json").read_text())
    mel["n_mels"] = 32
    (mismatched / "vocoder" / "mel_config.json").write_text(json.dumps(mel))
    with pytest.raises(ModelLoadError, match="mel"):
        AudioLDM.from_pretrained(mismatched)

    truncated = _copy_model(tiny_model_dir, tmp_path / "truncated")
    weights = truncated / "unet" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="safetensors"):
        AudioLDM.from_pretrained(truncated)

    bad_config = _copy_model(tiny_model_dir, tmp_path / "badconfig")
    config = json.loads((bad_config / "unet" / "config.json").read_text())
    config["model_channelz"] = 3
    (bad_config / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="unknown keys"):
        AudioLDM.from_pretrained(bad_config)

    for folder in (missing, mismatched, truncated, bad_config):
        code = main(["generate", "a", "--model", str(folder), "-o", str(tmp_path / "o.wav")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0 and len(err) == 1, err
    assert not (tmp_path / "o.wav").exists()


def test_every_api_error_is_a_project_error(tiny_pipe: AudioLDM) -> None:
    for kwargs in ({"duration": math.inf}, {"steps": 2.5}, {"candidates": 99}, {"seed": [1, 2]}):
        with pytest.raises(ClapLdmError):
            tiny_pipe.generate("a", **{"duration": 0.2, "steps": 2, **kwargs})
