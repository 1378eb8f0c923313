"""Fixtures for training tests: generated audio (tones + noise), tiny component folders."""

from __future__ import annotations

import json
from pathlib import Path

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


def write_clip(path: Path, kind: int, seconds: float = 1.0, rate: int = 16000, seed: int = 0) -> None:
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
        lines.append(json.dumps({"path": name, "caption": caption, "captions": [caption, f"the sound of {caption}"]}))
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
    vocoder_config = HifiGanConfig.from_dict(json.loads((TINY / "vocoder.json").read_text())["model"])
    save_component(root / "vocoder", vocoder_config, HifiGan(vocoder_config), mel)
    return {"clap": root / "clap", "vae": root / "vae", "vocoder": root / "vocoder"}
