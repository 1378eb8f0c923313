"""Jobs for the server: a bounded queue consumed by worker threads, off the event loop.

A job moves queued -> running -> done | failed | cancelled. The queue holds at most
`max_queue` waiting jobs (running ones not counted); `submit` beyond that raises
`QueueFullError` carrying a Retry-After estimate. A queued job is removed from the queue
when cancelled; a running one is stopped at its next progress report (the runner's
`report` raises `JobCancelled`). Finished jobs expire after `ttl_seconds` and at most
`max_jobs` records are kept, so memory and disk stay bounded; expiring a job deletes the
files its runner produced.

This module knows nothing about audio: a runner is any callable
`runner(job, report) -> (result dict, files)`, where `report(fraction, stage)` records
progress and raises `JobCancelled` once cancellation was asked for.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from clapldm.errors import ClapLdmError, InvalidInputError

logger = logging.getLogger(__name__)


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class QueueFullError(Exception):
    """The queue is full; `retry_after` is a whole number of seconds worth waiting."""

    def __init__(self, retry_after: int, max_queue: int) -> None:
        super().__init__(f"the job queue is full ({max_queue} waiting); retry in {retry_after} s")
        self.retry_after = retry_after


class JobNotFoundError(KeyError):
    """No job with this id (never existed, or expired)."""


class JobFinishedError(Exception):
    """The job already finished, so it cannot be cancelled."""


class JobCancelled(Exception):
    """Raised inside a runner (by `report`) to abort a job whose cancellation was asked."""


@dataclass
class Job:
    """One request's life. `request` is whatever the runner needs (validated already)."""

    id: str
    mode: str
    request: Any
    created: float
    seed: int | None = None
    state: JobState = JobState.QUEUED
    progress: float = 0.0  # fraction in [0, 1]
    stage: str = "queued"
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED


Report = Callable[[float, str], None]
Runner = Callable[[Job, Report], tuple[dict[str, Any], dict[str, Path]]]


