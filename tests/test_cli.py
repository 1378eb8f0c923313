"""The `clapldm` command line on a tiny model: outputs, reproducibility, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import soundfile as sf

from clapldm.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env_cmd = [sys.executable, "-m", "clapldm.cli", *args]
    return subprocess.run(
        env_cmd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )


def test_generate_exact_samples_twice_identical(tiny_model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outs = []
    for name in ("a.wav", "b.wav"):
        path = tmp_path / name
        code = main(
            [
                "generate",
                "a dog barking",
                "--model",
                str(tiny_model_dir),
                "--duration",
                "3.3",
                "--seed",
                "1",
                "--steps",
                "2",
                "-o",
                str(path),
            ]
        )
        assert code == 0
        audio, rate = sf.read(path, dtype="float32")
        assert rate == 16000 and audio.shape == (52800,)
        outs.append(audio)
    assert np.array_equal(outs[0], outs[1])


def test_prompts_file_one_output_each(tiny_model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog\n\n   \nrain\nwind\n", encoding="utf-8")
    code = main(
        [
            "generate",
            "--prompts",
            str(prompts),
            "--model",
            str(tiny_model_dir),
            "--duration",
            "0.2",
            "--steps",
            "2",
            "-o",
            str(tmp_path / "outs"),
        ]
    )
    assert code == 0
    assert len(list((tmp_path / "outs").glob("*.wav"))) == 3


def test_from_file_reproduces_bit_for_bit(tiny_model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "first.wav"
    assert (
        main(
            [
                "generate",
                "a bell",
                "--model",
                str(tiny_model_dir),
                "--duration",
                "0.4",
                "--steps",
                "3",
                "--random-seed",
                "--negative",
                "noise",
                "-o",
                str(first),
            ]
        )
        == 0
    )
    second = tmp_path / "second.wav"
    assert main(["generate", "--from", str(first), "-o", str(second)]) == 0
    assert np.array_equal(sf.read(first)[0], sf.read(second)[0])


def test_offline_hub_id_one_line_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "generate", "a dog", "--model", "cvssp/audioldm-s-full-v2", "-o", str(tmp_path / "x.wav")
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cvssp/audioldm-s-full-v2" in lines[0] and "download" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.wav").exists()


def test_bad_inputs_exit_nonzero_without_writing(tiny_model_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "o.wav"
    cases = [
        ["generate", "a dog", "--duration", "0"],
        ["generate", "a dog", "--duration", "-1"],
        ["generate", "a dog", "--duration", "nan"],
        ["generate", "a dog", "--steps", "0"],
        ["generate", "a dog", "--guidance", "nan"],
        ["generate", "a dog", "--sampler", "nope"],
        ["generate", "a dog", "--device", "tpu"],
        ["generate", ""],
    ]
    for case in cases:
        code = main([*case, "--model", str(tiny_model_dir), "-o", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0, case
        assert len(err) == 1 and err[0].startswith("clapldm: error:"), (case, err)
        assert not out.exists()
    code = main(
        [
            "generate",
            "a dog",
            "--model",
            str(tiny_model_dir),
            "-o",
            str(tmp_path / "missing" / "o.wav"),
        ]
    )
    assert code != 0 and "does not exist" in capsys.readouterr().err


def test_info_and_convert(tiny_model_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["info", str(tiny_model_dir)]) == 0
    text = capsys.readouterr().out
    assert "unet" in text and "mel" in text
    assert main(["convert", str(tiny_model_dir), "-o", str(tmp_path / "copy")]) == 0
    assert (tmp_path / "copy" / "model_index.json").is_file()
