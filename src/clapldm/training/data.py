"""The data module every stage shares: a manifest, audio shards, or pre-encoded shards.

``--data`` is resolved by `resolve_data`: a ``.jsonl`` / ``.csv`` manifest, a folder with
``preencoded.json`` (written by ``clapldm preencode``), audio shards (a folder of
``.tar``, one ``.tar``, or a glob), or a plain folder of audio files (searched
recursively; no manifest and no captions, which is all audio conditioning needs). The
loader's sampler starts at the module's current training step, so a resumed run sees
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Dataset

from clapldm.data.dataset import AudioClipDataset, ClipStore, ManifestStore, StepSampler
from clapldm.data.manifest import (
    ManifestEntry,
    is_manifest_path,
    probe_entries,
    read_manifest,
)
from clapldm.data.shards import PreencodedDataset, ShardStore, is_preencoded, read_preencoded_meta
from clapldm.errors import DataError
from clapldm.training.clap_features import ClapFeatureDataset, is_clap_features
from clapldm.training.config import TrainingRun

logger = logging.getLogger(__name__)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".opus", ".aif", ".aiff")


@dataclass(frozen=True)
class DataSpec:
    kind: str  # "manifest" | "shards" | "preencoded" | "clap_features" | "folder"
    location: str


def audio_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Audio files under ``folder`` (recursively, hidden names skipped), sorted."""
    root = Path(folder)
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in AUDIO_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def resolve_data(spec: str | os.PathLike[str]) -> DataSpec:
    text = os.fspath(spec)
    path = Path(text)
    if is_manifest_path(path):
        if not path.is_file():
            raise DataError(f"{path}: manifest not found")
        return DataSpec("manifest", str(path.resolve()))
    if path.is_dir() and is_preencoded(path):
        return DataSpec("preencoded", str(path.resolve()))
    if path.is_dir() and is_clap_features(path):
        return DataSpec("clap_features", str(path.resolve()))
    if path.is_dir() and not any(path.glob("*.tar")) and audio_files(path):
        return DataSpec("folder", str(path.resolve()))
    if path.is_dir() or path.suffix == ".tar" or any(ch in text for ch in "*?["):
        if not path.exists() and not any(ch in text for ch in "*?["):
            raise DataError(f"{path}: no such shard folder or file")
        return DataSpec("shards", str(path.resolve()) if path.exists() else text)
    raise DataError(
        f"{text}: --data must be a .jsonl/.csv manifest, a shard folder/.tar/glob, "
        "a pre-encoded folder, or a folder of audio files"
    )


def _captions_of(store: ClipStore) -> list[str]:
    captions: list[str] = []
    for index in range(len(store)):
        captions.extend(store.captions(index))
    return captions


def build_store(run: TrainingRun, spec: DataSpec, require_caption: bool) -> ClipStore:
    """Clip store for audio data; clips without a caption are dropped (warned) or refused
    (``train.on_bad_file``) when the stage needs captions."""
    train = run.train
    if spec.kind == "folder":
        if require_caption:
            raise DataError(
                f"{spec.location}: a folder of audio files has no captions, but this stage "
                "needs them (use a manifest, or audio conditioning)"
            )
        entries = [ManifestEntry(path=path) for path in audio_files(spec.location)]
        if train.probe_files:
            entries = probe_entries(entries, train.on_bad_file)
        return ManifestStore(entries, cache_audio=train.cache_audio)
    if spec.kind == "manifest":
        entries = read_manifest(
            spec.location,
            split=train.split or None,
            require_caption=require_caption,
            on_error=train.on_bad_file,
        )
        if train.probe_files:
            entries = probe_entries(entries, train.on_bad_file)
        return ManifestStore(entries, cache_audio=train.cache_audio)
    store = ShardStore(spec.location)
    if require_caption:
        missing = [i for i in range(len(store)) if not store.captions(i)]
        if missing:
            message = (
                f"{len(missing)} shard samples have no caption (e.g. {store.name(missing[0])})"
            )
            if train.on_bad_file == "raise":
                raise DataError(message + ", but this stage needs captions")
            logger.warning("%s; they are skipped", message)
            keep = set(range(len(store))) - set(missing)
            store.samples = [s for i, s in enumerate(store.samples) if i in keep]
            if not store.samples:
                raise DataError(f"{spec.location}: no shard sample has a caption")
    return store


