"""Run a work file on one process or many: plan on rank 0, run each rank's share, manifest.

Every process reads the work file and loads the model, with the same LoRA adapters at
the same scales (`loading.load_pipeline`, as the one-clip commands do). Rank 0 then
checks every item against the model (`check_item`: the pipeline's own `SamplingRequest`
checks, so a bad value reads as it does from the API, the CLI or the server), verifies
what an earlier run finished, plans the batches of the whole file (`plan.plan_batches`)
and shares the unfinished ones among the ranks (`plan.assign`). Each rank runs its share
through the pipeline's public methods, writing each clip and then its record
(`store.RunFolder`). After a barrier rank 0 writes `manifest.jsonl`: one row per
non-blank line, in order.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import soundfile as sf

from clapldm.audio.io import write_audio
from clapldm.errors import ClapLdmError, InvalidInputError
from clapldm.loading import load_pipeline
from clapldm.pipeline import AudioLDM, GenerationOutput, LoraRef
from clapldm.plot import save_spectrogram
from clapldm.recipe import check_tags_fit, model_hash, recipe, recipe_tags
from clapldm.request import RequestDefaults, SamplingRequest
from clapldm.scale.jobs import BadLine, JobItem, JobLine
from clapldm.scale.plan import Batch, assign, plan_batches
from clapldm.scale.progress import ProgressMonitor
from clapldm.scale.store import Counts, RunFolder, sha256_file, spec_hash

logger = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 20


class Ranks(Protocol):
    """The processes of a run, as a rank sees them (one process: `SingleProcess`)."""

    rank: int
    world_size: int
    device: str

    def barrier(self) -> None: ...

    def broadcast(self, obj: Any) -> Any: ...

    def close(self) -> None: ...


@dataclass
class SingleProcess:
    """A run on one process: no launcher, no process group, no Lightning."""

    device: str = "cpu"
    rank: int = 0
    world_size: int = 1

    def barrier(self) -> None:
        pass

    def broadcast(self, obj: Any) -> Any:
        return obj

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RunOptions:
    """How to run a work file. Every process loads `model` with the LoRA adapters `loras`
    ((folder, scale), in order) at `precision`, as the one-clip commands do
    (`loading.load_pipeline`). `devices` x `num_nodes` > 1 runs through Lightning Fabric
    on `accelerator` (cpu, gpu or mps); one process runs on `device`. `batch_size` None:
    1 on a CPU (each clip then depends on its line alone; batching gains ~5% there), 8
    on an accelerator."""

    model: str | None = None
    loras: tuple[tuple[str, float], ...] = ()
    device: str = "cpu"
    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    precision: str = "fp32"
    batch_size: int | None = None
    progress: bool = True
    plot: bool = False


@dataclass(frozen=True)
class Plan:
    """What rank 0 decided, sent to every rank."""

    specs: dict[str, str]  # item name -> spec hash
    done_before: dict[str, dict[str, Any]]  # name -> manifest row of a verified item
    bad: list[BadLine]  # lines that cannot run (parse or model checks)
    shares: list[list[Batch]]  # per rank: the batches with at least one unfinished item
    total: int  # items to run now


@dataclass(frozen=True)
class RunSummary:
    lines: int  # non-blank lines of the work file
    written: int
    done_before: int
    errors: list[str] = field(default_factory=list)  # "line N: reason", in line order
    manifest: str = ""
    seconds: float = 0.0  # from the plan to the last rank done (model loading not included)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def report(self) -> str:
        rate = 60.0 * self.written / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.lines} items: {self.written} written, {self.done_before} already done, "
            f"{len(self.errors)} failed in {self.seconds:.1f} s ({rate:.2f} clips/min); "
            f"manifest {self.manifest}"
        )


def generate_from_jobs(
    jobs: Sequence[JobLine],
    out_dir: str | os.PathLike[str],
    options: RunOptions,
    ranks: Ranks,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> RunSummary:
    """Run every line of a work file (`jobs.read_jobs`) into `out_dir` on this process's
    rank; every rank returns the same summary (rank 0 prints it to `out`, the failed lines
    and the progress to `err`; default stdout and stderr)."""
    out = out or sys.stdout
    err = err or sys.stderr
    pipe = load_pipeline(
        options.model, device=ranks.device, loras=options.loras, precision=options.precision
    )
    folder = RunFolder(out_dir)
    plan: Plan | ClapLdmError | None = None
    if ranks.rank == 0:
        try:
            plan = make_plan(pipe, folder, jobs, options, ranks.world_size)
        except ClapLdmError as exc:  # sent to every rank, so that none waits for a plan
            plan = exc
    plan = ranks.broadcast(plan)
    if isinstance(plan, ClapLdmError):
        raise plan
    assert isinstance(plan, Plan)
    monitor = None
    if ranks.rank == 0 and options.progress:
        monitor = ProgressMonitor(folder, ranks.world_size, plan.total, stream=err).start()
    started = time.perf_counter()
    try:
        run_share(pipe, folder, plan, ranks.rank, plot=options.plot)
        ranks.barrier()
    finally:
        if monitor is not None:
            monitor.stop()
    seconds = time.perf_counter() - started
    summary = finish(folder, jobs, plan, seconds) if ranks.rank == 0 else None
    summary = ranks.broadcast(summary)
    if ranks.rank == 0:
        for message in summary.errors[:MAX_ERRORS_SHOWN]:
            print(f"clapldm: {message}", file=err)
        if len(summary.errors) > MAX_ERRORS_SHOWN:
            hidden = len(summary.errors) - MAX_ERRORS_SHOWN
            print(f"clapldm: ... and {hidden} more (see the manifest)", file=err)
        print(summary.report(), file=out)
    return summary


# --------------------------------------------------------------------------- planning
def make_plan(
    pipe: AudioLDM, folder: RunFolder, jobs: Sequence[JobLine], options: RunOptions, world_size: int
) -> Plan:
    """Rank 0: check items, verify earlier work, plan and share the batches."""
    items = [job for job in jobs if isinstance(job, JobItem)]
    folder.prepare(item.name for item in items)
    defaults = pipe.request_defaults()
    bad = [job for job in jobs if isinstance(job, BadLine)]
    usable, cost = [], {}
    for item in items:
        try:
            request = check_item(item, defaults)
        except InvalidInputError as exc:
            bad.append(BadLine(item.index, item.line, str(exc), item.prompt))
            continue
        usable.append(item)
        cost[item.name] = request.duration * request.steps * request.candidates
    weights = model_hash(pipe)
    loras = [ref for ref in pipe.loras.values() if ref.scale != 0]  # 0: switched off
    specs = {item.name: item_spec_hash(item, weights, pipe.precision, loras) for item in usable}
    done_before = {}
    for item in usable:
        row = folder.done_row(item.name, specs[item.name])
        if row is not None:
            done_before[item.name] = row
    batch_size = options.batch_size or (1 if pipe.device.type == "cpu" else 8)
    batches = plan_batches(usable, batch_size)
    pending = [b for b in batches if any(i.name not in done_before for i in b.items)]
    return Plan(
        specs=specs,
        done_before=done_before,
        bad=sorted(bad, key=lambda b: b.line),
        shares=assign(pending, world_size, lambda item: cost[item.name]),
        total=len(usable) - len(done_before),
    )


def check_item(item: JobItem, defaults: RequestDefaults) -> SamplingRequest:
    """The item as a checked `SamplingRequest` (InvalidInputError: what is wrong)."""
    input_samples = input_rate = None
    if item.input is not None:
        try:
            info = sf.info(item.input)
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise InvalidInputError(f"input {item.input}: cannot read audio ({exc})") from None
        input_rate = int(info.samplerate)
        input_samples = round(info.frames * defaults.sample_rate / input_rate)
    return SamplingRequest.create(
        defaults,
        mode=item.mode,
        prompt=item.prompt,
        negative_prompt=item.negative_prompt,
        seed=item.seed,
        sampler=item.sampler,
        steps=item.steps,
        guidance_scale=item.guidance_scale,
        eta=item.eta,
        candidates=item.candidates,
        duration=item.duration,
        audio_prompt_weight=_audio_prompt_weight(item),
        strength=item.strength,
        regions=item.regions,
        cutoff_hz=item.cutoff_hz,
        total_duration=item.total_duration,
        window=item.window,
        overlap=item.overlap,
        input_samples=input_samples,
        input_rate=input_rate,
    )


def _audio_prompt_weight(item: JobItem) -> float | None:
    if item.audio_prompt is None:
        return item.audio_prompt_weight
    return 1.0 if item.audio_prompt_weight is None else item.audio_prompt_weight


def item_spec_hash(item: JobItem, weights: str, precision: str, loras: Sequence[LoraRef]) -> str:
    """Hash of all that decides the item's file: its settings, the model's weights, the
    LoRA adapters on it (each by the sha256 of its weights, as recipes record it, and its
    scale, in load order; where the folder lies does not change the clip), the precision,
    and the bytes of its input clips. Without adapters the hash is what it was before
    adapters could be used here, so those runs still resume."""
    spec = item.spec()
    for key in ("input", "audio_prompt"):
        if spec[key] is not None:
            spec[key + "_sha256"] = sha256_file(Path(spec[key]))
    identity: dict[str, Any] = {"item": spec, "model": weights, "precision": precision}
    if loras:
        identity["loras"] = [{"sha256": ref.sha256, "scale": ref.scale} for ref in loras]
    return spec_hash(identity)


# --------------------------------------------------------------------------- running
def run_share(pipe: AudioLDM, folder: RunFolder, plan: Plan, rank: int, *, plot: bool) -> None:
    """Run this rank's batches; every item ends with a record (done or failed)."""
    counts = Counts()
    folder.write_counts(rank, counts)
    for batch in plan.shares[rank]:
        for item, outcome in run_batch(pipe, batch):
            if item.name in plan.done_before:
                continue  # finished by an earlier run; this batch ran again for the others
            spec = plan.specs[item.name]
            if isinstance(outcome, Produced):
                try:
                    row = write_item(pipe, folder, item, outcome, rank, plot=plot)
                    folder.write_done(item.name, spec, row)
                    counts = Counts(counts.done + 1, counts.failed)
                    folder.write_counts(rank, counts)
                    continue
                except ClapLdmError as exc:  # e.g. a recipe too long for a WAV's tags
                    outcome = str(exc)
            folder.write_failed(item.name, spec, error_row(item, outcome, rank))
            counts = Counts(counts.done, counts.failed + 1)
            folder.write_counts(rank, counts)
    folder.write_counts(rank, Counts(counts.done, counts.failed, finished=True))


