"""Export: run folder -> component folders -> `AudioLDM.from_pretrained` -> generate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clapldm.cli import main

from .conftest import TINY, run_stage


@pytest.fixture(scope="module")
def ldm_run(
    corpus: Path, tiny_parts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("ldm") / "run"
    run_stage("ldm", corpus, out, ["train.max_steps=3"], parts=tiny_parts)
    return out


def test_ldm_export_generates(ldm_run: Path, tiny_parts: dict[str, Path], tmp_path: Path) -> None:
    from clapldm import AudioLDM

    assert (
        main(
            [
                "export",
                str(ldm_run),
                "-o",
                str(tmp_path / "model"),
                "--vocoder",
                str(tiny_parts["vocoder"]),
            ]
        )
        == 0
    )
    index = json.loads((tmp_path / "model" / "model_index.json").read_text())
    assert index["pipeline"]["name"] == "tiny-trained" and index["pipeline"]["max_duration"] == 2.0
    pipe = AudioLDM.from_pretrained(tmp_path / "model")
    checkpoint = torch.load(ldm_run / "checkpoints" / "last.ckpt", weights_only=True)
    steps = checkpoint["clapldm"]["train_step"]
    assert steps > 0 and index["pipeline"]["extra"]["trained_steps"] == steps
    assert pipe.vae.config.scale_factor == pytest.approx(
        float(checkpoint["state_dict"]["scale_factor"])
    )
    # EMA weights, not the raw ones, are exported
    for key, value in pipe.unet.state_dict().items():
        assert torch.equal(value, checkpoint["clapldm_ema"]["shadow"][key]), key
    out = pipe.generate("a low sine tone", duration=0.5, steps=2, seed=0)
    assert out.audio.shape == (1, 8000) and np.isfinite(out.audio).all()


def test_component_exports_and_assemble(
    corpus: Path, tiny_parts: dict[str, Path], ldm_run: Path, tmp_path: Path, text_tower: Path
) -> None:
    from clapldm import AudioLDM
    from clapldm.config import MelConfig
    from clapldm.models.clap import load_clap
    from clapldm.training.export import load_vocoder
    from clapldm.training.ldm_module import load_vae_component, read_ldm_meta

    for stage in ("clap", "vae", "vocoder"):
        run_stage(
            stage, corpus, tmp_path / f"run-{stage}", ["train.max_steps=2"], text_tower=text_tower
        )
        assert main(["export", str(tmp_path / f"run-{stage}"), "-o", str(tmp_path / stage)]) == 0
    mel_config = json.loads((TINY / "vae.json").read_text())["mel"]
    assert (
        json.loads((tmp_path / "vae" / "mel_config.json").read_text())["hop_length"]
        == mel_config["hop_length"]
    )
    assert load_vae_component(tmp_path / "vae").config.ch == 8
    vocoder = load_vocoder(tmp_path / "vocoder", MelConfig.from_dict(mel_config))
    assert not any("parametrizations" in key for key in vocoder.state_dict())  # weight norm folded
    clap = load_clap(tmp_path / "clap")
    assert clap.embed_text(["a tone"]).shape == (1, 16)
    assert main(["export", str(ldm_run), "-o", str(tmp_path / "unet"), "--component-only"]) == 0
    assert read_ldm_meta(tmp_path / "unet")["scale_factor"] > 0
    assert (
        main(
            [
                "assemble",
                "--clap",
                str(tmp_path / "clap"),
                "--vae",
                str(tmp_path / "vae"),
                "--unet",
                str(tmp_path / "unet"),
                "--vocoder",
                str(tmp_path / "vocoder"),
                "-o",
                str(tmp_path / "model"),
                "--name",
                "assembled",
                "--default-steps",
                "3",
            ]
        )
        == 0
    )
    pipe = AudioLDM.from_pretrained(tmp_path / "model")
    assert pipe.name == "assembled" and pipe.config.default_steps == 3
    assert pipe.generate("white noise", duration=0.3).audio.shape == (1, 4800)


def test_universal_vocoder_needs_its_mel_config(
    ldm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["export", str(ldm_run), "-o", str(tmp_path / "model"), "--vocoder", "universal"]) == 2
    )
    assert "universal HiFi-GAN needs the 22.05 kHz" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()  # nothing half-written


def test_export_without_checkpoint_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "x")]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err
