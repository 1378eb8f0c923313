"""Frozen dataclass configs for every component: the single source of truth for shapes.

Each config round-trips through JSON (`config.json` beside `model.safetensors`). Unknown
keys raise `ConfigError`, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from clapldm.errors import ConfigError
from clapldm.fileio import atomic_write

C = TypeVar("C", bound="ConfigBase")


class ConfigBase:
    """Mixin: dict/JSON conversion with strict keys. Subclasses are frozen dataclasses."""

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown keys {unknown}")
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            kwargs[name] = _coerce(hints[name], value, f"{cls.__name__}.{name}")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{cls.__name__}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def load(cls: type[C], path: str | os.PathLike[str]) -> C:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: not a readable JSON config ({exc})") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        write_json_atomic(path, self.to_dict())

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON (indent 2, trailing newline) to `path` atomically (see `clapldm.fileio`)."""
    with atomic_write(path, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Convert JSON values to the annotated type (lists -> tuples), checking basic types."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or (
        origin is not None and str(origin) == "<class 'types.UnionType'>"
    ):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=True))
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


# ---------------------------------------------------------------------------------------
# Component configs. Defaults are the AudioLDM-S presets (DESIGN.md section 3).
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MelConfig(ConfigBase):
    """Log-mel front end shared by dataset, VAE, vocoder and pipeline.

    hop 160 = 10 ms at 16 kHz, so mel frames are centiseconds; 1024 frames = 10.24 s.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8000.0
    # "center": reflect-pad n_fft/2 each side (inference package); "audioldm_train":
    # reflect-pad (n_fft - hop)/2 each side, no centring (training repo).
    padding: typing.Literal["center", "audioldm_train"] = "center"
    log_clamp: float = 1e-5
    # Waveforms entering the front end are normalised like the reference:
    # remove mean, divide by peak, times 0.5. The bundled model keeps this too.
    normalize_waveform: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ValueError("sample_rate, hop_length and n_mels must be positive")
        if self.win_length > self.n_fft:
            raise ValueError("win_length must not exceed n_fft")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError("need 0 <= f_min < f_max <= sample_rate/2")


@dataclass(frozen=True)
class VAEConfig(ConfigBase):
    """Mel AutoencoderKL (LDM first stage). Downsamples by 2**(len(ch_mult)-1)."""

    in_channels: int = 1
    out_channels: int = 1
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    z_channels: int = 8
    norm_groups: int = 32
    norm_eps: float = 1e-6
    mid_attention: bool = True
    scale_factor: float = 1.0


@dataclass(frozen=True)
class UNetConfig(ConfigBase):
    """AudioLDM UNet (eps-prediction), CLAP embedding concatenated to the time embedding."""

    in_channels: int = 8
    out_channels: int = 8
    model_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 3, 5)
    num_res_blocks: int = 2
    # Which levels (0-based) carry a spatial transformer. AudioLDM: all but level 0.
    attention_levels: tuple[int, ...] = (1, 2, 3)
    # Attention heads per level; the mid block uses the last level's count.
    # Original AudioLDM fixes head dim 32 (S/M) or 64 (L): heads = channels / head_dim.
    heads: tuple[int, ...] = (4, 8, 12, 20)
    transformer_depth: int = 1
    ff_mult: int = 4
    cond_dim: int = 512
    norm_groups: int = 32
    norm_eps: float = 1e-5
    transformer_norm_eps: float = 1e-6
    # "concat" (AudioLDM): Linear(cond_dim -> 4C) concatenated to the time embedding.
    cond_mode: typing.Literal["concat"] = "concat"

    def __post_init__(self) -> None:
        if len(self.heads) != len(self.channel_mult):
            raise ValueError("heads needs one entry per level of channel_mult")
        if any(not 0 <= lvl < len(self.channel_mult) for lvl in self.attention_levels):
            raise ValueError("attention_levels out of range")

    @property
    def time_embed_dim(self) -> int:
        return 4 * self.model_channels

    @property
    def latent_multiple(self) -> int:
        """Latent time/freq lengths must be multiples of this (one halving per level)."""
        return 2 ** (len(self.channel_mult) - 1)


@dataclass(frozen=True)
class HifiGanConfig(ConfigBase):
    """HiFi-GAN V1-style generator. Defaults: AudioLDM 16 kHz / 64 mels / hop 160."""

    num_mels: int = 64
    upsample_initial_channel: int = 1024
    upsample_rates: tuple[int, ...] = (5, 4, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 4, 4)
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    leaky_relu_slope: float = 0.1
    # Normalise the input mel with stored mean/scale buffers (SpeechT5 option; off for AudioLDM).
    normalize_before: bool = False

    @property
    def hop_length(self) -> int:
        hop = 1
        for rate in self.upsample_rates:
            hop *= rate
        return hop


@dataclass(frozen=True)
class ClapConfig(ConfigBase):
    """Text/audio encoder. kind "laion": a transformers ClapModel folder; "compact": ours."""

    kind: typing.Literal["laion", "compact"] = "laion"
    embed_dim: int = 512
    # compact only: audio CNN on the pipeline's log-mel, text tower from a sentence encoder
    audio_channels: tuple[int, ...] = (32, 64, 128, 256)
    text_model: str = ""
    text_dim: int = 384
    text_max_tokens: int = 64
    # compact only: the frozen text tower's source. A PyPI package holding a transformers
    # folder (name and pinned version recorded), or, when text_package is "", the CLAP
    # folder's own text_encoder/ subfolder (tiny test models).
    text_package: str = ""
    text_package_version: str = ""
    # compact only: the MelConfig (as a plain dict) of the log-mel the audio tower reads.
    mel: dict[str, Any] = field(default_factory=dict)
    # laion only: False when the saved transformers model is a text tower alone (what a
    # diffusers AudioLDM folder holds in text_encoder/); embed_audio then raises.
    audio_tower: bool = True
    # compact only: the audio tower. "cnn": the log-mel CNN (audio_channels). "aisfx": the
    # pretrained aiSFX sound-effects CNN (frozen, its weights saved with ours) beside a
    # spectral-profile branch on the log-mel (time max and mean per mel bin: pitch and
    # timbre detail that aiSFX's frequency pooling loses), one projection over both.
    audio_backbone: typing.Literal["cnn", "aisfx"] = "cnn"
    # compact only: how many of the text tower's top transformer layers train (0: frozen).
    text_train_layers: int = 0


@dataclass(frozen=True)
class SchedulerConfig(ConfigBase):
    """DDPM noise schedule. AudioLDM: 1000 steps, scaled_linear 0.0015 -> 0.0195."""

    num_train_timesteps: int = 1000
    beta_start: float = 0.0015
    beta_end: float = 0.0195
    beta_schedule: typing.Literal["scaled_linear", "linear"] = "scaled_linear"
    prediction_type: typing.Literal["epsilon"] = "epsilon"


@dataclass(frozen=True)
class PipelineConfig(ConfigBase):
    """What `model_index.json` stores besides the component list."""

    name: str = "clapldm"
    max_duration: float = 30.0
    default_sampler: str = "dpmpp-2m"
    default_steps: int = 25
    default_guidance_scale: float = 2.5
    # Where the model came from ("native", "diffusers", "original") and its head split.
    source: str = "native"
    extra: dict[str, Any] = field(default_factory=dict)
