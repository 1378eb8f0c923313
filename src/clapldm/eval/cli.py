"""``clapldm eval GENERATED_DIR REFERENCE_DIR ...``: argument parsing and output.

``register(sub)`` adds the ``eval`` sub-command to the main CLI (whose ``main`` turns a
``ClapLdmError`` into one line and an exit code); ``eval_main(argv)`` runs it standalone.
The CLAP model comes from ``encoder_loader(spec, device)``; the default loads ``--clap``
(a CLAP folder, or a model folder with a ``clap/`` subfolder) or, without it, the
bundled clapldm-mini's CLAP.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from clapldm.errors import ClapLdmError, InvalidInputError, ModelLoadError, OutputError
from clapldm.eval.cnn14 import download_cnn14_weights
from clapldm.eval.evaluate import BACKBONES, METRICS, AudioTextEmbedder, evaluate
from clapldm.eval.files import load_captions, manifest_files
from clapldm.eval.vggish import download_vggish_weights
from clapldm.fileio import write_text_atomic

logger = logging.getLogger(__name__)

EncoderLoader = Callable[[str | None, str], AudioTextEmbedder]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``clapldm eval``'s arguments to ``parser``."""
    parser.add_argument(
        "generated_dir",
        type=Path,
        help="folder of generated audio, or the manifest.jsonl of `clapldm generate --prompts`",
    )
    parser.add_argument("reference_dir", type=Path, help="folder of reference audio")
    parser.add_argument(
        "--captions", type=Path, metavar="CSV", help="CSV with columns file,caption (CLAP score)"
    )
    parser.add_argument(
        "--metrics",
        metavar="LIST",
        default=",".join(METRICS),
        help=f"comma-separated subset of {','.join(METRICS)} (default: all)",
    )
    parser.add_argument(
        "--backbone",
        metavar="LIST",
        default="auto",
        help=(
            f"comma-separated subset of {','.join(BACKBONES)}, or auto (default): cnn14, "
            "vggish and aisfx when their weights are given, plus the CLAP model"
        ),
    )
    parser.add_argument(
        "--cnn14-weights", type=Path, metavar="FILE", help="PANNs Cnn14_16k_mAP=0.438.pth"
    )
    parser.add_argument(
        "--vggish-weights", type=Path, metavar="FILE", help="torchvggish vggish-10086976.pth"
    )
    parser.add_argument(
        "--aisfx-weights",
        type=Path,
        metavar="FILE",
        help=(
            "aiSFX checkpoint.pth (default with --backbone aisfx: the one in the installed "
            "package: pip install --no-deps aisfx==0.1.2)"
        ),
    )
    parser.add_argument(
        "--clap",
        default=None,
        metavar="FOLDER",
        help="CLAP folder or model folder (default: the bundled model's)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="download missing CNN14 / VGGish weights (needs internet)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="OUT", help="also write the report as JSON here"
    )
    parser.add_argument(
        "--device",
        dest="eval_device",
        default="cpu",
        metavar="DEVICE",
        help="torch device (default: cpu)",
    )


def build_parser(prog: str = "clapldm eval") -> argparse.ArgumentParser:
    """A standalone ``clapldm eval`` argument parser."""
    parser = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION)
    add_arguments(parser)
    return parser


_DESCRIPTION = (
    "Compare generated audio with reference audio: FD, FAD, KL, IS and CLAP score "
    "(audioldm_eval's definitions; every file mono at 16 kHz; 44.1 kHz for aisfx). Each "
    "number is labelled with the backbone it was computed on."
)


def register(sub: Any) -> None:
    """Add the ``eval`` sub-command to the main CLI's sub-parsers."""
    parser = sub.add_parser("eval", help="FD / FAD / KL / IS / CLAP score between two folders")
    parser.description = _DESCRIPTION
    add_arguments(parser)
    parser.set_defaults(func=lambda args: run(args, default_encoder_loader))


