"""Bad input is a 4xx with {"error": ...} and writes nothing; names cannot escape the output
folder; sizes are capped; the job store stays bounded."""

from __future__ import annotations

import struct
import threading
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import files_in, wav_bytes

from clapldm.errors import InvalidInputError
from clapldm.serve.jobs import (
    JobFinishedError,
    JobManager,
    JobNotFoundError,
    JobState,
    QueueFullError,
)


def assert_refused(
    response: Any, status: int | tuple[int, ...], out_dir: Path, match: str = ""
) -> None:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    assert match.lower() in body["error"].lower(), body["error"]
    assert files_in(out_dir) == [], "a refused request wrote a file"


GOOD = {"prompt": "a dog", "duration": 0.5, "steps": 2}


@pytest.mark.parametrize(
    ("change", "status", "match"),
    [
        ({"duration": 0}, 400, "duration"),
        ({"duration": -1}, 400, "duration"),
        ({"duration": 1e9}, 400, "maximum"),
        ({"duration": "long"}, 422, "duration"),
        ({"steps": 0}, 400, "steps"),
        ({"steps": 100000}, 400, "steps"),
        ({"steps": 2.5}, 422, "steps"),
        ({"guidance_scale": -1}, 400, "guidance_scale"),
        ({"guidance_scale": 1e6}, 400, "guidance_scale"),
        ({"eta": -0.5}, 400, "eta"),
        ({"sampler": "euler-a"}, 400, "sampler"),
        ({"candidates": 0}, 400, "candidates"),
        ({"candidates": 50}, 400, "candidates"),
        ({"seed": -1}, 400, "seed"),
        ({"seed": 2**60}, 400, "seed"),
        ({"prompt": ""}, 400, "prompt is empty"),
        ({"prompt": "   "}, 400, "prompt is empty"),
        ({"prompt": "x" * 5000}, 400, "limit"),
        ({"prompt": "x" * (1 << 20)}, 413, "limit"),
        ({"prompt": 5}, 422, "prompt"),
        ({"negative_prompt": "y" * 5000}, 400, "limit"),
        ({"format": "mp3"}, 422, "format"),
        ({"volume": 11}, 422, "volume"),
    ],
)
def test_bad_generate_parameters(
    client: Any, out_dir: Path, change: dict[str, Any], status: int, match: str
) -> None:
    assert_refused(client.post("/v1/generate", json={**GOOD, **change}), status, out_dir, match)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (
            b'{"prompt": "caf\xe9"}',
            {"content-type": "application/json"},
            (400, 422),
        ),  # Latin-1, not UTF-8
        (b"\xff\xfe\x00garbage", {"content-type": "application/json"}, (400, 422)),
        (b'{"prompt": ', {"content-type": "application/json"}, 422),
        (b'["a dog"]', {"content-type": "application/json"}, 422),
        (b"", {"content-type": "application/json"}, 422),
        (b"prompt=a+dog", {"content-type": "application/x-www-form-urlencoded"}, 422),
    ],
)
def test_malformed_json_bodies(
    client: Any, out_dir: Path, body: bytes, headers: dict[str, str], status: Any
) -> None:
    assert_refused(client.post("/v1/generate", content=body, headers=headers), status, out_dir)


def test_missing_prompt(client: Any, out_dir: Path) -> None:
    assert_refused(client.post("/v1/generate", json={"duration": 1}), 422, out_dir, "prompt")


def _truncated_wav() -> bytes:
    data = wav_bytes(1.0)
    return data[: len(data) // 2]  # header still promises the full data chunk


def _header_only_wav() -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
        + b"data"
        + struct.pack("<I", 0)
    )


@pytest.mark.parametrize(
    ("upload", "status", "match"),
    [
        (("empty.wav", b""), 400, "empty"),
        (("notes.wav", b"this is a text file, not a wav\n" * 20), 400, "not a readable audio file"),
        (("half.wav", _truncated_wav()), 400, "truncated"),
        (("nothing.wav", _header_only_wav()), 400, ""),
        (("noise.wav", bytes(range(256)) * 40), 400, "not a readable audio file"),
        (("long.wav", wav_bytes(12.0, rate=8000)), 400, "above this server"),
        (("../../etc/passwd", wav_bytes(0.5)), 400, "plain file name"),
        (("..\\..\\win.ini", wav_bytes(0.5)), 400, "plain file name"),
        (("/abs/path.wav", wav_bytes(0.5)), 400, "plain file name"),
    ],
)
def test_bad_uploads(
    client: Any, out_dir: Path, upload: tuple[str, bytes], status: int, match: str
) -> None:
    name, data = upload
    response = client.post(
        "/v1/transfer", files={"audio": (name, data, "audio/wav")}, data={"prompt": "x"}
    )
    assert_refused(response, status, out_dir, match)


