"""WebDataset tar shards: audio corpora that do not fit a folder, and pre-encoded latents.

A shard is a plain (uncompressed) tar whose members are grouped into samples by key, the
WebDataset convention: ``000123.flac`` + ``000123.json`` is one sample with key
``000123``. Shards written here are readable by the ``webdataset`` library; they are read
here with random access instead (each member's byte offset comes from one scan of the tar
headers), so the position-indexed, resumable sampling of `clapldm.data.dataset` works on
shards exactly as on a manifest.

Two kinds of sample:

- audio: ``KEY.<flac|wav|ogg|mp3>`` (the file's own bytes) + ``KEY.json`` (``caption``,
  ``captions``, ``start``, ``end``, ``name``).
- pre-encoded (``clapldm preencode``): ``KEY.latent_mean.npy`` / ``KEY.latent_std.npy``
  (C, T', F') float16 VAE posterior (unscaled), ``KEY.audio_embed.npy`` (D,) CLAP audio
  embedding, ``KEY.text_embed.npy`` (K, D) CLAP text embeddings of the K captions,
  ``KEY.json``. The folder's ``preencoded.json`` says which VAE / CLAP / mel made them.

Every shard is written to a temp name and renamed, so a killed writer leaves no half shard.
"""

from __future__ import annotations

import glob
import io
import json
import logging
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from clapldm.audio.io import read_audio
from clapldm.data.dataset import crop
from clapldm.data.manifest import ManifestEntry
from clapldm.errors import AudioReadError, DataError
from clapldm.fileio import PendingFile

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = ("flac", "wav", "ogg", "mp3", "opus")
PREENCODED_META = "preencoded.json"
PREENCODED_FORMAT = "clapldm-preencoded"


@dataclass(frozen=True)
class Member:
    shard: str
    offset: int
    size: int


def _split_key(name: str) -> tuple[str, str]:
    """``dir/000123.latent_mean.npy`` -> (``dir/000123``, ``latent_mean.npy``)."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    if not dot:
        return name, ""
    return (f"{folder}/{stem}" if folder else stem), ext


def shard_paths(spec: str | os.PathLike[str]) -> list[Path]:
    """A folder of ``*.tar``, one ``.tar`` file, or a glob pattern -> sorted shard paths."""
    text = os.fspath(spec)
    path = Path(text)
    if path.is_dir():
        found = sorted(path.glob("*.tar"))
    elif path.is_file():
        found = [path]
    else:
        found = sorted(Path(p) for p in glob.glob(text))
    if not found:
        raise DataError(f"{text}: no .tar shards found")
    return found


def index_shards(paths: Iterable[Path]) -> list[tuple[str, dict[str, Member]]]:
    """Scan tar headers (data is skipped by seeking): [(key, {extension: Member})]."""
    samples: list[tuple[str, dict[str, Member]]] = []
    for path in paths:
        current_key: str | None = None
        members: dict[str, Member] = {}
        try:
            with tarfile.open(path, mode="r:") as tar:
                for info in tar:
                    if not info.isfile():
                        continue
                    key, ext = _split_key(info.name)
                    if key != current_key:
                        if current_key is not None:
                            samples.append((f"{path.name}:{current_key}", members))
                        current_key, members = key, {}
                    members[ext] = Member(str(path), info.offset_data, info.size)
        except (tarfile.TarError, OSError) as exc:
            raise DataError(f"{path}: not a readable tar shard ({exc})") from None
        if current_key is not None:
            samples.append((f"{path.name}:{current_key}", members))
    return samples


def read_member(member: Member) -> bytes:
    with open(member.shard, "rb") as fh:
        fh.seek(member.offset)
        data = fh.read(member.size)
    if len(data) != member.size:
        raise DataError(f"{member.shard}: truncated shard")
    return data


def _npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


class ShardWriter:
    """Write samples ({extension: bytes}) into ``folder/prefix-000000.tar`` shards of at
    most ``max_count`` samples / ``max_bytes`` bytes; each shard appears atomically."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        prefix: str = "shard",
        max_count: int = 1000,
        max_bytes: int = 1 << 30,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix, self.max_count, self.max_bytes = prefix, max_count, max_bytes
        self.shards: list[Path] = []
        self._tar: tarfile.TarFile | None = None
        self._pending: PendingFile | None = None
        self._count = self._bytes = 0
        self.total = 0

    def write(self, key: str, sample: dict[str, bytes]) -> None:
        size = sum(len(v) for v in sample.values())
        if (
            self._tar is None
            or self._count >= self.max_count
            or self._bytes + size > self.max_bytes
        ):
            self._close_shard()
            self._pending = PendingFile(self.folder / f"{self.prefix}-{len(self.shards):06d}.tar")
            self._tar = tarfile.open(self._pending.temp, mode="w", format=tarfile.USTAR_FORMAT)
        for ext, data in sample.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            self._tar.addfile(info, io.BytesIO(data))
        self._count += 1
        self._bytes += size
        self.total += 1

    def _close_shard(self) -> None:
        tar, pending = self._tar, self._pending
        self._tar, self._pending, self._count, self._bytes = None, None, 0, 0
        if tar is None or pending is None:
            return
        try:
            tar.close()
        except BaseException:
            pending.discard()
            raise
        self.shards.append(pending.commit())

    def close(self) -> list[Path]:
        self._close_shard()
        return self.shards

    def abort(self) -> None:
        """Drop the shard being written (shards already closed stay)."""
        tar, pending = self._tar, self._pending
        self._tar, self._pending = None, None
        try:
            if tar is not None:
                tar.close()
        finally:
            if pending is not None:
                pending.discard()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_audio_shards(
    entries: Iterable[ManifestEntry],
    folder: str | os.PathLike[str],
    *,
    max_count: int = 1000,
    max_bytes: int = 1 << 30,
) -> list[Path]:
    """Pack a manifest's files (their own bytes, not re-encoded) into audio shards."""
    with ShardWriter(folder, "audio", max_count, max_bytes) as writer:
        for number, entry in enumerate(entries):
            ext = entry.path.suffix.lower().lstrip(".")
            if ext not in AUDIO_EXTENSIONS:
                raise DataError(
                    f"{entry.path}: cannot shard a .{ext} file (use {', '.join(AUDIO_EXTENSIONS)})"
                )
            meta = {
                "caption": entry.caption,
                "captions": list(entry.captions),
                "start": entry.start,
                "end": entry.end,
                "name": str(entry.path),
            }
            writer.write(
                f"{number:08d}",
                {ext: entry.path.read_bytes(), "json": json.dumps(meta).encode("utf-8")},
            )
        return writer.close()