@dataclass(frozen=True)
class Produced:
    """One item's clip: clip `index` of `output`, and its share of the batch's time."""

    output: GenerationOutput
    index: int
    seconds: float


def run_batch(pipe: AudioLDM, batch: Batch) -> list[tuple[JobItem, Produced | str]]:
    """Each item with its clip or its error. A failing batch of several items is run
    again one item at a time, so that only the item at fault fails."""
    started = time.perf_counter()
    try:
        output = call_pipeline(pipe, batch.items)
    except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the run
        if len(batch.items) > 1:
            return [pair for item in batch.items for pair in run_batch(pipe, Batch(-1, (item,)))]
        return [(batch.items[0], describe_error(exc))]
    seconds = (time.perf_counter() - started) / len(batch.items)
    return [(item, Produced(output, i, seconds)) for i, item in enumerate(batch.items)]


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClapLdmError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"internal error: {type(exc).__name__}: {text}"


def call_pipeline(pipe: AudioLDM, items: Sequence[JobItem]) -> GenerationOutput:
    """One public pipeline call for `items` (several only in generate mode)."""
    first = items[0]
    common = _given(
        steps=first.steps,
        guidance_scale=first.guidance_scale,
        sampler=first.sampler,
        eta=first.eta,
    )
    if first.mode == "generate":
        return pipe.generate(
            [item.prompt for item in items],
            seed=[item.seed for item in items],
            negative_prompt=[item.negative_prompt or "" for item in items],
            candidates=first.candidates,
            audio_prompt=first.audio_prompt,
            **_given(duration=first.duration, audio_prompt_weight=first.audio_prompt_weight),
            **common,
        )
    (item,) = items
    common.update(
        seed=item.seed,
        negative_prompt=item.negative_prompt,
        **_given(candidates=item.candidates if item.mode != "extend" else None),
    )
    if item.mode == "transfer":
        return pipe.transfer(
            item.input,
            item.prompt,
            **_given(strength=item.strength, duration=item.duration),
            **common,
        )
    if item.mode == "inpaint":
        regions = [list(region) for region in item.regions or ()]
        return pipe.inpaint(
            item.input, item.prompt, regions=regions, **_given(duration=item.duration), **common
        )
    if item.mode == "superres":
        return pipe.super_resolve(
            item.input, item.prompt, **_given(cutoff_hz=item.cutoff_hz), **common
        )
    return pipe.extend(
        item.input,
        item.prompt,
        **_given(total_duration=item.total_duration, window=item.window, overlap=item.overlap),
        **common,
    )