class _NamedEmbedder:
    """An embedder with a report label (``name``), delegating to a CLAP model."""

    def __init__(self, encoder: Any, name: str) -> None:
        self.encoder = encoder
        self.name = name

    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        return self.encoder.embed_audio(wave, sample_rate)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        return self.encoder.embed_text(texts)


def default_encoder_loader(spec: str | None, device: str) -> AudioTextEmbedder:
    """Load ``spec`` (a CLAP folder or a model folder with ``clap/``), or the bundled CLAP."""
    from clapldm.checkpoints import BUNDLED
    from clapldm.models.clap import load_clap

    folder = BUNDLED if spec is None else Path(spec).expanduser()
    name = "clapldm-mini" if spec is None else folder.name
    if (folder / "clap" / "config.json").is_file():
        folder = folder / "clap"
    if not (folder / "config.json").is_file():
        what = "the bundled model's CLAP" if spec is None else f"--clap {spec}"
        raise ModelLoadError(
            f"{what}: no CLAP folder at {folder} (pass --clap with a CLAP folder or a "
            "model folder that has a clap/ subfolder)"
        )
    return _NamedEmbedder(load_clap(folder, device), name)


def write_report(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, creating its folder; ``OutputError`` on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc


def run(args: argparse.Namespace, encoder_loader: EncoderLoader) -> int:
    """Run a parsed ``clapldm eval``: print the table, write JSON; return the exit code.

    Raises ``ClapLdmError`` for user errors (the caller prints one line). Exit code 1
    when no metric could be computed.
    """
    for folder in (args.generated_dir, args.reference_dir):
        if not folder.is_dir() and not (folder is args.generated_dir and folder.is_file()):
            raise InvalidInputError(f"not a folder: {folder}")
    captions = load_captions(args.captions) if args.captions else None
    if captions is None and args.generated_dir.is_file():  # a manifest: its prompts
        captions = manifest_files(args.generated_dir)[1] or None
    cnn14_weights, vggish_weights = args.cnn14_weights, args.vggish_weights
    auto = args.backbone.strip().lower() == "auto"
    chosen = set() if auto else {b.strip().lower() for b in args.backbone.split(",")}
    if args.download and cnn14_weights is None and (auto or "cnn14" in chosen):
        cnn14_weights = download_cnn14_weights()
    if args.download and vggish_weights is None and (auto or "vggish" in chosen):
        vggish_weights = download_vggish_weights()[0]
    # The CLAP model serves the clap backbone (FD/FAD on its embeddings) and the CLAP
    # score; it is optional (a warning) unless asked for by --backbone or --clap.
    required = "clap" in chosen or args.clap is not None
    optional = auto or ("clap" in args.metrics.lower() and captions is not None)
    encoder, clap_error = None, ""
    if required or optional:
        try:
            encoder = encoder_loader(args.clap, args.eval_device)
        except ModelLoadError as exc:
            if required:
                raise
            clap_error = str(exc)
            logger.warning("CLAP model unavailable: %s", exc)
    report = evaluate(
        args.generated_dir,
        args.reference_dir,
        metrics=args.metrics,
        backbone="auto" if auto else args.backbone,
        captions=captions,
        encoder=encoder,
        cnn14=cnn14_weights,
        vggish=vggish_weights,
        aisfx=args.aisfx_weights,
        device=args.eval_device,
    )
    if clap_error and "clap" in report.skipped_metrics:
        report.skipped_metrics["clap"] += f" ({clap_error})"
    sys.stdout.write(report.to_table() + "\n")
    if args.json is not None:
        write_report(args.json, report.to_json() + "\n")
    if not report.results:
        sys.stderr.write("error: no metric could be computed (see 'skipped metrics')\n")
        return 1
    return 0


def eval_main(
    argv: Sequence[str] | None = None, *, encoder_loader: EncoderLoader | None = None
) -> int:
    """Run ``clapldm eval`` with ``argv`` (without the ``eval`` word); return the exit code.

    Prints the table on stdout; a user error is one line on stderr and its exit code
    (2); exit code 1 when no metric could be computed.
    """
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        return run(args, encoder_loader or default_encoder_loader)
    except ClapLdmError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(eval_main())
