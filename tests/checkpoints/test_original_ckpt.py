"""An original-layout AudioLDM .ckpt (tiny, random) imports with every tensor in place."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from clapldm import AudioLDM
from clapldm.debug import tiny_pipeline
from clapldm.errors import ModelLoadError
from clapldm.testing import byte_level_roberta_tokenizer, original_checkpoint_state


def test_original_ckpt_imports_and_generates_identically(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pipe = tiny_pipeline()
    torch.save(
        {"state_dict": original_checkpoint_state(pipe), "global_step": 1}, tmp_path / "tiny.ckpt"
    )
    tokenizer = byte_level_roberta_tokenizer(tmp_path / "tokenizer")
    imported = AudioLDM.from_pretrained(
        tmp_path / "tiny.ckpt", tokenizer=tokenizer, head_dim=8, norm_groups=(8, 4)
    )
    for name in ("unet", "vae", "vocoder"):
        ours, theirs = getattr(pipe, name).state_dict(), getattr(imported, name).state_dict()
        assert set(ours) == set(theirs)
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), (name, key)
    assert imported.vae.config.scale_factor == pytest.approx(pipe.vae.config.scale_factor)
    a = pipe.generate("a dog", duration=0.3, steps=3, seed=2, sampler="ddim")
    b = imported.generate("a dog", duration=0.3, steps=3, seed=2, sampler="ddim")
    np.testing.assert_allclose(a.audio, b.audio, atol=1e-5)
    imported.save_pretrained(tmp_path / "native")
    assert (tmp_path / "native" / "unet" / "model.safetensors").is_file()


class Boom:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("pwned",))


def test_pickled_callable_is_refused(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": {"x": Boom()}}, fh)
    with pytest.raises(ModelLoadError, match="refused"):
        AudioLDM.from_pretrained(path)
    assert "pwned" not in capsys.readouterr().out


def test_truncated_and_foreign_checkpoints(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.save({"state_dict": {"foo": torch.zeros(2)}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ModelLoadError, match="not an AudioLDM checkpoint"):
        AudioLDM.from_pretrained(tmp_path / "foreign.ckpt")
    data = (tmp_path / "foreign.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError):
        AudioLDM.from_pretrained(tmp_path / "cut.ckpt")
