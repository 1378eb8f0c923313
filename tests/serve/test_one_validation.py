"""Parameter validation exists once (`SamplingRequest.create`): the same bad request gets
the same one-line message from the Python API, the CLI and the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import wav_bytes

from clapldm.cli import main
from clapldm.errors import InvalidInputError

FAST = {"duration": 0.5, "steps": 2}


class Case:
    """One bad request in the three spellings: API call, CLI words, server request."""

    def __init__(
        self,
        name: str,
        api: Callable[[Any, Path], Any],
        cli: list[str],
        server: dict[str, Any],
        message: str,
    ) -> None:
        self.name, self.api, self.cli, self.server, self.message = name, api, cli, server, message

    def __repr__(self) -> str:
        return self.name


CASES = [
    Case(
        "guidance",
        lambda pipe, clip: pipe.generate("a dog", guidance_scale=-1.0, **FAST),
        ["generate", "a dog", "--guidance", "-1.0", "--duration", "0.5", "--steps", "2"],
        {"mode": "generate", "json": {"prompt": "a dog", "guidance_scale": -1.0, **FAST}},
        "guidance_scale must be in [0, 100], got -1.0",
    ),
    Case(
        "sampler",
        lambda pipe, clip: pipe.generate("a dog", sampler="euler-magic", **FAST),
        ["generate", "a dog", "--sampler", "euler-magic", "--duration", "0.5", "--steps", "2"],
        {"mode": "generate", "json": {"prompt": "a dog", "sampler": "euler-magic", **FAST}},
        "unknown sampler 'euler-magic'; choose one of ['ddim', 'dpmpp-2m']",
    ),
    Case(
        "negative prompt",
        lambda pipe, clip: pipe.generate("a dog", negative_prompt="y" * 5000, **FAST),
        ["generate", "a dog", "--negative", "y" * 5000, "--duration", "0.5", "--steps", "2"],
        {"mode": "generate", "json": {"prompt": "a dog", "negative_prompt": "y" * 5000, **FAST}},
        "prompt is 5000 characters long; the limit is 4096",
    ),
    Case(
        "strength",
        lambda pipe, clip: pipe.transfer(str(clip), "a bell", strength=1.5, steps=2),
        ["transfer", "{clip}", "a bell", "--strength", "1.5", "--steps", "2"],
        {"mode": "transfer", "data": {"prompt": "a bell", "strength": "1.5", "steps": "2"}},
        "strength must be in (0, 1], got 1.5",
    ),
    Case(
        "region",
        lambda pipe, clip: pipe.inpaint(str(clip), "rain", regions=[(0.8, 0.2)], steps=2),
        ["inpaint", "{clip}", "rain", "--region", "0.8:0.2", "--steps", "2"],
        {"mode": "inpaint", "data": {"prompt": "rain", "regions": "0.8:0.2", "steps": "2"}},
        "region 0.8:0.2 is empty or reversed",
    ),
    Case(
        "cutoff",
        lambda pipe, clip: pipe.super_resolve(str(clip), cutoff_hz=9000.0, steps=2),
        ["superres", "{clip}", "--cutoff", "9000", "--steps", "2"],
        {"mode": "superres", "data": {"cutoff_hz": "9000", "steps": "2"}},
        "cutoff 9000 Hz must be between 0 and the model's Nyquist (8000 Hz)",
    ),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "in.wav"
    path.write_bytes(wav_bytes(1.0))
    return path


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_api_cli_and_server_give_the_same_message(
    case: Case,
    tiny_pipe: Any,
    tiny_model_dir: Path,
    client: Any,
    clip: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        case.api(tiny_pipe, clip)
    api_message = str(raised.value)

    words = [word.replace("{clip}", str(clip)) for word in case.cli]
    capsys.readouterr()
    code = main([*words, "--model", str(tiny_model_dir), "-o", str(tmp_path / "out.wav")])
    cli_lines = capsys.readouterr().err.strip().splitlines()

    mode = case.server["mode"]
    if "json" in case.server:
        response = client.post(f"/v1/{mode}", json=case.server["json"])
    else:
        upload = {"audio": ("in.wav", clip.read_bytes(), "audio/wav")}
        response = client.post(f"/v1/{mode}", files=upload, data=case.server["data"])

    assert api_message == case.message
    assert code != 0 and cli_lines == [f"clapldm: error: {case.message}"]
    assert response.status_code == 400 and response.json() == {"error": case.message}
    assert not (tmp_path / "out.wav").exists()
