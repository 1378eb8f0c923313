"""``clapldm eval GENERATED_DIR REFERENCE_DIR ...``: argument parsing and output.

The main CLI dispatches ``eval`` here with ``eval_main(argv, encoder_loader=...)``;
``encoder_loader(spec)`` returns the CLAP model to use as an audio-text embedder
(``spec`` is ``--clap``'s value, ``None`` for the bundled model).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from clapldm.errors import ClapLdmError, InvalidInputError, ModelLoadError, OutputError
from clapldm.eval.cnn14 import download_cnn14_weights
from clapldm.eval.evaluate import BACKBONES, METRICS, AudioTextEmbedder, evaluate
from clapldm.eval.files import load_captions
from clapldm.eval.vggish import download_vggish_weights

logger = logging.getLogger(__name__)

EncoderLoader = Callable[[str | None], AudioTextEmbedder]


def build_parser(prog: str = "clapldm eval") -> argparse.ArgumentParser:
    """The ``clapldm eval`` argument parser (also usable as a sub-parser template)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Compare generated audio with reference audio: FD, FAD, KL, IS and CLAP score "
            "(audioldm_eval's definitions; every file mono at 16 kHz)."
        ),
    )
    parser.add_argument("generated_dir", type=Path, help="folder of generated audio")
    parser.add_argument("reference_dir", type=Path, help="folder of reference audio")
    parser.add_argument("--captions", type=Path, help="CSV with columns file,caption (CLAP score)")
    parser.add_argument(
        "--metrics",
        default=",".join(METRICS),
        help=f"comma-separated subset of {','.join(METRICS)} (default: all)",
    )
    parser.add_argument(
        "--backbone",
        default="auto",
        help=(
            f"comma-separated subset of {','.join(BACKBONES)}, or auto (default): cnn14 "
            "and vggish when their weights are given, and the CLAP model"
        ),
    )
    parser.add_argument("--cnn14-weights", type=Path, help="PANNs Cnn14_16k_mAP=0.438.pth")
    parser.add_argument("--vggish-weights", type=Path, help="torchvggish vggish-10086976.pth")
    parser.add_argument("--clap", default=None, help="CLAP model to use (default: bundled)")
    parser.add_argument(
        "--download",
        action="store_true",
        help="download missing CNN14 / VGGish weights (needs internet)",
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    return parser


def _default_encoder_loader(spec: str | None) -> AudioTextEmbedder:
    raise ModelLoadError(
        "no CLAP model is available to clapldm eval here; use --backbone cnn14,vggish with "
        "their weights"
    )


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename; ``OutputError`` on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp_name, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc


def _run(args: argparse.Namespace, encoder_loader: EncoderLoader) -> int:
    for folder in (args.generated_dir, args.reference_dir):
        if not folder.is_dir():
            raise InvalidInputError(f"not a folder: {folder}")
    captions = load_captions(args.captions) if args.captions else None
    cnn14_weights, vggish_weights = args.cnn14_weights, args.vggish_weights
    auto = args.backbone.strip().lower() == "auto"
    chosen = set() if auto else {b.strip().lower() for b in args.backbone.split(",")}
    if args.download and cnn14_weights is None and (auto or "cnn14" in chosen):
        cnn14_weights = download_cnn14_weights()
    if args.download and vggish_weights is None and (auto or "vggish" in chosen):
        vggish_weights = download_vggish_weights()[0]
    # The CLAP model is needed for the clap backbone (FD/FAD on its embeddings) and for
    # the CLAP score; it is optional (a warning) unless asked for by --backbone or --clap.
    required = "clap" in chosen or args.clap is not None
    optional = auto or ("clap" in args.metrics.lower() and captions is not None)
    encoder, clap_error = None, ""
    if required or optional:
        try:
            encoder = encoder_loader(args.clap)
        except ModelLoadError as exc:
            if required:
                raise
            clap_error = str(exc)
            logger.warning("CLAP model unavailable: %s", exc)
    report = evaluate(
        args.generated_dir,
        args.reference_dir,
        metrics=args.metrics,
        backbone=args.backbone,
        captions=captions,
        encoder=encoder,
        cnn14=cnn14_weights,
        vggish=vggish_weights,
        device=args.device,
    )
    if clap_error and "clap" in report.skipped_metrics:
        report.skipped_metrics["clap"] += f" ({clap_error})"
    sys.stdout.write(report.to_table() + "\n")
    if args.json is not None:
        write_text_atomic(args.json, report.to_json() + "\n")
    if not report.results:
        sys.stderr.write("error: no metric could be computed (see 'skipped metrics')\n")
        return 1
    return 0


def eval_main(
    argv: Sequence[str] | None = None, *, encoder_loader: EncoderLoader | None = None
) -> int:
    """Run ``clapldm eval`` with ``argv`` (without the ``eval`` word); return the exit code.

    Prints the table on stdout; a user error is one line on stderr and exit code 2;
    exit code 1 when no metric could be computed.
    """
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        return _run(args, encoder_loader or _default_encoder_loader)
    except ClapLdmError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(eval_main())
