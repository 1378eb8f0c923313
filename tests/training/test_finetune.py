"""Fine-tuning from a loadable model (``ldm.init``) and LoRA training.

The first step of a fine-tuning run must compute exactly the loss of the loaded model
(same batch, same noise): checked against the AudioLDM objective written out here on the
independently loaded pipeline, for each format the loader reads.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from clapldm import AudioLDM
from clapldm.adapters import adapter_names, base_state
from clapldm.data.dataset import StepSampler
from clapldm.debug import tiny_pipeline
from clapldm.errors import ConfigError, DataError
from clapldm.models.unet import AudioLDMUNet
from clapldm.testing import (
    byte_level_roberta_tokenizer,
    original_checkpoint_state,
    tiny_diffusers_pipeline,
)
from clapldm.training.common import mel_frames_for
from clapldm.training.data import resolve_data
from clapldm.training.finetune import init_run
from clapldm.training.runner import build_data, build_module, train

from .conftest import LossRecorder, make_corpus, write_clip
from .test_ddp import DRIVER

FIRST_STEP = ["train.batch_size=2", "train.segment_seconds=0.5", "train.max_steps=1"]


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain folder of audio (nested, no manifest, no captions)."""
    folder = tmp_path_factory.mktemp("clips")
    (folder / "kit").mkdir()
    for index in range(4):
        write_clip(folder / "kit" / f"hit{index}.wav", index, seconds=0.7, seed=index)
    return folder


def model_source(kind: str, root: Path) -> tuple[str, dict[str, Any]]:
    """(what --init names, loader options) for a tiny random model in each format."""
    if kind == "native":
        tiny_pipeline(root / "native", seed=3)
        return str(root / "native"), {}
    if kind == "diffusers":
        pytest.importorskip("diffusers")
        tiny_diffusers_pipeline(root)
        return str(root / "diffusers"), {}
    pipe = tiny_pipeline(seed=4)
    torch.save({"state_dict": original_checkpoint_state(pipe)}, root / "tiny.ckpt")
    options = {
        "tokenizer": str(byte_level_roberta_tokenizer(root / "tokenizer")),
        "head_dim": 8,
        "norm_groups": [8, 4],
    }
    return str(root / "tiny.ckpt"), options


def reference_first_loss(pipe: AudioLDM, run: Any, batch: dict[str, Any]) -> float:
    """AudioLDM's objective on the loaded pipeline, with step 0's random draws
    (`StageModule.step_generator`: seed, step 0, rank 0, salt 0; drawn in this order:
    posterior sample, condition dropout, timesteps, noise)."""
    state = np.random.SeedSequence([run.train.seed, 0, 0, 0]).generate_state(2)
    generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    multiple = pipe.vae_factor * pipe.unet.config.latent_multiple
    frames = mel_frames_for(
        run.train.segment_seconds, pipe.mel_config.hop_length, pipe.sample_rate, multiple
    )
    with torch.no_grad():
        mel = pipe.mel(batch["wave"], normalize=False)[:, :frames].unsqueeze(1)
        z0 = pipe.vae.encode(mel).sample(generator) * pipe.vae.config.scale_factor
        if run.options.condition == "text":
            cond = pipe.clap.embed_text(list(batch["caption"])).float()
        else:
            cond = pipe.clap.embed_audio(batch["wave"], pipe.sample_rate).float()
        drop = torch.rand(len(cond), generator=generator) < run.options.cond_dropout
        cond = torch.where(drop[:, None], pipe.clap.embed_text([""]).float(), cond)
        t = torch.randint(0, 1000, (len(cond),), generator=generator)
        noise = torch.randn(z0.shape, generator=generator)
        a = pipe.alphas_cumprod.float()[t][:, None, None, None]
        eps = pipe.unet(a.sqrt() * z0 + (1 - a).sqrt() * noise, t, cond)
    return float(torch.nn.functional.mse_loss(eps, noise))


@pytest.mark.parametrize("kind", ["native", "diffusers", "ckpt"])
def test_first_step_loss_is_the_loaded_models(kind: str, tmp_path: Path, clip_folder: Path) -> None:
    source, options = model_source(kind, tmp_path)
    pipe = AudioLDM.from_pretrained(source, **options)
    sets = [*FIRST_STEP, f"ldm.init_options={json.dumps(options)}"]
    data: Path = clip_folder
    if kind == "diffusers":  # text tower only: train on captions
        data = make_corpus(tmp_path / "captioned", clips=4, seconds=0.7)
        sets.append("ldm.condition=text")
    run = init_run(source, pipe, overrides=sets)
    assert run.model == pipe.unet.config and run.mel == pipe.mel_config

    # The batch of step 0, as the training data module serves it.
    spec = resolve_data(data)
    assert spec.kind == ("folder" if kind != "diffusers" else "manifest")
    module = build_module(run, spec, init_model=AudioLDM.from_pretrained(source, **options))
    dataset = build_data(run, spec, module).build()
    batch = default_collate([dataset[i] for i in itertools.islice(StepSampler(2), 2)])
    expected = reference_first_loss(pipe, run, batch)
    torch.manual_seed(0)
    pipe.unet = AudioLDMUNet(pipe.unet.config)
    random_init = reference_first_loss(pipe, run, batch)

    recorder = LossRecorder()
    train(run, data, tmp_path / "run", progress=False, callbacks=[recorder])
    (loss,) = recorder.series("loss")
    assert loss == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert loss != pytest.approx(random_init, rel=1e-3)  # the init weights are what trained


