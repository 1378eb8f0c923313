"""CLAP text/audio encoders: the `TextAudioEncoder` protocol, `LaionClap`, `load_clap`.

AudioLDM conditions its diffusion model on a CLAP embedding: of the clip's audio while
training, of the prompt at sampling time. Any encoder with this interface works:

- `LaionClap` wraps transformers' LAION-CLAP (RoBERTa + HTSAT), the encoder of the
  released AudioLDM checkpoints. RoBERTa and HTSAT are not re-implemented here.
- `CompactClap` (models/compact_clap.py) is the bundled model's own CLAP.

Native folder of a `LaionClap`::

    folder/config.json       ClapConfig(kind="laion", embed_dim, audio_tower)
    folder/transformers/     model (ClapModel or ClapTextModelWithProjection), tokenizer
                             and, with an audio tower, the ClapFeatureExtractor config

transformers' own ``config.json`` lives in the subfolder so it never collides with ours.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import soxr
import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoTokenizer,
    ClapFeatureExtractor,
    ClapModel,
    ClapTextModelWithProjection,
    PreTrainedTokenizerBase,
)
from transformers import ClapConfig as HFClapConfig

from clapldm.config import ClapConfig
from clapldm.errors import ConfigError, InvalidInputError, ModelLoadError

logger = logging.getLogger(__name__)

TRANSFORMERS_SUBFOLDER = "transformers"


@runtime_checkable
class TextAudioEncoder(Protocol):
    """What the pipeline and training need from a CLAP: one space for text and audio.

    Implementations are ``nn.Module`` s (so ``.to(device)`` moves them) and return float32
    L2-normalised rows.
    """

    embed_dim: int  # D, the length of every embedding
    sample_rate: int  # Hz that embed_audio works at (other rates are resampled)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """B prompts -> (B, D) float32, unit L2 norm."""
        ...

    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """(B, samples) float waveform at ``sample_rate`` Hz -> (B, D) float32, unit L2 norm."""
        ...

    def save_pretrained(self, folder: str | os.PathLike[str]) -> None:
        """Write ``config.json`` (ClapConfig) and weights so `load_clap` reads them back."""
        ...

    def to(self, device: torch.device | str) -> Any:
        """Move to a device (``nn.Module.to``)."""
        ...


def load_clap(
    folder: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> TextAudioEncoder:
    """Load a native CLAP folder (``config.json`` kind "laion" or "compact") onto ``device``."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{folder}: not a CLAP folder (no config.json)")
    try:
        config = ClapConfig.load(config_path)
    except ConfigError as exc:
        raise ModelLoadError(f"{folder}: bad CLAP config: {exc}") from None
    encoder: LaionClap | Any
    if config.kind == "laion":
        encoder = LaionClap.from_pretrained(folder)
    else:
        from clapldm.models.compact_clap import CompactClap  # compact_clap imports this module

        encoder = CompactClap.from_pretrained(folder)
    return encoder.to(device).eval()


# ---------------------------------------------------------------------------------------
# Helpers shared with CompactClap
# ---------------------------------------------------------------------------------------


def check_texts(texts: list[str]) -> None:
    """Raise `InvalidInputError` unless ``texts`` is a non-empty list of strings."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise InvalidInputError(f"embed_text takes a list of strings, got {type(texts).__name__}")
    if not texts:
        raise InvalidInputError("embed_text needs at least one text")
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise InvalidInputError(f"embed_text takes strings only, got {bad[0]}")


def as_wave_batch(wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Validate a waveform: (samples,) or (B, samples) finite float -> (B, samples)."""
    if not isinstance(wave, torch.Tensor):
        raise InvalidInputError(f"embed_audio takes a torch.Tensor, got {type(wave).__name__}")
    if wave.dim() == 1:
        wave = wave.unsqueeze(0)
    if wave.dim() != 2:
        raise InvalidInputError(f"embed_audio expects (B, samples), got {tuple(wave.shape)}")
    if wave.shape[0] == 0 or wave.shape[1] == 0:
        raise InvalidInputError(f"embed_audio got an empty waveform {tuple(wave.shape)}")
    if sample_rate <= 0:
        raise InvalidInputError(f"sample rate must be positive, got {sample_rate}")
    if not torch.isfinite(wave).all():
        raise InvalidInputError("embed_audio got non-finite samples (NaN or Inf)")
    return wave if wave.is_floating_point() else wave.float()