@pytest.mark.parametrize(
    ("mode", "fields", "status", "match"),
    [
        ("transfer", {"prompt": "x", "strength": "0"}, 400, "strength"),
        ("transfer", {"prompt": "x", "strength": "1.5"}, 400, "strength"),
        ("transfer", {"prompt": "x", "strength": "strong"}, 422, "strength"),
        ("transfer", {"prompt": ""}, 400, "prompt is empty"),
        ("transfer", {"strength": "0.5"}, 422, "prompt"),
        ("transfer", {"prompt": "x", "duration": "0"}, 400, "duration"),
        ("transfer", {"prompt": "x", "sampler": "bogus"}, 400, "sampler"),
        ("transfer", {"prompt": "x", "steps": "-3"}, 400, "steps"),
        ("transfer", {"prompt": "x", "unknown": "1"}, 422, "unknown"),
        ("transfer", {"prompt": "x", "params": "[1, 2]"}, 400, "params"),
        ("inpaint", {"prompt": "x", "regions": "0.8:0.2"}, 400, "reversed"),
        ("inpaint", {"prompt": "x", "regions": "0.1:5"}, 400, "outside"),
        ("inpaint", {"prompt": "x", "regions": "0.1:0.5, 0.3:0.6"}, 400, "overlap"),
        ("inpaint", {"prompt": "x", "regions": "a:b"}, 400, "START:END"),
        ("inpaint", {"prompt": "x", "regions": "[[0.1]]"}, 400, "pairs"),
        ("inpaint", {"prompt": "x", "regions": "nan:0.5"}, 400, "finite"),
        ("inpaint", {"prompt": "x"}, 422, "regions"),
        ("superres", {"cutoff_hz": "0"}, 400, "cutoff"),
        ("superres", {"cutoff_hz": "96000"}, 400, "cutoff"),
        ("superres", {"cutoff_hz": "inf"}, 400, "cutoff"),
    ],
)
def test_bad_edit_parameters(
    client: Any, out_dir: Path, mode: str, fields: dict[str, str], status: int, match: str
) -> None:
    response = client.post(
        f"/v1/{mode}", files={"audio": ("in.wav", wav_bytes(1.0), "audio/wav")}, data=fields
    )
    assert_refused(response, status, out_dir, match)


