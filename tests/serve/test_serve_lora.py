"""The server offers the LoRA adapters of its --lora-dir by name, and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from fastapi.testclient import TestClient
from serve_helpers import FAST, wait_for

from clapldm import AudioLDM
from clapldm.adapters import LoraSpec, add_adapter, remove_adapter, save_adapter, unet_hash
from clapldm.debug import tiny_pipeline
from clapldm.recipe import read_file_recipe
from clapldm.serve.app import create_app


def write_adapter(model: AudioLDM, folder: Path, seed: int) -> None:
    """An adapter for ``model`` with non-zero weights (``model`` is left unchanged)."""
    base = unet_hash(model.unet)
    add_adapter(model.unet, LoraSpec(2))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.unet.named_parameters():
            if ".lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    save_adapter(folder, model.unet, LoraSpec(2), base_hash=base, base_name=model.name)
    remove_adapter(model.unet)


@pytest.fixture
def library(tiny_model_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "adapters"
    write_adapter(AudioLDM.from_pretrained(tiny_model_dir), root / "kit", seed=0)
    write_adapter(tiny_pipeline(seed=5), root / "foreign", seed=1)  # another base model
    (root / "notes").mkdir()  # not an adapter
    return root


@pytest.fixture
def client(tiny_model_dir: Path, library: Path, tmp_path: Path) -> Any:
    pipe = AudioLDM.from_pretrained(tiny_model_dir)  # its own: adapters change the pipeline
    with TestClient(create_app(pipe, tmp_path / "out", lora_dir=library)) as client:
        client.pipe = pipe
        yield client


def generate(client: Any, **extra: Any) -> Any:
    return client.post("/v1/generate", json={"prompt": "a dog", "seed": 7, **FAST, **extra})


def audio_of(client: Any, response: Any) -> tuple[np.ndarray, dict[str, Any]]:
    status = wait_for(client, response.json()["id"])
    assert status["state"] == "done", status
    path = Path(client.app.state.output_dir) / f"{status['id']}.wav"
    return sf.read(path)[0], read_file_recipe(path)


def test_named_adapters_only(client: Any, library: Path) -> None:
    assert client.get("/v1/config").json()["loras"] == ["kit"]  # foreign base: skipped
    plain, plain_recipe = audio_of(client, generate(client))
    kit, kit_recipe = audio_of(client, generate(client, loras={"kit": 0.8}))
    again, _ = audio_of(client, generate(client))
    assert "loras" not in plain_recipe
    assert [(u["path"], u["scale"]) for u in kit_recipe["loras"]] == [
        (str((library / "kit").resolve()), 0.8)
    ]
    assert np.abs(plain - kit).max() > 1e-4
    np.testing.assert_array_equal(plain, again)  # the adapter is off again
    expected = AudioLDM.from_pretrained(client.pipe.source).load_lora(library / "kit", scale=0.8)
    reference = expected.generate("a dog", seed=7, **FAST).audio[0]
    np.testing.assert_allclose(kit, reference, atol=1e-4)  # 16-bit file

    for name in ("foreign", "notes", str(library / "kit"), "../adapters/kit"):
        response = generate(client, loras={name: 1.0})
        assert response.status_code == 400, name
        assert "unknown LoRA adapter" in response.json()["error"]
    assert generate(client, loras={"kit": 1e6}).status_code == 400


def test_without_a_library_no_adapter_is_accepted(make_client: Any) -> None:
    response = make_client().post("/v1/generate", json={"prompt": "a", "loras": {"kit": 1}})
    assert response.status_code == 400
    assert "start it with --lora-dir" in response.json()["error"]