class ShardStore:
    """A `ClipStore` over audio shards (decoded from the tar bytes on each read)."""

    def __init__(self, spec: str | os.PathLike[str]) -> None:
        self.samples = []
        for key, members in index_shards(shard_paths(spec)):
            audio = next((ext for ext in AUDIO_EXTENSIONS if ext in members), None)
            if audio is None:
                logger.warning("shard sample %s has no audio member; skipped", key)
                continue
            self.samples.append((key, members[audio], members.get("json")))
        if not self.samples:
            raise DataError(f"{spec}: the shards hold no audio samples")
        self._meta: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def name(self, index: int) -> str:
        return self.samples[index][0]

    def meta(self, index: int) -> dict[str, Any]:
        if index not in self._meta:
            member = self.samples[index][2]
            try:
                self._meta[index] = json.loads(read_member(member)) if member else {}
            except (ValueError, DataError) as exc:
                raise DataError(f"{self.name(index)}: bad json member ({exc})") from None
        return self._meta[index]

    def captions(self, index: int) -> tuple[str, ...]:
        meta = self.meta(index)
        found: list[str] = []
        for text in [meta.get("caption"), *(meta.get("captions") or [])]:
            if isinstance(text, str) and text.strip() and text not in found:
                found.append(text)
        return tuple(found)

    def read(
        self, index: int, sample_rate: int, crop_seconds: float | None, rng: np.random.Generator
    ) -> np.ndarray:
        key, member, _ = self.samples[index]
        try:
            data = read_member(member)
        except (OSError, DataError) as exc:
            raise AudioReadError(f"{key}: {exc}") from None
        wave = read_audio(data, sample_rate)
        meta = self.meta(index)
        start = round(float(meta.get("start") or 0.0) * sample_rate)
        end = meta.get("end")
        wave = wave[start : round(float(end) * sample_rate) if end is not None else None]
        if wave.size == 0:
            raise AudioReadError(f"{key}: the region holds no audio")
        return crop(wave, sample_rate, crop_seconds, rng)


