"""Shared pieces of corpus sources: clip specs, Debian package fetching, licences."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clapldm.errors import DataError

AUDIO_EXTS = (".ogg", ".oga", ".wav", ".flac", ".aif", ".aiff", ".opus", ".mp3")


@dataclass
class ClipSpec:
    """One clip a source offers: where its audio comes from and how it is described.

    Exactly one of ``path`` (an audio file), ``data`` (encoded audio bytes) or ``audio``
    (float samples at ``sr``) is set, unless the clip is already converted (then none is
    needed). ``key`` is the output stem below ``audio/<source>/``.
    """

    key: str
    item: str
    captions: list[str]
    license: str
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    data: bytes | None = None
    audio: np.ndarray | None = None
    sr: int | None = None
    allow_segments: bool = False
    trim: bool = True  # trim leading/trailing silence (off for fixed-length note windows)
    package: str | None = None
    source: str | None = None  # manifest "source" if different from the source's name


@dataclass
class SourceContext:
    roots: dict[str, Path]
    out_dir: Path
    sample_rate: int
    seed: int
    tmp_dir: Path
    options: dict[str, Any]
    is_done: Callable[[str, str], bool]  # (source name, key) -> already converted
    log: Callable[[str], None]


@dataclass
class Source:
    name: str
    packages: tuple[str, ...]
    collect: Callable[[SourceContext], Iterator[ClipSpec]]
    kind: str = "real"  # "real" | "synthetic"
    tools: tuple[str, ...] = ()  # executables needed (synthetic sources)
    config_keys: tuple[str, ...] = ()  # options that change its output


def safe_key(rel: str) -> str:
    """A relative output stem made of safe characters
    ("Gimme A Hand 1.0/Kick.wav" -> "Gimme_A_Hand_1.0/Kick")."""
    rel = re.sub(r"\.(ogg|oga|wav|flac|aiff?|opus|mp3)$", "", rel, flags=re.I)
    parts = [re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") or "x" for part in Path(rel).parts]
    return "/".join(parts)


def find_audio(root: Path, exclude: tuple[str, ...] = ("music",)) -> list[Path]:
    """All audio files under ``root``, sorted, skipping folders whose name is in ``exclude``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(dirname for dirname in dirnames if dirname.lower() not in exclude)
        for filename in sorted(filenames):
            if filename.lower().endswith(AUDIO_EXTS):
                out.append(Path(dirpath) / filename)
    return out


# --------------------------------------------------------------------------- Debian packages
def fetch_deb(package: str, cache_dir: Path, log: Callable[[str], None] = print) -> Path:
    """Download ``package``'s .deb into ``cache_dir`` with ``apt-get download`` (reused if
    present)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    have = sorted(cache_dir.glob(f"{package}_*.deb"))
    if have:
        return have[-1]
    if shutil.which("apt-get") is None:
        raise DataError(f"apt-get is not available to download {package}")
    log(f"  downloading {package} ...")
    proc = subprocess.run(
        ["apt-get", "download", "-q", package], cwd=cache_dir, capture_output=True, text=True
    )
    have = sorted(cache_dir.glob(f"{package}_*.deb"))
    if proc.returncode != 0 or not have:
        raise DataError(f"apt-get download {package} failed: {proc.stderr.strip()[-400:]}")
    return have[-1]


def unpack_deb(deb: Path, dest: Path) -> Path:
    """``dpkg -x`` the package into ``dest`` (a fresh folder) and return it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    proc = subprocess.run(["dpkg", "-x", str(deb), str(dest)], capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise DataError(f"dpkg -x {deb.name} failed: {proc.stderr.strip()[-400:]}")
    return dest


# --------------------------------------------------------------------------- licences
class Copyright:
    """Minimal reader of a Debian (DEP-5) copyright file: Files globs -> License short name.

    Installed paths differ from upstream paths, so a glob (or its tail of two or more literal
    components) matches when it matches a suffix of the installed path; of several matching
    stanzas the most specific glob wins (the later one on a tie, as in DEP-5).
    """

    def __init__(self, path: Path | None, default: str):
        self.default = default
        self.stanzas: list[tuple[list[str], str]] = []
        if path is None or not path.is_file():
            return
        text = path.read_text(errors="replace")
        for block in re.split(r"\n\s*\n", text):
            files = re.search(r"^Files:\s*(.*(?:\n[ \t].*)*)", block, re.M)
            lic = re.search(r"^License:\s*(\S.*)$", block, re.M)
            if not files or not lic:
                continue
            globs = files.group(1).split()
            if any(glob.startswith("debian/") for glob in globs):
                continue
            globs = [re.sub(r"\.h2drumkit$", "*", glob) for glob in globs]
            self.stanzas.append((globs, lic.group(1).strip()))

    def license_for(self, rel_path: str) -> str:
        rel = rel_path.replace(os.sep, "/")
        found, best = None, -1
        for globs, lic in self.stanzas:
            for glob in globs:
                if glob == "*" or any(
                    fnmatch.fnmatch(rel, "*/" + tail) or rel == tail for tail in _suffixes(glob)
                ):
                    # upstream and installed paths differ: the most specific glob wins
                    score = len(glob.replace("*", ""))
                    if score >= best:
                        found, best = lic, score
        return found or self.default


def _suffixes(glob: str) -> list[str]:
    """The glob and its tails of at least two components: upstream "share/game/Data/Sounds/*"
    also matches the installed "usr/share/games/game/Data/Sounds/x.ogg"."""
    parts = glob.split("/")
    tails = ["/".join(parts[index:]) for index in range(len(parts))]
    return [
        tail
        for index, tail in enumerate(tails)
        if index == 0 or sum("*" not in part for part in parts[index:]) >= 2
    ]


def copyright_for(root: Path, package: str, default: str) -> Copyright:
    return Copyright(root / "usr/share/doc" / package / "copyright", default)


def package_tree(ctx: SourceContext, package: str, default: str) -> tuple[Path, Copyright]:
    """The unpacked tree of ``package`` and its licences (``default`` where the copyright
    file names none)."""
    root = ctx.roots[package]
    return root, copyright_for(root, package, default)


def have_tool(name: str) -> bool:
    return shutil.which(name) is not None


def run_quiet(cmd: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise DataError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return proc