def test_lora_trains_only_the_adapters(tmp_path: Path, clip_folder: Path) -> None:
    source, _ = model_source("native", tmp_path)
    model = AudioLDM.from_pretrained(source)
    before = {k: v.clone() for k, v in model.unet.state_dict().items()}
    run = init_run(
        source,
        model,
        overrides=[
            *FIRST_STEP,
            "train.max_steps=3",
            "train.lr=0.01",
            "train.ema_decay=0.9",
            "ldm.lora_rank=2",
            'ldm.lora_targets=["attention", "conv"]',
        ],
    )
    result = train(run, clip_folder, tmp_path / "run", progress=False, init_model=model)
    assert result.train_step == 3 and adapter_names(model.unet) == ["default"]
    after = base_state(model.unet)
    assert after.keys() == before.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "a base weight changed"
    lora = {n: p for n, p in model.unet.named_parameters() if "lora_" in n}
    assert any(n.endswith("conv1.lora_A.default.weight") for n in lora)
    assert all(float(p.detach().abs().sum()) > 0 for n, p in lora.items() if "lora_B" in n)

    # The checkpoint holds the adapters (and their EMA and Adam state) only.
    checkpoint = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert {k.removeprefix("unet.") for k in checkpoint["state_dict"] if "unet." in k} == set(lora)
    (adam,) = checkpoint["optimizer_states"]
    assert len(adam["state"]) == len(lora)
    assert checkpoint["clapldm_base"]["unet_hash"]


def test_lora_run_resumes_exactly(tmp_path: Path, clip_folder: Path) -> None:
    source, _ = model_source("native", tmp_path)
    sets = [*FIRST_STEP, "train.lr=0.01", "ldm.lora_rank=2", "train.checkpoint_every=2"]

    def adapters(out: Path, steps: int, resume: bool = False) -> dict[str, torch.Tensor]:
        model = AudioLDM.from_pretrained(source)
        run = init_run(source, model, overrides=[*sets, f"train.max_steps={steps}"])
        train(run, clip_folder, out, progress=False, init_model=model, resume=resume)
        return {n: p.detach().clone() for n, p in model.unet.named_parameters() if "lora_" in n}

    straight = adapters(tmp_path / "straight", 4)
    adapters(tmp_path / "split", 2)
    resumed = adapters(tmp_path / "split", 4, resume=True)
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=1e-6)


def test_init_refuses_what_cannot_work(tmp_path: Path, clip_folder: Path) -> None:
    source, _ = model_source("native", tmp_path)
    model = AudioLDM.from_pretrained(source)
    with pytest.raises(ConfigError, match="matches no linear or conv"):
        run = init_run(
            source, model, overrides=[*FIRST_STEP, 'ldm.lora_targets=["nope"]', "ldm.lora_rank=2"]
        )
        build_module(run, resolve_data(clip_folder), init_model=model)
    with pytest.raises(ConfigError, match="differs from the --init model"):
        init_run(source, model, config={"model": {"model_channels": 32}})
    with pytest.raises(DataError, match="no captions"):
        run = init_run(source, model, overrides=[*FIRST_STEP, "ldm.condition=text"])
        train(run, clip_folder, tmp_path / "run", progress=False, init_model=model)


def test_diffusers_without_an_audio_tower_needs_captions(tmp_path: Path, clip_folder: Path) -> None:
    source, _ = model_source("diffusers", tmp_path)
    model = AudioLDM.from_pretrained(source)
    run = init_run(source, model, overrides=FIRST_STEP)
    with pytest.raises(ConfigError, match="no audio tower"):
        build_module(run, resolve_data(clip_folder), init_model=model)


def test_lora_fine_tuning_under_ddp(tmp_path: Path, clip_folder: Path) -> None:
    """2 CPU processes (gloo) fine-tune the same adapters: identical at the end, base untouched."""
    source, _ = model_source("native", tmp_path)
    run = init_run(source, AudioLDM.from_pretrained(source), overrides=[*FIRST_STEP])
    config = tmp_path / "finetune.json"
    config.write_text(json.dumps(run.to_dict()))
    (tmp_path / "driver.py").write_text(DRIVER)
    out = tmp_path / "run"
    out.mkdir()
    sets = ["train.max_steps=2", "train.lr=0.01", "ldm.lora_rank=2", "train.ema_decay=0.9"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env["MASTER_PORT"] = str(30500 + os.getpid() % 1000)
    process = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "driver.py"),
            str(config),
            str(clip_folder),
            str(out),
            *sets,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    ranks = [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["step"] for r in ranks] == [2, 2]
    assert ranks[0]["digests"] == ranks[1]["digests"]
    base = {k: v for k, v in AudioLDM.from_pretrained(source).unet.state_dict().items()}
    adapters = [k for k in ranks[0]["digests"] if ".lora_" in k]
    assert adapters and any(k.startswith("ema.") for k in adapters)
    compared = 0
    for key, value in base.items():  # the frozen base is the init model's on both ranks
        name = "unet." + key.replace(".weight", ".base_layer.weight").replace(
            ".bias", ".base_layer.bias"
        )
        if name in ranks[0]["digests"]:
            digest = hashlib.sha256(value.float().numpy().tobytes()).hexdigest()
            assert ranks[0]["digests"][name] == digest, name
            compared += 1
    assert compared > 0
