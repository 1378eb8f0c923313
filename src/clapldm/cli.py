"""`clapldm` command line: generate, edit, convert, inspect, train, evaluate, serve.

Every failure a user can cause prints one line on stderr and exits non-zero; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clapldm import __version__
from clapldm.errors import ClapLdmError, InvalidInputError, OutputError
from clapldm.scale.cli import add_arguments as add_scale_arguments
from clapldm.scale.cli import run_prompts_file

logger = logging.getLogger("clapldm")


# ---------------------------------------------------------------------------- helpers
def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="native folder, diffusers folder, .ckpt or hub id (default: bundled clapldm-mini)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: faster, approximate"
    )
    p.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="ADAPTER[:SCALE]",
        help="a LoRA adapter folder (clapldm export of a LoRA run), at SCALE (default 1); "
        "repeat to mix several",
    )


def _add_sampling_args(p: argparse.ArgumentParser, *, seed_default: int | None = 0) -> None:
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--sampler", default=None, help="ddim or dpmpp-2m")
    p.add_argument("--eta", type=float, default=None, help="DDIM eta (0 = deterministic)")
    p.add_argument(
        "--seed", type=int, default=seed_default, help="random seed (prompt i uses seed+i)"
    )
    p.add_argument(
        "--random-seed", action="store_true", help="draw a fresh seed (it is stored in the file)"
    )
    p.add_argument(
        "--negative", default=None, help="negative prompt (replaces the empty unconditional text)"
    )
    p.add_argument(
        "--candidates", type=int, default=None, help="generate N per prompt, keep the best by CLAP"
    )
    p.add_argument(
        "--preset",
        choices=["audioldm", "fast"],
        default=None,
        help="audioldm: DDIM 200 steps, eta 1, 3 candidates",
    )
    p.add_argument("-o", "--output", default="out.wav", help="output file (.wav/.flac/.ogg)")
    p.add_argument(
        "--plot", action="store_true", help="also write a log-mel spectrogram PNG beside the audio"
    )
    p.add_argument("--no-progress", action="store_true")


def _sampling_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from clapldm.request import PRESETS

    kwargs: dict[str, Any] = {}
    if args.preset:
        preset = PRESETS[args.preset]
        kwargs.update(
            sampler=preset.sampler,
            steps=preset.steps,
            guidance_scale=preset.guidance_scale,
            eta=preset.eta,
            candidates=preset.candidates,
        )
    for name, key in (
        ("steps", "steps"),
        ("guidance", "guidance_scale"),
        ("sampler", "sampler"),
        ("eta", "eta"),
        ("candidates", "candidates"),
    ):
        value = getattr(args, name)
        if value is not None:
            kwargs[key] = value
    kwargs["seed"] = None if args.random_seed else args.seed
    if args.negative is not None:
        kwargs["negative_prompt"] = args.negative
    return kwargs


def _check_output(path: str) -> Path:
    out = Path(path)
    if out.suffix.lower() not in (".wav", ".flac", ".ogg"):
        raise InvalidInputError(f"output {path!r} must end in .wav, .flac or .ogg")
    if not out.parent.is_dir():
        raise OutputError(f"output folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise OutputError(f"output folder {out.parent} is not writable")
    return out


def _load(args: argparse.Namespace) -> Any:
    from clapldm.loading import load_pipeline, parse_lora_args

    return load_pipeline(
        args.model,
        device=args.device,
        loras=parse_lora_args(args.lora),
        precision=args.precision,
    )


def _progress(args: argparse.Namespace, label: str) -> Any:
    if getattr(args, "no_progress", False) or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=None, desc=label, unit="step", leave=False)

    def update(step: int, total: int) -> None:
        bar.total = total
        bar.n = step
        bar.refresh()
        if step == total:
            bar.n = 0

    return update


def _write(
    args: argparse.Namespace,
    pipe: Any,
    out: Any,
    paths: Sequence[Path],
    extra: dict[str, Any] | None = None,
    indices: Sequence[int] | None = None,
) -> None:
    """Write clip `indices[k]` (default: k) of `out` to `paths[k]`, with its recipe."""
    from clapldm.audio.io import write_audio
    from clapldm.recipe import check_tags_fit, recipe_tags

    for path, i in zip(paths, indices or range(len(paths)), strict=True):
        tags = recipe_tags(pipe, out, i, extra)
        check_tags_fit(path, tags)
        write_audio(path, out.audio[i], out.sample_rate, tags=tags)
        if getattr(args, "plot", False):
            from clapldm.plot import save_spectrogram

            save_spectrogram(
                path.with_suffix(".png"), out.audio[i], out.sample_rate, title=out.prompts[i]
            )
        score = out.scores[i]
        score_text = "" if math.isnan(score) else f"  clap {score:.3f}"
        print(f"{path}  seed {out.seeds[i]}{score_text}")


# ---------------------------------------------------------------------------- commands
def cmd_generate(args: argparse.Namespace) -> int:
    kwargs = _sampling_kwargs(args)
    if args.prompts:  # many clips: a work file, one or many processes, resumable
        return run_prompts_file(args, kwargs)
    if args.from_file:
        return _generate_from(args)
    if args.prompt is None and args.audio_prompt is None:
        raise InvalidInputError(
            "give a prompt, an --audio-prompt CLIP, --prompts FILE or --from FILE"
        )
    paths = [_check_output(args.output)]
    pipe = _load(args)
    out = pipe.generate(
        args.prompt,
        duration=args.duration,
        audio_prompt=args.audio_prompt,
        progress=_progress(args, "generate"),
        **kwargs,
    )
    _write(args, pipe, out, paths, {"audio_prompt": args.audio_prompt})
    return 0


def _generate_from(args: argparse.Namespace) -> int:
    """`generate --from FILE`: rerun the call recorded in FILE's tags, write its clip."""
    from clapldm.errors import ModelLoadError
    from clapldm.recipe import check_loras, check_model, read_recipe, reproduce

    recipe = read_recipe(args.from_file)
    paths = [_check_output(args.output)]
    args.precision = recipe.precision
    if not args.lora:  # the adapters the clip was made with, at their scales
        args.lora = [use.as_arg() for use in recipe.loras]
    recorded_model = args.model is None and recipe.model_path is not None
    if recorded_model:
        args.model = recipe.model_path
    try:
        pipe = _load(args)
    except ModelLoadError as exc:
        if not recorded_model:
            raise
        raise ModelLoadError(
            f"the model the clip was made with cannot be loaded ({exc}); "
            "pass --model with the same model (its weights are checked)"
        ) from None
    check_model(pipe, recipe, allow_other_model=args.allow_other_model)
    check_loras(pipe, recipe, allow_other_model=args.allow_other_model)
    out = reproduce(
        pipe, recipe, audio_prompt=args.audio_prompt, progress=_progress(args, recipe.mode)
    )
    extra = {
        "input": recipe.input and recipe.input.path,
        "audio_prompt": args.audio_prompt or (recipe.audio_prompt and recipe.audio_prompt.path),
    }
    _write(args, pipe, out, paths, extra, indices=[recipe.index])
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    paths = [_check_output(args.output)]
    pipe = _load(args)
    out = pipe.transfer(
        args.input,
        args.prompt,
        strength=args.strength,
        duration=args.duration,
        progress=_progress(args, "transfer"),
        **_sampling_kwargs(args),
    )
    _write(args, pipe, out, paths, {"input": args.input})
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    from clapldm.request import parse_region

    regions = [parse_region(r) for r in args.region or []]
    if not regions:
        raise InvalidInputError("give at least one --region START:END (seconds) to fill")
    paths = [_check_output(args.output)]
    pipe = _load(args)
    out = pipe.inpaint(
        args.input,
        args.prompt,
        regions=regions,
        progress=_progress(args, "inpaint"),
        **_sampling_kwargs(args),
    )
    _write(args, pipe, out, paths, {"input": args.input})
    return 0