class JobManager:
    """Owns every job record, the waiting queue and the worker threads."""

    def __init__(
        self,
        runner: Runner,
        *,
        max_queue: int = 8,
        workers: int = 1,
        ttl_seconds: float = 1800.0,
        max_jobs: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_queue < 1 or workers < 1:
            raise InvalidInputError("max_queue and workers must be >= 1")
        if max_jobs < max_queue + workers + 1:
            raise InvalidInputError("max_jobs must exceed max_queue + workers")
        self.runner = runner
        self.max_queue = max_queue
        self.workers = workers
        self.ttl_seconds = ttl_seconds
        self.max_jobs = max_jobs
        self.clock = clock
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._waiting: collections.deque[Job] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._mean_seconds = 5.0  # running estimate of one job's time, for Retry-After
        self.completed = 0

    # ------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the worker threads (idempotent)."""
        with self._lock:
            if self._threads:
                return
            self._stopping = False
            for index in range(self.workers):
                thread = threading.Thread(
                    target=self._work, name=f"clapldm-worker-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel every job not finished and wait for the workers to exit."""
        with self._wake:
            self._stopping = True
            while self._waiting:
                self._finish(self._waiting.popleft(), JobState.CANCELLED, "server shutting down")
            for job in self._jobs.values():
                if job.state is JobState.RUNNING:
                    job.cancel_requested.set()
            self._wake.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)

    # --------------------------------------------------------------------- requests
    def submit(self, mode: str, request: Any, seed: int | None = None) -> Job:
        """Queue a job; raises `QueueFullError` when `max_queue` jobs are waiting."""
        self.start()
        with self._wake:
            self._expire_locked()
            if len(self._waiting) >= self.max_queue:
                raise QueueFullError(self._retry_after_locked(), self.max_queue)
            job = Job(
                id=uuid.uuid4().hex, mode=mode, request=request, created=self.clock(), seed=seed
            )
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._wake.notify()
        logger.info("job %s (%s) queued", job.id, mode)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            self._expire_locked()
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one at its next progress report."""
        with self._wake:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFoundError(job_id)
            if job.is_finished:
                raise JobFinishedError(f"job {job_id} already {job.state.value}")
            job.cancel_requested.set()
            if job.state is JobState.QUEUED:
                self._waiting.remove(job)
                self._finish(job, JobState.CANCELLED, None)
        logger.info("job %s cancel requested (%s)", job_id, job.state.value)
        return job

    def queue_position(self, job: Job) -> int | None:
        """0-based place among the waiting jobs, or None when not waiting."""
        with self._lock:
            for position, waiting in enumerate(self._waiting):
                if waiting is job:
                    return position
        return None

    def stats(self) -> dict[str, int]:
        with self._lock:
            running = sum(1 for job in self._jobs.values() if job.state is JobState.RUNNING)
            return {
                "queued": len(self._waiting),
                "running": running,
                "max_queue": self.max_queue,
                "workers": self.workers,
                "jobs": len(self._jobs),
                "completed": self.completed,
            }

    # ---------------------------------------------------------------------- workers
    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopping:
                    self._wake.wait(timeout=30.0)
                    self._expire_locked()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                job.state = JobState.RUNNING
                job.stage = "starting"
                job.started = self.clock()
            self._run(job)

    def _run(self, job: Job) -> None:
        def report(fraction: float, stage: str) -> None:
            if job.cancel_requested.is_set():
                raise JobCancelled()
            job.progress = min(max(float(fraction), job.progress), 1.0)
            job.stage = stage

        try:
            result, files = self.runner(job, report)
        except JobCancelled:
            state, error, result, files = JobState.CANCELLED, None, {}, {}
        except ClapLdmError as exc:
            state, error, result, files = JobState.FAILED, str(exc), {}, {}
        except MemoryError:
            state, error, result, files = (
                JobState.FAILED,
                "out of memory (try a shorter duration)",
                {},
                {},
            )
        except Exception as exc:  # noqa: BLE001 - a worker must survive any job
            logger.exception("job %s failed", job.id)
            state, error, result, files = (
                JobState.FAILED,
                f"internal error: {type(exc).__name__}",
                {},
                {},
            )
        else:
            state, error = JobState.DONE, None
        with self._lock:
            job.result, job.files = result, files
            if state is JobState.DONE:
                job.progress = 1.0
                self.completed += 1
            self._finish(job, state, error)
            if job.started is not None and state is JobState.DONE:
                spent = max(job.finished - job.started, 0.0) if job.finished is not None else 0.0
                self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * spent
        logger.info("job %s %s%s", job.id, state.value, f": {error}" if error else "")

    # -------------------------------------------------------------------- internals
    def _finish(self, job: Job, state: JobState, error: str | None) -> None:
        job.state = state
        job.stage = state.value
        job.error = error
        job.finished = self.clock()
        job.request = None  # drop uploaded audio as soon as it is not needed

    def _retry_after_locked(self) -> int:
        waiting = len(self._waiting) + 1
        return max(1, math.ceil(self._mean_seconds * waiting / self.workers))

    def _expire_locked(self) -> None:
        """Drop finished jobs older than the TTL, then the oldest finished beyond max_jobs."""
        now = self.clock()
        expired = [
            job
            for job in self._jobs.values()
            if job.is_finished
            and job.finished is not None
            and now - job.finished > self.ttl_seconds
        ]
        excess = len(self._jobs) - len(expired) - self.max_jobs
        if excess > 0:
            gone = {job.id for job in expired}
            survivors = (
                job for job in self._jobs.values() if job.is_finished and job.id not in gone
            )
            for job in survivors:
                if excess <= 0:
                    break
                expired.append(job)
                excess -= 1
        for job in expired:
            del self._jobs[job.id]
            for path in job.files.values():
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    logger.warning("could not delete expired output %s: %s", path, exc)