def resample_batch(wave: torch.Tensor, sample_rate: int, target_rate: int) -> torch.Tensor:
    """(B, samples) at ``sample_rate`` -> (B, samples') float32 at ``target_rate`` (soxr HQ).

    Runs on the CPU in numpy (no gradient); returns a tensor on the input's device.
    Equal rates return the input unchanged.
    """
    if sample_rate == target_rate:
        return wave
    frames_by_channel = wave.detach().to("cpu", torch.float64).numpy().T  # (samples, B)
    resampled = soxr.resample(
        np.ascontiguousarray(frames_by_channel), sample_rate, target_rate, "HQ"
    )
    if resampled.ndim == 1:
        resampled = resampled[:, None]
    return torch.from_numpy(np.ascontiguousarray(resampled.T, dtype=np.float32)).to(wave.device)


def _weights_stamp(module: nn.Module) -> tuple[Any, ...]:
    """Changes whenever a weight changes: in place (version counter), moved, or replaced.

    Tensors created under ``torch.inference_mode`` keep no version counter; for those
    only moves and replacements are seen.
    """
    tensors = [*module.parameters(), *module.buffers()]
    return tuple((t.device, t.dtype, t.data_ptr(), _version(t)) for t in tensors)


def _version(tensor: torch.Tensor) -> int:
    try:
        return int(tensor._version)
    except RuntimeError:  # inference tensor
        return -1


class EmptyTextCache:
    """Caches the embedding of "" — CFG's unconditional text, requested on every call.

    One per encoder instance (never global); the entry is dropped as soon as any weight
    or buffer of the encoder changes, moves device or dtype.
    """

    def __init__(self) -> None:
        self._stamp: tuple[Any, ...] | None = None
        self._value: torch.Tensor | None = None

    def embed(
        self,
        module: nn.Module,
        texts: list[str],
        compute: Callable[[list[str]], torch.Tensor],
        *,
        enabled: bool = True,
    ) -> torch.Tensor:
        """``compute(texts)`` (B, D), with rows for "" served from the cache when enabled."""
        empty_rows = [i for i, text in enumerate(texts) if text == ""]
        if not enabled or not empty_rows:
            return compute(texts)
        stamp = _weights_stamp(module)
        if self._value is None or self._stamp != stamp:
            self._value = compute([""])[0].detach().clone()
            self._stamp = stamp
        others = [i for i, text in enumerate(texts) if text != ""]
        rows = self._value.unsqueeze(0).expand(len(texts), -1).clone()
        if others:
            rows[others] = compute([texts[i] for i in others]).to(rows.dtype)
        return rows


# ---------------------------------------------------------------------------------------
# LAION-CLAP via transformers
# ---------------------------------------------------------------------------------------


def laion_feature_extractor() -> ClapFeatureExtractor:
    """The unfused LAION-CLAP front end (laion/clap-htsat-unfused preprocessor config).

    48 kHz, 10 s, n_fft 1024, hop 480 (10 ms), 64 Slaney mel bins 50 Hz - 14 kHz, power
    dB; shorter clips are repeated then zero-padded ("repeatpad").
    """
    return ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=48_000,
        hop_length=480,
        max_length_s=10,
        fft_window_size=1024,
        frequency_min=50,
        frequency_max=14_000,
        truncation="rand_trunc",
        padding="repeatpad",
    )