# ------------------------------------------------------------------------ pre-encoded
def write_preencoded_sample(
    writer: ShardWriter,
    key: str,
    *,
    latent_mean: np.ndarray,
    latent_std: np.ndarray,
    audio_embed: np.ndarray,
    text_embed: np.ndarray | None,
    meta: dict[str, Any],
) -> None:
    sample = {
        "latent_mean.npy": _npy_bytes(latent_mean.astype(np.float16)),
        "latent_std.npy": _npy_bytes(latent_std.astype(np.float16)),
        "audio_embed.npy": _npy_bytes(audio_embed.astype(np.float16)),
        "json": json.dumps(meta).encode("utf-8"),
    }
    if text_embed is not None and len(text_embed):
        sample["text_embed.npy"] = _npy_bytes(text_embed.astype(np.float16))
    writer.write(key, sample)


def is_preencoded(spec: str | os.PathLike[str]) -> bool:
    return (Path(spec) / PREENCODED_META).is_file()


def read_preencoded_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(folder) / PREENCODED_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    if meta.get("format") != PREENCODED_FORMAT:
        raise DataError(f"{path}: not a clapldm pre-encoded folder")
    return meta


class PreencodedDataset(Dataset[dict[str, Any]]):
    """Position-indexed crops of pre-encoded latents (see `AudioClipDataset` for the
    determinism contract).

    Item: ``latent`` (C, latent_frames, F') float32 — a posterior sample ``mean + std *
    noise`` (or the mean when ``sample_posterior`` is False), unscaled, cropped at random
    and padded with ``pad_latent`` (the latent of silence) when the clip is shorter;
    ``audio_embed`` (D,); ``text_embed`` (D,) of a random caption (zeros and ``has_text``
    False when the clip has none); ``caption`` str.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        latent_frames: int,
        seed: int = 0,
        sample_posterior: bool = True,
        pad_latent: np.ndarray | None = None,
    ) -> None:
        self.meta = read_preencoded_meta(folder)
        self.samples = [s for s in index_shards(shard_paths(folder)) if "latent_mean.npy" in s[1]]
        if not self.samples:
            raise DataError(f"{folder}: no pre-encoded samples")
        self.latent_frames = latent_frames
        self.seed = seed
        self.sample_posterior = sample_posterior
        self.pad_latent = pad_latent  # (C, F') or None (zeros)
        self._perm_epoch, self._perm = -1, np.arange(0)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, position: int) -> dict[str, Any]:
        count = len(self.samples)
        epoch, slot = divmod(int(position), count)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(count)
            self._perm_epoch = epoch
        key, members = self.samples[int(self._perm[slot])]
        rng = np.random.default_rng([self.seed, int(position), 2])
        mean = _npy(read_member(members["latent_mean.npy"])).astype(np.float32)
        latent = mean
        if self.sample_posterior:
            std = _npy(read_member(members["latent_std.npy"])).astype(np.float32)
            latent = mean + std * rng.standard_normal(mean.shape, dtype=np.float32)
        frames = latent.shape[1]
        if frames > self.latent_frames:
            offset = int(rng.integers(0, frames - self.latent_frames + 1))
            latent = latent[:, offset : offset + self.latent_frames]
        elif frames < self.latent_frames:
            pad = np.zeros(
                (latent.shape[0], self.latent_frames - frames, latent.shape[2]), np.float32
            )
            if self.pad_latent is not None:
                pad[:] = self.pad_latent[:, None, :]
            latent = np.concatenate([latent, pad], axis=1)
        audio_embed = _npy(read_member(members["audio_embed.npy"])).astype(np.float32)
        text_embed = np.zeros_like(audio_embed)
        has_text = "text_embed.npy" in members
        caption = ""
        if has_text:
            texts = _npy(read_member(members["text_embed.npy"])).astype(np.float32)
            choice = int(rng.integers(0, texts.shape[0]))
            text_embed = texts[choice]
            captions = (
                json.loads(read_member(members["json"])).get("captions", [])
                if "json" in members
                else []
            )
            caption = captions[choice] if choice < len(captions) else ""
        return {
            "latent": torch.from_numpy(np.ascontiguousarray(latent)),
            "audio_embed": torch.from_numpy(audio_embed),
            "text_embed": torch.from_numpy(text_embed),
            "has_text": has_text,
            "caption": caption,
        }


def iter_shard_keys(spec: str | os.PathLike[str]) -> Iterator[str]:
    for key, _ in index_shards(shard_paths(spec)):
        yield key


__all__ = [
    "PREENCODED_META",
    "PreencodedDataset",
    "ShardStore",
    "ShardWriter",
    "index_shards",
    "is_preencoded",
    "read_preencoded_meta",
    "shard_paths",
    "write_audio_shards",
    "write_preencoded_sample",
]
