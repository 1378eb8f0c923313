"""The output folder of a run: audio files, per-item records, progress counters, manifest.

    DIR/003_a_dog_barks.wav            the clips (written atomically by `write_audio`)
    DIR/manifest.jsonl                 one row per line of the work file (`write_manifest`)
    DIR/.clapldm-run/items/NAME.json   one record per item: its spec hash, its file's sha256
                                       and its manifest row (or its error)
    DIR/.clapldm-run/progress/rank-R.json   items done / failed by rank R in this run

An item is done when its record exists, names the same spec hash as the item now, and
the file's sha256 matches: an interrupted write (no record, or a file that changed) is
redone, a finished one is never redone. The audio is written before its record, each
atomically, so a process killed at any point leaves either a verified item or one that
will be redone. Every rank reads and writes the same folder, so on several nodes DIR must
be on a file system they all see.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clapldm.errors import InvalidInputError, OutputError
from clapldm.fileio import write_text_atomic

STATE_FOLDER = ".clapldm-run"
MANIFEST_NAME = "manifest.jsonl"
TEMP_SUFFIX = ".tmp"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spec_hash(spec: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of an item's spec."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Counts:
    """One rank's progress in this run."""

    done: int = 0
    failed: int = 0
    finished: bool = False


class RunFolder:
    """Reads and writes one run's output folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.state = self.root / STATE_FOLDER
        self.items = self.state / "items"
        self.progress = self.state / "progress"
        self.manifest = self.root / MANIFEST_NAME

    def prepare(self, names: Iterable[str]) -> int:
        """Create the folders; delete temp files that a killed run left behind for `names`.

        Call on one rank before any rank writes. Returns how many temp files were removed.
        """
        try:
            for folder in (self.root, self.items, self.progress):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {self.root}: {exc}") from None
        if not os.access(self.root, os.W_OK):
            raise OutputError(f"output folder {self.root} is not writable")
        wanted = set(names)
        removed = 0
        for folder, ours in ((self.root, wanted), (self.items, None), (self.progress, None)):
            for entry in os.scandir(folder):
                if _is_leftover(entry.name, ours):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        for stale in self.progress.glob("rank-*.json"):
            stale.unlink(missing_ok=True)
        return removed

    # ----------------------------------------------------------------------- records
    def record_path(self, name: str) -> Path:
        return self.items / f"{name}.json"

    def read_record(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.record_path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def done_row(self, name: str, spec: str) -> dict[str, Any] | None:
        """The manifest row of a verified finished item, or None when it must be (re)done."""
        record = self.read_record(name)
        if record is None or record.get("spec") != spec or not record.get("sha256"):
            return None
        try:
            if sha256_file(self.root / name) != record["sha256"]:
                return None
        except OSError:
            return None
        row = record.get("row")
        return row if isinstance(row, dict) else None

    def write_done(self, name: str, spec: str, row: dict[str, Any]) -> None:
        """Record a finished item; call after its audio file is in place."""
        sha = sha256_file(self.root / name)
        self._write_record(name, {"spec": spec, "sha256": sha, "row": row})

    def write_failed(self, name: str, spec: str, row: dict[str, Any]) -> None:
        """Record an item that failed in this run (it is tried again by the next run)."""
        self._write_record(name, {"spec": spec, "sha256": None, "row": row})

    def _write_record(self, name: str, record: dict[str, Any]) -> None:
        try:
            write_text_atomic(self.record_path(name), json.dumps(record) + "\n")
        except OSError as exc:
            raise OutputError(f"cannot write the record of {name}: {exc}") from None

    # ---------------------------------------------------------------------- progress
    def write_counts(self, rank: int, counts: Counts) -> None:
        text = json.dumps(
            {"done": counts.done, "failed": counts.failed, "finished": counts.finished}
        )
        write_text_atomic(self.progress / f"rank-{rank}.json", text)

    def read_counts(self, world_size: int) -> list[Counts]:
        """Each rank's counts (zero for a rank that has not written yet)."""
        counts = []
        for rank in range(world_size):
            try:
                data = json.loads((self.progress / f"rank-{rank}.json").read_text())
                counts.append(
                    Counts(int(data["done"]), int(data["failed"]), bool(data["finished"]))
                )
            except (OSError, ValueError, KeyError, TypeError):
                counts.append(Counts())
        return counts

    # ---------------------------------------------------------------------- manifest
    def write_manifest(self, rows: list[dict[str, Any]]) -> Path:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        try:
            write_text_atomic(self.manifest, text)
        except OSError as exc:
            raise OutputError(f"cannot write {self.manifest}: {exc}") from None
        return self.manifest


def _is_leftover(entry: str, names: set[str] | None) -> bool:
    """A temp file `.NAME.<random>.tmp` of an atomic write (of one of `names`, if given)."""
    if not (entry.startswith(".") and entry.endswith(TEMP_SUFFIX)):
        return False
    if names is None:
        return True
    stem = entry[1 : -len(TEMP_SUFFIX)]
    return "." in stem and stem.rsplit(".", 1)[0] in names


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a manifest written by `RunFolder.write_manifest` (one JSON object a line)."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read manifest {file}: {exc}") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise InvalidInputError(f"manifest {file}, line {number}: not valid JSON") from None
        if not isinstance(row, dict):
            raise InvalidInputError(f"manifest {file}, line {number}: not a JSON object")
        rows.append(row)
    return rows
