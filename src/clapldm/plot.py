"""Log-mel spectrogram PNGs (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from clapldm.config import MelConfig
from clapldm.fileio import atomic_path


def save_spectrogram(path: Path, audio: np.ndarray, sample_rate: int, title: str = "") -> None:
    """Write a log-mel spectrogram of (samples,) audio to `path` (PNG, atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clapldm.audio.mel import MelFrontEnd

    hop = max(1, sample_rate // 100)
    config = MelConfig(
        sample_rate=sample_rate,
        hop_length=hop,
        n_mels=80,
        f_max=sample_rate / 2,
        normalize_waveform=False,
    )
    with torch.no_grad():
        mel = MelFrontEnd(config)(torch.from_numpy(np.asarray(audio, dtype=np.float32))[None])[
            0
        ].numpy()
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    seconds = len(audio) / sample_rate
    ax.imshow(
        mel.T, origin="lower", aspect="auto", cmap="magma", extent=(0.0, seconds, 0.0, mel.shape[1])
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title[:80], fontsize=9)
    fig.tight_layout()
    try:
        with atomic_path(path) as temp:
            fig.savefig(temp, format="png")
    finally:
        plt.close(fig)
