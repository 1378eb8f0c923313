"""clapldm against diffusers' AudioLDMPipeline: per component, end to end, memory.

Both sides run the same random weights (a diffusers AudioLDMPipeline at the real
AudioLDM-S size, saved to a folder and imported by `AudioLDM.from_pretrained`) on the
same inputs, in one process, interleaved round by round; every time is the median of
`--repeats` rounds after one warm-up. Peak memory is measured per side in a fresh
subprocess (peak RSS of loading, and of one generation on top of the loaded model), so
neither side pays for the other's allocations.

    python benchmarks/bench_vs_diffusers.py                 # AudioLDM-S, 10.24 s, 10 DDIM steps
    python benchmarks/bench_vs_diffusers.py --precision both --repeats 5
    python benchmarks/bench_vs_diffusers.py --quick          # tiny sizes (smoke test)
    # clapldm's default against the original package's default only, ~5 min on 1 thread:
    python benchmarks/bench_vs_diffusers.py --threads 1 --repeats 1 --precision fp32 \
        --skip text,unet,vae,vocoder,e2e,memory

The original AudioLDM package's default (DDIM 200 steps, eta 1, 3 candidates re-ranked by
CLAP) takes far too long to run here in full, so it is estimated from timed pieces, and the
estimate is labelled so: 200 x one UNet step at batch 6 (3 candidates x CFG), timed on
diffusers' UNet at the published AudioLDM-S configuration (the same computation as the
original package's UNet), + 3 x one clip's VAE decode and vocoder pass (timed). The same
formula on clapldm's parts gives `--preset audioldm`. The CLAP re-ranking of 3 clips is left
out of both (well under a second).

GFLOP/s are FLOPs counted by `torch.utils.flop_counter` (2 per multiply-add; matmuls,
convolutions, attention) over the median time, and "% peak" divides by the dense fp32
matmul rate measured in the same process at the same thread count.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PROMPT = "a dog barking in the distance while rain falls on a tin roof"
# The original package's default (audioldm: ddim_steps=200, ddim_eta=1, n_candidate_gen_per_text=3)
ORIGINAL_STEPS, ORIGINAL_CANDIDATES = 200, 3
MIN_TIMED_STEPS = 3  # UNet steps timed per side for the estimate (at least; --repeats if more)
NEGATIVE = "low quality, noise"
GUIDANCE = 2.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10, help="DDIM steps (default 10)")
    parser.add_argument(
        "--duration", type=float, default=10.24, help="seconds of audio (default 10.24)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed rounds per contender (median)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "both"), default="both")
    parser.add_argument("--size", choices=sorted(common.SIZES), default="s")
    parser.add_argument(
        "--quick", action="store_true", help="tiny model, 0.64 s, 2 steps (smoke test)"
    )
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="where the peer folder is built / reused"
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma list of parts to skip: text,unet,vae,vocoder,e2e,default,original,memory",
    )
    parser.add_argument(
        "--memory-repeats", type=int, default=3, help="fresh processes per side (median)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.duration, args.steps = "tiny", 0.64, 2
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


# ------------------------------------------------------------------------------ sides
class Job:
    """The inputs both sides share: latents, embeddings, mel, and the two callables per part."""

    def __init__(self, peer: Any, ours: Any, duration: float, steps: int) -> None:
        self.peer, self.ours = peer, ours
        self.duration, self.steps = duration, steps
        num_samples = round(duration * ours.sample_rate)
        self.num_samples = num_samples
        self.latents = ours_latents(ours, duration)
        if tuple(peer_latents(peer, duration).shape) != tuple(self.latents.shape):
            raise SystemExit(
                f"--duration {duration:g}: diffusers and clapldm pick different latent sizes"
            )
        generator = torch.Generator().manual_seed(1)
        embed_dim = ours.unet.config.cond_dim
        self.embeds = torch.nn.functional.normalize(
            torch.randn(2, embed_dim, generator=generator), dim=-1
        )
        self.unet_input = torch.cat([self.latents, self.latents])
        # the original default's UNet batch: 3 candidates, each conditional and unconditional
        self.candidates_input = self.latents.repeat(2 * ORIGINAL_CANDIDATES, 1, 1, 1)
        self.candidates_embeds = self.embeds.repeat_interleave(ORIGINAL_CANDIDATES, dim=0)
        self.timestep = torch.tensor(501)
        with torch.inference_mode():
            self.mel = ours.vae.decode(self.latents / ours.vae.config.scale_factor)[:, 0].clone()

    # text: prompt + negative prompt, as each pipeline encodes them for one call
    def peer_text(self, negative: str | None) -> Any:
        return self.peer._encode_prompt([PROMPT], "cpu", 1, True, [negative] if negative else None)

    def ours_text(self, negative: str | None) -> Any:
        return self.ours.embed_text([PROMPT]), self.ours.embed_text([negative or ""])

    def peer_unet(self) -> Any:
        return self.peer.unet(
            self.unet_input, self.timestep, encoder_hidden_states=None, class_labels=self.embeds
        ).sample

    def ours_unet(self) -> Any:
        with self.ours.autocast():
            return self.ours.unet(self.unet_input, self.timestep, self.embeds).float()

    def peer_unet_candidates(self) -> Any:
        return self.peer.unet(
            self.candidates_input,
            self.timestep,
            encoder_hidden_states=None,
            class_labels=self.candidates_embeds,
        ).sample

    def ours_unet_candidates(self) -> Any:
        with self.ours.autocast():
            return self.ours.unet(
                self.candidates_input, self.timestep, self.candidates_embeds
            ).float()

    def peer_vae(self) -> Any:
        return self.peer.vae.decode(self.latents / self.peer.vae.config.scaling_factor).sample

    def ours_vae(self) -> Any:
        with self.ours.autocast():
            return self.ours.vae.decode(self.latents / self.ours.vae.config.scale_factor).float()

    def peer_vocoder(self) -> Any:
        return self.peer.vocoder(self.mel)

    def ours_vocoder(self) -> Any:
        with self.ours.autocast():
            return self.ours.vocoder(self.mel).float()

    def peer_e2e(self) -> np.ndarray:
        out = self.peer(
            PROMPT,
            audio_length_in_s=self.duration,
            num_inference_steps=self.steps,
            guidance_scale=GUIDANCE,
            latents=self.latents.clone(),
            eta=0.0,
            output_type="np",
        )
        return np.asarray(out.audios)

    def ours_default(self) -> np.ndarray:
        """clapldm's default settings for this model (sampler, steps, one candidate)."""
        return self.ours.generate(
            PROMPT, duration=self.duration, latents=self.latents.clone(), seed=0
        ).audio

    def ours_e2e(self, pipe: Any = None) -> np.ndarray:
        """clapldm end to end (on `pipe`, default: this job's fp32 pipeline)."""
        return ours_generate(pipe or self.ours, PROMPT, self.duration, self.steps, self.latents)


