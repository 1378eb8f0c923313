"""`clapldm train` command line and config strictness; the losses on known inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from clapldm.cli import main
from clapldm.errors import ConfigError
from clapldm.training.config import load_training_config, parse_training_config
from clapldm.training.losses import (
    adaptive_weight,
    contrastive_loss,
    hinge_d_loss,
    lsgan_d_loss,
    lsgan_g_loss,
)

from .conftest import TINY

REPO = Path(__file__).resolve().parents[2]


def test_train_and_resume_from_the_command_line(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "vae",
        "--config",
        str(TINY / "vae.json"),
        "--data",
        str(corpus),
        "--out",
        str(out),
        "--no-progress",
    ]
    first = ["--max-steps", "2", "--set", "train.checkpoint_every=1", "--precision", "bf16-mixed"]
    assert main([*args, *first]) == 0
    assert (out / "checkpoints" / "last.ckpt").resolve().name == "step=00000002.ckpt"
    assert main([*args, "--max-steps", "3"]) == 2  # refuses to overwrite a run

    def saved_precision() -> str:
        return json.loads((out / "config.json").read_text())["train"]["precision"]

    assert saved_precision() == "bf16-mixed"  # --precision is part of the run
    # --resume needs neither --config nor --data nor --precision: the run folder remembers
    resume = ["train", "vae", "--out", str(out), "--resume", "--no-progress"]
    assert main([*resume, "--max-steps", "3"]) == 0
    assert (out / "checkpoints" / "last.ckpt").resolve().name == "step=00000003.ckpt"
    assert saved_precision() == "bf16-mixed"
    # an explicit --precision on resume replaces the saved one
    assert main([*resume, "--max-steps", "4", "--precision", "32-true"]) == 0
    assert saved_precision() == "32-true"


def test_cli_user_errors(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "vae", "--data", str(corpus), "--out", str(tmp_path / "r"), "--no-progress"]
    assert main([*base, "--config", str(TINY / "vae.json"), "--set", "train.lerning_rate=1"]) == 2
    assert "unknown keys ['lerning_rate']" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "ldm",
                "--config",
                str(TINY / "vae.json"),
                "--data",
                str(corpus),
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "is for stage 'vae', not 'ldm'" in capsys.readouterr().err
    assert (
        main([*base, "--config", str(TINY / "vae.json"), "--data", str(tmp_path / "none.jsonl")])
        == 2
    )
    assert "manifest not found" in capsys.readouterr().err


def test_every_shipped_config_parses() -> None:
    configs = sorted(
        [
            *(REPO / "configs" / "training").rglob("*.json"),
            *(REPO / "configs" / "bundled").glob("*.json"),
        ]
    )
    assert len(configs) >= 12
    for path in configs:
        run = load_training_config(path)
        assert run.to_dict()["stage"] == run.stage
        assert parse_training_config(run.to_dict()) == run


def test_shipped_configs_name_no_absolute_paths() -> None:
    for path in [*(REPO / "configs").rglob("*.json")]:
        options = json.loads(path.read_text(encoding="utf-8")).get("ldm", {})
        for key in ("vae", "clap", "vocoder"):
            assert not Path(options.get(key, "")).is_absolute(), (path, key)


def test_config_paths_resolve_against_working_folder_then_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    config = config_dir / "ldm.json"
    config.write_text(json.dumps({"stage": "ldm", "ldm": {"vae": "vae", "clap": "clap"}}))
    work = tmp_path / "work"
    (work / "vae").mkdir(parents=True)  # exists in the working folder only
    (config_dir / "clap").mkdir()  # exists beside the config only
    monkeypatch.chdir(work)
    options = load_training_config(config).options
    assert options.vae == str(work / "vae")
    assert options.clap == str(config_dir / "clap")
    # in neither place: the working folder's path, so the error names where it looked
    options = load_training_config(config, ["ldm.vae=missing"]).options
    assert options.vae == str(work / "missing")
    assert load_training_config(config, ["ldm.vocoder=universal"]).options.vocoder == "universal"


def test_config_is_strict() -> None:
    with pytest.raises(ConfigError, match="unknown keys"):
        parse_training_config({"stage": "vae", "vocoder": {}})
    with pytest.raises(ConfigError, match="'stage' must be one of"):
        parse_training_config({"stage": "gan"})
    with pytest.raises(ConfigError, match="num_mels"):
        parse_training_config({"stage": "vocoder", "mel": {"n_mels": 80}})
    with pytest.raises(ConfigError, match="ema_decay"):
        parse_training_config({"stage": "ldm", "train": {"ema_decay": 1.5}})


def test_losses_on_known_inputs() -> None:
    eye = torch.eye(3)
    perfect = contrastive_loss(eye, eye, torch.tensor(100.0))
    assert float(perfect) < 1e-6
    assert float(contrastive_loss(eye, eye, torch.tensor(0.0))) == pytest.approx(math.log(3))
    same = torch.tensor([[False, True, False], [True, False, False], [False, False, False]])
    tied = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # clips 0 and 1 share a caption
    assert float(contrastive_loss(tied, tied, torch.tensor(50.0), same)) < 1e-6
    assert float(hinge_d_loss(torch.full((2,), 2.0), torch.full((2,), -2.0))) == 0.0
    assert float(lsgan_d_loss([torch.ones(3)], [torch.zeros(3)])) == 0.0
    assert float(lsgan_g_loss([torch.ones(3)])) == 0.0
    weight = torch.ones(4, requires_grad=True)
    assert float(adaptive_weight((2 * weight).sum(), weight.sum(), weight)) == pytest.approx(
        2.0, rel=1e-3
    )
