"""Pre-encoded CLAP training data: every clip's audio-tower inputs computed once.

A CompactClap with ``audio_backbone="aisfx"`` reads two things of a clip: the frozen aiSFX
embedding (512-d) and `profile_stats` of its log-mel (2 x n_mels). Both are fixed
functions of the clip, so ``clapldm preencode --stage clap`` computes them once per clip
(the first ``max_seconds``) and training runs from memory: a step costs the projections,
the trainable text layers and the loss, not audio decoding, resampling, an STFT and a CNN.

Folder layout::

    clap_features.safetensors   aisfx (N, 512) float32, stats (N, 2 * n_mels) float32,
                                pitch (N,) int64 (MIDI note, -1 = none),
                                program (N,) int64 (instrument, -1 = none)
    clap_features.json          format, mel, clap config, rows: name, captions, source, split
                                (written last: a folder is usable only once complete)

Pre-encoding can run as N processes (``--part K/N`` takes every N-th clip): each writes
``part-K-of-N/`` with the layout above, and the folder reads as the parts concatenated
once every part is complete.

`ClapFeatureDataset` draws clips with source balancing (each source's share of the draws
grows like count ** (1 - source_balance)) and, at the start of every batch, a group of
pitch-labelled clips of one instrument at other pitches: hard negatives that differ mostly
in pitch, so the contrastive loss has to hear (and read) the note.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from clapldm.config import ClapConfig, write_json_atomic
from clapldm.data.dataset import ClipStore
from clapldm.errors import AudioReadError, DataError
from clapldm.fileio import atomic_path
from clapldm.models.compact_clap import CompactClap, SfxAudioEncoder

logger = logging.getLogger(__name__)

FEATURES_FORMAT = "clapldm-clap-features"
FEATURES_META = "clap_features.json"
FEATURES_TENSORS = "clap_features.safetensors"


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*-of-*"), key=lambda p: int(p.name.split("-")[1]))


def is_clap_features(path: str | os.PathLike[str]) -> bool:
    """True for a folder written by `preencode_clap` (whole, or all of its parts)."""
    folder = Path(path)
    if (folder / FEATURES_META).is_file():
        return True
    parts = _parts(folder)
    if not parts:
        return False
    expected = int(parts[0].name.split("-")[-1])
    return len(parts) == expected and all((p / FEATURES_META).is_file() for p in parts)


def _label(extra: dict[str, Any], key: str) -> int:
    meta = extra.get("meta") or {}
    value = meta.get(key) if isinstance(meta, dict) else None
    return int(value) if isinstance(value, int | float) and meta.get("kind") == "midi_note" else -1


@torch.no_grad()
def preencode_clap(
    clap: CompactClap,
    store: ClipStore,
    output: str | os.PathLike[str],
    *,
    entries_extra: list[dict[str, Any]] | None = None,
    max_seconds: float = 6.0,
    part: tuple[int, int] = (1, 1),
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Compute the audio-tower inputs of every clip of ``store`` into ``output``.

    ``entries_extra``: per clip the manifest's extra fields (``source``, ``meta`` with
    ``kind="midi_note"``, ``pitch``, ``program``) for balancing and hard negatives.
    ``part`` (K, N): only clips K-1, K-1+N, ... into ``output/part-K-of-N``.
    Returns the number of clips written; unreadable clips are skipped with a warning.
    """
    if not isinstance(clap.audio_encoder, SfxAudioEncoder):
        raise DataError("CLAP pre-encoding is for a CompactClap with audio_backbone 'aisfx'")
    index_k, count_n = part
    if not 1 <= index_k <= count_n:
        raise DataError(f"--part {index_k}/{count_n}: K must be between 1 and N")
    out = Path(output) / f"part-{index_k}-of-{count_n}" if count_n > 1 else Path(output)
    if (out / FEATURES_META).exists():
        raise DataError(f"{out} already holds pre-encoded CLAP features; choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    rate = clap.sample_rate
    device = clap.logit_scale.device
    rng = np.random.default_rng(0)
    aisfx, stats, pitch, program, rows = [], [], [], [], []
    for index in range(index_k - 1, len(store), count_n):
        try:
            wave = store.read(index, rate, None, rng)[: round(max_seconds * rate)]
        except AudioReadError as exc:
            logger.warning("skipping %s", exc)
            continue
        batch = torch.from_numpy(wave)[None].to(device)
        clip_features, clip_stats = clap.audio_features(batch, rate)
        aisfx.append(clip_features)
        stats.append(clip_stats.float())
        extra = entries_extra[index] if entries_extra is not None else {}
        pitch.append(_label(extra, "pitch"))
        program.append(_label(extra, "program"))
        rows.append(
            {
                "name": store.name(index),
                "captions": list(store.captions(index)),
                "source": str(extra.get("source", "")),
            }
        )
        if progress is not None:
            progress(index + 1, len(store))
    if not rows:
        raise DataError("no clip could be pre-encoded")
    tensors = {
        "aisfx": torch.cat(aisfx).cpu().contiguous(),
        "stats": torch.cat(stats).cpu().contiguous(),
        "pitch": torch.tensor(pitch, dtype=torch.int64),
        "program": torch.tensor(program, dtype=torch.int64),
    }
    with atomic_path(out / FEATURES_TENSORS) as temp:
        save_file(tensors, temp)
    meta = {
        "format": FEATURES_FORMAT,
        "version": 1,
        "max_seconds": max_seconds,
        "clap_config": clap.config.to_dict(),
        "rows": rows,
    }
    write_json_atomic(out / FEATURES_META, meta)
    logger.info("pre-encoded CLAP features of %d clips into %s", len(rows), out)
    return len(rows)


def read_clap_features(
    folder: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(meta, tensors) of a folder written by `preencode_clap` (parts concatenated)."""
    folder = Path(folder)
    parts = _parts(folder) if not (folder / FEATURES_META).is_file() else []
    if parts:
        if not is_clap_features(folder):
            raise DataError(f"{folder}: CLAP feature parts are missing or incomplete")
        pieces = [read_clap_features(p) for p in parts]
        meta = dict(pieces[0][0])
        meta["rows"] = [row for piece_meta, _ in pieces for row in piece_meta["rows"]]
        tensors = {k: torch.cat([t[k] for _, t in pieces]) for k in pieces[0][1]}
        return meta, tensors
    try:
        meta = json.loads((folder / FEATURES_META).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / FEATURES_TENSORS))
    except (OSError, ValueError) as exc:
        raise DataError(f"{folder}: unreadable CLAP features ({exc})") from None
    if meta.get("format") != FEATURES_FORMAT:
        raise DataError(f"{folder}: not a CLAP features folder")
    return meta, tensors


def check_features_config(meta: dict[str, Any], config: ClapConfig) -> None:
    """The features were computed with this CLAP's mel and audio backbone."""
    saved = ClapConfig.from_dict(meta["clap_config"])
    if saved.mel != config.mel or saved.audio_backbone != config.audio_backbone:
        raise DataError("the CLAP features were computed with another mel or audio backbone")


class ClapFeatureDataset(Dataset[dict[str, Any]]):
    """Position -> one (clip features, caption) pair; the draw is a pure function of
    (seed, position), so a resumed run sees the batches an uninterrupted one would.

    Position p in batch b = p // batch_size: slots ``p % batch_size < hard_negatives`` take
    distinct pitch-labelled clips of one instrument (chosen per batch); the other
    slots draw a source (share ~ count ** (1 - source_balance)), then a clip of it.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        batch_size: int,
        seed: int = 0,
        source_balance: float = 0.5,
        hard_negatives: int = 0,
        paraphrases: bool = True,
    ) -> None:
        meta, tensors = read_clap_features(folder)
        self.meta = meta
        self.rows: list[dict[str, Any]] = meta["rows"]
        self.aisfx = tensors["aisfx"]
        self.stats = tensors["stats"]
        self.pitch = tensors["pitch"]
        self.batch_size = batch_size
        self.seed = seed
        self.paraphrases = paraphrases
        self.hard_negatives = min(hard_negatives, batch_size)
        by_source: dict[str, list[int]] = defaultdict(list)
        for index, row in enumerate(self.rows):
            if row["captions"]:
                by_source[row["source"]].append(index)
        if not by_source:
            raise DataError(f"{folder}: no clip has a caption; the CLAP stage needs captions")
        self.sources = [np.asarray(v) for _, v in sorted(by_source.items())]
        counts = np.array([len(v) for v in self.sources], dtype=np.float64)
        shares = counts ** (1.0 - source_balance)
        self.source_p = shares / shares.sum()
        by_program: dict[int, list[int]] = defaultdict(list)
        for index, program in enumerate(tensors["program"].tolist()):
            if program >= 0 and int(self.pitch[index]) >= 0 and self.rows[index]["captions"]:
                by_program[program].append(index)
        self.programs = [np.asarray(v) for _, v in sorted(by_program.items()) if len(v) > 1]

    def __len__(self) -> int:
        return len(self.rows)

    def clip_index(self, position: int) -> int:
        rng = np.random.default_rng((self.seed, position))
        batch, slot = divmod(position, self.batch_size)
        if slot < self.hard_negatives and self.programs:
            group_rng = np.random.default_rng((self.seed, batch, 1))
            group = self.programs[int(group_rng.integers(len(self.programs)))]
            order = group_rng.permutation(len(group))
            return int(group[order[slot % len(group)]])
        source = self.sources[int(rng.choice(len(self.sources), p=self.source_p))]
        return int(source[int(rng.integers(len(source)))])

    def __getitem__(self, position: int) -> dict[str, Any]:
        index = self.clip_index(position)
        captions = self.rows[index]["captions"]
        rng = np.random.default_rng((self.seed, position, 2))
        caption = captions[int(rng.integers(len(captions)))] if self.paraphrases else captions[0]
        return {
            "aisfx": self.aisfx[index],
            "stats": self.stats[index],
            "pitch": self.pitch[index],
            "caption": caption,
        }

    def captions(self) -> list[str]:
        return [c for row in self.rows for c in row["captions"]]


__all__ = [
    "FEATURES_META",
    "ClapFeatureDataset",
    "check_features_config",
    "is_clap_features",
    "preencode_clap",
    "read_clap_features",
]
