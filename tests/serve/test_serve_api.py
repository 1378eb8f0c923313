"""REST API on a tiny model: every endpoint, the job lifecycle, cancel, 429, the schema."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from serve_helpers import FAST, RATE, files_in, wait_for, wav_bytes

from clapldm.recipe import read_file_recipe


def read_back(content: bytes) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(io.BytesIO(content), dtype="float32")
    assert np.isfinite(audio).all()
    return audio, rate


def test_health_and_config(client: Any) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["queued"] == 0
    config = client.get("/v1/config").json()
    assert config["model"] == "tiny-random" and config["sample_rate"] == RATE
    assert "ddim" in config["samplers"] and "dpmpp-2m" in config["samplers"]


def test_openapi_schema_validates(client: Any) -> None:
    from openapi_spec_validator import validate

    schema = client.get("/openapi.json").json()
    validate(schema)
    paths = schema["paths"]
    for path in ("/v1/generate", "/v1/transfer", "/v1/inpaint", "/v1/superres"):
        assert "post" in paths[path]
    assert {"get", "delete"} <= set(paths["/v1/jobs/{job_id}"])
    assert "get" in paths["/v1/jobs/{job_id}/audio"] and "get" in paths["/health"]
    upload = paths["/v1/transfer"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"
    ]
    assert upload["properties"]["audio"]["format"] == "binary" and "audio" in upload["required"]


def test_generate_lifecycle_files_and_recipe(client: Any, out_dir: Path) -> None:
    response = client.post("/v1/generate", json={"prompt": "a dog barks", "seed": 1234, **FAST})
    assert response.status_code == 202
    job = response.json()
    assert job["state"] in ("queued", "running") and job["seed"] == 1234
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    status = wait_for(client, job["id"])
    assert status["state"] == "done", status
    assert status["progress"] == 100.0 and status["error"] is None
    result = status["result"]
    assert result["seed"] == 1234 and result["sample_rate"] == RATE and result["duration"] == 0.5

    audio = client.get(result["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    samples, rate = read_back(audio.content)
    assert rate == RATE and samples.shape == (RATE // 2,)
    png = client.get(result["spectrogram_url"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    download = client.get(result["audio_url"], params={"download": 1})
    assert "attachment" in download.headers["content-disposition"]

    # the file on disk is named by the job id only and carries the CLI's recipe tags
    written = files_in(out_dir)
    assert [p.name for p in written] == sorted([f"{job['id']}.png", f"{job['id']}.wav"])
    recipe = read_file_recipe(out_dir / f"{job['id']}.wav")
    assert (
        recipe["prompt"] == "a dog barks"
        and recipe["seed"] == 1234
        and recipe["mode"] == "generate"
    )
    assert recipe["steps"] == 2 and recipe["model"] == "tiny-random"


def test_same_seed_same_audio_and_random_seed_reported(client: Any) -> None:
    body = {"prompt": "rain", "seed": 99, "spectrogram": False, "format": "flac", **FAST}
    first = wait_for(client, client.post("/v1/generate", json=body).json()["id"])
    second = wait_for(client, client.post("/v1/generate", json=body).json()["id"])
    a, _ = read_back(client.get(first["result"]["audio_url"]).content)
    b, _ = read_back(client.get(second["result"]["audio_url"]).content)
    np.testing.assert_array_equal(a, b)
    assert first["result"]["spectrogram_url"] is None

    drawn = client.post(
        "/v1/generate", json={"prompt": "rain", "spectrogram": False, **FAST}
    ).json()
    assert isinstance(drawn["seed"], int)  # drawn by the server, shown before the job runs
    assert wait_for(client, drawn["id"])["result"]["seed"] == drawn["seed"]


@pytest.mark.parametrize(
    ("mode", "fields", "setting"),
    [
        ("transfer", {"prompt": "a cat", "strength": "0.5"}, ("strength", 0.5)),
        (
            "inpaint",
            {"prompt": "a cat", "regions": "0.25:0.5, 0.7:0.8"},
            ("regions", [[0.25, 0.5], [0.7, 0.8]]),
        ),
        ("superres", {"cutoff_hz": "3000"}, ("cutoff_hz", 3000.0)),
    ],
)
def test_edit_endpoints(
    client: Any, out_dir: Path, mode: str, fields: dict[str, str], setting: tuple[str, Any]
) -> None:
    response = client.post(
        f"/v1/{mode}",
        files={"audio": ("input clip.wav", wav_bytes(1.0), "audio/wav")},
        data={**fields, "steps": "2", "seed": "5", "spectrogram": "false"},
    )
    assert response.status_code == 202, response.json()
    status = wait_for(client, response.json()["id"])
    assert status["state"] == "done", status
    assert status["result"]["settings"]["mode"] == mode
    key, value = setting
    assert status["result"]["settings"][key] == value
    samples, _ = read_back(client.get(status["result"]["audio_url"]).content)
    assert samples.shape == (RATE,)  # the input's length
    recipe = read_file_recipe(files_in(out_dir)[0])
    assert recipe["input"] == "input clip.wav" and recipe["seed"] == 5


def test_multipart_params_json_and_resampled_upload(client: Any) -> None:
    params = json.dumps({"prompt": "birds", "strength": 0.3, "steps": 2, "spectrogram": False})
    response = client.post(
        "/v1/transfer",
        files={"audio": ("clip.flac", _flac(0.5, 22050), "audio/flac")},
        data={"params": params, "seed": "8"},  # fields override the JSON
    )
    assert response.status_code == 202, response.json()
    status = wait_for(client, response.json()["id"])
    assert status["state"] == "done" and status["seed"] == 8
    assert status["result"]["settings"]["strength"] == 0.3 and status["result"]["duration"] == 0.5


def _flac(seconds: float, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(int(seconds * rate), np.float32) + 0.1, rate, format="FLAC")
    return buffer.getvalue()


def test_queue_full_429_and_cancel(make_client: Any, gate: Any, out_dir: Path) -> None:
    client = make_client(max_queue=1)
    body = {"prompt": "engine", **FAST}
    running = client.post("/v1/generate", json=body).json()
    assert gate.started.wait(20), "the first job never started"
    queued = client.post("/v1/generate", json=body)
    assert queued.status_code == 202 and queued.json()["queue_position"] == 0
    full = client.post("/v1/generate", json=body)
    assert full.status_code == 429
    assert int(full.headers["retry-after"]) >= 1 and "queue is full" in full.json()["error"]
    assert client.get("/health").json()["queued"] == 1

    # a queued job is removed at once; the slot frees
    cancelled = client.delete(f"/v1/jobs/{queued.json()['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.get("/health").json()["queued"] == 0
    # a running job stops at its next step and writes nothing
    stopping = client.delete(f"/v1/jobs/{running['id']}")
    assert stopping.status_code == 202 and stopping.json()["cancel_requested"] is True
    gate.release()
    assert wait_for(client, running["id"])["state"] == "cancelled"
    assert files_in(out_dir) == []
    # cancelling a finished job is a conflict; its audio does not exist
    again = client.delete(f"/v1/jobs/{running['id']}")
    assert again.status_code == 409 and "cancelled" in again.json()["error"]
    assert client.get(f"/v1/jobs/{running['id']}/audio").status_code == 409


def test_audio_of_unfinished_job_is_409(make_client: Any, gate: Any) -> None:
    client = make_client()
    job = client.post("/v1/generate", json={"prompt": "wind", **FAST}).json()
    assert gate.started.wait(20)
    response = client.get(f"/v1/jobs/{job['id']}/audio")
    assert response.status_code == 409 and "running" in response.json()["error"]
    running = client.get(f"/v1/jobs/{job['id']}").json()
    assert running["state"] == "running" and 0 <= running["progress"] < 100
    gate.release()
    assert wait_for(client, job["id"])["state"] == "done"
    finished = client.delete(f"/v1/jobs/{job['id']}")
    assert finished.status_code == 409


def test_unknown_jobs_are_404(client: Any) -> None:
    for path in (
        "/v1/jobs/0123456789abcdef0123456789abcdef",
        "/v1/jobs/nope",
        "/v1/jobs/0123456789abcdef0123456789abcdef/audio",
        "/v1/jobs/x/spectrogram",
    ):
        response = client.get(path)
        assert response.status_code == 404 and response.json() == {
            "error": "unknown job (never existed, or expired)"
        }
    assert client.delete("/v1/jobs/0123456789abcdef0123456789abcdef").status_code == 404


def test_failed_job_reports_its_error(
    client: Any, tiny_pipe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clapldm.errors import InvalidInputError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise InvalidInputError("the model refused this")

    monkeypatch.setattr(tiny_pipe, "run", broken)
    job = client.post("/v1/generate", json={"prompt": "x", **FAST}).json()
    status = wait_for(client, job["id"])
    assert status["state"] == "failed" and status["error"] == "the model refused this"
    assert client.get(f"/v1/jobs/{job['id']}/audio").status_code == 409


def test_page_and_assets(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Content-Security-Policy" in page.headers
    for element in (
        'id="prompt"',
        'id="negative-prompt"',
        'id="seed"',
        'id="random-seed"',
        'id="sampler"',
        'id="candidates"',
        'id="audio-file"',
        'id="strength"',
        'id="regions"',
        'id="cutoff"',
        'id="player"',
        'id="spectrogram"',
        'id="download"',
        'id="progress"',
        'id="used-seed"',
    ):
        assert element in page.text
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/index.html").status_code == 404
