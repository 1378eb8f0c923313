"""``clapldm data check | shards | build-corpus`` (registered by `clapldm.cli`)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    data = sub.add_parser(
        "data", help="training data tools: check a manifest, write shards, build the corpus"
    )
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    p = data_sub.add_parser(
        "check", help="report unreadable, silent, too-short (and uncaptioned) clips"
    )
    p.add_argument("manifest", help=".jsonl or .csv manifest")
    p.add_argument("--split", default=None, help="only lines of this split")
    p.add_argument("--min-seconds", type=float, default=0.1)
    p.add_argument(
        "--silence-db", type=float, default=-60.0, help="loudest 100 ms below this dBFS = silent"
    )
    p.add_argument(
        "--require-caption",
        action="store_true",
        help="an empty caption is a problem (text conditioning)",
    )
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--write-clean",
        default=None,
        metavar="OUT.jsonl",
        help="write a manifest of the usable clips",
    )
    p.add_argument("--max-listed", type=int, default=200, help="list at most this many problems")
    p.set_defaults(func=cmd_check)

    p = data_sub.add_parser("shards", help="pack a manifest's audio into WebDataset tar shards")
    p.add_argument("manifest")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default=None)
    p.add_argument("--max-count", type=int, default=1000, help="samples per shard")
    p.set_defaults(func=cmd_shards)

    # prefix_chars="+": every "-x"/"--x" is passed through untouched to the corpus builder.
    p = data_sub.add_parser(
        "build-corpus",
        help="build the offline corpus (see clapldm.corpus.build)",
        add_help=False,
        prefix_chars="+",
    )
    p.add_argument(
        "corpus_args",
        nargs="*",
        help="arguments of the corpus builder (--help for them)",
    )
    p.set_defaults(func=cmd_build_corpus)


def cmd_check(args: argparse.Namespace) -> int:
    from clapldm.data.check import check_manifest

    def progress(done: int, total: int) -> None:
        if done % 500 == 0:
            print(f"checked {done}/{total}", file=sys.stderr)

    report = check_manifest(
        args.manifest,
        split=args.split,
        min_seconds=args.min_seconds,
        silence_db=args.silence_db,
        require_caption=args.require_caption,
        workers=args.workers,
        clean_output=args.write_clean,
        progress=progress,
    )
    for problem in report.problems[: args.max_listed]:
        print(f"{problem.kind:11s} {problem.where}: {problem.reason}")
    if len(report.problems) > args.max_listed:
        print(f"... and {len(report.problems) - args.max_listed} more")
    print(report.summary())
    if args.write_clean and report.good:
        print(f"wrote {len(report.good)} usable clips to {args.write_clean}")
    return 0 if report.ok else 1


def cmd_shards(args: argparse.Namespace) -> int:
    from clapldm.data.manifest import read_manifest
    from clapldm.data.shards import write_audio_shards

    entries = read_manifest(args.manifest, split=args.split)
    shards = write_audio_shards(entries, args.out, max_count=args.max_count)
    print(f"{len(entries)} clips -> {len(shards)} shards in {args.out}")
    return 0


def cmd_build_corpus(args: argparse.Namespace) -> int:
    from clapldm.corpus.build import main_build_corpus

    return int(main_build_corpus(args.corpus_args) or 0)


__all__ = ["register"]
