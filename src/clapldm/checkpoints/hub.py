"""Resolve a model hub id (e.g. `cvssp/audioldm-s-full-v2`) to a local folder when online."""

from __future__ import annotations

import re
from pathlib import Path

from clapldm.errors import ModelLoadError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_hub_id(name: str) -> bool:
    return bool(HUB_ID.match(name)) and not Path(name).exists()


def download(repo_id: str) -> Path:
    """Download (or reuse the cache of) a hub repository; a one-line error when offline."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelLoadError(
            f"model {repo_id!r}: huggingface_hub is not installed, cannot download it"
        ) from None
    try:
        return Path(
            snapshot_download(
                repo_id,
                allow_patterns=[
                    "*.json",
                    "*.txt",
                    "*.safetensors",
                    "*.model",
                    "*/*.json",
                    "*/*.txt",
                    "*/*.safetensors",
                ],
            )
        )
    except Exception as exc:  # noqa: BLE001 - network/auth/hub errors all mean "cannot download"
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"model {repo_id!r} is not a local folder or file and cannot be downloaded "
            f"from the model hub ({reason})"
        ) from None
