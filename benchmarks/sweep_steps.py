"""Quality against steps: every sampler x step count, timed, scored with CLAP-audio FAD.

For each (sampler, steps) the same prompts and seeds are generated; the clips are embedded
with the model's CLAP audio tower and compared with a reference set by Fréchet distance
(`clapldm.eval.metrics.frechet_from_features`, float64). The reference is a folder of
real audio (`--reference-dir`) or, without one, the clips of the faithful preset (DDIM
200 steps, eta 1, as the original AudioLDM) for the same prompts and seeds — then the
FAD says how far a cheaper setting lands from the reference sampler's distribution.
The CLAP score (text-audio cosine) and seconds per clip are reported beside it, so the
default sampler and step count can be chosen by quality per second.
Every setting is timed the same way: one untimed warm-up call of its sampler configuration
(the first batch of prompts, 2 steps) before its first timed run, then the median of
`--repeats` timed runs of all prompts (fixed seeds: every run makes the same clips).
With real clips as the reference, each row also gives its FAD and time relative to the
faithful preset, and whether it meets the time-to-quality target (FAD within 5% of the
faithful preset's in at most 1/10 of its time).

    python benchmarks/sweep_steps.py                             # the bundled model
    python benchmarks/sweep_steps.py --model path/or/hub-id --steps 10,25,50,100,200
    python benchmarks/sweep_steps.py --reference-dir data/real_clips --prompts-file prompts.txt
    python benchmarks/sweep_steps.py --corpus /work/corpus       # test captions and real test clips
    python benchmarks/sweep_steps.py --quick                     # tiny random model (smoke test)

FAD from a few dozen clips is a coarse, biased estimate (512-d features): compare rows
of one run, not numbers across runs with different prompt counts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_PROMPTS = [
    "a dog barking",
    "rain on a window",
    "a car engine starting",
    "birds chirping in a forest",
    "a man speaking",
    "a bell ringing",
    "water running from a tap",
    "footsteps on a wooden floor",
    "a piano playing a slow melody",
    "wind blowing through trees",
    "a door creaking open",
    "people clapping",
    "a cat meowing",
    "thunder rumbling in the distance",
    "a drum beat",
    "an alarm clock ringing",
]
FAITHFUL = ("ddim", 200, 1.0)  # `--preset audioldm`: DDIM 200 steps, eta 1 (x3 candidates)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=None, help="model folder, .ckpt or hub id (default: bundled)"
    )
    parser.add_argument("--samplers", default=None, help="comma list (default: all)")
    parser.add_argument(
        "--steps", default=None, help="comma list of step counts (default 5,10,25,50,100,200)"
    )
    parser.add_argument("--prompts-file", type=Path, default=None, help="one prompt per line")
    parser.add_argument("--num-prompts", type=int, default=None, help="default 16")
    parser.add_argument("--duration", type=float, default=None, help="seconds per clip (default 5)")
    parser.add_argument("--guidance", type=float, default=2.5)
    parser.add_argument(
        "--batch", type=int, default=None, help="prompts per generate call (default 8)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=1, help="timed runs per setting, median (default 1)"
    )
    parser.add_argument(
        "--reference-dir", type=Path, default=None, help="real audio to compare with"
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="a corpus folder: prompts = captions of its test split, reference = its test clips",
    )
    parser.add_argument(
        "--faithful-candidates",
        type=int,
        default=3,
        help="candidates of the faithful preset (3 as --preset audioldm; 1: its sampler only)",
    )
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write all rows here")
    parser.add_argument(
        "--quick", action="store_true", help="tiny random model, 4 prompts, steps 2,4"
    )
    args = parser.parse_args(argv)
    defaults = (
        {"num_prompts": 4, "steps": "2,4", "duration": 0.5, "batch": 4}
        if args.quick
        else {"num_prompts": 16, "steps": "5,10,25,50,100,200", "duration": 5.0, "batch": 8}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def load_model(args: argparse.Namespace) -> Any:
    from clapldm import AudioLDM

    if args.quick:
        from clapldm.debug import tiny_pipeline

        return tiny_pipeline()
    return AudioLDM.from_pretrained(args.model)


def corpus_test_rows(corpus: Path) -> list[dict[str, Any]]:
    lines = (corpus / "manifest_test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read_prompts(args: argparse.Namespace) -> list[str]:
    if args.corpus is not None:  # distinct test captions, a seeded pick
        captions = sorted({row["caption"] for row in corpus_test_rows(args.corpus)})
        random.Random(args.seed).shuffle(captions)
        return captions[: args.num_prompts]
    if args.prompts_file:
        lines = args.prompts_file.read_text(encoding="utf-8").splitlines()
        prompts = [line.strip() for line in lines if line.strip()]
    else:
        prompts = DEFAULT_PROMPTS
    return [prompts[i % len(prompts)] for i in range(args.num_prompts)]


def generate_all(
    model: Any,
    prompts: list[str],
    sampler: str,
    steps: int,
    eta: float,
    args: argparse.Namespace,
    candidates: int = 1,
) -> tuple[np.ndarray, float]:
    """All prompts in batches; prompt i always gets seed args.seed + i. Returns (audio, seconds)."""
    clips = []
    started = time.perf_counter()
    for first in range(0, len(prompts), args.batch):
        batch = prompts[first : first + args.batch]
        out = model.generate(
            batch,
            duration=args.duration,
            steps=steps,
            guidance_scale=args.guidance,
            sampler=sampler,
            eta=eta,
            candidates=candidates,
            seed=[args.seed + first + i for i in range(len(batch))],
        )
        clips.append(out.audio)
    return np.concatenate(clips), time.perf_counter() - started


def timed_setting(
    model: Any,
    prompts: list[str],
    sampler: str,
    steps: int,
    eta: float,
    args: argparse.Namespace,
    candidates: int = 1,
    warmed: set[tuple[str, float, int]] | None = None,
) -> tuple[np.ndarray, float]:
    """(clips, median seconds of `args.repeats` runs of all prompts). The first time a
    sampler configuration (sampler, eta, candidates) is timed, one untimed call warms it up."""
    configuration = (sampler, eta, candidates)
    if warmed is not None and configuration not in warmed:
        generate_all(model, prompts[: args.batch], sampler, 2, eta, args, candidates)
        warmed.add(configuration)
    seconds = []
    for _ in range(args.repeats):
        audio, elapsed = generate_all(model, prompts, sampler, steps, eta, args, candidates)
        seconds.append(elapsed)
    return audio, statistics.median(seconds)


def embed(model: Any, audio: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.embed_audio(torch.from_numpy(audio), model.sample_rate).cpu().numpy()


def features_of(model: Any, paths: list[Path]) -> np.ndarray:
    """CLAP audio embeddings of real clips (mono, at the model's rate, at most 10 s)."""
    from clapldm.eval.files import read_mono

    limit = int(10 * model.sample_rate)
    waves = [read_mono(path, model.sample_rate)[:limit] for path in paths]
    return np.concatenate([embed(model, wave[None].numpy()) for wave in waves])


def faithful_steps(args: argparse.Namespace) -> int:
    """The faithful preset's step count (DDIM 200), smaller in --quick runs."""
    return max(int(s) for s in args.steps.split(",")) * 2 if args.quick else FAITHFUL[1]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    from clapldm.diffusion.samplers import SAMPLERS
    from clapldm.eval.metrics import clap_score, frechet_from_features

    model = load_model(args)
    model.set_precision(args.precision)
    if not model.has_audio_tower():
        raise SystemExit(
            f"{model.name}: its CLAP has no audio tower, so no CLAP-audio FAD; use a full CLAP model"
        )
    samplers = args.samplers.split(",") if args.samplers else sorted(SAMPLERS)
    step_counts = [int(s) for s in args.steps.split(",")]
    prompts = read_prompts(args)
    with torch.inference_mode():
        text = model.embed_text(prompts).cpu().numpy()

    # The faithful preset first: its clips are the reference without --reference-dir, and
    # its FAD and time are what every cheaper setting is measured against.
    sampler, _, eta = FAITHFUL
    steps = faithful_steps(args)
    candidates = args.faithful_candidates
    warmed: set[tuple[str, float, int]] = set()
    faithful_audio, faithful_seconds = timed_setting(
        model, prompts, sampler, steps, eta, args, candidates, warmed
    )
    faithful_feats = embed(model, faithful_audio)
    real: list[Path] = []
    if args.corpus is not None:
        real = [args.corpus / row["path"] for row in corpus_test_rows(args.corpus)]
    elif args.reference_dir is not None:
        from clapldm.eval.files import list_files

        real = list(list_files(args.reference_dir))
    if real:
        reference = features_of(model, real)
        described = f"{len(real)} real clips ({args.corpus or args.reference_dir})"
        faithful_fad = frechet_from_features(faithful_feats, reference)
    else:
        reference, faithful_fad = faithful_feats, math.nan
        described = (
            f"the faithful preset's clips ({sampler} {steps} eta {eta:g}, "
            f"{candidates} candidates, same seeds)"
        )
    print(
        f"# {model.name}: {len(prompts)} prompts x {args.duration:g} s, guidance {args.guidance}, "
        f"{args.precision}, {torch.get_num_threads()} threads; FAD reference: {described}; "
        f"times: median of {args.repeats} after one warm-up call per sampler setting"
    )
    print(
        "\n| sampler | steps | eta | s per clip | CLAP-audio FAD | FAD / faithful "
        "| time / faithful | CLAP score | within 5% FAD in <= 1/10 time |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    rows = []

    def add_row(sampler: str, steps: int, eta: float, feats: np.ndarray, seconds: float) -> None:
        fad = frechet_from_features(feats, reference)
        row = {
            "sampler": sampler,
            "steps": steps,
            "eta": eta,
            "seconds_per_clip": seconds / len(prompts),
            "fad": fad,
            "fad_ratio": fad / faithful_fad if faithful_fad > 0 else math.nan,
            "time_ratio": seconds / faithful_seconds,
            "clap_score": clap_score(text, feats),
        }
        row["meets_target"] = bool(row["fad_ratio"] <= 1.05 and row["time_ratio"] <= 0.1)
        rows.append(row)
        print(
            f"| {sampler} | {steps} | {eta:g} | {row['seconds_per_clip']:.2f} | {fad:.4f} | "
            f"{row['fad_ratio']:.3f} | {row['time_ratio']:.3f} | {row['clap_score']:.3f} | "
            f"{'yes' if row['meets_target'] else 'no'} |",
            flush=True,
        )

    add_row(f"{sampler} x{candidates} (faithful)", steps, eta, faithful_feats, faithful_seconds)
    for sampler in samplers:
        for steps in step_counts:
            audio, seconds = timed_setting(model, prompts, sampler, steps, 0.0, args, warmed=warmed)
            add_row(sampler, steps, 0.0, embed(model, audio), seconds)
    passing = [r for r in rows[1:] if r["meets_target"]]
    if passing:
        best = min(passing, key=lambda r: r["seconds_per_clip"])
        print(
            f"\nfastest setting within 5% of the faithful FAD in <= 1/10 of its time: "
            f"{best['sampler']} {best['steps']} steps ({best['seconds_per_clip']:.2f} s per clip)"
        )
    else:
        print("\nno setting is within 5% of the faithful FAD in <= 1/10 of its time")
    if args.json:
        args.json.write_text(json.dumps({"reference": described, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
