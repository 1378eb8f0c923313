"""Atomic file and folder writes: a reader sees the old content or the new, never half of it.

Every writer in the package goes through here:

- `atomic_write(path, mode)` yields an open file; `atomic_path(path)` yields a temp *path*
  for libraries that want a file name (safetensors, soundfile, matplotlib, tarfile).
  The temp file sits beside ``path`` as ``.NAME.<random>.tmp`` (same folder, so the final
  rename is atomic; a unique name, so two writers never share a temp file). On success it
  is flushed to disk (fsync), renamed over ``path`` and the folder entry is synced; on any
  failure, ``KeyboardInterrupt`` included, it is removed and ``path`` is left as it was.
- `PendingFile` is the same thing with explicit `commit` / `discard`, for a writer whose
  file stays open across calls (`data.shards.ShardWriter`).
- `atomic_folder(path)` yields a temp sibling folder and swaps it in for ``path`` on
  success (a model folder is then all old or all new).

New files get the permissions a plain ``open`` would give (``0o666`` less the umask),
unlike ``tempfile.mkstemp``'s owner-only ``0o600``. A process killed with SIGKILL cannot
clean up: its temp file stays, under a dot-name ending in ``.tmp`` that no reader matches.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


def _sibling_name(path: Path) -> Path:
    """``.NAME.<12 hex digits>.tmp`` in ``path``'s folder."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}")


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (best effort: not every system allows it)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _fsync_file(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class PendingFile:
    """An empty temp file beside ``path`` that becomes ``path`` on `commit`.

    Used as a context manager it commits when the block succeeds and discards on any
    exception. ``temp`` is the file to write; it must be closed before `commit`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        while True:
            self.temp = _sibling_name(self.path)
            try:
                # O_EXCL: never open a file another writer created; 0o666 less the umask.
                handle = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            os.close(handle)
            return

    def commit(self) -> Path:
        """fsync the temp file, rename it over ``path``, sync the folder; returns ``path``.

        If any step fails the temp file is removed and the error propagates.
        """
        try:
            _fsync_file(self.temp)
            os.replace(self.temp, self.path)
        except BaseException:
            self.discard()
            raise
        fsync_folder(self.path.parent)
        return self.path

    def discard(self) -> None:
        """Remove the temp file (``path`` is not touched)."""
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> PendingFile:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path``; it replaces ``path`` when the block succeeds.

    The temp file exists (empty) when the block starts; the code in the block writes it
    by name and closes it. ``path``'s folder must exist.
    """
    with PendingFile(path) as pending:
        yield pending.temp


@contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", encoding: str = "utf-8"
) -> Iterator[IO[Any]]:
    """Yield a file open for writing (``mode`` ``"wb"`` or ``"w"``) that replaces ``path``
    when the block succeeds; ``encoding`` applies to text mode only."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', not {mode!r}")
    with (
        PendingFile(path) as pending,
        open(pending.temp, mode, encoding=None if mode == "wb" else encoding) as handle,
    ):
        yield handle


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


@contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temp folder beside ``path``; it takes ``path``'s place on success.

    An existing ``path`` is moved aside, the new folder renamed in, and the old one
    deleted; if the rename fails the old folder is put back. On any failure in the block
    the temp folder is deleted and ``path`` is left as it was. The parent folder is
    created if needed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        staging = _sibling_name(target)
        try:
            staging.mkdir()  # 0o777 less the umask, like any new folder
            break
        except FileExistsError:
            continue
    try:
        yield staging
        _swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _swap_in(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        fsync_folder(target.parent)
        return
    old = _sibling_name(target)
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        raise
    fsync_folder(target.parent)
    if old.is_dir():
        shutil.rmtree(old)
    else:
        old.unlink()


__all__ = [
    "PendingFile",
    "atomic_folder",
    "atomic_path",
    "atomic_write",
    "fsync_folder",
    "write_text_atomic",
]
