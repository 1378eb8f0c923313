"""`clapldm data check`: find every clip that would trouble a training run, up front.

Each clip is decoded in full (so truncated and corrupt files show up) and classified as
``unreadable``, ``silent`` (its loudest 100 ms window is below ``silence_db``),
``too_short`` (usable region under ``min_seconds``) or ``no_caption`` (only when captions
are required). The report lists each problem with the file and the reason; a clean
manifest without the bad clips can be written next to it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from clapldm.audio.io import read_audio
from clapldm.data.dataset import rms_db
from clapldm.data.manifest import ManifestEntry, read_manifest, write_manifest
from clapldm.errors import AudioReadError

logger = logging.getLogger(__name__)

PROBLEMS = ("unreadable", "silent", "too_short", "no_caption")
WINDOW_SECONDS = 0.1


@dataclass
class ClipProblem:
    where: str  # file path, or manifest:line for a line that could not be parsed
    kind: str  # one of PROBLEMS
    reason: str


@dataclass
class CheckReport:
    """Outcome of `check_entries`: problems per clip, and totals of the good ones."""

    total: int = 0
    good: list[ManifestEntry] = field(default_factory=list)
    problems: list[ClipProblem] = field(default_factory=list)
    good_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        return {kind: sum(p.kind == kind for p in self.problems) for kind in PROBLEMS}

    def summary(self) -> str:
        counts = ", ".join(
            f"{n} {kind.replace('_', ' ')}" for kind, n in self.counts().items() if n
        )
        return f"{self.total} clips: {len(self.good)} usable ({self.good_seconds / 3600:.2f} h)" + (
            f"; problems: {counts}" if counts else "; no problems"
        )


def loudest_window_db(wave: np.ndarray, sample_rate: int) -> float:
    """RMS dBFS of the loudest ``WINDOW_SECONDS`` window (whole clip if shorter)."""
    window = max(1, round(WINDOW_SECONDS * sample_rate))
    if wave.shape[0] <= window:
        return rms_db(wave)
    usable = wave[: wave.shape[0] // window * window].reshape(-1, window)
    energy = np.mean(np.square(usable, dtype=np.float64), axis=1).max()
    return 10.0 * float(np.log10(energy)) if energy > 0 else float("-inf")


def check_entry(
    entry: ManifestEntry, min_seconds: float, silence_db: float, require_caption: bool
) -> tuple[str, str, float]:
    """Classify one clip: (problem kind or "", reason, usable seconds)."""
    if require_caption and not entry.all_captions:
        return "no_caption", "empty caption", 0.0
    try:
        info = sf.info(str(entry.path))
        wave = read_audio(entry.path, int(info.samplerate))
    except AudioReadError as exc:
        return "unreadable", str(exc), 0.0
    except (RuntimeError, ValueError, OSError) as exc:  # sf.info on non-audio
        return "unreadable", f"{entry.path}: not a readable audio file ({exc})", 0.0
    rate = int(info.samplerate)
    start = round((entry.start or 0.0) * rate)
    end = round(entry.end * rate) if entry.end is not None else wave.shape[0]
    region = wave[start:end]
    seconds = region.shape[0] / rate
    if seconds < max(min_seconds, 1.0 / rate):
        return "too_short", f"{seconds:.3f} s usable, need {min_seconds:g} s", seconds
    level = loudest_window_db(region, rate)
    if level < silence_db:
        return (
            "silent",
            f"loudest {WINDOW_SECONDS * 1000:.0f} ms is {level:.1f} dBFS (< {silence_db:g})",
            seconds,
        )
    return "", "", seconds


def _check_one(args: tuple[ManifestEntry, float, float, bool]) -> tuple[str, str, float]:
    return check_entry(*args)


def check_entries(
    entries: Sequence[ManifestEntry],
    *,
    min_seconds: float = 0.1,
    silence_db: float = -60.0,
    require_caption: bool = False,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Decode every clip (in ``workers`` processes) and classify it."""
    report = CheckReport(total=len(entries))
    jobs = [(entry, min_seconds, silence_db, require_caption) for entry in entries]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_check_one, jobs, chunksize=16)
            outcomes = list(_progress(results, len(jobs), progress))
    else:
        outcomes = list(_progress(map(_check_one, jobs), len(jobs), progress))
    for entry, (kind, reason, seconds) in zip(entries, outcomes, strict=True):
        if kind:
            report.problems.append(ClipProblem(str(entry.path), kind, reason))
        else:
            report.good.append(entry)
            report.good_seconds += seconds
    return report


def _progress(results, total: int, progress: Callable[[int, int], None] | None):  # type: ignore[no-untyped-def]
    for done, result in enumerate(results, start=1):
        if progress is not None:
            progress(done, total)
        yield result


def check_manifest(
    path: str | os.PathLike[str],
    *,
    split: str | None = None,
    min_seconds: float = 0.1,
    silence_db: float = -60.0,
    require_caption: bool = False,
    workers: int = 1,
    clean_output: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Check a manifest. Lines that cannot even be parsed (or whose file is missing) are
    reported as unreadable; with ``clean_output`` the usable clips are written there."""
    manifest = Path(path)
    skipped: list[tuple[int, str]] = []
    parsed = read_manifest(
        manifest, split=split, on_error="skip", check_files=False, skipped_lines=skipped
    )
    report = check_entries(
        parsed,
        min_seconds=min_seconds,
        silence_db=silence_db,
        require_caption=require_caption,
        workers=workers,
        progress=progress,
    )
    report.total += len(skipped)
    for line, message in skipped:
        report.problems.insert(0, ClipProblem(f"{manifest}:{line}", "unreadable", message))
    if clean_output is not None and report.good:
        write_manifest(clean_output, report.good)
    return report


__all__ = [
    "CheckReport",
    "ClipProblem",
    "check_entries",
    "check_entry",
    "check_manifest",
    "loudest_window_db",
]