def _given(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments that are set (None leaves the pipeline's default)."""
    return {key: value for key, value in kwargs.items() if value is not None}


def write_item(
    pipe: AudioLDM, folder: RunFolder, item: JobItem, produced: Produced, rank: int, *, plot: bool
) -> dict[str, Any]:
    """Write one clip (atomically, with its recipe in its tags); return its manifest row."""
    output, index = produced.output, produced.index
    extra = _given(input=item.input, audio_prompt=item.audio_prompt)
    path = folder.root / item.name
    tags = recipe_tags(pipe, output, index, extra)
    check_tags_fit(path, tags)
    write_audio(path, output.audio[index], output.sample_rate, tags=tags)
    if plot:
        save_spectrogram(
            path.with_suffix(".png"), output.audio[index], output.sample_rate, title=item.prompt
        )
    score = float(output.scores[index])
    logger.info("%s  seed %s  rank %d", path, output.seeds[index], rank)
    return {
        **_row_head(item),
        "file": item.name,
        "status": "done",
        "seed": output.seeds[index],
        "recipe": recipe(pipe, output, index, extra),
        "clap_score": None if math.isnan(score) else round(score, 6),
        "seconds": round(produced.seconds, 3),
        "rank": rank,
        "error": None,
    }


def _row_head(job: JobLine) -> dict[str, Any]:
    if isinstance(job, JobItem):
        return {
            "line": job.line,
            "index": job.index,
            "name": job.name,
            "mode": job.mode,
            "prompt": job.prompt,
        }
    return {"line": job.line, "index": job.index, "name": None, "mode": None, "prompt": job.prompt}


def error_row(job: JobLine, error: str, rank: int | None, status: str = "failed") -> dict[str, Any]:
    return {
        **_row_head(job),
        "file": None,
        "status": status,
        "seed": job.seed if isinstance(job, JobItem) else None,
        "recipe": None,
        "clap_score": None,
        "seconds": None,
        "rank": rank,
        "error": error,
    }


# --------------------------------------------------------------------------- manifest
def finish(folder: RunFolder, jobs: Sequence[JobLine], plan: Plan, seconds: float) -> RunSummary:
    """Rank 0, after every rank is done: the manifest, one row per line, in line order."""
    bad = {b.line: b for b in plan.bad}
    rows, errors, written = [], [], 0
    for job in jobs:
        if job.line in bad:
            row = error_row(job, bad[job.line].error, None, status="invalid")
        else:
            assert isinstance(job, JobItem)
            row = plan.done_before.get(job.name) or _row_of_this_run(folder, job, plan)
            written += row["status"] == "done" and job.name not in plan.done_before
        if row["error"]:
            errors.append(f"line {job.line}: {row['error']}")
        rows.append(row)
    manifest = folder.write_manifest(rows)
    return RunSummary(
        lines=len(jobs),
        written=written,
        done_before=len(plan.done_before),
        errors=errors,
        manifest=str(manifest),
        seconds=seconds,
    )


def _row_of_this_run(folder: RunFolder, item: JobItem, plan: Plan) -> dict[str, Any]:
    row = folder.done_row(item.name, plan.specs[item.name])
    if row is not None:
        return row
    record = folder.read_record(item.name)
    if record is not None and record.get("spec") == plan.specs[item.name]:
        if isinstance(record.get("row"), dict) and record["row"].get("error"):
            return record["row"]
    return error_row(item, "no output was recorded for this item (a rank stopped early?)", None)
