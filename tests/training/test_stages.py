"""Each stage trains on generated audio with its tiny config: finite losses, logs,
checkpoints, and on a tiny overfit set the loss falls by a stated factor."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from .conftest import make_corpus, run_stage


@pytest.fixture(scope="module")
def overfit_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 0.5 s clips (two tones, a square wave, noise): one crop per clip."""
    return make_corpus(tmp_path_factory.mktemp("overfit"), clips=4, seconds=0.5)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# stage, steps, overrides, loss series, factor it must fall by (first 5 vs last 5 steps)
OVERFIT = [
    ("clap", 30, ["train.lr=0.01"], "loss", 3.0),
    ("vae", 100, ["train.lr=0.003", "vae.disc_start=1000"], "rec", 2.5),
    ("vocoder", 60, ["train.lr=0.002"], "mel_l1", 1.25),
    ("ldm", 40, ["train.lr=0.003"], "loss", 2.0),
]


@pytest.mark.parametrize(
    ("stage", "steps", "overrides", "series", "factor"), OVERFIT, ids=[o[0] for o in OVERFIT]
)
def test_overfit_loss_falls(
    stage: str,
    steps: int,
    overrides: list[str],
    series: str,
    factor: float,
    overfit_set: Path,
    tmp_path: Path,
    tiny_parts: dict[str, Path],
    text_tower: Path,
) -> None:
    sets = [
        *overrides,
        f"train.max_steps={steps}",
        "train.checkpoint_every=1000",
        "train.cache_audio=true",
    ]
    result, recorder = run_stage(
        stage, overfit_set, tmp_path / "run", sets, parts=tiny_parts, text_tower=text_tower
    )
    assert result.train_step == steps and len(recorder.steps) == steps
    for step in recorder.steps:
        assert all(math.isfinite(v) for v in step.values()), step
    losses = recorder.series(series)
    assert mean(losses[-5:]) * factor < mean(losses[:5]), (losses[:5], losses[-5:])
    assert (tmp_path / "run" / "checkpoints" / f"step={steps:08d}.ckpt").is_file()


def test_few_steps_with_the_adversarial_losses_on(corpus: Path, tmp_path: Path) -> None:
    """The VAE's PatchGAN switches on at disc_start; logs and checkpoints appear."""
    result, recorder = run_stage(
        "vae", corpus, tmp_path / "vae", ["train.max_steps=4", "vae.disc_start=2"]
    )
    assert [("d_loss" in s) for s in recorder.steps] == [False, False, True, True]
    assert all(math.isfinite(v) for s in recorder.steps for v in s.values())
    run = tmp_path / "vae"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "last.ckpt",
        "step=00000004.ckpt",
    ]
    assert (run / "checkpoints" / "last.ckpt").resolve().name == "step=00000004.ckpt"
    assert (run / "logs" / "csv" / "version_0" / "metrics.csv").read_text().count("\n") >= 4
    assert list((run / "logs" / "tensorboard" / "events").glob("events.out.tfevents.*"))
    assert (run / "config.json").is_file() and (run / "data.json").is_file()


@pytest.mark.parametrize("condition", ["text", "mixed"])
def test_ldm_text_and_mixed_conditioning(
    condition: str, corpus: Path, tmp_path: Path, tiny_parts: dict[str, Path]
) -> None:
    result, recorder = run_stage(
        "ldm",
        corpus,
        tmp_path / "ldm",
        ["train.max_steps=2", f'ldm.condition="{condition}"'],
        parts=tiny_parts,
    )
    assert result.train_step == 2 and all(math.isfinite(v) for v in recorder.series("loss"))


def test_ldm_on_preencoded_shards(
    corpus: Path, tmp_path: Path, tiny_parts: dict[str, Path]
) -> None:
    from clapldm.cli import main

    from .conftest import TINY

    args = [
        "preencode",
        "--config",
        str(TINY / "ldm.json"),
        "--data",
        str(corpus),
        "--out",
        str(tmp_path / "pre"),
        "--set",
        f"ldm.vae={tiny_parts['vae']}",
        "--set",
        f"ldm.clap={tiny_parts['clap']}",
    ]
    assert main(args) == 0
    assert (tmp_path / "pre" / "preencoded.json").is_file() and list(
        (tmp_path / "pre").glob("latents-*.tar")
    )
    assert main(args) == 2  # refuses to overwrite
    result, recorder = run_stage(
        "ldm",
        tmp_path / "pre",
        tmp_path / "ldm",
        ["train.max_steps=3", 'ldm.condition="mixed"', "ldm.vae=", "ldm.clap="],
    )
    assert result.train_step == 3 and all(math.isfinite(v) for v in recorder.series("loss"))
    assert recorder.series("scale_factor")[0] > 0


def test_bad_manifest_skip_or_clear_error(corpus: Path, tmp_path: Path) -> None:
    """A missing and an unreadable file: skipped with a warning (default) or one clear
    error before any step runs."""
    from clapldm.errors import DataError

    lines = corpus.read_text().splitlines()
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 20)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "\n".join(line.replace('"clip', f'"{corpus.parent}/clip') for line in lines)
        + '\n{"path": "junk.wav", "caption": "junk"}\n{"path": "gone.wav", "caption": "gone"}\n'
    )
    result, _ = run_stage("vae", bad, tmp_path / "skip", ["train.max_steps=2"])
    assert result.train_step == 2
    with pytest.raises(DataError, match=r"gone\.wav not found"):
        run_stage(
            "vae", bad, tmp_path / "raise", ["train.max_steps=2", 'train.on_bad_file="raise"']
        )
    bad.write_text(
        "\n".join(lines[:-1]).replace('"clip', f'"{corpus.parent}/clip')
        + '\n{"path": "junk.wav", "caption": "junk"}\n'
    )
    with pytest.raises(DataError, match=r"unreadable audio file.*junk\.wav"):
        run_stage(
            "vae", bad, tmp_path / "raise2", ["train.max_steps=2", 'train.on_bad_file="raise"']
        )


def test_empty_caption_with_text_conditioning(
    corpus: Path, tmp_path: Path, tiny_parts: dict[str, Path], text_tower: Path
) -> None:
    from clapldm.errors import DataError

    lines = corpus.read_text().replace('"clip', f'"{corpus.parent}/clip').splitlines()
    uncaptioned = tmp_path / "m.jsonl"
    uncaptioned.write_text("\n".join([*lines, lines[0].split(', "caption"')[0] + "}"]) + "\n")
    with pytest.raises(DataError, match=r"m\.jsonl:9: empty caption"):
        run_stage(
            "clap",
            uncaptioned,
            tmp_path / "clap",
            ["train.max_steps=1", 'train.on_bad_file="raise"'],
            text_tower=text_tower,
        )
    with pytest.raises(DataError, match="empty caption"):
        run_stage(
            "ldm",
            uncaptioned,
            tmp_path / "ldm",
            ["train.max_steps=1", 'train.on_bad_file="raise"', 'ldm.condition="text"'],
            parts=tiny_parts,
        )
    result, _ = run_stage(
        "ldm",
        uncaptioned,
        tmp_path / "ldm-audio",
        ["train.max_steps=1", 'train.on_bad_file="raise"'],
        parts=tiny_parts,
    )  # audio conditioning needs no caption
    assert result.train_step == 1
