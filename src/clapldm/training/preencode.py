"""`clapldm preencode`: encode a corpus once with the frozen VAE and CLAP.

Long LDM runs then read latents and embeddings from shards and never run the VAE encoder
or the CLAP (on a CPU that is most of a step). Per clip (long files are cut into chunks
of at most ``max_seconds``): the waveform is normalised like the reference, its log-mel
padded with the log floor to a multiple of the VAE factor, encoded to the posterior
(mean, std), and embedded with the CLAP audio tower; every caption is embedded with the
CLAP text tower. ``preencoded.json`` is written last, so a folder is only usable once
complete; it records the VAE / CLAP / mel used, CFG's "" embedding and the latent of
silence (for padding short clips).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clapldm.audio.mel import MelFrontEnd, normalize_waveform
from clapldm.config import write_json_atomic
from clapldm.data.dataset import ClipStore
from clapldm.data.shards import (
    PREENCODED_FORMAT,
    PREENCODED_META,
    ShardWriter,
    write_preencoded_sample,
)
from clapldm.errors import AudioReadError, ConfigError, DataError
from clapldm.models.clap import load_clap
from clapldm.models.compact_clap import CompactClap, SfxAudioEncoder, load_text_tower
from clapldm.training.clap_features import preencode_clap, read_clap_features
from clapldm.training.config import LdmTrainConfig, TrainingRun
from clapldm.training.data import build_store, resolve_data
from clapldm.training.finetune import load_init_model
from clapldm.training.ldm_module import load_vae_component

logger = logging.getLogger(__name__)


def preencode(
    run: TrainingRun,
    data: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    max_seconds: float | None = None,
    clap_seconds: float = 0.0,
    shard_size: int = 2000,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    clap_features: str | os.PathLike[str] | None = None,
    text_embeddings: bool = True,
) -> int:
    """Pre-encode ``data`` (manifest or audio shards) with the run's ``ldm.vae`` and
    ``ldm.clap`` into ``output``; returns the number of samples written.

    ``clap_features``: a folder from ``clapldm preencode --stage clap`` over the same data
    (a CLAP with audio backbone "aisfx"); a clip it covers whole gets its CLAP audio
    embedding from those features (the same numbers, without running aiSFX again).
    ``text_embeddings=False`` skips the captions' CLAP text embeddings, which only the
    ``text`` and ``mixed`` conditions read (about 40% of the time with a trained text tower).

    ``clap_seconds``: clips shorter than this are zero-padded to it before the CLAP audio
    embedding (the crop length the CLAP was trained on, so short clips look as they did
    in its training); 0 embeds each clip as it is.
    """
    spec, out = _check_job(run, data, output)
    options: LdmTrainConfig = run.options
    limit = max_seconds or options.max_duration
    mel_config = run.mel
    rate = mel_config.sample_rate
    vae, clap = _frozen_encoders(run, device)
    mel = MelFrontEnd(mel_config).to(device)
    factor = 2 ** (len(vae.config.ch_mult) - 1)
    store: ClipStore = build_store(run, spec, require_caption=False)
    floor = math.log(mel_config.log_clamp)
    rng = np.random.default_rng(0)  # (no crop is drawn: whole clips are read)
    cached = _FeatureLookup(clap_features, clap) if clap_features else None
    count = 0
    with ShardWriter(out, "latents", max_count=shard_size) as writer:
        for index in range(len(store)):
            try:
                wave = store.read(index, rate, None, rng)
            except AudioReadError as exc:
                if run.train.on_bad_file == "raise":
                    raise DataError(str(exc)) from None
                logger.warning("skipping %s", exc)
                continue
            chunk = max(1, round(limit * rate))
            captions = list(store.captions(index))
            text = _embed_texts(clap, captions) if captions and text_embeddings else None
            for part, start in enumerate(range(0, wave.shape[0], chunk)):
                piece = wave[start : start + chunk]
                if piece.shape[0] < max(mel.config.n_fft, round(run.train.min_seconds * rate)):
                    continue
                tensor = torch.from_numpy(piece).to(device)[None]
                if mel_config.normalize_waveform:
                    tensor = normalize_waveform(tensor)
                known = cached.embed(store.name(index), piece.shape[0] / rate) if cached else None
                mean, std, audio = _encode(
                    vae, clap, mel, tensor, factor, floor, rate, round(clap_seconds * rate), known
                )
                meta = {
                    "name": store.name(index),
                    "part": part,
                    "captions": captions,
                    "seconds": piece.shape[0] / rate,
                }
                write_preencoded_sample(
                    writer,
                    f"{count:08d}",
                    latent_mean=mean,
                    latent_std=std,
                    audio_embed=audio,
                    text_embed=text,
                    meta=meta,
                )
                count += 1
            if progress is not None:
                progress(index + 1, len(store))
    if count == 0:
        raise DataError(f"{data}: nothing could be pre-encoded")
    uncond, pad = _uncond_and_pad(vae, clap, mel_config.n_mels, factor, floor, device)
    write_json_atomic(
        out / PREENCODED_META, _meta(run, data, count, limit, vae, uncond, pad, clap_seconds)
    )
    logger.info("pre-encoded %d samples into %s", count, out)
    return count


def _check_job(
    run: TrainingRun, data: str | os.PathLike[str], output: str | os.PathLike[str]
) -> tuple[Any, Path]:
    """(data spec, output folder) of an LDM pre-encoding job, refused in one line when the
    config, the data or the folder does not fit."""
    if run.stage != "ldm":
        raise ConfigError("preencode takes an ldm training config (it names the VAE and CLAP)")
    options: LdmTrainConfig = run.options
    if not options.init and (not options.vae or not options.clap):
        raise ConfigError("preencode needs ldm.vae and ldm.clap folders, or ldm.init (--init)")
    spec = resolve_data(data)
    if spec.kind == "preencoded":
        raise DataError(f"{data} is already pre-encoded")
    out = Path(output)
    if (out / PREENCODED_META).exists():
        raise DataError(f"{out} already holds pre-encoded data; choose another folder")
    return spec, out


def _frozen_encoders(run: TrainingRun, device: str) -> tuple[Any, Any]:
    """The VAE and CLAP that ``ldm.vae`` / ``ldm.clap`` name, else ``ldm.init``'s."""
    options: LdmTrainConfig = run.options
    init: Any = load_init_model(options) if options.init else None
    if init is not None and init.mel_config != run.mel:
        raise ConfigError(f"ldm.init {options.init!r}: its mel config differs from the run's")
    vae = (load_vae_component(options.vae, run.mel) if options.vae else init.vae).to(device)
    clap = load_clap(options.clap, device=device) if options.clap else init.clap.to(device)
    if not getattr(clap, "has_audio_tower", True):
        raise ConfigError(
            f"{options.clap or options.init}: its CLAP has no audio tower, so clips cannot be "
            "embedded; name a CLAP with one (--set ldm.clap=FOLDER)"
        )
    return vae, clap


