"""aiSFX embeddings as an evaluation backbone: FD on the published sound-effects network.

The network and its front end live in ``clapldm.models.aisfx`` (shared with the CLAP's
audio tower); this module runs them the way the ``aisfx`` package's ``inference.main``
does and reduces a file to one 512-d vector for a Fréchet distance:

- every file is read mono at 44.1 kHz (the network's rate; a 16 kHz file has nothing
  above 8 kHz, which the embedding sees, so compare folders of the same bandwidth);
- the whole file becomes one normalised log-mel (peak-normalised over the file);
- it is cut into blocks of 100 frames (2.3 s) with a hop of 50 (the package's
  ``emb_hop_size=0.5``), dropping a last partial block as the package does
  (``drop_partial_block=True``); a file under 100 frames is one block padded with silence;
- each block is embedded (max over its time, as in training) and the block embeddings
  are averaged.

The network runs in float32, exactly as published (the project's CLAP may run it in
bf16; the eval backbone never does). Weights come from the installed package
(``pip install --no-deps aisfx==0.1.2``, read with ``weights_only=True``, the package is
never imported) or from a ``checkpoint.pth`` given explicitly.
"""

from __future__ import annotations

from pathlib import Path

import torch

from clapldm.errors import InvalidInputError
from clapldm.models.aisfx import (
    BLOCK_FRAMES,
    SAMPLE_RATE,
    AisfxEmbedder,
    load_aisfx_trunk,
)

AISFX_LABEL = "aisfx"
AISFX_SAMPLE_RATE = SAMPLE_RATE
# The package embeds blocks of 100 frames every 50 frames (emb_hop_size=0.5, ~1.16 s).
BLOCK_HOP_FRAMES = BLOCK_FRAMES // 2


def load_aisfx(
    source: AisfxEmbedder | str | Path | None = None, device: str | torch.device = "cpu"
) -> AisfxEmbedder:
    """The aiSFX embedder in float32 eval mode on ``device``.

    ``source``: a ready embedder, a ``checkpoint.pth`` path, or None for the installed
    ``aisfx`` package's checkpoint. Raises ``ModelLoadError`` (with the pip command) when
    the package is missing, or when the file is unreadable or does not fit the network.
    """
    if isinstance(source, AisfxEmbedder):
        embedder = source
    else:
        embedder = AisfxEmbedder(load_aisfx_trunk(source))
    return embedder.to(device=device, dtype=torch.float32).eval()


def aisfx_blocks(logmel: torch.Tensor) -> torch.Tensor:
    """(frames, 96) log-mel, frames >= 100 -> (blocks, 100, 96): the package's blocking."""
    if logmel.dim() != 2 or logmel.shape[0] < BLOCK_FRAMES:
        raise InvalidInputError(f"aiSFX blocks need (frames >= {BLOCK_FRAMES}, mels) input")
    return logmel.unfold(0, BLOCK_FRAMES, BLOCK_HOP_FRAMES).transpose(1, 2)


def aisfx_file_embedding(embedder: AisfxEmbedder, wave: torch.Tensor) -> torch.Tensor:
    """One file's embedding: mean over its 100-frame blocks, (512,) float32 on the CPU.

    ``wave``: (samples,) mono at 44.1 kHz.
    """
    if wave.dim() != 1 or wave.numel() == 0:
        raise InvalidInputError("aiSFX embeds one non-empty mono wave (samples,)")
    device = embedder.front_end.filters.device
    with torch.inference_mode():
        logmel = embedder.front_end(wave[None].to(device, torch.float32))[0]  # (frames, 96)
        blocks = embedder.trunk(aisfx_blocks(logmel))  # (blocks, 512)
    return blocks.mean(dim=0).float().cpu()


__all__ = [
    "AISFX_LABEL",
    "AISFX_SAMPLE_RATE",
    "BLOCK_HOP_FRAMES",
    "aisfx_blocks",
    "aisfx_file_embedding",
    "load_aisfx",
]