class TrainingData(L.LightningDataModule):
    """Builds the dataset once (``setup``) and a step-aligned loader per fit."""

    def __init__(
        self,
        run: TrainingRun,
        spec: DataSpec,
        *,
        segment_samples: int,
        require_caption: bool,
        latent_frames: int = 0,
        pad_latent: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.run = run
        self.spec = spec
        self.segment_samples = segment_samples
        self.require_caption = require_caption
        self.latent_frames = latent_frames
        self.pad_latent = pad_latent
        self.dataset: Dataset[dict[str, Any]] | None = None
        self.store: ClipStore | None = None

    def build(self) -> Dataset[dict[str, Any]]:
        if self.dataset is not None:
            return self.dataset
        train = self.run.train
        if self.spec.kind == "clap_features":
            if self.run.stage != "clap":
                raise DataError(
                    f"{self.spec.location}: pre-encoded CLAP features are for the clap stage"
                )
            options = self.run.options
            self.dataset = ClapFeatureDataset(
                self.spec.location,
                batch_size=train.batch_size,
                seed=train.seed,
                source_balance=options.source_balance,
                hard_negatives=options.hard_negatives,
                paraphrases=train.paraphrases,
            )
        elif self.spec.kind == "preencoded":
            if self.latent_frames <= 0:
                raise DataError(f"{self.spec.location}: pre-encoded data is only for the ldm stage")
            self.dataset = PreencodedDataset(
                self.spec.location,
                latent_frames=self.latent_frames,
                seed=train.seed,
                sample_posterior=getattr(self.run.options, "sample_posterior", True),
                pad_latent=self.pad_latent,
            )
        else:
            self.store = build_store(self.run, self.spec, self.require_caption)
            self.dataset = AudioClipDataset(
                self.store,
                sample_rate=self.run.mel.sample_rate,
                segment_samples=self.segment_samples,
                seed=train.seed,
                normalize=self.run.mel.normalize_waveform,
                silence_db=train.silence_db,
                min_seconds=train.min_seconds,
                max_crop_tries=train.max_crop_tries,
                on_error=train.on_bad_file,
                paraphrases=train.paraphrases,
            )
        logger.info(
            "training data: %s %s, %d clips", self.spec.kind, self.spec.location, len(self.dataset)
        )  # type: ignore[arg-type]
        return self.dataset

    def captions(self) -> list[str]:
        dataset = self.build()
        if isinstance(dataset, ClapFeatureDataset):
            return dataset.captions()
        return _captions_of(self.store) if self.store is not None else []

    def setup(self, stage: str) -> None:
        self.build()

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        dataset = self.build()
        trainer = self.trainer
        assert trainer is not None
        module = trainer.lightning_module
        start = trainer.global_step // getattr(module, "optimizers_per_step", 1)
        sampler = StepSampler(
            self.run.train.batch_size, start, trainer.global_rank, trainer.world_size
        )
        workers = self.run.train.num_workers
        return DataLoader(
            dataset,
            batch_size=self.run.train.batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=trainer.strategy.root_device.type == "cuda",
            prefetch_factor=4 if workers > 0 else None,
        )


def preencoded_meta(spec: DataSpec) -> dict[str, Any] | None:
    return read_preencoded_meta(spec.location) if spec.kind == "preencoded" else None


__all__ = ["DataSpec", "TrainingData", "build_store", "preencoded_meta", "resolve_data"]