@torch.no_grad()
def _uncond_and_pad(
    vae: Any, clap: Any, n_mels: int, factor: int, floor: float, device: str
) -> tuple[np.ndarray, np.ndarray]:
    """CFG's "" embedding (D,) and the latent of silence, one frame (C, F')."""
    uncond = clap.embed_text([""])[0].float().cpu().numpy()
    silence = torch.full((1, 1, 8 * factor, n_mels), floor, device=device)
    pad = vae.encode(silence).mode()[0, :, 4].float().cpu().numpy()  # middle frame
    return uncond, pad


def preencode_clap_features(
    run: TrainingRun,
    data: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    max_seconds: float | None = None,
    device: str = "cpu",
    part: tuple[int, int] = (1, 1),
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """``clapldm preencode`` with a clap config: the audio-tower inputs of every captioned
    clip of ``data`` (the config's split), computed once (see `preencode_clap`)."""
    if run.stage != "clap" or run.model.audio_backbone != "aisfx":
        raise ConfigError("CLAP pre-encoding takes a clap config with model.audio_backbone 'aisfx'")
    spec = resolve_data(data)
    if spec.kind not in ("manifest", "shards"):
        raise DataError(f"{data}: CLAP pre-encoding reads a manifest or audio shards")
    text_encoder = tokenizer = None
    if not run.model.text_package:
        text_encoder, tokenizer = load_text_tower(Path(run.options.text_tower))
    clap = CompactClap(run.model, text_encoder, tokenizer)
    assert isinstance(clap.audio_encoder, SfxAudioEncoder)
    clap.audio_encoder.load_pretrained_trunk()
    clap = clap.to(device).eval()
    store = build_store(run, spec, require_caption=True)
    entries = getattr(store, "entries", None)
    extras = [dict(entry.extra) for entry in entries] if entries is not None else None
    return preencode_clap(
        clap,
        store,
        output,
        entries_extra=extras,
        max_seconds=max_seconds or 6.0,
        part=part,
        progress=progress,
    )


@torch.no_grad()
def _embed_texts(clap: Any, captions: list[str]) -> np.ndarray:
    return clap.embed_text(captions).float().cpu().numpy()


@torch.no_grad()
def _encode(
    vae: Any,
    clap: Any,
    mel: MelFrontEnd,
    wave: torch.Tensor,
    factor: int,
    floor: float,
    rate: int,
    clap_samples: int = 0,
    known_audio: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(1, S) normalised -> latent mean (C, T', F'), std, CLAP audio embedding (D,)
    (``known_audio`` when given)."""
    logmel = mel(wave, normalize=False)  # (1, T, F)
    frames = math.ceil(logmel.shape[1] / factor) * factor
    if frames > logmel.shape[1]:
        logmel = torch.nn.functional.pad(logmel, (0, 0, 0, frames - logmel.shape[1]), value=floor)
    posterior = vae.encode(logmel[:, None])
    if known_audio is not None:
        audio = known_audio
    else:
        clap_wave = wave
        if clap_samples > wave.shape[-1]:
            clap_wave = torch.nn.functional.pad(wave, (0, clap_samples - wave.shape[-1]))
        audio = clap.embed_audio(clap_wave, rate)[0]
    return (
        posterior.mean[0].float().cpu().numpy(),
        posterior.std[0].float().cpu().numpy(),
        audio.float().cpu().numpy(),
    )


class _FeatureLookup:
    """Clip name -> CLAP audio embedding from pre-encoded CLAP features (clips no longer
    than the features' ``max_seconds`` only: longer ones were cut there)."""

    def __init__(self, folder: str | os.PathLike[str], clap: Any) -> None:
        if not isinstance(clap, CompactClap) or not isinstance(clap.audio_encoder, SfxAudioEncoder):
            raise ConfigError(
                "--clap-features needs ldm.clap to be a CLAP with audio backbone 'aisfx'"
            )
        meta, tensors = read_clap_features(folder)
        self.clap = clap
        self.max_seconds = float(meta["max_seconds"])
        self.rows = {row["name"]: i for i, row in enumerate(meta["rows"])}
        self.aisfx = tensors["aisfx"]
        self.stats = tensors["stats"]

    @torch.no_grad()
    def embed(self, name: str, seconds: float) -> torch.Tensor | None:
        row = self.rows.get(name)
        if row is None or seconds > self.max_seconds:
            return None
        return self.clap.embed_features(self.aisfx[row : row + 1], self.stats[row : row + 1])[0]


def _meta(
    run: TrainingRun,
    data: Any,
    count: int,
    limit: float,
    vae: Any,
    uncond: np.ndarray,
    pad: np.ndarray,
    clap_seconds: float,
) -> dict[str, Any]:
    return {
        "format": PREENCODED_FORMAT,
        "version": 1,
        "samples": count,
        "source": os.fspath(data),
        "max_seconds": limit,
        "clap_seconds": clap_seconds,
        "mel": run.mel.to_dict(),
        "vae": run.options.vae or run.options.init,
        "vae_config": vae.config.to_dict(),
        "clap": run.options.clap or run.options.init,
        "uncond_embed": [float(v) for v in uncond],
        "pad_latent": pad.tolist(),
    }


__all__ = ["preencode", "preencode_clap_features"]
