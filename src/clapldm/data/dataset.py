"""Training clips: random fixed-length crops, resampled and normalised like the reference.

Determinism is by position, not by process state: item ``position`` of the stream is clip
``perm(seed, epoch)[position % N]`` cropped with ``np.random.default_rng([seed, position])``.
So the data a step sees depends only on (seed, step, rank) — the same with 0 or 8 loader
workers, and the same after ``--resume`` (the `StepSampler` restarts at the resumed step).

Unusable material never stops a run hours in: a silent crop is re-drawn (up to
``max_crop_tries``), and an unreadable, silent or too-short clip is replaced by the next
clip of the permutation with one warning per file — or, with ``on_error="raise"``, raises
`DataError` naming the file. `clapldm data check` reports all of them up front.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset, Sampler

from clapldm.audio.io import read_audio, to_mono_resampled
from clapldm.data.manifest import ManifestEntry, OnError
from clapldm.errors import AudioReadError, DataError

logger = logging.getLogger(__name__)

# After this many unusable clips in a row the data, not the clip, is the problem.
MAX_CONSECUTIVE_BAD = 50


class ClipStore(Protocol):
    """Random access to clips: a manifest (files) or WebDataset shards (tar members)."""

    def __len__(self) -> int: ...

    def name(self, index: int) -> str:
        """Human-readable name of clip ``index`` (file path or shard:key), for messages."""
        ...

    def captions(self, index: int) -> tuple[str, ...]:
        """Caption and paraphrases (may be empty)."""
        ...

    def read(
        self, index: int, sample_rate: int, crop_seconds: float | None, rng: np.random.Generator
    ) -> np.ndarray:
        """Mono float32 (samples,) at ``sample_rate``: a random crop of ``crop_seconds``
        (or the whole usable region when None or shorter). Raises `AudioReadError`."""
        ...


def rms_db(wave: np.ndarray) -> float:
    """RMS level in dB relative to full scale (1.0); -inf for digital silence."""
    if wave.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def normalize_segment(wave: np.ndarray) -> np.ndarray:
    """The reference's waveform normalisation: remove mean, divide by peak, times 0.5.

    Same as `clapldm.audio.mel.normalize_waveform`, on one numpy clip (samples,).
    """
    centred = wave - wave.mean()
    return (0.5 * centred / (np.abs(centred).max() + 1e-8)).astype(np.float32)


class ManifestStore:
    """Clips listed in a manifest. Crops are read with a seek (long files are never
    decoded whole) unless ``cache_audio``, which keeps every decoded clip in memory."""

    def __init__(self, entries: Sequence[ManifestEntry], *, cache_audio: bool = False) -> None:
        self.entries = list(entries)
        self.cache_audio = cache_audio
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def name(self, index: int) -> str:
        return str(self.entries[index].path)

    def captions(self, index: int) -> tuple[str, ...]:
        return self.entries[index].all_captions

    def read(
        self, index: int, sample_rate: int, crop_seconds: float | None, rng: np.random.Generator
    ) -> np.ndarray:
        entry = self.entries[index]
        if self.cache_audio:
            key = (index, sample_rate)
            if key not in self._cache:
                self._cache[key] = _region(read_audio(entry.path, sample_rate), sample_rate, entry)
            return crop(self._cache[key], sample_rate, crop_seconds, rng)
        return read_crop(entry.path, sample_rate, crop_seconds, rng, entry.start, entry.end)


def _region(wave: np.ndarray, sample_rate: int, entry: ManifestEntry) -> np.ndarray:
    start = round((entry.start or 0.0) * sample_rate)
    end = round(entry.end * sample_rate) if entry.end is not None else wave.shape[0]
    return wave[start:end]


def crop(
    wave: np.ndarray, sample_rate: int, crop_seconds: float | None, rng: np.random.Generator
) -> np.ndarray:
    """A random ``crop_seconds`` window of ``wave`` (all of it when shorter or None)."""
    if crop_seconds is None:
        return wave
    length = round(crop_seconds * sample_rate)
    if wave.shape[0] <= length:
        return wave
    offset = int(rng.integers(0, wave.shape[0] - length + 1))
    return wave[offset : offset + length]


def read_crop(
    path: Path,
    sample_rate: int,
    crop_seconds: float | None,
    rng: np.random.Generator,
    start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Read a random crop of ``path`` between ``start`` and ``end`` seconds, resampled.

    Only the crop is decoded (plus nothing else): the offset is drawn in the file's own
    frames from its header. Returns mono float32 (samples,) at ``sample_rate``.
    """
    name = str(path)
    if not path.is_file():
        raise AudioReadError(f"{name}: file not found")
    try:
        with sf.SoundFile(str(path)) as sound:
            source_rate, total = sound.samplerate, sound.frames
            first = min(total, round((start or 0.0) * source_rate))
            last = min(total, round(end * source_rate)) if end is not None else total
            if last <= first:
                raise AudioReadError(f"{name}: the region {start}-{end} s holds no audio")
            length = last - first
            if crop_seconds is not None:
                wanted = min(length, math.ceil(crop_seconds * source_rate))
                first += int(rng.integers(0, length - wanted + 1))
                length = wanted
            sound.seek(first)
            frames = sound.read(length, dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise AudioReadError(f"{name}: not a readable audio file ({exc.error_string})") from None
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        raise AudioReadError(f"{name}: not a readable audio file ({exc})") from None
    if frames.shape[0] < length and frames.shape[0] < 0.9 * length:
        raise AudioReadError(
            f"{name}: truncated file ({frames.shape[0]} of {length} frames readable)"
        )
    mono = frames.mean(axis=1, dtype=np.float32)
    wave = to_mono_resampled(mono, source_rate, sample_rate, name=name)
    if crop_seconds is not None:
        wave = wave[: round(crop_seconds * sample_rate)]
    return wave


class AudioClipDataset(Dataset[dict[str, Any]]):
    """Position-indexed stream of fixed-length training segments.

    Item: ``{"wave": (segment_samples,) float32, "caption": str, "index": int}``; the
    wave is normalised (when ``normalize``) and zero-padded at the end when the clip is
    shorter than a segment. ``caption`` is one of the clip's captions (a paraphrase drawn
    at random when ``paraphrases``), or "" when it has none.
    """

    def __init__(
        self,
        store: ClipStore,
        *,
        sample_rate: int,
        segment_samples: int,
        seed: int = 0,
        normalize: bool = True,
        silence_db: float = -60.0,
        min_seconds: float = 0.0,
        max_crop_tries: int = 5,
        on_error: OnError = "skip",
        paraphrases: bool = True,
    ) -> None:
        if len(store) == 0:
            raise DataError("the training data holds no clips")
        if segment_samples <= 0:
            raise DataError(f"segment length must be positive, got {segment_samples} samples")
        self.store = store
        self.sample_rate = sample_rate
        self.segment_samples = segment_samples
        self.seed = seed
        self.normalize = normalize
        self.silence_db = silence_db
        self.min_samples = round(min_seconds * sample_rate)
        self.max_crop_tries = max(1, max_crop_tries)
        self.on_error = on_error
        self.paraphrases = paraphrases
        self._bad: set[int] = set()
        self._perm_epoch = -1
        self._perm = np.arange(0)

    def __len__(self) -> int:
        """Clips per epoch (the stream itself is unbounded: positions wrap into epochs)."""
        return len(self.store)

    def clip_index(self, position: int, attempt: int = 0) -> int:
        """Clip at ``position``; ``attempt`` > 0 steps to a substitute in the same epoch."""
        count = len(self.store)
        epoch, slot = divmod(position, count)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(count)
            self._perm_epoch = epoch
        return int(self._perm[(slot + attempt * 7919) % count])

    def __getitem__(self, position: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, int(position), 1])
        for attempt in range(MAX_CONSECUTIVE_BAD):
            index = self.clip_index(int(position), attempt)
            if index in self._bad:
                continue
            wave = self._segment(index, rng)
            if wave is not None:
                return {
                    "wave": torch.from_numpy(wave),
                    "caption": self._caption(index, rng),
                    "index": index,
                }
        raise DataError(
            f"{MAX_CONSECUTIVE_BAD} unusable clips in a row near position {position} (e.g. "
            f"{self.store.name(self.clip_index(position))}); run `clapldm data check` on the data"
        )

    def _caption(self, index: int, rng: np.random.Generator) -> str:
        captions = self.store.captions(index)
        if not captions:
            return ""
        return captions[int(rng.integers(0, len(captions)))] if self.paraphrases else captions[0]

    def _segment(self, index: int, rng: np.random.Generator) -> np.ndarray | None:
        """A usable normalised segment of clip ``index``, or None (clip marked bad)."""
        crop_seconds = self.segment_samples / self.sample_rate
        problem = ""
        for _ in range(self.max_crop_tries):
            try:
                wave = self.store.read(index, self.sample_rate, crop_seconds, rng)
            except AudioReadError as exc:
                problem = str(exc)
                break
            if wave.shape[0] < max(self.min_samples, 1):
                problem = f"{self.store.name(index)}: too short ({wave.shape[0] / self.sample_rate:.3f} s)"
                break
            if rms_db(wave) < self.silence_db:
                problem = f"{self.store.name(index)}: silent (below {self.silence_db:g} dBFS)"
                continue  # another crop of the same clip may hold sound
            wave = wave[: self.segment_samples]
            if self.normalize:
                wave = normalize_segment(wave)
            if wave.shape[0] < self.segment_samples:
                wave = np.pad(wave, (0, self.segment_samples - wave.shape[0]))
            return np.ascontiguousarray(wave, dtype=np.float32)
        if self.on_error == "raise":
            raise DataError(problem + " (set train.on_bad_file to 'skip' to skip such clips)")
        logger.warning("skipping clip: %s", problem)
        self._bad.add(index)
        return None


class StepSampler(Sampler[int]):
    """Unbounded stream of positions for one rank, starting at ``start_step``.

    Step s of rank r takes positions ``(s * world_size + r) * batch_size + j``, j <
    batch_size: every rank sees different clips, and the stream after a resume at step s
    is exactly the stream an uninterrupted run sees from step s.
    """

    def __init__(
        self, batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        self.batch_size = batch_size
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[int]:
        step = self.start_step
        while True:
            first = (step * self.world_size + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)
            step += 1

    def __len__(self) -> int:
        # Effectively infinite; the trainer's max_steps ends the run.
        return 2**62


__all__ = [
    "AudioClipDataset",
    "ClipStore",
    "ManifestStore",
    "StepSampler",
    "crop",
    "normalize_segment",
    "read_crop",
    "rms_db",
]
