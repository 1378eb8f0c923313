"""Every command README.md shows runs, as written, in a test.

The README's ```bash blocks are read and each command in them runs: `clapldm ...` through
`clapldm.cli.main` on the bundled model (with `--steps 2` and short durations appended;
the input files they name are created here), `python - <<'PY'` scripts with Python, and
the ```python blocks with a shorter duration. The "Train on your own sounds" block runs
end to end on a folder of 12 short WAV files with tiny model sizes and step counts
(`test_readme_training_flow`). What cannot run here is listed in `EXCLUDED` /
`EXCLUDED_SECTIONS` with the reason; a README command that is neither run nor listed fails
`test_every_readme_command_is_run_or_excluded`, so a new command cannot go untested.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from clapldm.checkpoints import BUNDLED
from clapldm.cli import main
from clapldm.data.shards import PREENCODED_META
from clapldm.pipeline import AudioLDM

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
TRAINING_SECTION = "Train on your own sounds"
TEACH_SECTION = "Teach it your sounds"  # runs in test_readme_teach_flow

# Commands that do not run in the tests, by their leading words, and why.
EXCLUDED: dict[tuple[str, ...], str] = {
    ("python3", "-m", "venv"): "creates a virtual environment; the tests run inside one",
    (".", ".venv/bin/activate"): "activates that virtual environment",
    ("pip", "install"): "installs packages from PyPI (network)",
    ("bash", "scripts/test.sh"): "the test suite itself",
    ("clapldm", "serve"): "a server that runs until stopped (and the README shows its options "
    "in [brackets]); tests/serve start it and exercise every endpoint",
    ("torchrun",): "needs several machines; tests/scale/test_scale_run.py runs the same "
    "command as three processes told their NODE_RANK through Lightning's variables",
    ("srun",): "needs a SLURM cluster; see torchrun",
}
# Commands containing one of these words do not run here, and why.
EXCLUDED_WORDS: dict[str, str] = {
    "--devices": "starts more processes, which Lightning makes by running the command line "
    "again (here: pytest's); tests/scale/test_scale_run.py runs it as a command",
    "--cnn14-weights": "needs the published CNN14 / VGGish weight files, which no package "
    "registry ships; tests/eval check both networks on random weights",
}
# Whole README sections whose commands do not run here, and why.
EXCLUDED_SECTIONS: dict[str, str] = {
    "Teach it your sounds: the demonstration": "needs the project's corpus and about 45 "
    "minutes of CPU; test_readme_teach_flow runs the same train / export / generate commands",
    "Rebuild the bundled model": "needs the corpus (`clapldm data build-corpus`: an hour of "
    "downloads and renders), hours of training, and the step sweep / report benchmarks; the "
    "same train / export / preencode commands run on 12 clips in test_readme_training_flow",
}


@dataclass(frozen=True)
class Command:
    """One command of a README code block: its words, or a Python script."""

    section: str  # the heading above the block
    words: tuple[str, ...]
    script: str = ""  # the here-document (python - <<'PY') or a ```python block

    def __str__(self) -> str:
        return shlex.join(self.words)


def readme_commands(text: str) -> Iterator[Command]:
    """The commands of every ```bash block (continuations joined, comments dropped, `&&`
    split) and every ```python block (as one script), with the section they are in."""
    lines = text.splitlines()
    section = ""
    fence = ""
    python_lines: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("```"):
            if not fence:
                fence = line[3:].strip() or "text"
            else:
                if fence == "python":
                    yield Command(section, ("python",), "\n".join(python_lines) + "\n")
                    python_lines = []
                fence = ""
            continue
        if not fence:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            continue
        if fence == "python":
            python_lines.append(line)
            continue
        if fence != "bash":
            continue
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        script = ""
        heredoc = re.search(r"<<\s*'?(\w+)'?", line)
        if heredoc:
            body = []
            while lines[i].strip() != heredoc.group(1):
                body.append(lines[i])
                i += 1
            i += 1
            script = "\n".join(body) + "\n"
            line = line[: heredoc.start()]
        words: list[str] = []
        for word in [*shlex.split(line, comments=True), "&&"]:
            if word == "&&":
                if words:
                    yield Command(section, tuple(words), script)
                words = []
            else:
                words.append(word)


def exclusion(command: Command) -> str | None:
    """Why `command` does not run in these tests, or None when it runs."""
    for name, reason in EXCLUDED_SECTIONS.items():
        if command.section.startswith(name):
            return reason
    for prefix, reason in EXCLUDED.items():
        if command.words[: len(prefix)] == prefix:
            return reason
    for word, reason in EXCLUDED_WORDS.items():
        if word in command.words:
            return reason
    return None


def commands_to_run(section_is_training: bool, section: str = TRAINING_SECTION) -> list[Command]:
    """The runnable commands of `section` (or, `section_is_training=False`, of every
    section but the two training flows, which run in their own tests)."""
    flows = (TRAINING_SECTION, TEACH_SECTION)
    return [
        c
        for c in readme_commands(README.read_text(encoding="utf-8"))
        if exclusion(c) is None
        and (
            c.section.startswith(section)
            if section_is_training
            else not c.section.startswith(flows)
        )
    ]


def with_option(words: list[str], option: str, value: str) -> list[str]:
    """`words` with `option`'s value replaced, or the option appended."""
    if option in words:
        at = words.index(option)
        return [*words[: at + 1], value, *words[at + 2 :]]
    return [*words, option, value]


