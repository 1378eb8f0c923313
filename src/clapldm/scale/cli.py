"""`clapldm generate --prompts FILE -o DIR`: the arguments of a run at scale, and the run.

`add_arguments` adds `--devices`, `--num-nodes`, `--accelerator` and `--batch-size` to the
generate command; `run_prompts_file` turns the parsed command into a `runner` call. It
stays light to import: the pipeline and Lightning load only when a run starts.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from clapldm.errors import InvalidInputError
from clapldm.scale.jobs import JobDefaults, read_jobs

if TYPE_CHECKING:
    from clapldm.scale.runner import Ranks, RunOptions

ACCELERATORS = ("cpu", "gpu", "mps")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "with --prompts (many clips; see README 'Generate a data set')"
    )
    group.add_argument(
        "--devices", type=int, default=1, help="processes per node (one per GPU); >1 uses Lightning"
    )
    group.add_argument("--num-nodes", type=int, default=1, help="machines in the run")
    group.add_argument(
        "--accelerator",
        choices=ACCELERATORS,
        default=None,
        help="for --devices/--num-nodes runs (default: from --device)",
    )
    group.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="clips with equal settings per pipeline call (default: 1 on cpu, 8 on gpu/mps)",
    )


def job_defaults(args: argparse.Namespace, sampling: dict[str, Any]) -> JobDefaults:
    """The command's flags as defaults for every line (`sampling`: the CLI's sampling kwargs)."""
    if sampling.get("seed") is None:
        raise InvalidInputError(
            "--random-seed cannot be used with --prompts (a restart must redo the same seeds); "
            "pass --seed N"
        )
    return JobDefaults(
        seed=sampling["seed"],
        duration=args.duration,
        steps=sampling.get("steps"),
        guidance_scale=sampling.get("guidance_scale"),
        sampler=sampling.get("sampler"),
        eta=sampling.get("eta", 0.0),
        candidates=sampling.get("candidates", 1),
        negative_prompt=sampling.get("negative_prompt"),
        audio_prompt=args.audio_prompt,
    )


def run_options(args: argparse.Namespace) -> RunOptions:
    from clapldm.loading import parse_lora_args
    from clapldm.scale.runner import RunOptions

    for flag, value in (("--devices", args.devices), ("--num-nodes", args.num_nodes)):
        if value < 1:
            raise InvalidInputError(f"{flag} must be at least 1, got {value}")
    if args.batch_size is not None and args.batch_size < 1:
        raise InvalidInputError(f"--batch-size must be at least 1, got {args.batch_size}")
    return RunOptions(
        model=args.model,
        loras=tuple(parse_lora_args(args.lora)),
        device=args.device,
        accelerator=args.accelerator or accelerator_of(args.device),
        devices=args.devices,
        num_nodes=args.num_nodes,
        precision=args.precision,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        plot=args.plot,
    )


def accelerator_of(device: str) -> str:
    """Lightning's accelerator name for a torch device name."""
    if device.startswith("cuda"):
        return "gpu"
    return "mps" if device.startswith("mps") else "cpu"


def open_ranks(options: RunOptions) -> Ranks:
    """One process (`SingleProcess`), or Lightning Fabric's processes (`FabricRanks`)."""
    from clapldm.scale.runner import SingleProcess

    if options.devices * options.num_nodes == 1:
        launched = os.environ.get("WORLD_SIZE", "1")
        if launched.isdigit() and int(launched) > 1:
            raise InvalidInputError(
                f"this process is one of WORLD_SIZE={launched}; pass --devices and --num-nodes "
                "so that devices x nodes matches"
            )
        return SingleProcess(device=options.device)
    try:
        from clapldm.scale.distributed import FabricRanks
    except ImportError:
        raise InvalidInputError(
            "--devices / --num-nodes above 1 run through Lightning: pip install 'clapldm[scale]'"
        ) from None
    return FabricRanks(options.accelerator, options.devices, options.num_nodes)


def run_prompts_file(args: argparse.Namespace, sampling: dict[str, Any]) -> int:
    """Run `--prompts FILE -o DIR`; the exit code is 1 when any line failed."""
    from clapldm.scale.runner import generate_from_jobs

    if args.from_file:
        raise InvalidInputError("--from reproduces one clip; it cannot be combined with --prompts")
    if args.prompt is not None:
        raise InvalidInputError("give a prompt or --prompts FILE, not both")
    if os.path.splitext(args.output)[1]:
        raise InvalidInputError("with --prompts, -o names a folder")
    jobs = read_jobs(args.prompts, job_defaults(args, sampling))  # before starting processes
    options = run_options(args)
    ranks = open_ranks(options)
    try:
        summary = generate_from_jobs(jobs, args.output, options, ranks)
    finally:
        ranks.close()
    return summary.exit_code
