"""`clapldm serve`: the REST API and the web page in one process (uvicorn).

Registers itself with the main parser through `register(subparsers)`; importing this
module needs no server extras, so `clapldm serve` can tell the user how to install them.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
from typing import Any

from clapldm.errors import ClapLdmError, InvalidInputError

logger = logging.getLogger(__name__)
MAX_CONNECTIONS = 64


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="REST API + web page (FastAPI)",
        description="Serve the REST API (/docs, /openapi.json) and the web page (/).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--model",
        default=None,
        help="native folder, diffusers folder, .ckpt or hub id (default: bundled)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument(
        "--output-dir", default="clapldm-serve", help="the only folder the server writes (created)"
    )
    p.add_argument("--max-queue", type=int, default=8, help="waiting jobs before answering 429")
    p.add_argument(
        "--max-duration",
        type=float,
        default=None,
        help="longest output in seconds (default: the model's)",
    )
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--max-candidates", type=int, default=4)
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest audio upload (MiB)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="generation threads (1: the CPU/GPU is the bottleneck)",
    )
    p.add_argument(
        "--job-ttl", type=float, default=30.0, help="minutes a finished job and its files are kept"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    p.add_argument(
        "--lora-dir",
        default=None,
        metavar="DIR",
        help="folder of LoRA adapter folders: requests may name these (by folder name) in "
        "'loras', never a path",
    )
    p.set_defaults(func=cmd_serve)


def check_serve_args(args: argparse.Namespace) -> None:
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port must be in 1..65535, got {args.port}")
    for name in ("max_queue", "workers", "max_steps", "max_candidates"):
        if getattr(args, name) < 1:
            raise InvalidInputError(f"--{name.replace('_', '-')} must be >= 1")
    if args.max_duration is not None and not args.max_duration > 0:
        raise InvalidInputError("--max-duration must be positive")
    if not 0 < args.max_upload_mb <= 2048:
        raise InvalidInputError("--max-upload-mb must be in (0, 2048]")
    if args.threads is not None and args.threads < 1:
        raise InvalidInputError("--threads must be >= 1")
    if not args.job_ttl > 0:
        raise InvalidInputError("--job-ttl must be positive")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    check_serve_args(args)
    try:
        import uvicorn

        from clapldm.serve.app import create_app
    except ImportError as exc:
        raise ClapLdmError(
            f"serving needs the server extras ({exc.name} missing): pip install 'clapldm[serve]'"
        ) from None
    from clapldm.pipeline import AudioLDM

    if not is_loopback(args.host):
        logger.warning(
            "binding %s: the server is reachable from other machines and has no authentication",
            args.host,
        )
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    pipe = AudioLDM.from_pretrained(args.model, device=args.device)
    app = create_app(
        pipe,
        args.output_dir,
        args.max_queue,
        args.max_duration,
        workers=args.workers,
        max_steps=args.max_steps,
        max_candidates=args.max_candidates,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        job_ttl_seconds=args.job_ttl * 60.0,
        lora_dir=args.lora_dir,
    )
    if args.precision != "fp32":  # after the adapters: they load against the fp32 weights
        pipe.set_precision(args.precision, keep_fp32=False)  # one precision per run
    verbose = bool(getattr(args, "verbose", False))
    # uvicorn's own "running on http://..." line at info; per-request lines only with -v.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        access_log=verbose,
        timeout_graceful_shutdown=10,
        # bounds memory under a flood of uploads (each may hold up to --max-upload-mb): 503 beyond
        limit_concurrency=MAX_CONNECTIONS,
    )
    return 0