def shortened(words: tuple[str, ...]) -> list[str]:
    """A `clapldm ...` command's arguments with 2 sampling steps and short durations."""
    args = list(words[1:])
    if (
        args[0] in ("generate", "transfer", "inpaint", "superres", "extend")
        and "--from" not in args
    ):
        args = with_option(args, "--steps", "2")
    if args[0] == "generate" and "--from" not in args:
        args = with_option(args, "--duration", "1")
    if args[0] == "extend":
        args = with_option(with_option(args, "--to", "3"), "--window", "2")
    return args


def write_noise(path: Path, seconds: float, rate: int = 22050, seed: int = 0) -> None:
    """A decaying noise burst with a tone, so CLAP, VAE and eval have something to hear."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * math.pi * (220 + 110 * seed) * t)
    noise = 0.2 * rng.standard_normal(t.size) * np.exp(-3 * (t % 0.5))
    sf.write(path, (tone + noise).astype(np.float32), rate)


def run_command(command: Command, cwd: Path) -> None:
    """Run one README command in `cwd`; fail with the command when it fails."""
    if command.words[0] == "clapldm":
        code = main(shortened(command.words))
        assert code == 0, f"README command failed ({code}): {command}"
    elif command.words in (("python", "-"), ("python",)):
        script = command.script.replace("duration=5.0", "duration=1.0")
        exec(compile(script, f"README: {command}", "exec"), {"__name__": "__readme__"})
    else:
        raise AssertionError(f"README command neither run nor excluded: {command}")


@pytest.fixture()
def shared_bundled_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load each model once for the whole README run (loading is most of a command's time)."""
    loaded: dict[tuple[str, str], AudioLDM] = {}
    load = AudioLDM.from_pretrained

    def cached(cls: type, model: Any = None, device: str = "cpu", **kwargs: Any) -> AudioLDM:
        if kwargs:
            return load(model, device=device, **kwargs)
        key = (str(Path(model).resolve()) if model else "", str(device))
        if key not in loaded:
            loaded[key] = load(model, device=device)
        return loaded[key]

    monkeypatch.setattr(AudioLDM, "from_pretrained", classmethod(cached))


