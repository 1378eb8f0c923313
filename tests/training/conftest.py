"""Fixtures for training tests: generated audio (tones + noise), tiny component folders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "training" / "tiny"
SOUNDS = [
    ("a low sine tone", 220.0),
    ("a high sine tone", 1760.0),
    ("a buzzing square wave", 440.0),
    ("white noise", 0.0),
]


def write_clip(
    path: Path, kind: int, seconds: float = 1.0, rate: int = 16000, seed: int = 0
) -> None:
    """One generated clip: sine / square / noise, with a little noise and a fade."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    freq = SOUNDS[kind % len(SOUNDS)][1] * (1.0 + 0.05 * rng.standard_normal())
    if kind % 4 == 0 or kind % 4 == 1:
        wave = np.sin(2 * np.pi * freq * t)
    elif kind % 4 == 2:
        wave = np.sign(np.sin(2 * np.pi * freq * t))
    else:
        wave = rng.standard_normal(t.shape)
    wave = 0.3 * wave + 0.01 * rng.standard_normal(t.shape)
    sf.write(path, (wave * np.minimum(1.0, 20 * t)).astype(np.float32), rate)


def make_corpus(folder: Path, clips: int = 8, seconds: float = 1.0, rate: int = 16000) -> Path:
    """``folder/manifest.jsonl`` over ``clips`` generated wavs (captions per kind)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(clips):
        name = f"clip{index:03d}.wav"
        write_clip(folder / name, index, seconds, rate, seed=index)
        caption = SOUNDS[index % len(SOUNDS)][0]
        lines.append(
            json.dumps(
                {"path": name, "caption": caption, "captions": [caption, f"the sound of {caption}"]}
            )
        )
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def text_tower(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clapldm.testing import tiny_bert_text_encoder

    folder = tmp_path_factory.mktemp("text-tower")
    tiny_bert_text_encoder(folder, hidden_size=16)
    return folder


@pytest.fixture(scope="session")
def tiny_parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random tiny CLAP / VAE / vocoder component folders matching configs/training/tiny."""
    import torch

    from clapldm.checkpoints.native import save_component
    from clapldm.config import HifiGanConfig, MelConfig, VAEConfig
    from clapldm.models.hifigan import HifiGan
    from clapldm.models.vae import AutoencoderKL
    from clapldm.testing import tiny_compact_clap

    root = tmp_path_factory.mktemp("parts")
    config = json.loads((TINY / "vae.json").read_text())
    mel = MelConfig.from_dict(config["mel"])
    tiny_compact_clap(root / "clap", mel, embed_dim=16, audio_channels=(4, 8))
    torch.manual_seed(0)
    vae_config = VAEConfig.from_dict(config["model"])
    save_component(root / "vae", vae_config, AutoencoderKL(vae_config), mel)
    vocoder_config = HifiGanConfig.from_dict(
        json.loads((TINY / "vocoder.json").read_text())["model"]
    )
    save_component(root / "vocoder", vocoder_config, HifiGan(vocoder_config), mel)
    return {"clap": root / "clap", "vae": root / "vae", "vocoder": root / "vocoder"}


def LossRecorder() -> Any:  # noqa: N802 - reads like the class it builds
    """Lightning callback collecting every logged ``train/*`` metric per step."""
    import lightning as L

    class Recorder(L.Callback):
        def __init__(self) -> None:
            self.steps: list[dict[str, float]] = []

        def on_train_batch_end(
            self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int
        ) -> None:
            self.steps.append(
                {
                    k[6:]: float(v)
                    for k, v in trainer.callback_metrics.items()
                    if k.startswith("train/")
                }
            )

        def series(self, name: str) -> list[float]:
            return [step[name] for step in self.steps if name in step]

    return Recorder()


def run_stage(
    stage: str,
    data: Path,
    out: Path,
    overrides: Sequence[str] = (),
    *,
    resume: bool = False,
    parts: dict[str, Path] | None = None,
    text_tower: Path | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[Any, Any]:
    """Train a tiny stage in-process; returns (TrainResult, LossRecorder)."""
    from clapldm.training.config import load_training_config
    from clapldm.training.runner import train

    sets = list(overrides)
    if stage == "clap" and text_tower is not None:
        sets.insert(0, f"clap.text_tower={text_tower}")
    if stage == "ldm" and parts is not None:
        sets[:0] = [f"ldm.vae={parts['vae']}", f"ldm.clap={parts['clap']}"]
    recorder = LossRecorder()
    result = train(
        load_training_config(TINY / f"{stage}.json", sets),
        data,
        out,
        resume=resume,
        progress=False,
        callbacks=[recorder, *callbacks],
    )
    return result, recorder
