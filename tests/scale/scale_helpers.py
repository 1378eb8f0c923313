"""Helpers for the scale tests that start `clapldm` in child processes."""

from __future__ import annotations

import os
import sys


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without a launcher's rank variables, one thread, offline."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def cli(*args: str) -> list[str]:
    """The command line that runs `clapldm ARGS` with this interpreter."""
    return [sys.executable, "-m", "clapldm.cli", *args]