def cmd_superres(args: argparse.Namespace) -> int:
    paths = [_check_output(args.output)]
    pipe = _load(args)
    out = pipe.super_resolve(
        args.input,
        args.prompt or "",
        cutoff_hz=args.cutoff,
        progress=_progress(args, "superres"),
        **_sampling_kwargs(args),
    )
    _write(args, pipe, out, paths, {"input": args.input})
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    paths = [_check_output(args.output)]
    pipe = _load(args)
    kwargs = _sampling_kwargs(args)
    kwargs.pop("candidates", None)
    out = pipe.extend(
        args.input,
        args.prompt,
        total_duration=args.to,
        window=args.window,
        overlap=args.overlap,
        **kwargs,
    )
    _write(args, pipe, out, paths, {"input": args.input})
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from clapldm.pipeline import AudioLDM

    kwargs = {"tokenizer": args.tokenizer} if args.tokenizer else {}
    pipe = AudioLDM.from_pretrained(args.source, device="cpu", **kwargs)
    out = Path(args.output)
    if not out.parent.exists():
        raise OutputError(f"output folder {out.parent} does not exist")
    pipe.save_pretrained(out)
    print(f"wrote {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from clapldm.info import describe

    print(describe(args.target))
    return 0


# ------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clapldm", description="Text-to-audio generation and editing (AudioLDM)."
    )
    parser.add_argument("--version", action="version", version=f"clapldm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="text -> audio")
    p.add_argument("prompt", nargs="?", default=None)
    p.add_argument("--duration", type=float, default=5.0, help="seconds")
    p.add_argument(
        "--prompts", default=None, help="file with one prompt per line (batched; -o is a folder)"
    )
    p.add_argument(
        "--audio-prompt", default=None, help="condition on this clip's CLAP audio embedding"
    )
    p.add_argument(
        "--from",
        dest="from_file",
        default=None,
        help="reproduce the clip whose tags are in FILE (its recipe replaces the sampling "
        "options; --model may name where the same model is now)",
    )
    p.add_argument(
        "--allow-other-model",
        action="store_true",
        help="with --from: warn, not refuse, when the model's weights differ from the recipe's",
    )
    _add_model_args(p)
    _add_sampling_args(p)
    add_scale_arguments(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("transfer", help="text-guided style transfer of a clip")
    p.add_argument("input")
    p.add_argument("prompt")
    p.add_argument("--strength", type=float, default=0.5, help="(0, 1]: 1 = ignore the input")
    p.add_argument("--duration", type=float, default=None)
    _add_model_args(p)
    _add_sampling_args(p)
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("inpaint", help="fill time regions of a clip")
    p.add_argument("input")
    p.add_argument("prompt")
    p.add_argument("--region", action="append", help="START:END seconds to regenerate (repeatable)")
    _add_model_args(p)
    _add_sampling_args(p)
    p.set_defaults(func=cmd_inpaint)

    p = sub.add_parser("superres", help="regenerate the band above a cutoff")
    p.add_argument("input")
    p.add_argument("--cutoff", type=float, default=4000.0, help="Hz")
    p.add_argument("--prompt", default="")
    _add_model_args(p)
    _add_sampling_args(p)
    p.set_defaults(func=cmd_superres)

    p = sub.add_parser("extend", help="grow a clip by windowed outpainting")
    p.add_argument("input")
    p.add_argument("prompt")
    p.add_argument("--to", type=float, required=True, help="total duration in seconds")
    p.add_argument("--window", type=float, default=None)
    p.add_argument("--overlap", type=float, default=None)
    _add_model_args(p)
    _add_sampling_args(p)
    p.set_defaults(func=cmd_extend)

    p = sub.add_parser("convert", help="original .ckpt or diffusers folder -> native folder")
    p.add_argument("source")
    p.add_argument("-o", "--output", required=True)
    p.add_argument(
        "--tokenizer", default=None, help="RoBERTa tokenizer folder (original .ckpt only)"
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("info", help="describe a model, or print the recipe stored in an audio file")
    p.add_argument("target", nargs="?", default=None)
    p.set_defaults(func=cmd_info)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub: Any) -> None:
    """Commands whose modules need optional extras register themselves here."""
    for module_name in (
        "clapldm.training.cli",
        "clapldm.data.cli",
        "clapldm.eval.cli",
        "clapldm.serve.cli",
    ):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ImportError as exc:
            logger.debug("optional commands from %s unavailable: %s", module_name, exc)
            continue
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)


def _quiet_libraries() -> None:
    """Silence transformers' own weight-loading progress bars (we show ours)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    _quiet_libraries()
    try:
        return int(args.func(args) or 0)
    except ClapLdmError as exc:
        if args.debug:
            raise
        print(f"clapldm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("clapldm: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if args.debug:
            raise
        print(
            "clapldm: error: out of memory (try a shorter duration or fewer candidates)",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # noqa: BLE001 - last-resort one-line report
        if args.debug:
            raise
        text = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"clapldm: internal error: {type(exc).__name__}: {text} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser"]