class LaionClap(nn.Module):
    """LAION-CLAP (RoBERTa text tower, HTSAT audio tower) as a `TextAudioEncoder`.

    ``model`` is a transformers ``ClapModel`` (text and audio), or a
    ``ClapTextModelWithProjection`` (text only: a diffusers AudioLDM ``text_encoder/``),
    whose ``embed_audio`` raises `ModelLoadError`. The wrapped model is frozen and always
    in eval mode, even when a parent module calls ``.train()``.
    """

    embed_dim: int
    sample_rate: int

    def __init__(
        self,
        model: ClapModel | ClapTextModelWithProjection,
        tokenizer: PreTrainedTokenizerBase,
        feature_extractor: ClapFeatureExtractor | None = None,
    ) -> None:
        super().__init__()
        text_config: Any  # transformers types sub-configs loosely
        if isinstance(model, ClapModel):
            text_config = model.config.text_config
            if feature_extractor is None:
                raise ModelLoadError("a CLAP with an audio tower needs its ClapFeatureExtractor")
            audio_config: Any = model.config.audio_config
            if audio_config.enable_fusion:
                raise ModelLoadError("fused LAION-CLAP (enable_fusion) is not supported")
        elif isinstance(model, ClapTextModelWithProjection):
            text_config = model.config
            feature_extractor = None
        else:
            raise ModelLoadError(f"LaionClap wraps a ClapModel, got {type(model).__name__}")
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.embed_dim = int(text_config.projection_dim)
        # LAION-CLAP hears 48 kHz; a text-only model keeps that nominal rate.
        self.sample_rate = int(feature_extractor.sampling_rate) if feature_extractor else 48_000
        # RoBERTa positions start after the padding index, so 514 positions hold 512 tokens.
        position_limit = text_config.max_position_embeddings - text_config.pad_token_id - 1
        self.max_text_tokens = int(min(tokenizer.model_max_length, position_limit))
        self._empty_text = EmptyTextCache()

    @property
    def has_audio_tower(self) -> bool:
        return isinstance(self.model, ClapModel)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def train(self, mode: bool = True) -> LaionClap:
        """Frozen conditioner: the wrapped model stays in eval mode (no dropout, BN fixed)."""
        super().train(mode)
        self.model.eval()
        return self

    # -- embeddings ---------------------------------------------------------------------

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """B prompts -> (B, D) float32, unit norm: ``normalize(text_projection(pooler))``.

        Tokenised with padding to the longest prompt (not to 512): RoBERTa masks padding,
        so this equals diffusers' AudioLDM ``_encode_prompt`` (max-length padding).
        """
        check_texts(texts)
        return self._empty_text.embed(self, list(texts), self._encode_texts)

    def _encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            texts,
            padding="longest",
            truncation=True,
            max_length=self.max_text_tokens,
            return_tensors="pt",
        )
        device = self.device
        outputs = self.model.text_model(
            input_ids=tokens["input_ids"].to(device),
            attention_mask=tokens["attention_mask"].to(device),
        )
        embeds = self.model.text_projection(outputs.pooler_output)  # (B, D)
        return F.normalize(embeds.float(), dim=-1)

    @torch.no_grad()
    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """(B, samples) at ``sample_rate`` Hz -> (B, D) float32 audio embeddings, unit norm.

        Resampled to 48 kHz (soxr), then LAION-CLAP's unfused front end: clips longer than
        10 s keep their **first** 10 s (LAION picks a random crop; this is deterministic),
        shorter clips are repeated and zero-padded to 10 s.
        """
        if not isinstance(self.model, ClapModel) or self.feature_extractor is None:
            raise ModelLoadError(
                "this CLAP has no audio tower (a diffusers text_encoder is text only); "
                "use a full CLAP model for audio embeddings"
            )
        wave = as_wave_batch(wave, sample_rate)
        wave = resample_batch(wave, sample_rate, self.sample_rate)
        extractor = self.feature_extractor
        max_samples = int(extractor.nb_max_samples)
        clips = [row[:max_samples] for row in wave.detach().to("cpu", torch.float64).numpy()]
        # Never longer than max_samples here, so "rand_trunc" draws no random crop.
        features = extractor(
            clips,
            sampling_rate=self.sample_rate,
            truncation="rand_trunc",
            padding=extractor.padding,
            return_tensors="pt",
        )["input_features"]  # (B, 1, frames, mels)
        parameter = next(self.model.parameters())
        features = features.to(parameter.device, parameter.dtype)
        pooled = self.model.audio_model(input_features=features).pooler_output
        embeds = self.model.audio_projection(pooled)  # (B, D)
        return F.normalize(embeds.float(), dim=-1)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_transformers_folder(cls, folder: str | os.PathLike[str]) -> LaionClap:
        """A transformers folder: ``ClapModel`` (+ ``preprocessor_config.json``) or a
        ``ClapTextModelWithProjection``, with tokenizer files alongside."""
        folder = Path(folder)
        model_type = _transformers_model_type(folder)
        tokenizer = _load_tokenizer(folder)
        try:
            if model_type == "clap":
                model: ClapModel | ClapTextModelWithProjection = ClapModel.from_pretrained(
                    folder, local_files_only=True
                )
                extractor = ClapFeatureExtractor.from_pretrained(folder, local_files_only=True)
                return cls(model, tokenizer, extractor)
            if model_type == "clap_text_model":
                model = ClapTextModelWithProjection.from_pretrained(folder, local_files_only=True)
                return cls(model, tokenizer)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{folder}: cannot load the CLAP model: {exc}") from None
        raise ModelLoadError(f"{folder}: model_type {model_type!r} is not a CLAP model")

    @classmethod
    def from_diffusers(
        cls, text_encoder_dir: str | os.PathLike[str], tokenizer_dir: str | os.PathLike[str]
    ) -> LaionClap:
        """A diffusers AudioLDM ``text_encoder/`` (ClapTextModelWithProjection) + ``tokenizer/``."""
        text_encoder_dir = Path(text_encoder_dir)
        if _transformers_model_type(text_encoder_dir) != "clap_text_model":
            raise ModelLoadError(f"{text_encoder_dir}: not a ClapTextModelWithProjection folder")
        try:
            model = ClapTextModelWithProjection.from_pretrained(
                text_encoder_dir, local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{text_encoder_dir}: cannot load the CLAP text encoder: {exc}"
            ) from None
        return cls(model, _load_tokenizer(Path(tokenizer_dir)))

    @classmethod
    def from_laion_state_dict(
        cls,
        state_dict: Mapping[str, torch.Tensor],
        tokenizer: PreTrainedTokenizerBase,
        feature_extractor: ClapFeatureExtractor | None = None,
        config: HFClapConfig | None = None,
    ) -> LaionClap:
        """An original LAION-CLAP state dict (``cond_stage_model.model.`` stripped).

        ``config`` defaults to the one inferred from the tensor shapes; the feature
        extractor defaults to `laion_feature_extractor`. Every ClapModel weight must be
        present (strict load).
        """
        from clapldm.checkpoints.keys_clap import clap_config_from_laion_state_dict, clap_from_laion

        if config is None:
            config = clap_config_from_laion_state_dict(state_dict)
        converted = clap_from_laion(state_dict, config)
        with torch.device("meta"):
            model = ClapModel(config)
        try:
            model.load_state_dict(converted, strict=True, assign=True)
        except RuntimeError as exc:
            raise ModelLoadError(f"CLAP weights do not fit the CLAP config: {exc}") from None
        return cls(model.float(), tokenizer, feature_extractor or laion_feature_extractor())

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> LaionClap:
        """A native folder written by `save_pretrained`."""
        folder = Path(folder)
        try:
            config = ClapConfig.load(folder / "config.json")
        except ConfigError as exc:
            raise ModelLoadError(f"{folder}: bad CLAP config: {exc}") from None
        if config.kind != "laion":
            raise ModelLoadError(f"{folder}: CLAP kind is {config.kind!r}, expected 'laion'")
        encoder = cls.from_transformers_folder(folder / TRANSFORMERS_SUBFOLDER)
        if encoder.embed_dim != config.embed_dim or encoder.has_audio_tower != config.audio_tower:
            raise ModelLoadError(
                f"{folder}: config.json (embed_dim {config.embed_dim}, audio_tower "
                f"{config.audio_tower}) disagrees with the model (embed_dim {encoder.embed_dim}, "
                f"audio_tower {encoder.has_audio_tower})"
            )
        return encoder

    def save_pretrained(self, folder: str | os.PathLike[str]) -> None:
        """Write ``folder/config.json`` and ``folder/transformers/`` (model + processor files).

        The transformers files go first and our config.json last (atomic), so a folder
        interrupted mid-write has no config.json and is refused by `load_clap`.
        """
        folder = Path(folder)
        subfolder = folder / TRANSFORMERS_SUBFOLDER
        subfolder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(subfolder)
        self.tokenizer.save_pretrained(subfolder)
        if self.feature_extractor is not None:
            self.feature_extractor.save_pretrained(subfolder)
        config = ClapConfig(
            kind="laion", embed_dim=self.embed_dim, audio_tower=self.has_audio_tower
        )
        config.save(folder / "config.json")


def _transformers_model_type(folder: Path) -> str:
    """``model_type`` of a transformers folder's config.json."""
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{folder}: no transformers config.json") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: unreadable config.json ({exc})") from None
    return str(data.get("model_type", ""))


def _load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{folder}: cannot load the tokenizer: {exc}") from None


__all__ = [
    "TRANSFORMERS_SUBFOLDER",
    "EmptyTextCache",
    "LaionClap",
    "TextAudioEncoder",
    "as_wave_batch",
    "check_texts",
    "laion_feature_extractor",
    "load_clap",
    "resample_batch",
]
