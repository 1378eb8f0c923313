"""LoRA adapters on a pipeline: load_lora, mixing, merge_lora, wrong base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from clapldm import AudioLDM
from clapldm.adapters import LoraSpec, add_adapter, save_adapter, unet_hash
from clapldm.errors import InvalidInputError, ModelLoadError

GENERATE = {"duration": 0.4, "steps": 3, "sampler": "ddim", "seed": 5}


def in_memory_adapter(pipe: AudioLDM, spec: LoraSpec, seed: int) -> None:
    """Add adapter "default" to the pipeline's UNet with non-zero weights (as training
    leaves them)."""
    add_adapter(pipe.unet, spec)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in pipe.unet.named_parameters():
            if ".lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)


def make_adapter(model_dir: Path, folder: Path, spec: LoraSpec, seed: int) -> np.ndarray:
    """Save an adapter for the model at ``model_dir``; returns the in-memory generation."""
    pipe = AudioLDM.from_pretrained(model_dir)
    base = unet_hash(pipe.unet)
    in_memory_adapter(pipe, spec, seed)
    save_adapter(folder, pipe.unet, spec, base_hash=base, base_name=pipe.name)
    return pipe.generate("a dog barks", **GENERATE).audio


@pytest.fixture(scope="module")
def adapters_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapters")
    expected = make_adapter(tiny_model_dir, root / "kit", LoraSpec(4, targets=("attention",)), 0)
    np.save(root / "kit.npy", expected)
    make_adapter(tiny_model_dir, root / "rain", LoraSpec(2, targets=("conv",)), 1)
    return root


def test_saved_adapter_generates_what_the_in_memory_one_did(
    tiny_model_dir: Path, adapters_dir: Path
) -> None:
    pipe = AudioLDM.from_pretrained(tiny_model_dir)
    base = pipe.generate("a dog barks", **GENERATE).audio
    pipe.load_lora(adapters_dir / "kit")
    out = pipe.generate("a dog barks", **GENERATE).audio
    np.testing.assert_array_equal(out, np.load(adapters_dir / "kit.npy"))
    assert np.abs(out - base).max() > 1e-3
    assert pipe.loras["kit"].scale == 1.0 and len(pipe.loras["kit"].sha256) == 64


def test_scales_mixing_and_unloading(tiny_model_dir: Path, adapters_dir: Path) -> None:
    pipe = AudioLDM.from_pretrained(tiny_model_dir)
    base = pipe.generate("a dog barks", **GENERATE).audio
    pipe.load_lora(adapters_dir / "kit", scale=0.0)
    np.testing.assert_allclose(pipe.generate("a dog barks", **GENERATE).audio, base, atol=1e-6)
    pipe.set_lora_scale("kit", 0.8).load_lora(adapters_dir / "rain", scale=0.5, name="rain2")
    mixed = pipe.generate("a dog barks", **GENERATE).audio
    assert pipe.lora_scales() == {"kit": 0.8, "rain2": 0.5}
    pipe.unload_lora("rain2")
    only_kit = pipe.generate("a dog barks", **GENERATE).audio
    assert np.abs(mixed - only_kit).max() > 1e-4
    pipe.unload_lora()
    np.testing.assert_array_equal(pipe.generate("a dog barks", **GENERATE).audio, base)
    with pytest.raises(InvalidInputError, match="LoRA scale"):
        pipe.load_lora(adapters_dir / "kit", scale=float("nan"))
    with pytest.raises(InvalidInputError, match="no adapter named"):
        pipe.set_lora_scale("nope", 1.0)


def test_merge_equals_the_adapter_at_scale_one(tiny_model_dir: Path, adapters_dir: Path) -> None:
    pipe = AudioLDM.from_pretrained(tiny_model_dir)
    pipe.load_lora(adapters_dir / "kit").load_lora(adapters_dir / "rain")
    expected = pipe.generate("a dog barks", **GENERATE).audio
    pipe.merge_lora()
    assert pipe.loras == {} and [r.name for r in pipe.merged_loras] == ["kit", "rain"]
    assert not any(type(m).__module__.startswith("peft") for m in pipe.unet.modules())
    merged = pipe.generate("a dog barks", **GENERATE).audio
    np.testing.assert_allclose(merged, expected, rtol=0, atol=1e-5)


def test_adapter_of_another_model_is_refused(adapters_dir: Path, tmp_path: Path) -> None:
    from clapldm.debug import tiny_pipeline

    other = tiny_pipeline(tmp_path / "other", seed=7)
    with pytest.raises(ModelLoadError, match="trained on base model .* load the adapter onto"):
        other.load_lora(adapters_dir / "kit")
    assert other.loras == {}
    with pytest.raises(ModelLoadError, match="not a LoRA adapter folder"):
        other.load_lora(tmp_path)


def test_adapters_under_bf16(tiny_model_dir: Path, adapters_dir: Path) -> None:
    pipe = AudioLDM.from_pretrained(tiny_model_dir).set_precision("bf16")
    pipe.load_lora(adapters_dir / "kit")
    approximate = pipe.generate("a dog barks", **GENERATE).audio
    pipe.set_precision("fp32")
    exact = pipe.generate("a dog barks", **GENERATE).audio
    np.testing.assert_array_equal(exact, np.load(adapters_dir / "kit.npy"))
    assert np.abs(approximate - exact).max() < 0.1