def test_malformed_multipart(client: Any, out_dir: Path) -> None:
    assert_refused(
        client.post("/v1/inpaint", json={"prompt": "x", "regions": [[0, 1]]}),
        415,
        out_dir,
        "multipart",
    )
    assert_refused(client.post("/v1/transfer", data={"prompt": "x"}), (400, 415), out_dir)
    no_audio = client.post(
        "/v1/transfer", files={"other": ("a.txt", b"hi", "text/plain")}, data={"prompt": "x"}
    )
    assert_refused(no_audio, 400, out_dir, "unexpected file")
    boundary = "XyZ"
    body = (
        (f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n').encode()
        + b"caf\xe9\r\n"
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n'
        ).encode()
        + wav_bytes(0.5)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        "/v1/transfer",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_refused(response, 400, out_dir, "UTF-8")
    twice = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na\r\n' * 2
        + f"--{boundary}--\r\n"
    ).encode()
    response = client.post(
        "/v1/transfer",
        content=twice,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_refused(response, 400, out_dir, "twice")
    garbage = client.post(
        "/v1/transfer",
        content=b"--nope\r\n\x00\x01",
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert garbage.status_code in (400, 422) and set(garbage.json()) == {"error"}


def test_upload_size_is_capped(make_client: Any, out_dir: Path) -> None:
    client = make_client(max_upload_bytes=64 * 1024)
    big = wav_bytes(3.0)  # ~96 KB
    response = client.post(
        "/v1/transfer", files={"audio": ("big.wav", big, "audio/wav")}, data={"prompt": "x"}
    )
    assert_refused(response, 413, out_dir, "limit")

    def chunks() -> Any:  # no Content-Length: counted while it streams
        for _ in range(40):
            yield b"x" * 65536

    streamed = client.post(
        "/v1/generate", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_refused(streamed, 413, out_dir, "limit")
    huge_field = client.post(
        "/v1/transfer",
        files={"audio": ("a.wav", wav_bytes(0.2), "audio/wav")},
        data={"prompt": "y" * 70000},
    )
    assert_refused(huge_field, 413, out_dir, "limit")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs/..%2F..%2F..%2Fetc%2Fpasswd",
        "/v1/jobs/..%2F..%2Fetc%2Fpasswd/audio",
        "/v1/jobs/%2e%2e/audio",
        "/v1/jobs/....//....//etc/passwd",
        "/static/..%2F__init__.py",
        "/static/%2e%2e/app.py",
        "/static/../app.py",
        "/../../etc/passwd",
    ],
)
def test_traversal_is_refused(client: Any, out_dir: Path, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 400)
    assert set(response.json()) == {"error"}
    assert "root:" not in response.text


def test_output_names_are_server_made() -> None:
    from clapldm.errors import OutputError
    from clapldm.serve.runner import output_path

    folder = Path("/srv/out")
    assert output_path(folder.resolve(), "0" * 32 + ".wav").parent == folder.resolve()
    for name in ("../x.wav", "/etc/passwd", "a.wav", "0" * 32 + ".sh", "0" * 31 + "/.wav"):
        with pytest.raises(OutputError):
            output_path(folder, name)


def test_cli_binds_loopback_by_default() -> None:
    from clapldm.cli import build_parser, main
    from clapldm.serve.cli import is_loopback

    args = build_parser().parse_args(["serve"])
    assert (
        args.host == "127.0.0.1" and args.port == 8000 and args.max_queue == 8 and args.workers == 1
    )
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    assert main(["serve", "--port", "0"]) == InvalidInputError.exit_code
    assert main(["serve", "--max-queue", "0"]) == InvalidInputError.exit_code


# ----------------------------------------------------------------------- job manager
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_jobs_expire_with_their_files(tmp_path: Path) -> None:
    clock = FakeClock()

    def runner(job: Any, report: Any) -> Any:
        path = tmp_path / f"{job.id}.wav"
        path.write_bytes(b"x")
        report(0.5, "sampling")
        return {"seed": 1}, {"audio": path}

    manager = JobManager(runner, max_queue=2, ttl_seconds=60, max_jobs=4, clock=clock)
    manager.start()
    try:
        ids = []
        for _ in range(6):  # more than max_jobs: the oldest finished ones go
            job = manager.submit("generate", None)
            ids.append(job.id)
            _wait_state(manager, job.id, JobState.DONE)
        assert manager.stats()["completed"] == 6
        ids.append(manager.submit("generate", None).id)
        assert manager.stats()["jobs"] <= 5
        with pytest.raises(JobNotFoundError):
            manager.get(ids[0])
        assert not (tmp_path / f"{ids[0]}.wav").exists()
        _wait_state(manager, ids[-1], JobState.DONE)
        clock.now += 61  # past the TTL: everything finished expires, files too
        with pytest.raises(JobNotFoundError):
            manager.get(ids[-1])
        assert list(tmp_path.iterdir()) == []
    finally:
        manager.stop()


def test_queue_bound_retry_after_and_shutdown() -> None:
    release = threading.Event()

    def runner(job: Any, report: Any) -> Any:
        release.wait(10)
        report(0.5, "sampling")
        return {}, {}

    manager = JobManager(runner, max_queue=2, max_jobs=8)
    first = manager.submit("generate", None)
    _wait_state(manager, first.id, JobState.RUNNING)
    waiting = [manager.submit("generate", None) for _ in range(2)]
    with pytest.raises(QueueFullError) as full:
        manager.submit("generate", None)
    assert full.value.retry_after >= 1
    assert manager.queue_position(waiting[1]) == 1
    manager.cancel(waiting[0].id)
    assert manager.queue_position(waiting[1]) == 0
    with pytest.raises(JobFinishedError):
        manager.cancel(waiting[0].id)
    manager.stop(timeout=0.1)  # shutdown cancels the waiting and the running job
    release.set()
    assert waiting[1].state is JobState.CANCELLED
    _wait_state(manager, first.id, JobState.CANCELLED)


def _wait_state(manager: JobManager, job_id: str, state: JobState, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while manager.get(job_id).state is not state:
        assert time.monotonic() < deadline, f"job still {manager.get(job_id).state}"
        time.sleep(0.01)
