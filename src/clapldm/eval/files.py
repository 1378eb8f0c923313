"""Evaluation inputs: list a folder's audio files, read them at 16 kHz, pair, read captions."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from clapldm.audio.io import read_audio
from clapldm.errors import InvalidInputError
from clapldm.scale.store import read_manifest

# Every metric is computed at 16 kHz, as audioldm_eval does at its CNN14-16k setting.
EVAL_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of some metric: which folder, which file, why, and for which metrics.

    ``metrics`` is ``("all",)`` when the file could not be used at all.
    """

    side: str  # "generated" or "reference"
    name: str  # file name inside its folder
    reason: str
    metrics: tuple[str, ...] = ("all",)


def list_files(folder: Path) -> list[Path]:
    """Regular, non-hidden files directly inside ``folder``, sorted by name.

    Raises ``InvalidInputError`` when the folder does not exist or holds no file.
    """
    if not folder.is_dir():
        raise InvalidInputError(f"not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InvalidInputError(f"folder {folder} holds no files")
    return files


def manifest_files(path: Path) -> tuple[list[Path], dict[str, str]]:
    """The clips a `clapldm generate --prompts` manifest lists as done, sorted by name,
    and their prompts as captions ({file name: prompt}; empty prompts left out).

    Raises ``InvalidInputError`` for an unreadable manifest or one without a done clip.
    """
    files, captions = [], {}
    for row in read_manifest(path):
        name = row.get("file")
        if row.get("status") != "done" or not isinstance(name, str) or not name:
            continue
        files.append(path.parent / name)
        if isinstance(row.get("prompt"), str) and row["prompt"].strip():
            captions[name] = row["prompt"]
    if not files:
        raise InvalidInputError(f"manifest {path} lists no generated clip")
    return sorted(files), captions


def read_mono(path: Path, sample_rate: int = EVAL_SAMPLE_RATE) -> torch.Tensor:
    """Read any audio file -> mono float32 (samples,) at ``sample_rate``.

    The project's reader (``clapldm.audio.io.read_audio``): channels averaged, soxr "HQ"
    resampling; ``AudioReadError`` for a missing, unreadable, truncated or empty file or
    one holding non-finite samples.
    """
    return torch.from_numpy(read_audio(path, sample_rate))


def duplicate_stems(names: list[str]) -> set[str]:
    """Stems (name without its last suffix) shared by more than one of ``names``."""
    counts = Counter(Path(name).stem for name in names)
    return {stem for stem, count in counts.items() if count > 1}


def load_captions(path: str | Path) -> dict[str, str]:
    """Read a captions CSV with a header: ``file,caption`` (or ``name,caption``).

    Returns {file name as written: caption}; look-ups should try the full name, then the
    stem. Raises ``InvalidInputError`` for a missing file, missing columns or empty rows.
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"captions file not found: {file}")
    with file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        key_field = next((f for f in ("file", "name", "filename", "path") if f in fields), None)
        if key_field is None or "caption" not in fields:
            raise InvalidInputError(
                f"captions file {file} needs a header with 'file' (or 'name') and 'caption' "
                f"columns, got {reader.fieldnames}"
            )
        captions: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            cleaned = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            name, caption = cleaned.get(key_field, ""), cleaned.get("caption", "")
            if not name or not caption:
                raise InvalidInputError(f"captions file {file}, line {line}: empty file or caption")
            captions[Path(name).name] = caption
    if not captions:
        raise InvalidInputError(f"captions file {file} has no rows")
    return captions


def index_captions(captions: dict[str, str]) -> dict[str, str]:
    """Captions keyed by file name and also by stem, so ``a.wav`` finds a row for ``a`` or
    ``a.flac``; an exact name wins over a stem."""
    index = {Path(name).stem: caption for name, caption in captions.items()}
    index.update(captions)
    return index


def caption_for(name: str, index: dict[str, str]) -> str | None:
    """The caption of file ``name`` in an ``index_captions`` index: by name, else by stem."""
    return index.get(name) or index.get(Path(name).stem)
