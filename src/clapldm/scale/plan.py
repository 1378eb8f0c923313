"""Batches and their ranks: formed from the whole work file first, then shared out.

Batched convolutions round differently from unbatched ones (on the bundled model the same
clip differs by up to ~1e-3 between a batch of 4 and a batch of 1), so the batch an item
falls into must not depend on the number of ranks, on which items a restart still has to
do, or on timing. `plan_batches` therefore groups the *whole* file, in line order, into
batches of up to `batch_size` items with equal settings, and `assign` only decides which
rank runs each batch. A restarted run runs a partly finished batch whole again and keeps
the files already verified, so its new files are the bytes an uninterrupted run writes.
With `batch_size` 1 every clip depends on its own line alone.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from clapldm.scale.jobs import JobItem


@dataclass(frozen=True)
class Batch:
    """Items run in one pipeline call (generate), or one editing item alone."""

    number: int  # position in the plan
    items: tuple[JobItem, ...]


def batch_key(item: JobItem) -> tuple[object, ...] | None:
    """Items with equal keys may share a batch; None: the item runs alone (editing modes,
    audio prompts: each has its own input clip)."""
    if item.mode != "generate" or item.audio_prompt is not None:
        return None
    return (
        item.duration,
        item.steps,
        item.guidance_scale,
        item.sampler,
        item.eta,
        item.candidates,
    )


def plan_batches(items: Sequence[JobItem], batch_size: int) -> list[Batch]:
    """Group items (in file order) into batches of equal `batch_key`, at most `batch_size`
    each; a batch is closed when full. The result depends on the items alone."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    open_batches: dict[tuple[object, ...], list[JobItem]] = {}
    groups: list[list[JobItem]] = []
    for item in items:
        key = batch_key(item)
        if key is None:
            groups.append([item])
            continue
        group = open_batches.get(key)
        if group is None:
            group = open_batches[key] = []
            groups.append(group)
        group.append(item)
        if len(group) == batch_size:
            del open_batches[key]
    return [Batch(number, tuple(group)) for number, group in enumerate(groups)]


def assign(
    batches: Sequence[Batch], world_size: int, cost: Callable[[JobItem], float]
) -> list[list[Batch]]:
    """Share batches among ranks, most expensive first (`cost` of an item: a relative run
    time), each to the least loaded rank (ties: the lowest rank); each rank's batches in
    plan order. Deterministic."""
    loads = [(0.0, rank) for rank in range(world_size)]
    shares: list[list[Batch]] = [[] for _ in range(world_size)]
    costs = {batch.number: sum(cost(item) for item in batch.items) for batch in batches}
    for batch in sorted(batches, key=lambda b: (-costs[b.number], b.number)):
        load, rank = heapq.heappop(loads)
        shares[rank].append(batch)
        heapq.heappush(loads, (load + costs[batch.number], rank))
    return [sorted(share, key=lambda b: b.number) for share in shares]
