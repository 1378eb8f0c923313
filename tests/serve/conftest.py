"""Server test fixtures: an app on the shared tiny model (TestClient or a real uvicorn on a
free loopback port) and a gate holding jobs at their first step. Everything writes under
tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extras (clapldm[serve]) are not installed")
pytest.importorskip("uvicorn", reason="the server extras (clapldm[serve]) are not installed")

from fastapi.testclient import TestClient  # noqa: E402
from serve_helpers import Gate, LiveServer  # noqa: E402

from clapldm.serve.app import create_app  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: the tiny model's ops are too small to split, and on a shared
    2-core machine extra threads only spin (measured 10x slower with 2 under load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def make_client(tiny_pipe: Any, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """make_client(**create_app kwargs) -> a started TestClient writing to tmp_path/out."""
    clients: list[TestClient] = []

    def make(**kwargs: Any) -> TestClient:
        kwargs.setdefault("max_queue", 4)
        client = TestClient(create_app(tiny_pipe, tmp_path / "out", **kwargs))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def gate(tiny_pipe: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate(tiny_pipe, monkeypatch)
    yield held
    held.release()


@pytest.fixture
def live_server(tiny_pipe: Any, tmp_path: Path) -> Callable[..., LiveServer]:
    def start(**kwargs: Any) -> LiveServer:
        kwargs.setdefault("max_queue", 4)
        return LiveServer(create_app(tiny_pipe, tmp_path / "out", **kwargs))

    return start
