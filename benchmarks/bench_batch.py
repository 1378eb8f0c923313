"""Batch throughput: N prompts in one `generate` call against the same N one at a time.

Same model (a diffusers AudioLDM-S folder with random weights, see `common.py`), same
start latents per prompt; every contender gets the same treatment: one untimed warm-up
round, then `--repeats` timed rounds interleaved (the order rotates), medians. Batched and one-at-a-time outputs
must agree (each item's computation is independent of the batch; only float rounding of
batched kernels may differ), and the script reports the largest difference.

    python benchmarks/bench_batch.py                     # 8 prompts, AudioLDM-S, 10.24 s, 10 steps
    python benchmarks/bench_batch.py --with-peer         # also diffusers, batched vs one at a time
    python benchmarks/bench_batch.py --model bundled --duration 5   # the bundled model
    python benchmarks/bench_batch.py --quick             # tiny sizes (smoke test)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_vs_diffusers import GUIDANCE, ours_generate, ours_latents  # noqa: E402

PROMPTS = [
    "a dog barking in the distance",
    "rain falling on a tin roof",
    "a church bell ringing three times",
    "footsteps on gravel",
    "an old car engine starting",
    "birds singing in the morning forest",
    "a crowd applauding in a large hall",
    "waves crashing on a rocky shore",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=8, help="batch size (default 8)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--size", choices=sorted(common.SIZES), default="s")
    parser.add_argument("--quick", action="store_true", help="tiny model, 0.64 s, 2 steps")
    parser.add_argument("--with-peer", action="store_true", help="also time diffusers both ways")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument(
        "--model",
        default=None,
        help="time this model instead (folder, .ckpt, hub id, or 'bundled'); no peer",
    )
    args = parser.parse_args(argv)
    if args.model and args.with_peer:
        parser.error("--with-peer needs the generated AudioLDM folder, not --model")
    if args.quick:
        args.size, args.duration, args.steps = "tiny", 0.64, 2
    if not 1 <= args.prompts <= len(PROMPTS) * 4:
        parser.error(f"--prompts must be in [1, {len(PROMPTS) * 4}]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    common.set_threads(args.threads)
    folder = args.model_dir or Path(tempfile.gettempdir()) / "clapldm_bench" / args.size
    if args.model:
        from clapldm import AudioLDM

        ours = AudioLDM.from_pretrained(None if args.model == "bundled" else args.model)
        args.size = ours.name
    else:
        common.build_peer_folder(folder, args.size)
        ours = common.load_ours(folder)
    ours.set_precision(args.precision)
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.prompts)]
    base = ours_latents(ours, args.duration)
    generator = torch.Generator().manual_seed(0)
    latents = torch.cat(
        [base] + [torch.randn(base.shape, generator=generator) for _ in prompts[1:]]
    )

    def generate(batch: list[str], start: torch.Tensor) -> np.ndarray:
        return ours_generate(ours, batch, args.duration, args.steps, start)

    def ours_batched() -> np.ndarray:
        return generate(prompts, latents.clone())

    def ours_single() -> np.ndarray:
        return np.concatenate(
            [generate([p], latents[i : i + 1].clone()) for i, p in enumerate(prompts)]
        )

    contenders: dict[str, Any] = {
        "clapldm one at a time": ours_single,
        "clapldm batched": ours_batched,
    }
    if args.with_peer:
        peer = common.load_peer(folder)

        def peer_call(batch: list[str], start: torch.Tensor) -> np.ndarray:
            return np.asarray(
                peer(
                    batch,
                    audio_length_in_s=args.duration,
                    num_inference_steps=args.steps,
                    guidance_scale=GUIDANCE,
                    latents=start,
                    eta=0.0,
                    output_type="np",
                ).audios
            )

        contenders["diffusers one at a time"] = lambda: np.concatenate(
            [peer_call([p], latents[i : i + 1].clone()) for i, p in enumerate(prompts)]
        )
        contenders["diffusers batched"] = lambda: peer_call(prompts, latents.clone())

    print(
        f"# {args.prompts} prompts, size {args.size}, {args.duration:g} s, {args.steps} DDIM steps, "
        f"{args.precision}, {args.threads} threads, median of {args.repeats} after one warm-up "
        "round per contender",
        flush=True,
    )
    with torch.inference_mode():
        times = common.interleaved(contenders, args.repeats, warmup=1)
        batched, single = ours_batched(), ours_single()
    diff = float(np.abs(batched - single).max())
    audio_seconds = args.prompts * args.duration
    print("\n| contender | total s | s per clip | real-time factor |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        total = common.median(values)
        print(
            f"| {name} | {common.fmt_seconds(total)} | {total / args.prompts:.3f} | {total / audio_seconds:.3f} |"
        )
    gain = common.median(times["clapldm one at a time"]) / common.median(times["clapldm batched"])
    print(
        f"\nclapldm batched is {gain:.2f}x faster per clip than one at a time; "
        f"max |batched - one at a time| = {diff:.1e}"
    )
    if args.with_peer:
        peer_gain = common.median(times["diffusers one at a time"]) / common.median(
            times["diffusers batched"]
        )
        print(f"diffusers batched is {peer_gain:.2f}x faster per clip than one at a time")
        print(
            f"clapldm batched vs diffusers batched: "
            f"{common.median(times['diffusers batched']) / common.median(times['clapldm batched']):.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
