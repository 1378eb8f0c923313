"""The two upload modes besides editing: extend a clip, generate from an audio prompt."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from serve_helpers import RATE, files_in, wait_for, wav_bytes

from clapldm.recipe import read_file_recipe


def post(client: Any, mode: str, fields: dict[str, str], seconds: float = 0.5) -> Any:
    return client.post(
        f"/v1/{mode}",
        files={"audio": ("clip.wav", wav_bytes(seconds), "audio/wav")},
        data={"steps": "2", "seed": "3", "spectrogram": "false", **fields},
    )


def test_extend_continues_the_upload(client: Any, out_dir: Path) -> None:
    response = post(
        client,
        "extend",
        {"prompt": "a tone", "total_duration": "1.2", "window": "0.8", "overlap": "0.3"},
    )
    assert response.status_code == 202, response.json()
    status = wait_for(client, response.json()["id"])
    assert status["state"] == "done", status
    settings = status["result"]["settings"]
    assert settings["mode"] == "extend" and settings["windows"] >= 2
    audio, rate = sf.read(io.BytesIO(client.get(status["result"]["audio_url"]).content))
    assert rate == RATE and audio.shape == (round(1.2 * RATE),)
    original, _ = sf.read(io.BytesIO(wav_bytes(0.5)), dtype="float32")
    np.testing.assert_allclose(audio[: len(original)], original, atol=1e-4)  # input kept
    assert read_file_recipe(files_in(out_dir)[0])["input"] == "clip.wav"


def test_audio_prompt_generates_from_the_clip(client: Any) -> None:
    """Same seed, two different clips as the prompt: the clip is what conditions."""
    noise = io.BytesIO()
    sf.write(noise, np.random.default_rng(0).uniform(-0.5, 0.5, RATE // 2), RATE, format="WAV")
    outputs = []
    for clip in (wav_bytes(0.5), noise.getvalue()):
        response = client.post(
            "/v1/audio-prompt",
            files={"audio": ("clip.wav", clip, "audio/wav")},
            data={"steps": "2", "seed": "3", "duration": "0.5", "audio_prompt_weight": "1"},
        )
        assert response.status_code == 202, response.json()
        status = wait_for(client, response.json()["id"])
        assert status["state"] == "done", status
        assert status["result"]["duration"] == 0.5 and status["seed"] == 3
        audio, _ = sf.read(io.BytesIO(client.get(status["result"]["audio_url"]).content))
        assert audio.shape == (RATE // 2,) and np.abs(audio).max() > 0
        outputs.append(audio)
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-3


@pytest.mark.parametrize(
    ("mode", "fields", "message"),
    [
        ("extend", {"prompt": "x", "total_duration": "0.4"}, "must exceed"),
        ("extend", {"prompt": "x", "total_duration": "1e9"}, "total_duration"),
        (
            "extend",
            {"prompt": "x", "total_duration": "2", "overlap": "0.9", "window": "0.8"},
            "overlap",
        ),
        ("extend", {"total_duration": "2"}, "prompt"),
        ("audio-prompt", {"audio_prompt_weight": "2"}, "audio_prompt_weight"),
        ("audio-prompt", {"duration": "-1"}, "duration"),
    ],
)
def test_bad_values_are_400_and_queue_nothing(
    client: Any, out_dir: Path, mode: str, fields: dict[str, str], message: str
) -> None:
    response = post(client, mode, fields)
    assert response.status_code in (400, 422), response.json()
    assert message in response.json()["error"]
    assert client.get("/health").json()["completed"] == 0 and files_in(out_dir) == []


@pytest.mark.parametrize("mode", ["extend", "audio-prompt"])
def test_upload_required_and_in_the_schema(client: Any, mode: str) -> None:
    response = client.post(f"/v1/{mode}", data={"prompt": "x", "total_duration": "2"})
    assert response.status_code in (400, 415) and "audio" in response.json()["error"]
    body = client.get("/openapi.json").json()["paths"][f"/v1/{mode}"]["post"]["requestBody"]
    assert "audio" in body["content"]["multipart/form-data"]["schema"]["required"]
