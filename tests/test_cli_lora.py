"""Teach a tiny model a folder of sounds from the command line: train ldm --init with
LoRA, export the adapter, generate with --lora (recipe records it), reproduce with
--from, and refuse the adapter on another model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from clapldm import AudioLDM
from clapldm.adapters import read_adapter, unet_hash
from clapldm.audio.io import read_tags
from clapldm.cli import main
from clapldm.debug import tiny_pipeline
from clapldm.loading import parse_lora_args
from clapldm.testing import byte_level_roberta_tokenizer, original_checkpoint_state


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step LoRA run on a plain folder of clips, exported as an adapter."""
    root = tmp_path_factory.mktemp("lora-cli")
    clips = root / "my_sounds"
    clips.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        t = np.arange(8000) / 16000
        wave = 0.3 * np.sin(2 * np.pi * (300 + 200 * index) * t) + 0.01 * rng.standard_normal(8000)
        sf.write(clips / f"hit{index}.wav", wave.astype(np.float32), 16000)
    run = [
        "train", "ldm", "--init", str(tiny_model_dir), "--data", str(clips),
        "--out", str(root / "run"), "--lora-rank", "2", "--lora-targets", "attention", "conv",
        "--max-steps", "2", "--no-progress", "--set", "train.batch_size=2",
        "--set", "train.segment_seconds=0.5", "--set", "train.lr=0.05",
    ]  # fmt: skip
    assert main(run) == 0
    assert main(["export", str(root / "run"), "-o", str(root / "adapter")]) == 0
    return root / "adapter"


def generate(model: Path, out: Path, *extra: str) -> int:
    args = ["generate", "a dog", "--model", str(model), "--duration", "0.4", "--steps", "3"]
    return main([*args, "--seed", "3", "-o", str(out), *extra])


def test_export_writes_a_small_adapter_naming_its_base(tiny_model_dir: Path, adapter: Path) -> None:
    loaded = read_adapter(adapter)
    base = AudioLDM.from_pretrained(tiny_model_dir)
    assert loaded.spec.rank == 2 and loaded.spec.targets == ("attention", "conv")
    assert loaded.base_name == "tiny-random" and loaded.info["train_step"] == 2
    assert loaded.num_parameters < sum(p.numel() for p in base.unet.parameters()) / 5
    assert any(float(t.abs().sum()) > 0 for k, t in loaded.state.items() if "lora_B" in k)


def test_generate_with_lora_records_it_and_from_reproduces(
    tiny_model_dir: Path, adapter: Path, tmp_path: Path
) -> None:
    assert generate(tiny_model_dir, tmp_path / "plain.wav") == 0
    assert generate(tiny_model_dir, tmp_path / "kit.wav", "--lora", f"{adapter}:0.7") == 0
    recipe = json.loads(read_tags(tmp_path / "kit.wav")["clapldm"])
    (use,) = recipe["loras"]
    assert use["path"] == str(adapter.resolve()) and use["scale"] == 0.7
    plain, kit = sf.read(tmp_path / "plain.wav")[0], sf.read(tmp_path / "kit.wav")[0]
    assert np.abs(plain - kit).max() > 1e-4
    assert (
        main(["generate", "--from", str(tmp_path / "kit.wav"), "-o", str(tmp_path / "again.wav")])
        == 0
    )
    np.testing.assert_array_equal(sf.read(tmp_path / "again.wav")[0], kit)
    # The same call through the library gives the same samples.
    pipe = AudioLDM.from_pretrained(tiny_model_dir).load_lora(adapter, scale=0.7)
    out = pipe.generate("a dog", duration=0.4, steps=3, seed=3)
    np.testing.assert_allclose(out.audio[0], kit, atol=1e-4)  # the file is 16-bit PCM


def test_lora_on_another_model_is_one_line_error(
    adapter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    tiny_pipeline(other, seed=9)
    assert generate(other, tmp_path / "x.wav", "--lora", str(adapter)) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "trained on base model" in err
    assert not (tmp_path / "x.wav").exists()


def test_lora_argument_parsing() -> None:
    assert parse_lora_args(["kit", "a/b:0.5", "c:d", "x:-1"]) == [
        ("kit", 1.0),
        ("a/b", 0.5),
        ("c:d", 1.0),
        ("x", -1.0),
    ]


def test_full_exports_merge_the_adapter_or_the_whole_unet(
    tiny_model_dir: Path, adapter: Path, tmp_path: Path
) -> None:
    run = adapter.parent / "run"
    assert main(["export", str(run), "-o", str(tmp_path / "merged"), "--format", "full"]) == 0
    merged = AudioLDM.from_pretrained(tmp_path / "merged")
    with_adapter = AudioLDM.from_pretrained(tiny_model_dir).load_lora(adapter)
    a = merged.generate("a dog", duration=0.4, steps=3, seed=3).audio
    b = with_adapter.generate("a dog", duration=0.4, steps=3, seed=3).audio
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert merged.config.extra["fine_tuned_from"] == str(tiny_model_dir)

    # Full fine-tuning: the whole UNet trains; export writes a model folder, VAE kept.
    clips = adapter.parent / "my_sounds"
    full_run = [
        "train", "ldm", "--init", str(tiny_model_dir), "--data", str(clips),
        "--out", str(tmp_path / "full"), "--max-steps", "1", "--no-progress",
        "--set", "train.batch_size=2", "--set", "train.segment_seconds=0.5",
    ]  # fmt: skip
    assert main(full_run) == 0
    assert main(["export", str(tmp_path / "full"), "-o", str(tmp_path / "full-model")]) == 0
    assert (
        main(["export", str(tmp_path / "full"), "-o", str(tmp_path / "x"), "--format", "adapter"])
        != 0
    )
    tuned = AudioLDM.from_pretrained(tmp_path / "full-model")
    base = AudioLDM.from_pretrained(tiny_model_dir)
    assert not torch.equal(tuned.unet.conv_in.weight, base.unet.conv_in.weight)
    for key, value in base.vae.state_dict().items():
        assert torch.equal(value, tuned.vae.state_dict()[key])


def test_init_from_an_original_ckpt_with_loader_options(adapter: Path, tmp_path: Path) -> None:
    """--set ldm.init_options reaches the loader (an original .ckpt holds no tokenizer)."""
    pipe = tiny_pipeline(seed=4)
    torch.save({"state_dict": original_checkpoint_state(pipe)}, tmp_path / "tiny.ckpt")
    options = {
        "tokenizer": str(byte_level_roberta_tokenizer(tmp_path / "tokenizer")),
        "head_dim": 8,
        "norm_groups": [8, 4],
    }
    run = [
        "train", "ldm", "--init", str(tmp_path / "tiny.ckpt"), "--data",
        str(adapter.parent / "my_sounds"), "--out", str(tmp_path / "run"), "--max-steps", "1",
        "--lora-rank", "2", "--no-progress", "--set", "train.batch_size=2",
        "--set", "train.segment_seconds=0.5", "--set", f"ldm.init_options={json.dumps(options)}",
    ]  # fmt: skip
    assert main(run) == 0
    assert main(["export", str(tmp_path / "run"), "-o", str(tmp_path / "ckpt-lora")]) == 0
    loaded = AudioLDM.from_pretrained(tmp_path / "tiny.ckpt", **options)
    assert read_adapter(tmp_path / "ckpt-lora").base_hash == unet_hash(loaded.unet)
