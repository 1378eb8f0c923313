"""--precision bf16: opt-in, close to fp32, and fully reversible (fp32 stays exact)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clapldm import AudioLDM
from clapldm.debug import tiny_pipeline
from clapldm.errors import InvalidInputError


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    noise = float(((estimate.astype(np.float64) - reference) ** 2).sum())
    return 10 * np.log10(float((reference.astype(np.float64) ** 2).sum()) / max(noise, 1e-30))


def test_bf16_is_close_and_switching_back_is_exact(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pipe = tiny_pipeline()
    unet_weight = pipe.unet.conv_in.weight.detach().clone()
    exact = pipe.generate("rain", duration=0.5, steps=3, seed=1).audio

    pipe.set_precision("bf16")
    assert pipe.unet.conv_in.weight.dtype == torch.bfloat16  # cast once, not per call
    assert pipe.vae.encoder.conv_in.weight.dtype == torch.float32  # editing encoder stays fp32
    assert all(p.dtype == torch.float32 for p in pipe.unet.conv_norm_out.parameters())
    approx = pipe.generate("rain", duration=0.5, steps=3, seed=1).audio
    assert approx.dtype == np.float32 and approx.shape == exact.shape
    assert not np.array_equal(approx, exact)
    assert snr_db(exact, approx) > 15.0

    pipe.save_pretrained(tmp_path / "saved")  # saved from the fp32 originals
    pipe.set_precision("fp32")
    assert torch.equal(pipe.unet.conv_in.weight, unet_weight)
    assert np.array_equal(pipe.generate("rain", duration=0.5, steps=3, seed=1).audio, exact)
    reloaded = AudioLDM.from_pretrained(tmp_path / "saved")
    assert reloaded.precision == "fp32"
    assert torch.equal(reloaded.unet.conv_in.weight, unet_weight)


def test_bf16_editing_runs() -> None:
    pipe = tiny_pipeline().set_precision("bf16")
    clip = np.sin(np.linspace(0, 200, 8000)).astype(np.float32) * 0.3
    out = pipe.transfer(clip, "rain", sample_rate=16000, strength=0.5, steps=4, seed=0)
    assert np.isfinite(out.audio).all()


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="precision"):
        tiny_pipeline().set_precision("fp8")


def test_bf16_without_fp32_copies_frees_them_and_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pipe = tiny_pipeline()
    kept = tiny_pipeline().set_precision("bf16")
    pipe.set_precision("bf16", keep_fp32=False)
    assert pipe._weights.fp32_weights == [] and kept._weights.fp32_weights
    a = pipe.generate("rain", duration=0.3, steps=2, seed=0).audio
    b = kept.generate("rain", duration=0.3, steps=2, seed=0).audio
    assert np.array_equal(a, b)
    with pytest.raises(InvalidInputError, match="freed"):
        pipe.set_precision("fp32")
    with pytest.raises(InvalidInputError, match="freed"):
        pipe.save_pretrained(tmp_path / "x")
    assert not (tmp_path / "x").exists()
