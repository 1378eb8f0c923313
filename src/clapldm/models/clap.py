"""CLAP text/audio encoders: `LaionClap`, and `load_clap` for any native CLAP folder.

AudioLDM conditions its diffusion model on a CLAP embedding: of the clip's audio while
training, of the prompt at sampling time. Any `TextAudioEncoder` (models/clap_base.py)
works:

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
from pathlib import Path
from typing import Any

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

from clapldm.config import ClapConfig
from clapldm.errors import ConfigError, ModelLoadError
from clapldm.models.clap_base import (
    EmptyTextCache,
    TextAudioEncoder,
    as_wave_batch,
    check_texts,
    resample_batch,
)
from clapldm.models.compact_clap import CompactClap

logger = logging.getLogger(__name__)

TRANSFORMERS_SUBFOLDER = "transformers"


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
        encoder = CompactClap.from_pretrained(folder)
    return encoder.to(device).eval()


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
