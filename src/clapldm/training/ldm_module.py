"""Stage "ldm": train the AudioLDM UNet (eps-prediction) on frozen VAE latents.

Per step, with all randomness from the step's generator:

    z0   = scale_factor * VAE posterior sample of the clip's log-mel   (or pre-encoded)
    c    = CLAP embedding: of the clip's audio ("audio", AudioLDM), of its caption
           ("text"), or text with probability p else audio ("mixed")
    c    = CLAP("") with probability cond_dropout (classifier-free guidance's
           unconditional embedding, DESIGN section 3)
    t ~ U{0..T-1}, eps ~ N(0, I),  x_t = sqrt(a_t) z0 + sqrt(1 - a_t) eps
    loss = || eps - UNet(x_t, t, c) ||^2

``scale_factor`` = 1 / std of the first batch's latents (averaged over DDP ranks) unless
the config fixes it; it is a buffer, so it is saved in every checkpoint and exported.
The frozen VAE and CLAP sit outside the module tree: they are never in a checkpoint or
under DDP, and are re-loaded from their folders.

Fine-tuning (``ldm.init``, see `training.finetune`): the UNet starts from the loaded
model's weights and the VAE / CLAP / scale_factor are that model's. With LoRA
(``ldm.lora_rank``) the base UNet is frozen, only adapter weights train, and checkpoints
hold only those (the base is re-loaded from ``ldm.init`` and checked by its hash).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clapldm.adapters import add_adapter, unet_hash
from clapldm.audio.mel import MelFrontEnd
from clapldm.checkpoints.native import load_into, load_weights, save_component
from clapldm.config import MelConfig, VAEConfig, write_json_atomic
from clapldm.diffusion.schedule import alphas_cumprod
from clapldm.errors import ConfigError, DataError, ModelLoadError
from clapldm.models.clap import TextAudioEncoder, load_clap
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL
from clapldm.training.common import StageModule, lr_lambda, make_adam, mel_frames_for
from clapldm.training.config import LdmTrainConfig, TrainingRun
from clapldm.training.finetune import load_init_model, lora_spec
from clapldm.training.losses import eps_mse

logger = logging.getLogger(__name__)

LDM_META_FILE = "ldm.json"
BASE_KEY = "clapldm_base"  # checkpoint entry: the init model's UNet hash and name


def load_vae_component(folder: str | Path, mel: MelConfig | None = None) -> AutoencoderKL:
    """A VAE component folder (config.json + model.safetensors [+ mel_config.json])."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder}: not a VAE component folder (no config.json)")
    try:
        config = VAEConfig.load(folder / "config.json")
    except ConfigError as exc:
        raise ModelLoadError(f"{folder}: {exc}") from None
    if (
        mel is not None
        and (folder / "mel_config.json").is_file()
        and MelConfig.load(folder / "mel_config.json") != mel
    ):
        raise ModelLoadError(
            f"{folder}: the VAE was trained with a different mel config than this run's"
        )
    vae = AutoencoderKL(config)
    load_into(vae, load_weights(folder / "model.safetensors"), folder)
    return vae.eval().requires_grad_(False)


class _Frozen:
    """Holder that keeps frozen models out of the LightningModule's module tree."""

    def __init__(self, vae: AutoencoderKL | None, clap: TextAudioEncoder | None) -> None:
        self.vae = vae
        self.clap = clap

    def to(self, device: torch.device) -> None:
        if self.vae is not None:
            self.vae.to(device)
        if self.clap is not None:
            self.clap.to(device)


