"""Weight files: safe loading, wrapped checkpoints, download failures offline (no network)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from clapldm.errors import ModelLoadError
from clapldm.eval import weights
from clapldm.eval.cnn14 import download_cnn14_weights


class _NotATensor:
    pass


def test_load_state_dict_file_unwraps_and_refuses_code(tmp_path: Path) -> None:
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"model": {"a": torch.ones(2)}, "iteration": 3}, wrapped)
    assert list(weights.load_state_dict_file(wrapped)) == ["a"]
    pickled = tmp_path / "code.pth"
    torch.save({"a": _NotATensor()}, pickled)
    with pytest.raises(ModelLoadError, match="cannot read"):
        weights.load_state_dict_file(pickled)  # weights_only=True refuses custom classes
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"nope")
    with pytest.raises(ModelLoadError):
        weights.load_state_dict_file(garbage)


def test_download_offline_is_a_model_load_error(tmp_path: Path, monkeypatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("CLAPLDM_EVAL_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match="zenodo"):
        download_cnn14_weights()
    assert list(tmp_path.iterdir()) == []  # no partial file left behind
