"""The one atomic-write helper: success replaces, any failure leaves the old file and no temp."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from clapldm.data.shards import ShardWriter
from clapldm.errors import OutputError
from clapldm.fileio import (
    PendingFile,
    atomic_folder,
    atomic_path,
    atomic_write,
    write_text_atomic,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_write_replaces_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as handle:
        handle.write(b"new")
        assert target.read_bytes() == b"old"  # not visible before the block ends
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_text_mode_is_utf8(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "a.txt", "caf\u00e9\n")
    assert (tmp_path / "a.txt").read_bytes() == "caf\u00e9\n".encode()
    with atomic_write(tmp_path / "b.txt", "w") as handle:
        handle.write("\u00fc")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "\u00fc"


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failure_mid_write_keeps_old_file_and_removes_temp(
    tmp_path: Path, error: BaseException
) -> None:
    target = tmp_path / "config.json"
    target.write_text("previous", encoding="utf-8")
    with pytest.raises(type(error)):
        with atomic_write(target, "w") as handle:
            handle.write("half of the new")
            raise error
    assert target.read_text(encoding="utf-8") == "previous"
    assert _leftovers(tmp_path) == []


def test_failure_with_no_previous_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "weights.safetensors") as temp:
            temp.write_bytes(b"partial")
            raise ValueError("serialiser failed")
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep").write_text("x")  # os.replace cannot put a file over a non-empty folder
    with pytest.raises(OSError):
        with atomic_write(target) as handle:
            handle.write(b"data")
    assert (target / "keep").read_text() == "x"
    assert _leftovers(tmp_path) == []


def test_temp_names_are_unique_so_writers_do_not_collide(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    first, second = PendingFile(target), PendingFile(target)
    assert first.temp != second.temp
    assert first.temp.parent == second.temp.parent == tmp_path
    assert first.temp.name.startswith(".shared.txt.") and first.temp.name.endswith(".tmp")
    first.temp.write_text("one")
    second.temp.write_text("two")
    first.commit()
    assert target.read_text() == "one"
    second.commit()
    assert target.read_text() == "two"
    assert _leftovers(tmp_path) == []


def test_concurrent_writers_each_leave_a_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    payloads = [str(index) * 100_000 for index in range(8)]

    def write(text: str) -> None:
        write_text_atomic(target, text)

    threads = [threading.Thread(target=write, args=(text,)) for text in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_text() in payloads
    assert _leftovers(tmp_path) == []


def test_new_file_gets_plain_open_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600


def test_pending_file_discard(tmp_path: Path) -> None:
    pending = PendingFile(tmp_path / "shard.tar")
    pending.temp.write_bytes(b"abc")
    pending.discard()
    assert list(tmp_path.iterdir()) == []


def test_rejects_other_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_swaps_whole_folder(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.json").write_text("old")
    with atomic_folder(target) as staging:
        (staging / "new.json").write_text("new")
        assert (target / "old.json").exists()  # the old folder is intact until the end
    assert sorted(p.name for p in target.iterdir()) == ["new.json"]
    assert _leftovers(tmp_path) == []


def test_atomic_folder_failure_keeps_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.json").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(target) as staging:
            (staging / "half.json").write_text("x")
            raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["old.json"]
    assert _leftovers(tmp_path) == []


def test_atomic_folder_creates_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "model"
    with atomic_folder(target) as staging:
        (staging / "x").write_text("1")
    assert (target / "x").read_text() == "1"
    assert _leftovers(target.parent) == []


# --------------------------------------------------------------------------- the writers using it
SOURCE = Path(__file__).resolve().parents[1] / "src" / "clapldm"
# The one rename outside fileio: the atomic swap of the ``last.ckpt`` symlink (not a file write).
ALLOWED = {("training/callbacks.py", "os.replace(tmp, link)")}


def test_no_hand_written_temp_then_rename_outside_fileio() -> None:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE).as_posix()
        if relative == "fileio.py" or relative.startswith("bundled/"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            for pattern in ("os.replace(", "os.rename(", ".rename(", "mkstemp(", "mkdtemp("):
                if pattern in line and not any(
                    relative == where and snippet in line for where, snippet in ALLOWED
                ):
                    found.append(f"{relative}: {line.strip()}")
    assert found == [], "write through clapldm.fileio instead:\n" + "\n".join(found)


def test_interrupted_model_save_keeps_the_old_model(
    tiny_pipe: Any, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model"
    shutil.copytree(tiny_model_dir, target)
    (target / "unet" / "model.safetensors").write_bytes(b"older weights")  # differs from tiny_pipe
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tiny_pipe.vocoder, "state_dict", interrupted)  # after clap, vae, unet
    with pytest.raises(KeyboardInterrupt):
        tiny_pipe.save_pretrained(target)
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert _leftovers(tmp_path) == []


def test_model_save_never_replaces_an_unrelated_folder(tiny_pipe: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a clapldm model folder"):
        tiny_pipe.save_pretrained(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_shard_writer_failure_keeps_closed_shards_and_drops_the_open_one(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path, max_count=1) as writer:
            writer.write("a", {"txt": b"first"})
            writer.write("b", {"txt": b"second"})  # closes shard 0, opens shard 1
            raise RuntimeError("encoder failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-000000.tar"]
