"""``vae.init``: the VAE stage continues from a component folder's weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from clapldm.checkpoints.native import load_weights
from clapldm.config import VAEConfig
from clapldm.errors import ConfigError
from clapldm.training.config import load_training_config
from clapldm.training.vae_module import VaeModule, initial_vae_weights

from .conftest import TINY, run_stage


def test_vae_init_loads_the_folder(tiny_parts: dict[str, Path]) -> None:
    folder = tiny_parts["vae"]
    run = load_training_config(TINY / "vae.json", [f"vae.init={folder}"])
    module = VaeModule(run)
    saved = load_weights(folder / "model.safetensors")
    for key, value in module.vae.state_dict().items():
        torch.testing.assert_close(value, saved[key], atol=0, rtol=0)


def test_vae_init_ignores_scale_factor_but_not_shape(tiny_parts: dict[str, Path]) -> None:
    folder = tiny_parts["vae"]
    config = VAEConfig.load(folder / "config.json")
    assert initial_vae_weights(str(folder), config.replace(scale_factor=0.5)) is not None
    assert initial_vae_weights("", config) is None
    with pytest.raises(ConfigError, match="VAE config differs"):
        initial_vae_weights(str(folder), config.replace(ch=config.ch * 2))


def test_vae_init_path_resolves_beside_the_config(
    tmp_path: Path, tiny_parts: dict[str, Path]
) -> None:
    config = json.loads((TINY / "vae.json").read_text())
    config["vae"] = {**config.get("vae", {}), "init": str(tiny_parts["vae"])}
    path = tmp_path / "vae.json"
    path.write_text(json.dumps(config))
    run = load_training_config(path)
    assert Path(run.options.init).is_absolute()


def test_decoder_only_keeps_the_latent_space(
    tiny_parts: dict[str, Path], corpus: Path, tmp_path: Path
) -> None:
    folder = tiny_parts["vae"]
    sets = [f"vae.init={folder}", "vae.decoder_only=true", "train.max_steps=2"]
    sets += ["train.checkpoint_every=2", "train.lr=0.01"]
    run_stage("vae", corpus, tmp_path / "run", sets)
    checkpoint = torch.load(
        tmp_path / "run" / "checkpoints" / "step=00000002.ckpt", weights_only=False
    )
    state = {
        k[len("vae.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("vae.")
    }
    saved = load_weights(folder / "model.safetensors")
    frozen = [k for k in saved if k.startswith(("encoder.", "quant_conv."))]
    moved = [k for k in saved if k.startswith("decoder.") and not torch.equal(state[k], saved[k])]
    assert frozen and all(torch.equal(state[k], saved[k]) for k in frozen)
    assert moved  # the decoder trained
