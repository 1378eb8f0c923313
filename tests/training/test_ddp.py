"""DDP on CPU: 2 processes (gloo) train 2 steps and end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import TINY

DRIVER = textwrap.dedent("""
    import hashlib, json, sys
    from pathlib import Path
    import lightning as L
    from clapldm.training.config import load_training_config
    from clapldm.training.runner import train

    class Fingerprint(L.Callback):
        def __init__(self, out):
            self.out = Path(out)

        def on_train_end(self, trainer, module):
            digests = {}
            for key, value in sorted(module.state_dict().items()):
                digests[key] = hashlib.sha256(value.detach().cpu().float().numpy().tobytes()).hexdigest()
            ema = module.ema.state_dict()["shadow"] if module.ema is not None else {}
            for key, value in sorted(ema.items()):
                digests["ema." + key] = hashlib.sha256(value.float().numpy().tobytes()).hexdigest()
            record = {"world": trainer.world_size, "step": module.train_step, "digests": digests,
                      "loss": float(trainer.callback_metrics["train/loss"])}
            (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))

    config, data, out = sys.argv[1:4]
    run = load_training_config(config, sys.argv[4:])
    train(run, data, out, devices=2, strategy="ddp", accelerator="cpu", progress=False,
          callbacks=[Fingerprint(out)])
""")

CASES = {
    "vae": ["vae.disc_start=1"],  # two optimisers, PatchGAN with BatchNorm, unused params
    "clap": [],  # InfoNCE over the batch gathered from both ranks (with gradients)
    "ldm": ["ldm.cond_dropout=0.5"],  # scale_factor from both ranks' first batches, EMA
}


@pytest.mark.parametrize("stage", list(CASES))
def test_two_cpu_processes_end_with_identical_weights(
    stage: str, corpus: Path, tmp_path: Path, tiny_parts: dict[str, Path], text_tower: Path
) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "run"
    out.mkdir()
    sets = ["train.max_steps=2", *CASES[stage]]
    if stage == "clap":
        sets.append(f"clap.text_tower={text_tower}")
    if stage == "ldm":
        sets += [f"ldm.vae={tiny_parts['vae']}", f"ldm.clap={tiny_parts['clap']}"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "MASTER_PORT": str(29500 + os.getpid() % 1000),
    }
    process = subprocess.run(
        [sys.executable, str(driver), str(TINY / f"{stage}.json"), str(corpus), str(out), *sets],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    ranks = [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["step"] for r in ranks] == [2, 2]
    different = [
        key for key in ranks[0]["digests"] if ranks[0]["digests"][key] != ranks[1]["digests"][key]
    ]
    assert not different, different[:5]
    assert ranks[0]["digests"].keys() == ranks[1]["digests"].keys()
    if stage == "clap":  # the loss is computed on the gathered batch: the same on both ranks
        assert ranks[0]["loss"] == ranks[1]["loss"]
    assert (out / "checkpoints" / "step=00000002.ckpt").is_file()
