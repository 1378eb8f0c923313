"""Progress over all ranks: each rank writes its counts, rank 0 adds them up and shows them.

Ranks never wait on each other for progress: each one rewrites its small counter file
(`RunFolder.write_counts`) after every item, and a thread on rank 0 reads all of them
every `interval` seconds. On a terminal it drives one tqdm bar (items done / total,
clips per minute, ETA); elsewhere (a SLURM log) it prints a line every `log_every`
seconds. `Tally` is the arithmetic, with its clock injected, so it is tested alone.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm

from clapldm.scale.store import Counts, RunFolder


@dataclass(frozen=True)
class Snapshot:
    done: int  # items finished in this run (written or failed)
    total: int  # items this run has to do
    per_minute: float  # clips per minute since the run started (0 before the first)
    eta_seconds: float | None  # None until a rate is known

    def line(self) -> str:
        eta = "?" if self.eta_seconds is None else _clock(self.eta_seconds)
        return f"{self.done}/{self.total} clips, {self.per_minute:.1f} clips/min, ETA {eta}"


class Tally:
    """Sum of the ranks' counts against the run's total, with rate and ETA."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.started = clock()

    def snapshot(self, counts: list[Counts]) -> Snapshot:
        done = sum(c.done + c.failed for c in counts)
        elapsed = self.clock() - self.started
        per_minute = 60.0 * done / elapsed if done and elapsed > 0 else 0.0
        eta = (self.total - done) * 60.0 / per_minute if per_minute else None
        return Snapshot(done, self.total, per_minute, eta)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressMonitor:
    """Rank 0's thread showing the whole run's progress until `stop`."""

    def __init__(
        self,
        folder: RunFolder,
        world_size: int,
        total: int,
        *,
        stream: TextIO | None = None,
        interval: float = 1.0,
        log_every: float = 60.0,
    ) -> None:
        self.folder = folder
        self.world_size = world_size
        self.tally = Tally(total)
        self.stream = stream or sys.stderr
        self.interval = interval
        self.log_every = log_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="clapldm-progress", daemon=True)
        self._bar: tqdm | None = None
        if self.stream.isatty():
            self._bar = tqdm(
                total=total,
                unit="clip",
                file=self.stream,
                dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {postfix}]",
                postfix="? clips/min, ETA ?",
            )

    def start(self) -> ProgressMonitor:
        self._thread.start()
        return self

    def stop(self) -> Snapshot:
        """Stop the thread; show and return the final counts."""
        self._stop.set()
        self._thread.join()
        snapshot = self._update()
        if self._bar is not None:
            self._bar.close()
        return snapshot

    def _loop(self) -> None:
        last_line = self.tally.clock()
        while not self._stop.wait(self.interval):
            snapshot = self._update()
            if self._bar is None and self.tally.clock() - last_line >= self.log_every:
                print(f"clapldm: {snapshot.line()}", file=self.stream, flush=True)
                last_line = self.tally.clock()

    def _update(self) -> Snapshot:
        snapshot = self.tally.snapshot(self.folder.read_counts(self.world_size))
        if self._bar is not None:
            self._bar.n = snapshot.done
            self._bar.set_postfix_str(snapshot.line().split(", ", 1)[1], refresh=False)
            self._bar.refresh()
        return snapshot