def test_every_readme_command_is_run_or_excluded() -> None:
    commands = list(readme_commands(README.read_text(encoding="utf-8")))
    runnable = ("clapldm",), ("python", "-"), ("python",)
    unknown = [
        str(c)
        for c in commands
        if exclusion(c) is None and not any(c.words[: len(r)] == r for r in runnable)
    ]
    assert not unknown, f"README commands neither run by these tests nor excluded: {unknown}"
    # the parser sees the blocks it must (a README rewrite must not silently empty this test)
    assert sum(c.words[:2] == ("clapldm", "generate") for c in commands) >= 6
    assert any(c.section.startswith(TRAINING_SECTION) for c in commands)


def test_readme_commands_name_no_machine_paths() -> None:
    """Commands work from a checkout anywhere: no absolute paths of one machine."""
    absolute = [
        str(c)
        for c in readme_commands(README.read_text(encoding="utf-8"))
        if any(re.match(r"/(work|home|Users|root|tmp)/", w) for w in c.words)
    ]
    assert not absolute, absolute


@pytest.mark.slow
def test_readme_commands_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_bundled_model: None
) -> None:
    monkeypatch.chdir(tmp_path)
    # the inputs the README's commands name
    write_noise(tmp_path / "drums.wav", 1.0, seed=1)
    write_noise(tmp_path / "street.wav", 4.0, seed=2)
    write_noise(tmp_path / "phone_call.wav", 1.0, rate=8000, seed=3)
    write_noise(tmp_path / "rain.wav", 1.0, seed=4)
    write_noise(tmp_path / "bird.wav", 1.0, seed=5)
    (tmp_path / "prompts.txt").write_text("a cat meowing\nwind in trees\n", encoding="utf-8")
    jobs = re.search(r"```jsonl\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert jobs is not None, "the README's JSON Lines example is gone"
    (tmp_path / "jobs.jsonl").write_text(jobs.group(1), encoding="utf-8")
    shutil.copytree(BUNDLED, tmp_path / "my-model")
    for folder in ("generated", "reference"):
        (tmp_path / folder).mkdir()
        for k in range(3):
            write_noise(tmp_path / folder / f"clip{k}.wav", 1.0, seed=10 + k)
    (tmp_path / "captions.csv").write_text(
        "file,caption\nclip0.wav,a tone\nclip1.wav,noise\nclip2.wav,a hum\n", encoding="utf-8"
    )
    commands = commands_to_run(section_is_training=False)
    for command in commands:
        if command.words == ("python",):  # a Python example: in its own folder
            (tmp_path / "python").mkdir(exist_ok=True)
            monkeypatch.chdir(tmp_path / "python")
            run_command(command, tmp_path / "python")
            monkeypatch.chdir(tmp_path)
        else:
            run_command(command, tmp_path)
    ran = {str(c) for c in commands}
    # what the commands promise
    if any("--from dog.wav" in c for c in ran):
        assert np.array_equal(sf.read("dog.wav")[0], sf.read("again.wav")[0])
    for name in ("sword.wav", "rain.flac", "rain.png", "jazz.wav", "horn.wav", "more_birds.wav"):
        assert (tmp_path / name).is_file(), name
    assert len(list((tmp_path / "outputs").glob("*.wav"))) == 2
    assert sf.info("rain30.wav").duration == pytest.approx(3.0, abs=1e-3)
    assert (tmp_path / "scores.json").is_file()
    rows = [json.loads(line) for line in (tmp_path / "dataset" / "manifest.jsonl").open()]
    assert [row["status"] for row in rows] == ["done"] * len(jobs.group(1).splitlines())


TINY_TRAINING = {
    # sizes and step counts small enough for a test; everything else as the configs say
    "clap": ["--set", "model.audio_channels=[4,8,8,8]"],
    "vae": [
        "--set",
        "model.ch=8",
        "--set",
        "model.norm_groups=4",
        "--set",
        "model.num_res_blocks=1",
    ],
    "ldm": [
        "--set",
        "model.model_channels=8",
        "--set",
        "model.norm_groups=4",
        "--set",
        "model.heads=[1,1,1]",
    ],
}
TINY_TRAIN = [
    "--set",
    "train.batch_size=4",
    "--set",
    "train.segment_seconds=1.0",
    "--set",
    "train.warmup_steps=0",
    "--set",
    "train.checkpoint_every=1",
    "--set",
    "train.threads=1",
    "--no-progress",
]


@pytest.mark.slow
def test_readme_training_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "Train on your own sounds" flow as written, on 12 WAV files: manifest -> check -> CLAP ->
    VAE -> export -> preencode -> LDM -> resume -> export -> generate."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "configs" / "bundled", tmp_path / "configs" / "bundled")
    sounds = tmp_path / "my_sounds"
    sounds.mkdir()
    names = ["dog_bark", "door_slam", "rain", "bell", "whistle", "engine"]
    for k in range(12):
        write_noise(sounds / f"{names[k % 6]}_{k:02d}.wav", 1.5, seed=k)
    commands = commands_to_run(section_is_training=True)
    assert [c.words[:3] for c in commands if c.words[0] == "clapldm"] == [
        ("clapldm", "data", "check"),
        ("clapldm", "train", "clap"),
        ("clapldm", "train", "vae"),
        ("clapldm", "export", "runs/clap"),
        ("clapldm", "export", "runs/vae"),
        ("clapldm", "preencode", "--config"),
        ("clapldm", "train", "ldm"),
        ("clapldm", "train", "ldm"),
        ("clapldm", "export", "runs/ldm"),
        ("clapldm", "generate", "a door slams"),
    ], "the README's training flow changed: update this test"
    for command in commands:
        if command.words[:2] == ("clapldm", "train"):
            stage = command.words[2]
            resume = "--resume" in command.words
            extra = ["--max-steps", "3" if resume else "2"]
            if not resume:  # a resumed run keeps its own (already tiny) config
                extra += TINY_TRAINING[stage] + TINY_TRAIN
            command = Command(command.section, command.words + tuple(extra))
        run_command(command, tmp_path)
    manifest = (sounds / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(manifest) == 12
    # ldm.json's relative paths named the exports made here, not some machine's folders
    encoded = json.loads((tmp_path / "runs" / "pre" / PREENCODED_META).read_text("utf-8"))
    assert encoded["vae"] == str(tmp_path.resolve() / "runs" / "export" / "vae")
    assert encoded["clap"] == str(tmp_path.resolve() / "runs" / "export" / "clap")
    steps = sorted(int(p.stem.split("=")[1]) for p in Path("runs/ldm").rglob("step=*.ckpt"))
    assert steps[-1] == 3, steps  # the resumed run went on from step 2
    audio, rate = sf.read("door.wav", dtype="float32")
    assert rate == 22050 and audio.shape == (22050,) and np.isfinite(audio).all()
    assert os.path.isdir("my-model")


@pytest.mark.slow
def test_readme_teach_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "Teach it your sounds" commands as written, on the bundled model and a folder of
    8 WAV files, each training run cut to 2 steps: LoRA -> adapter -> generate with it ->
    merged model; pre-encoded LoRA; full fine-tune -> model -> generate; the Python block."""
    monkeypatch.chdir(tmp_path)
    sounds = tmp_path / "my_sounds" / "kit"
    sounds.mkdir(parents=True)
    for k in range(8):
        write_noise(sounds / f"hit_{k:02d}.wav", 1.0, seed=k)
    commands = commands_to_run(section_is_training=True, section=TEACH_SECTION)
    assert [c.words[:3] for c in commands if c.words[0] == "clapldm"][:3] == [
        ("clapldm", "train", "ldm"),
        ("clapldm", "export", "runs/kit"),
        ("clapldm", "generate", "a snare drum hit"),
    ], "the README's fine-tuning flow changed: update this test"
    for command in commands:
        if command.words[:2] == ("clapldm", "train"):
            extra = ("--max-steps", "2", "--set", "train.batch_size=2", "--no-progress")
            command = Command(command.section, command.words + extra)
        run_command(command, tmp_path)
    assert (tmp_path / "kit-lora" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "kit-model" / "model_index.json").is_file()
    assert sf.info("snare.wav").samplerate == 22050