class LdmModule(StageModule):
    """LightningModule of the LDM stage.

    Batch from audio: {"wave": (B, S), "caption": list[str]}; from pre-encoded shards:
    {"latent": (B, C, T', F') unscaled, "audio_embed": (B, D), "text_embed": (B, D),
    "has_text": (B,) bool}.
    """

    scale_factor: torch.Tensor
    uncond_embed: torch.Tensor
    alphas_cumprod: torch.Tensor

    def __init__(
        self,
        run: TrainingRun,
        preencoded: dict[str, Any] | None = None,
        *,
        init_model: Any = None,
        load_init: bool = True,
    ) -> None:
        """``init_model``: the model ``ldm.init`` names, when the caller has loaded it
        already. ``load_init=False`` (export) builds the UNet shape only: the weights come
        from a checkpoint."""
        super().__init__(run)
        self.options: LdmTrainConfig = run.options
        self.preencoded = preencoded
        init = None
        if self.options.init and load_init:
            init = init_model if init_model is not None else load_init_model(self.options)
            _check_init(run, init)
        self.unet = init.unet if init is not None else AudioLDMUNet(run.model)
        self.unet.train().requires_grad_(True)
        # The identity of the base UNet (adapters record it; a resumed run checks it).
        self.base_hash = unet_hash(self.unet) if init is not None else ""
        self.base_name = (init.name or self.options.init) if init is not None else ""
        if preencoded is None:
            vae, clap = self._frozen_parts(init)
            clap.requires_grad_(False)  # type: ignore[attr-defined]
            self.frozen = _Frozen(vae, clap)
            vae_config = vae.config
            cond_dim = clap.embed_dim
            with torch.no_grad():
                uncond = clap.embed_text([""])[0].float().cpu()
        else:
            self.frozen = _Frozen(None, None)
            vae_config = VAEConfig.from_dict(preencoded["vae_config"])
            uncond = torch.tensor(preencoded["uncond_embed"], dtype=torch.float32)
            cond_dim = uncond.shape[0]
            if MelConfig.from_dict(preencoded["mel"]) != run.mel:
                raise ConfigError(
                    "the pre-encoded data was made with a different mel config than this run's"
                )
            if init is not None:
                _check_preencoded(preencoded, init)
        self.vae_config = vae_config
        if (
            run.model.in_channels != vae_config.z_channels
            or run.model.out_channels != vae_config.z_channels
        ):
            raise ConfigError(
                f"UNet channels {run.model.in_channels} != VAE latent channels {vae_config.z_channels}"
            )
        if run.model.cond_dim != cond_dim:
            raise ConfigError(
                f"UNet cond_dim {run.model.cond_dim} != CLAP embedding size {cond_dim}"
            )
        self.vae_factor = 2 ** (len(vae_config.ch_mult) - 1)
        multiple = self.vae_factor * run.model.latent_multiple
        if (run.mel.n_mels // self.vae_factor) % run.model.latent_multiple:
            raise ConfigError(
                f"{run.mel.n_mels // self.vae_factor} latent bins are not a multiple of "
                f"the UNet's {run.model.latent_multiple}"
            )
        self.frames = mel_frames_for(
            run.train.segment_seconds, run.mel.hop_length, run.mel.sample_rate, multiple
        )
        self.mel = MelFrontEnd(run.mel)
        self.register_buffer(
            "alphas_cumprod", alphas_cumprod(run.scheduler).float(), persistent=False
        )
        scale = self.options.scale_factor
        if init is not None and scale == 0.0:
            scale = init.vae.config.scale_factor
        self.register_buffer("scale_factor", torch.tensor(float(scale)))
        self.register_buffer("uncond_embed", uncond, persistent=False)
        self.lora = lora_spec(self.options)
        if self.lora is not None:
            layers = add_adapter(self.unet, self.lora)
            logger.info("LoRA rank %d on %d UNet layers", self.lora.rank, len(layers))
        self.setup_ema()

    def _frozen_parts(self, init: Any) -> tuple[AutoencoderKL, TextAudioEncoder]:
        """The VAE and CLAP that encode the training clips: ldm.vae / ldm.clap when set,
        else the init model's."""
        options = self.options
        if init is None and (not options.vae or not options.clap):
            raise ConfigError(
                "the ldm stage needs ldm.vae and ldm.clap folders, ldm.init, or pre-encoded data"
            )
        vae = load_vae_component(options.vae, self.run.mel) if options.vae else init.vae
        clap = load_clap(options.clap) if options.clap else init.clap
        if options.condition != "text" and not getattr(clap, "has_audio_tower", True):
            raise ConfigError(
                f"{options.clap or options.init}: its CLAP has no audio tower (diffusers "
                "AudioLDM folders ship the text tower only), so it cannot embed uncaptioned "
                "clips; train on captions (--set ldm.condition=text with a captioned "
                "manifest) or name a CLAP with an audio tower (--set ldm.clap=FOLDER)"
            )
        return vae.eval().requires_grad_(False), clap

    # ------------------------------------------------------------------ geometry
    def trained_module(self) -> nn.Module:
        return self.unet

    def segment_samples(self) -> int:
        return self.frames * self.run.mel.hop_length

    @property
    def latent_frames(self) -> int:
        return self.frames // self.vae_factor

    def requires_caption(self) -> bool:
        return self.options.condition != "audio"

    def on_fit_start(self) -> None:
        super().on_fit_start()
        self.frozen.to(self.device)

    def configure_optimizers(self) -> Any:
        # LoRA: only the adapters require grad, so the optimiser state is theirs alone.
        trainable = [p for p in self.unet.parameters() if p.requires_grad]
        optimizer = make_adam(trainable, self.run.train.lr, self.run)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(self.run))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # ------------------------------------------------------------------ conditioning
    @torch.no_grad()
    def encode_batch(
        self, batch: dict[str, Any], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """-> (unscaled latents (B, C, T', F'), audio embeddings (B, D) or None when the
        condition is text only, text embeddings (B, D) or None when it never uses text)."""
        needs_text = self.options.condition != "audio"
        if "latent" in batch:
            text = batch["text_embed"].float() if needs_text else None
            if needs_text and not bool(batch["has_text"].all()):
                raise DataError(
                    "a pre-encoded clip has no caption embedding, but ldm.condition uses text"
                )
            return batch["latent"].float(), batch["audio_embed"].float(), text
        vae, clap = self.frozen.vae, self.frozen.clap
        assert vae is not None and clap is not None
        wave = batch["wave"]
        mel = self.mel(wave, normalize=False)[:, : self.frames].unsqueeze(1)  # (B, 1, T, F)
        posterior = vae.encode(mel)
        latents = posterior.sample(generator) if self.options.sample_posterior else posterior.mode()
        audio = None
        if self.options.condition != "text":  # a text-only CLAP has no audio tower
            audio = clap.embed_audio(wave, self.run.mel.sample_rate).float().to(self.device)
        text = None
        if needs_text:
            captions = list(batch["caption"])
            if any(not c for c in captions):
                raise DataError("a training clip has no caption, but ldm.condition uses text")
            text = clap.embed_text(captions).float().to(self.device)
        return latents, audio, text

    def choose_condition(
        self, audio: torch.Tensor | None, text: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        """Per item: audio / text / mixed, then condition dropout -> (B, D)."""
        if self.options.condition == "text":
            assert text is not None
            cond = text
        else:
            assert audio is not None
            cond = audio
        batch = cond.shape[0]
        if self.options.condition == "mixed":
            assert text is not None and audio is not None
            use_text = torch.rand(batch, generator=generator) < self.options.text_probability
            cond = torch.where(use_text.to(self.device)[:, None], text, audio)
        drop = torch.rand(batch, generator=generator) < self.options.cond_dropout
        return torch.where(
            drop.to(self.device)[:, None], self.uncond_embed[None, :].to(cond.dtype), cond
        )

    @torch.no_grad()
    def _init_scale_factor(self, latents: torch.Tensor) -> None:
        std = self.gather(latents.float().std()).mean()
        self.scale_factor.fill_(1.0 / float(std.clamp(min=1e-6)))
        logger.info("scale_factor set from the first batch: %.6f", float(self.scale_factor))

    # --------------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        generator = self.step_generator()
        latents, audio, text = self.encode_batch(batch, generator)
        if float(self.scale_factor) == 0.0:
            self._init_scale_factor(latents)
        z0 = latents * self.scale_factor
        cond = self.choose_condition(audio, text, generator)
        batch_size = z0.shape[0]
        timesteps = torch.randint(
            0, self.run.scheduler.num_train_timesteps, (batch_size,), generator=generator
        )
        noise = torch.randn(z0.shape, generator=generator).to(self.device, z0.dtype)
        timesteps = timesteps.to(self.device)
        a = self.alphas_cumprod[timesteps][:, None, None, None]
        noisy = a.sqrt() * z0 + (1.0 - a).sqrt() * noise
        loss = eps_mse(self.unet(noisy, timesteps, cond), noise)
        self.check_finite(loss)
        self.log_losses({"loss": loss, "scale_factor": self.scale_factor})
        return loss

    # ------------------------------------------------------------------ checkpoints
    def _frozen_keys(self) -> list[str]:
        """LoRA: the base UNet's weights (re-loaded from ldm.init, not checkpointed)."""
        if self.lora is None:
            return []
        trainable = {f"unet.{n}" for n, p in self.unet.named_parameters() if p.requires_grad}
        return [k for k in self.state_dict() if k.startswith("unet.") and k not in trainable]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        for key in self._frozen_keys():
            checkpoint["state_dict"].pop(key, None)
        if self.options.init:
            checkpoint[BASE_KEY] = {"unet_hash": self.base_hash, "name": self.base_name}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(BASE_KEY, {})
        if self.base_hash and saved.get("unet_hash") and saved["unet_hash"] != self.base_hash:
            raise ConfigError(
                f"ldm.init {self.options.init!r} is not the model this run started from "
                f"(UNet {self.base_hash}, the checkpoint says {saved['unet_hash']})"
            )
        if not self.base_hash:  # export without the init model: take the recorded identity
            self.base_hash = str(saved.get("unet_hash", ""))
            self.base_name = str(saved.get("name", ""))
        state = checkpoint["state_dict"]
        current = self.state_dict()
        for key in self._frozen_keys():
            state.setdefault(key, current[key])
        super().on_load_checkpoint(checkpoint)

    # ------------------------------------------------------------------------ export
    def export_meta(self) -> dict[str, Any]:
        return {
            "scale_factor": float(self.scale_factor),
            "vae": self.options.vae,
            "clap": self.options.clap,
            "vocoder": self.options.vocoder,
            "condition": self.options.condition,
            "cond_dropout": self.options.cond_dropout,
            "train_step": self.train_step,
            "mel": self.run.mel.to_dict(),
            "scheduler": self.run.scheduler.to_dict(),
            "name": self.options.name,
            "max_duration": self.options.max_duration,
            "ema": self.ema is not None,
            "init": self.options.init,
        }

    def export(self, folder: Path, use_ema: bool = True) -> None:
        """UNet component folder (EMA weights) + ``ldm.json`` (scale_factor and the VAE /
        CLAP / vocoder it was trained with, for `assemble`)."""
        if float(self.scale_factor) == 0.0 or not math.isfinite(float(self.scale_factor)):
            raise ModelLoadError("this LDM run has no scale_factor yet (it has not trained a step)")
        save_component(folder, self.run.model, self.module_for_export(use_ema))
        write_json_atomic(folder / LDM_META_FILE, self.export_meta())


def _check_init(run: TrainingRun, init: Any) -> None:
    """The run's model / mel config must be the init model's (a resumed run whose init
    model changed shape stops here)."""
    if init.unet.config != run.model or init.mel_config != run.mel:
        what = "UNet" if init.unet.config != run.model else "mel"
        raise ConfigError(
            f"ldm.init {run.options.init!r}: its {what} config differs from the run's "
            "(build fine-tuning runs with --init, which takes them from the model)"
        )


def _check_preencoded(meta: dict[str, Any], init: Any) -> None:
    """Pre-encoded latents must come from the init model's VAE and CLAP."""
    same_vae = VAEConfig.from_dict(meta["vae_config"]) == init.vae.config
    with torch.no_grad():
        uncond = init.clap.embed_text([""])[0].float().cpu()
    saved = torch.tensor(meta["uncond_embed"], dtype=torch.float32)
    if not same_vae or saved.shape != uncond.shape or not torch.allclose(saved, uncond, atol=1e-4):
        raise ConfigError(
            "the pre-encoded data was made with another model's VAE or CLAP than ldm.init's; "
            "pre-encode it with `clapldm preencode --init` and the same model"
        )


def read_ldm_meta(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / LDM_META_FILE
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: unreadable ({exc})") from None


__all__ = ["LDM_META_FILE", "LdmModule", "load_vae_component", "read_ldm_meta"]
