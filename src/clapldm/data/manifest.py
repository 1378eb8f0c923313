"""Training manifests: one clip per line of JSON lines (``.jsonl``) or CSV (``.csv``).

Fields (anything else, e.g. ``source``, ``license``, ``meta``, is kept in ``extra``)::

    path      audio file, absolute or relative to the manifest's folder     (required)
    caption   text describing the clip                                      (optional)
    captions  paraphrases (JSON list; in CSV a "|"-separated string)        (optional)
    start     seconds into the file where the usable region starts          (optional)
    end       seconds into the file where it ends                           (optional)
    duration  the file's duration in seconds, if known (used by `data check`)
    split     "train" / "valid" / "test"; `read_manifest(split=...)` filters on it

Every problem names the manifest and the line, so a bad manifest fails at start-up, not
hours into an epoch. Whether a bad *line* raises or is skipped with a warning is the
caller's choice (``on_error``).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from clapldm.errors import DataError
from clapldm.fileio import write_text_atomic

logger = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
MANIFEST_SUFFIXES = (".jsonl", ".json", ".csv")
_KNOWN = ("path", "caption", "captions", "start", "end", "duration", "split")


@dataclass(frozen=True)
class ManifestEntry:
    """One clip. ``path`` is absolute; times are seconds (None = file start / end)."""

    path: Path
    caption: str | None = None
    captions: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None
    duration: float | None = None
    split: str | None = None
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def all_captions(self) -> tuple[str, ...]:
        """The caption and its paraphrases, de-duplicated, non-empty, in order."""
        seen: list[str] = []
        for text in (self.caption, *self.captions):
            if text and text.strip() and text not in seen:
                seen.append(text)
        return tuple(seen)

    @property
    def region_seconds(self) -> float | None:
        """Length of the usable region when it is known from the manifest alone."""
        end = self.end if self.end is not None else self.duration
        if end is None:
            return None
        return max(0.0, end - (self.start or 0.0))


def is_manifest_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in MANIFEST_SUFFIXES


def read_manifest(
    path: str | os.PathLike[str],
    *,
    split: str | None = None,
    require_caption: bool = False,
    on_error: OnError = "raise",
    check_files: bool = True,
    skipped_lines: list[tuple[int, str]] | None = None,
) -> list[ManifestEntry]:
    """Parse a manifest into entries (see module docstring).

    ``split`` keeps only lines whose ``split`` field equals it (lines without the field are
    kept). ``require_caption`` makes an empty or missing caption an error (text
    conditioning). ``check_files`` checks that each file exists (cheap; decoding is
    `data check`'s job). A bad line raises `DataError` naming the manifest and line, or with
    ``on_error="skip"`` is logged and dropped (and appended to ``skipped_lines`` as
    (line, message) when given). An empty result always raises.
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise DataError(f"{manifest}: manifest not found")
    if manifest.suffix.lower() not in MANIFEST_SUFFIXES:
        raise DataError(f"{manifest}: a manifest must end in .jsonl or .csv")
    base = manifest.resolve().parent
    entries: list[ManifestEntry] = []
    skipped = 0
    for line_number, record in _records(manifest):
        try:
            entry = _parse(record, base, line_number)
            if split is not None and entry.split is not None and entry.split != split:
                continue
            if require_caption and not entry.all_captions:
                raise DataError("empty caption (text conditioning needs one)")
            if check_files and not entry.path.is_file():
                raise DataError(f"audio file {entry.path} not found")
        except DataError as exc:
            message = f"{manifest}:{line_number}: {exc}"
            if on_error == "raise":
                raise DataError(message) from None
            logger.warning("skipping %s", message)
            if skipped_lines is not None:
                skipped_lines.append((line_number, message))
            skipped += 1
            continue
        entries.append(entry)
    if skipped:
        logger.warning(
            "%s: skipped %d bad line(s) of %d", manifest, skipped, skipped + len(entries)
        )
    if not entries:
        what = f" in split {split!r}" if split is not None else ""
        raise DataError(f"{manifest}: no usable clips{what}")
    return entries


def _records(manifest: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, raw record) pairs; malformed JSON / CSV raises DataError."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{manifest}: cannot read manifest ({exc})") from None
    if manifest.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise DataError(f"{manifest}: CSV manifest needs a header row with a 'path' column")
        for index, row in enumerate(reader, start=2):
            yield index, {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        return
    for index, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{manifest}:{index}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{manifest}:{index}: each line must be a JSON object")
        yield index, record


def _seconds(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise DataError(f"'{key}' must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise DataError(f"'{key}' must be a non-negative number of seconds, got {value!r}")
    return seconds


def _parse(record: dict[str, Any], base: Path, line: int) -> ManifestEntry:
    raw_path = record.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise DataError("missing 'path'")
    path = Path(raw_path).expanduser()
    if not path.is_absolute():
        path = base / path
    caption = record.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise DataError(f"'caption' must be text, got {type(caption).__name__}")
    captions_raw = record.get("captions", ())
    if isinstance(captions_raw, str):
        captions_raw = [c.strip() for c in captions_raw.split("|")]
    if not isinstance(captions_raw, (list, tuple)) or not all(
        isinstance(c, str) for c in captions_raw
    ):
        raise DataError("'captions' must be a list of strings")
    start, end = _seconds(record, "start"), _seconds(record, "end")
    if start is not None and end is not None and end <= start:
        raise DataError(f"'end' ({end:g} s) must be after 'start' ({start:g} s)")
    split = record.get("split")
    return ManifestEntry(
        path=path,
        caption=caption.strip() if caption else None,
        captions=tuple(c for c in captions_raw if c),
        start=start,
        end=end,
        duration=_seconds(record, "duration"),
        split=str(split) if split is not None else None,
        line=line,
        extra={k: v for k, v in record.items() if k not in _KNOWN},
    )


def probe_entries(entries: list[ManifestEntry], on_error: OnError = "raise") -> list[ManifestEntry]:
    """Open each file's header (cheap: nothing is decoded). Unreadable files raise
    `DataError` listing them, or with ``on_error="skip"`` are dropped with a warning.
    Corruption inside the audio data only shows when decoded (`clapldm data check`)."""
    import soundfile as sf

    good, bad = [], []
    for entry in entries:
        try:
            info = sf.info(str(entry.path))
            if info.frames == 0 or info.samplerate <= 0:
                raise RuntimeError("no audio frames")
            good.append(entry)
        except (RuntimeError, OSError, ValueError) as exc:
            bad.append(f"{entry.path} (line {entry.line}): {str(exc).splitlines()[0][:120]}")
    if bad and on_error == "raise":
        listed = "; ".join(bad[:5]) + (f"; ... {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DataError(f"{len(bad)} unreadable audio file(s): {listed}")
    for message in bad:
        logger.warning("skipping unreadable file %s", message)
    if not good:
        raise DataError("no readable audio file in the manifest")
    return good


def write_manifest(path: str | os.PathLike[str], entries: list[ManifestEntry]) -> Path:
    """Write entries as JSON lines, atomically (paths relative to the manifest folder when
    inside it)."""
    target = Path(path)
    base = target.resolve().parent
    lines = []
    for entry in entries:
        try:
            shown = str(entry.path.resolve().relative_to(base))
        except ValueError:
            shown = str(entry.path)
        record: dict[str, Any] = {"path": shown}
        for key in ("caption", "start", "end", "duration", "split"):
            value = getattr(entry, key)
            if value is not None:
                record[key] = value
        if entry.captions:
            record["captions"] = list(entry.captions)
        record.update(entry.extra)
        lines.append(json.dumps(record, ensure_ascii=False))
    write_text_atomic(target, "\n".join(lines) + "\n")
    return target


__all__ = [
    "ManifestEntry",
    "OnError",
    "is_manifest_path",
    "probe_entries",
    "read_manifest",
    "write_manifest",
]