def ours_generate(
    pipe: Any, prompts: Any, duration: float, steps: int, latents: torch.Tensor
) -> np.ndarray:
    """The benchmarked clapldm call: DDIM (eta 0), guidance 2.5, given start latents."""
    out = pipe.generate(
        prompts,
        duration=duration,
        steps=steps,
        guidance_scale=GUIDANCE,
        sampler="ddim",
        eta=0.0,
        latents=latents.clone(),
        seed=0,
    )
    return out.audio


def ours_latents(ours: Any, duration: float) -> torch.Tensor:
    """The shared start latents (1, C, T', F'), seed 0, in clapldm's geometry."""
    shape = ours.latent_shape(round(duration * ours.sample_rate))
    return torch.randn((1, *shape), generator=torch.Generator().manual_seed(0))


def peer_latents(peer: Any, duration: float) -> torch.Tensor:
    """The same latents in diffusers' geometry (equal to clapldm's for the sizes used)."""
    config = peer.vocoder.config
    hop_seconds = float(np.prod(config.upsample_rates)) / config.sampling_rate
    factor = peer.vae_scale_factor
    height = math.ceil(int(duration / hop_seconds) / factor) * factor
    shape = (peer.unet.config.in_channels, height // factor, config.model_in_dim // factor)
    return torch.randn((1, *shape), generator=torch.Generator().manual_seed(0))


def set_precision(ours: Any, precision: str) -> None:
    ours.set_precision(precision)


# ------------------------------------------------------------------------------ memory
def read_hwm_mib() -> float:
    """Peak RSS since the last reset (VmHWM), MiB; ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return common.peak_rss_mib()


def reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_child(args: argparse.Namespace) -> None:
    """Load one side in this fresh process and generate once; print JSON peaks (MiB)."""
    side, precision = args.memory_child.split(":")
    common.set_threads(args.threads)
    import diffusers  # noqa: F401  (both sides pay the same imports)

    import clapldm  # noqa: F401

    folder = args.model_dir
    start = read_hwm_mib()
    if side == "diffusers":
        pipe = common.load_peer(folder)
    else:
        pipe = common.load_ours(folder)
        pipe.set_precision(precision, keep_fp32=False)  # as `clapldm generate --precision`
    load_peak = read_hwm_mib()
    resettable = reset_hwm()
    before_run = read_hwm_mib()
    job = Job.__new__(Job)
    job.peer = job.ours = pipe
    job.duration, job.steps = args.duration, args.steps
    job.latents = (
        peer_latents(pipe, args.duration)
        if side == "diffusers"
        else ours_latents(pipe, args.duration)
    )
    with torch.inference_mode():
        (job.peer_e2e if side == "diffusers" else job.ours_e2e)()
    run_peak = read_hwm_mib()
    print(
        json.dumps(
            {
                "imports_mib": start,
                "load_peak_mib": load_peak,
                "loaded_mib": before_run,
                "run_peak_mib": run_peak,
                "job_peak_mib": max(load_peak, run_peak),
                "resettable": resettable,
            }
        )
    )


def measure_memory(args: argparse.Namespace, sides: list[str]) -> dict[str, dict[str, float]]:
    """Each side in `--memory-repeats` fresh processes, interleaved; per-field medians
    (peak RSS varies by tens of MiB from run to run with the allocator's layout)."""
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for _ in range(args.memory_repeats):
        for side in sides:
            command = [
                sys.executable,
                os.path.abspath(__file__),
                "--memory-child",
                side,
                "--model-dir",
                str(args.model_dir),
                "--size",
                args.size,
                "--duration",
                str(args.duration),
                "--steps",
                str(args.steps),
                "--threads",
                str(args.threads),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode != 0 or not lines:
                raise RuntimeError(f"memory child {side} failed:\n{done.stderr[-2000:]}")
            runs[side].append(json.loads(lines[-1]))
    return {
        side: {key: common.median([run[key] for run in values]) for key in values[0]}
        for side, values in runs.items()
    }


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model_dir is None:
        args.model_dir = Path(tempfile.gettempdir()) / "clapldm_bench" / args.size
    if args.memory_child:
        memory_child(args)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    common.set_threads(args.threads)
    skip = {part for part in args.skip.split(",") if part}
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]

    import diffusers
    import transformers

    from clapldm import __version__

    common.build_peer_folder(args.model_dir, args.size)
    peer = common.load_peer(args.model_dir)
    ours = common.load_ours(args.model_dir)
    job = Job(peer, ours, args.duration, args.steps)
    print(
        f"# clapldm {__version__} vs diffusers {diffusers.__version__} (transformers "
        f"{transformers.__version__}), torch {torch.__version__}, {args.threads} threads, "
        f"size {args.size}, {args.duration:g} s, {args.steps} DDIM steps, guidance {GUIDANCE}, "
        f"median of {args.repeats}",
        flush=True,
    )
    peak = common.matmul_peak(torch.float32, 512 if args.quick else 2048)
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": []}
    rows = results["rows"]

    def row(name: str, times: dict[str, list[float]], flops: float | None, note: str = "") -> None:
        peer_s = common.median(times["diffusers"]) if "diffusers" in times else math.nan
        entry: dict[str, Any] = {"part": name, "diffusers_s": peer_s, "note": note}
        for key, values in times.items():
            if key != "diffusers":
                entry[f"{key}_s"] = common.median(values)
        ours_key = next(key for key in times if key != "diffusers")
        ours_s = common.median(times[ours_key])
        entry["speedup"] = peer_s / ours_s
        if flops:
            entry["gflop"] = flops / 1e9
            entry["ours_gflops"] = flops / ours_s / 1e9
            entry["peer_gflops"] = flops / peer_s / 1e9
        entry["raw"] = times
        rows.append(entry)
        print_row(entry, peak)

    print_header()
    flop_cache: dict[str, int] = {}
    with torch.inference_mode():
        if "text" not in skip:
            set_precision(ours, "fp32")
            text_note = "diffusers pads to 512 tokens; clapldm to the longest prompt, '' cached"
            for negative in (None, NEGATIVE):
                label = "text: prompt + negative " + (
                    "'' (default)" if negative is None else repr(negative)
                )
                times = common.interleaved(
                    {
                        "diffusers": lambda n=negative: job.peer_text(n),
                        "clapldm": lambda n=negative: job.ours_text(n),
                    },
                    args.repeats,
                )
                row(
                    label,
                    times,
                    common.count_flops(lambda n=negative: job.ours_text(n)),
                    note=text_note,
                )
        for precision in precisions:
            set_precision(ours, precision)
            tag = "" if precision == "fp32" else " bf16"
            for part in ("unet", "vae", "vocoder"):
                if part in skip:
                    continue
                times = common.interleaved(
                    {
                        "diffusers": getattr(job, f"peer_{part}"),
                        "clapldm": getattr(job, f"ours_{part}"),
                    },
                    args.repeats,
                )
                # Counted on the peer: the same function, and its convs are all aten ops
                # (clapldm's fused oneDNN convs are invisible to the FLOP counter).
                if part not in flop_cache:
                    flop_cache[part] = common.count_flops(getattr(job, f"peer_{part}"))
                flops = flop_cache[part]
                label = {
                    "unet": "UNet step (CFG, batch 2)",
                    "vae": "VAE decode",
                    "vocoder": "vocoder",
                }[part]
                diff = (
                    (getattr(job, f"peer_{part}")() - getattr(job, f"ours_{part}")())
                    .abs()
                    .max()
                    .item()
                )
                row(label + tag, times, flops, note=f"max|diff| {diff:.1e}")
        set_precision(ours, "fp32")
        if "e2e" not in skip:
            contenders = {"diffusers": job.peer_e2e, "clapldm": job.ours_e2e}

            if "bf16" in precisions:
                # A second pipeline, set to bf16 once as `--precision bf16` does at load
                # time: the one-time weight cast is not part of a generation.
                ours16 = common.load_ours(args.model_dir).set_precision("bf16", keep_fp32=False)

                def ours_bf16() -> np.ndarray:
                    return job.ours_e2e(ours16)

                contenders["clapldm bf16"] = ours_bf16
            if "fp32" not in precisions:
                del contenders["clapldm"]
            times = common.interleaved(contenders, args.repeats)
            reference = job.peer_e2e()
            notes: dict[str, str] = {}
            if "clapldm" in contenders:
                wave = job.ours_e2e()
                diff = float(np.abs(wave - reference).max())
                notes["clapldm"] = (
                    f"max|diff| {diff:.1e} (output peak {np.abs(reference).max():.2f})"
                )
                results["e2e_max_abs_diff"] = diff
            if "clapldm bf16" in contenders:
                snr = common.snr_db(job.ours_e2e(), ours_bf16())
                notes["clapldm bf16"] = f"SNR vs clapldm fp32 {snr:.1f} dB"
                results["bf16_snr_db"] = snr
            audio_s = job.num_samples / ours.sample_rate
            for key in contenders:
                if key != "diffusers":
                    pair = {"diffusers": times["diffusers"], key: times[key]}
                    rtf = common.median(times[key]) / audio_s
                    row(
                        f"end to end {key} ({args.steps} steps)",
                        pair,
                        None,
                        f"{notes[key]}; RTF {rtf:.2f}",
                    )
            results["peer_rtf"] = common.median(times["diffusers"]) / audio_s
        if "default" not in skip:
            times = common.interleaved({"clapldm default": job.ours_default}, args.repeats)
            results["default_s"] = common.median(times["clapldm default"])
            results["default_settings"] = (
                f"{ours.config.default_sampler} {ours.config.default_steps} steps"
            )
            print(
                f"\n  clapldm default ({results['default_settings']}, 1 candidate), "
                f"{args.duration:g} s of audio: {results['default_s']:.1f} s MEASURED "
                f"(whole generation, median of {args.repeats} after a warm-up)"
            )
        if "original" not in skip:
            results["original_default"] = original_default(job, args.repeats)
    peak_end = common.matmul_peak(torch.float32, 512 if args.quick else 2048)
    results["fp32_peak_gflops"] = [peak, peak_end]
    print(
        f"\nmeasured fp32 matmul peak: {peak:.0f} GFLOP/s (start), {peak_end:.0f} (end); % peak uses the start value"
    )

    if "memory" not in skip:
        sides = ["diffusers:fp32"] + [f"clapldm:{p}" for p in precisions]
        memory = measure_memory(args, sides)
        results["memory"] = memory
        print(
            "\npeak resident memory (MiB, fresh process per side; 'run' = peak while generating once)"
        )
        print("| side | after imports | load peak | loaded | run peak | job peak |")
        print("|---|---:|---:|---:|---:|---:|")
        for side, values in memory.items():
            print(
                f"| {side} | {values['imports_mib']:.0f} | {values['load_peak_mib']:.0f} | "
                f"{values['loaded_mib']:.0f} | {values['run_peak_mib']:.0f} | {values['job_peak_mib']:.0f} |"
            )
    results["targets"] = targets(results, peak)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def original_default(job: Job, repeats: int) -> dict[str, Any]:
    """The original package's default and clapldm's `--preset audioldm`, each estimated as
    200 x (one UNet step at batch 6) + 3 x (one clip's VAE decode + vocoder), every piece
    timed here, both sides interleaved (module docstring)."""
    set_precision(job.ours, "fp32")
    timed_steps = max(repeats, MIN_TIMED_STEPS)
    steps = common.interleaved(
        {"diffusers": job.peer_unet_candidates, "clapldm": job.ours_unet_candidates}, timed_steps
    )
    clip = common.interleaved(
        {
            "diffusers": lambda: (job.peer_vae(), job.peer_vocoder()),
            "clapldm": lambda: (job.ours_vae(), job.ours_vocoder()),
        },
        repeats,
    )
    found: dict[str, Any] = {"timed_steps": timed_steps}
    for side, name in (("diffusers", "original_default"), ("clapldm", "preset_audioldm")):
        step, one_clip = common.median(steps[side]), common.median(clip[side])
        found[name] = {
            "estimate_s": ORIGINAL_STEPS * step + ORIGINAL_CANDIDATES * one_clip,
            "unet_step_batch6_s": step,
            "decode_and_vocoder_s": one_clip,
            "unet_step_batch6_runs_s": steps[side],
            "decode_and_vocoder_runs_s": clip[side],
        }
    print(
        f"\n{'':2}the original package's default (DDIM {ORIGINAL_STEPS}, eta 1, "
        f"{ORIGINAL_CANDIDATES} candidates), {job.duration:g} s of audio, ESTIMATED from "
        f"{timed_steps} timed UNet steps (median) at batch {2 * ORIGINAL_CANDIDATES} x {ORIGINAL_STEPS} + "
        f"{ORIGINAL_CANDIDATES} x one clip's decode and vocoder (timed):"
    )
    for label, name in (
        ("original package (diffusers' UNet, same computation)", "original_default"),
        ("clapldm --preset audioldm", "preset_audioldm"),
    ):
        part = found[name]
        print(
            f"{'':4}{label}: {part['estimate_s']:.0f} s = {ORIGINAL_STEPS} x "
            f"{part['unet_step_batch6_s']:.2f} s + {ORIGINAL_CANDIDATES} x "
            f"{part['decode_and_vocoder_s']:.2f} s"
        )
    return found


def targets(results: dict[str, Any], peak: float) -> list[dict[str, Any]]:
    """Each performance target as (what, measured, goal, met); printed as a table."""
    rows = {row["part"]: row for row in results["rows"]}
    found: list[dict[str, Any]] = []

    def add(what: str, value: float, goal: str, met: bool) -> None:
        found.append({"target": what, "value": value, "goal": goal, "met": bool(met)})

    e2e = next((r for k, r in rows.items() if k.startswith("end to end clapldm (")), None)
    if e2e:
        add(
            "end to end fp32 speedup vs diffusers", e2e["speedup"], ">= 1.2x", e2e["speedup"] >= 1.2
        )
    if "e2e_max_abs_diff" in results:
        diff = results["e2e_max_abs_diff"]
        add("end to end fp32 max |diff| vs diffusers", diff, "<= 1e-4", diff <= 1e-4)
    for part in ("UNet step (CFG, batch 2)", "VAE decode", "vocoder"):
        if part in rows and "ours_gflops" in rows[part]:
            share = rows[part]["ours_gflops"] / peak
            add(f"{part} fraction of fp32 peak", share, ">= 0.70", share >= 0.70)
    text = [r for k, r in rows.items() if k.startswith("text:")]
    if text:
        worst = max(r["clapldm_s"] for r in text)
        add("text: prompt + negative, seconds", worst, "<= 0.1 s", worst <= 0.1)
    bf16 = next((r for k, r in rows.items() if k.startswith("end to end clapldm bf16")), None)
    if bf16:
        add(
            "end to end bf16 speedup vs diffusers fp32",
            bf16["speedup"],
            ">= 2x",
            bf16["speedup"] >= 2,
        )
    if "bf16_snr_db" in results:
        add("bf16 SNR vs clapldm fp32, dB (reported)", results["bf16_snr_db"], "report", True)
    memory = results.get("memory", {})
    if "diffusers:fp32" in memory and "clapldm:fp32" in memory:
        ours_mib = memory["clapldm:fp32"]["job_peak_mib"]
        peer_mib = memory["diffusers:fp32"]["job_peak_mib"]
        add(
            "peak RSS clapldm fp32 / diffusers", ours_mib / peer_mib, "<= 1.0", ours_mib <= peer_mib
        )
    if "original_default" in results and "default_s" in results:
        original = results["original_default"]
        ratio = original["original_default"]["estimate_s"] / results["default_s"]
        add(
            f"default ({results['default_settings']}, measured) vs the original default "
            f"(estimate from {original['timed_steps']} timed steps x {ORIGINAL_STEPS})",
            ratio,
            ">= 30x",
            ratio >= 30,
        )
    print("\n| target | measured | goal | met |")
    print("|---|---:|---|---|")
    for item in found:
        print(
            f"| {item['target']} | {item['value']:.3g} | {item['goal']} | "
            f"{'yes' if item['met'] else 'NO'} |"
        )
    return found


def print_header() -> None:
    print(
        "\n| part | diffusers s | clapldm s | speedup | GFLOP | clapldm GFLOP/s | % peak | diffusers % peak | note |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")


def print_row(entry: dict[str, Any], peak: float) -> None:
    ours_s = next(v for k, v in entry.items() if k.endswith("_s") and k != "diffusers_s")
    gflop = entry.get("gflop")
    if gflop:
        extra = (
            f"{gflop:.1f} | {entry['ours_gflops']:.0f} | {100 * entry['ours_gflops'] / peak:.0f}% | "
            f"{100 * entry['peer_gflops'] / peak:.0f}%"
        )
    else:
        extra = " |  |  | "
    print(
        f"| {entry['part']} | {common.fmt_seconds(entry['diffusers_s'])} | {common.fmt_seconds(ours_s)} | "
        f"{entry['speedup']:.2f}x | {extra} | {entry['note']} |",
        flush=True,
    )


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"\n(total benchmark wall time {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    sys.exit(code)
