"""Resume: exact continuation, and SIGKILL in the middle of a checkpoint write."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from clapldm.errors import ConfigError
from clapldm.training.callbacks import checkpoint_is_complete, find_resume_checkpoint

from .conftest import TINY, run_stage


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_training_state(a: dict, b: dict) -> None:
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        for slot_a, slot_b in zip(opt_a["state"].values(), opt_b["state"].values(), strict=True):
            for name in slot_a:
                assert torch.equal(torch.as_tensor(slot_a[name]), torch.as_tensor(slot_b[name])), (
                    name
                )
    if "clapldm_ema" in a:
        for key, value in a["clapldm_ema"]["shadow"].items():
            assert torch.equal(value, b["clapldm_ema"]["shadow"][key]), key
    assert a["global_step"] == b["global_step"]


# The VAE (two optimisers, adversarial loss on from step 2) and the LDM (EMA, scale
# factor, mixed conditioning, condition dropout): the stages with the most state.
CASES = [
    ("vae", ["vae.disc_start=2"]),
    ("ldm", ['ldm.condition="mixed"', "ldm.cond_dropout=0.5"]),
]


@pytest.mark.parametrize(("stage", "overrides"), CASES, ids=[c[0] for c in CASES])
def test_resume_reaches_the_same_weights(
    stage: str, overrides: list[str], corpus: Path, tmp_path: Path, tiny_parts: dict[str, Path]
) -> None:
    sets = [*overrides, "train.checkpoint_every=2"]
    whole, _ = run_stage(
        stage, corpus, tmp_path / "whole", [*sets, "train.max_steps=6"], parts=tiny_parts
    )
    first, _ = run_stage(
        stage, corpus, tmp_path / "split", [*sets, "train.max_steps=3"], parts=tiny_parts
    )
    assert first.train_step == 3
    second, recorder = run_stage(
        stage,
        corpus,
        tmp_path / "split",
        [*sets, "train.max_steps=6"],
        resume=True,
        parts=tiny_parts,
    )
    assert second.train_step == 6 and len(recorder.steps) == 3  # steps 4..6 only
    assert whole.checkpoint is not None and second.checkpoint is not None
    assert_same_training_state(load(whole.checkpoint), load(second.checkpoint))
    assert sorted(p.name for p in (tmp_path / "split" / "logs" / "csv").iterdir()) == [
        "version_0",
        "version_1",
    ]


def test_a_run_folder_is_not_overwritten(
    corpus: Path, tmp_path: Path, tiny_parts: dict[str, Path]
) -> None:
    run_stage("vae", corpus, tmp_path / "run", ["train.max_steps=1"])
    with pytest.raises(ConfigError, match="already holds a training run"):
        run_stage("vae", corpus, tmp_path / "run", ["train.max_steps=2"])
    with pytest.raises(ConfigError, match="differs from the run's config.json in 'model'"):
        run_stage(
            "vae", corpus, tmp_path / "run", ["train.max_steps=2", "model.ch=16"], resume=True
        )
    result, _ = run_stage(
        "vae", corpus, tmp_path / "fresh", ["train.max_steps=1"], resume=True
    )  # nothing to resume
    assert result.train_step == 1


KILL_DRIVER = textwrap.dedent("""
    import os, signal, sys
    from clapldm.training import callbacks
    from clapldm.training.config import load_training_config
    from clapldm.training.runner import train

    config, data, out, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    calls = []
    original = callbacks.AtomicCheckpointIO._write

    def dying_write(self, checkpoint, fh):
        calls.append(1)
        if len(calls) == kill_at:  # write half of this checkpoint, then die like `kill -9`
            import io, torch
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            fh.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, checkpoint, fh)

    callbacks.AtomicCheckpointIO._write = dying_write
    run = load_training_config(config, ["train.max_steps=6", "train.checkpoint_every=2"])
    train(run, data, out, progress=False)
""")


def test_sigkill_mid_checkpoint_then_resume(corpus: Path, tmp_path: Path) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(KILL_DRIVER)
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.run(
        [sys.executable, str(driver), str(TINY / "vae.json"), str(corpus), str(run_dir), "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == -9, process.stderr[-2000:]
    folder = run_dir / "checkpoints"
    # Killed while writing step 4: "last" still names the complete step-2 checkpoint.
    assert (folder / "last.ckpt").resolve().name == "step=00000002.ckpt"
    assert checkpoint_is_complete(folder / "last.ckpt")
    assert not (folder / "step=00000004.ckpt").exists()
    stale = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert stale and not checkpoint_is_complete(stale[0])  # the half-written temp file
    resume_from = find_resume_checkpoint(run_dir)
    assert resume_from is not None and resume_from.name == "step=00000002.ckpt"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # cleaned up

    resumed, recorder = run_stage(
        "vae", corpus, run_dir, ["train.max_steps=6", "train.checkpoint_every=2"], resume=True
    )
    assert resumed.train_step == 6 and len(recorder.steps) == 4  # steps 3..6
    whole, _ = run_stage(
        "vae", corpus, tmp_path / "whole", ["train.max_steps=6", "train.checkpoint_every=2"]
    )
    assert_same_training_state(load(whole.checkpoint), load(resumed.checkpoint))


def test_corrupt_last_falls_back_to_the_newest_complete_checkpoint(
    corpus: Path, tmp_path: Path
) -> None:
    run_stage("vae", corpus, tmp_path / "run", ["train.max_steps=4", "train.checkpoint_every=2"])
    folder = tmp_path / "run" / "checkpoints"
    newest = folder / "step=00000004.ckpt"
    newest.write_bytes(newest.read_bytes()[:1000])  # e.g. a disk that filled up
    fallback = find_resume_checkpoint(tmp_path / "run")
    assert fallback is not None and fallback.name == "step=00000002.ckpt"
