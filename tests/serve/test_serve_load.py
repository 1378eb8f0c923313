"""Load on a real server (uvicorn, loopback only), bounded in requests and in time.

Client threads fire generation requests faster than one worker can serve them. Every
accepted job must complete, the excess must be refused with 429, /health must answer
quickly throughout, memory must stay bounded, and every output must read back whole.
The measured numbers are printed and written to tmp_path/load.json.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from serve_helpers import rss_bytes

httpx = pytest.importorskip("httpx")

CLIENTS = 12
REQUESTS_PER_CLIENT = 10  # at most 120 requests in all
LOAD_SECONDS = 6.0  # clients stop sending after this
SEND_INTERVAL = 0.5  # per client: 12 clients offer ~24 jobs/s, far above what one worker serves
DRAIN_SECONDS = 40.0  # accepted jobs must be done by then
DURATION = 0.25


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def test_load_every_accepted_job_completes(live_server: Any, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    responses: list[tuple[int, float, dict[str, Any], dict[str, str]]] = []
    health: list[float] = []
    memory: list[int] = []
    lock = threading.Lock()
    stop_watch = threading.Event()
    watch_failures: list[str] = []  # an assert in the watcher thread could not fail the test

    with live_server(max_queue=4) as server:
        rss_before = rss_bytes()
        load_deadline = time.monotonic() + LOAD_SECONDS

        def watch() -> None:
            try:
                with httpx.Client(base_url=server.url, timeout=10) as http:
                    while not stop_watch.is_set():
                        started = time.perf_counter()
                        answer = http.get("/health")
                        health.append(time.perf_counter() - started)
                        if answer.status_code != 200 or answer.json().get("status") != "ok":
                            watch_failures.append(f"/health: {answer.status_code} {answer.text}")
                        memory.append(rss_bytes())
                        time.sleep(0.05)
            except Exception as error:  # noqa: BLE001 - reported by the main thread below
                watch_failures.append(f"/health watcher stopped: {error!r}")

        def send(index: int) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for k in range(REQUESTS_PER_CLIENT):
                    if time.monotonic() > load_deadline:
                        return
                    body = {
                        "prompt": f"load test {index} {k}",
                        "duration": DURATION,
                        "steps": 2,
                        "seed": index * 1000 + k,
                        "spectrogram": k % 3 == 0,
                    }
                    started = time.perf_counter()
                    answer = http.post("/v1/generate", json=body)
                    with lock:
                        responses.append(
                            (
                                answer.status_code,
                                time.perf_counter() - started,
                                answer.json(),
                                dict(answer.headers),
                            )
                        )
                    time.sleep(SEND_INTERVAL * (0.5 + (index * 7 + k) % 10 / 10))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(send, range(CLIENTS)))

        accepted = [body for status, _, body, _ in responses if status == 202]
        refused = [(body, headers) for status, _, body, headers in responses if status == 429]
        finals: dict[str, dict[str, Any]] = {}
        drain_deadline = time.monotonic() + DRAIN_SECONDS
        with httpx.Client(base_url=server.url, timeout=10) as http:
            while len(finals) < len(accepted) and time.monotonic() < drain_deadline:
                for job in accepted:
                    if job["id"] not in finals:
                        status = http.get(f"/v1/jobs/{job['id']}").json()
                        if status["state"] in ("done", "failed", "cancelled"):
                            finals[job["id"]] = status
                time.sleep(0.1)
        stop_watch.set()
        watcher.join(10)
        assert not watcher.is_alive(), "the /health watcher did not stop"
    assert not watch_failures, watch_failures

    statuses = sorted({status for status, *_ in responses})
    job_seconds = [
        f["finished_at"] - f["created_at"] for f in finals.values() if f["state"] == "done"
    ]
    summary = {
        "requests": len(responses),
        "accepted": len(accepted),
        "rejected_429": len(refused),
        "completed": sum(1 for f in finals.values() if f["state"] == "done"),
        "lost": len(accepted) - sum(1 for f in finals.values() if f["state"] == "done"),
        "post_latency_p50_ms": 1000 * percentile([t for _, t, _, _ in responses], 50),
        "post_latency_p95_ms": 1000 * percentile([t for _, t, _, _ in responses], 95),
        "job_latency_p50_s": percentile(job_seconds, 50),
        "job_latency_p95_s": percentile(job_seconds, 95),
        "health_checks": len(health),
        "health_p95_ms": 1000 * percentile(health, 95),
        "health_max_ms": 1000 * max(health, default=float("nan")),
        "rss_before_mb": rss_before / 2**20,
        "rss_peak_mb": max(memory, default=rss_before) / 2**20,
    }
    (tmp_path / "load.json").write_text(json.dumps(summary, indent=2))
    print(
        "\nload test:",
        json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in summary.items()}),
    )

    assert statuses == [202, 429], f"unexpected statuses {statuses}"
    assert summary["accepted"] >= 5 and summary["rejected_429"] > 0
    assert all(
        int(headers["retry-after"]) >= 1 and "queue is full" in body["error"]
        for body, headers in refused
    )
    assert summary["lost"] == 0, [f for f in finals.values() if f["state"] != "done"]
    assert len(health) >= 20 and summary["health_max_ms"] < 2000 and summary["health_p95_ms"] < 500
    assert summary["rss_peak_mb"] - summary["rss_before_mb"] < 400

    # every output reads back whole: the right length, finite, no temp files left behind
    files = sorted(out_dir.iterdir())
    assert not [p for p in files if p.name.startswith(".")], "temporary files left behind"
    wavs = [p for p in files if p.suffix == ".wav"]
    assert sorted(p.stem for p in wavs) == sorted(finals)
    for path in wavs:
        audio, rate = sf.read(path, dtype="float32")
        assert audio.shape == (round(DURATION * rate),) and np.isfinite(audio).all()
    pngs = [p for p in files if p.suffix == ".png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert len(pngs) == sum(1 for f in finals.values() if f["result"]["spectrogram_url"])
    assert statistics.mean(job_seconds) > 0
