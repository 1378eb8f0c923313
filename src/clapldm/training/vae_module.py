"""Stage "vae": train the mel AutoencoderKL (AudioLDM's first stage).

Generator loss (AudioLDM / taming-transformers "LPIPSWithDiscriminator", with a
multi-resolution mel loss in place of LPIPS)::

    rec  = mean |mel - mel^|                 (log-mel L1)
         + spectral_weight * multiresolution_mel_loss
    loss = rec + kl_weight * KL + [step >= disc_start] * disc_weight * lambda * (-E D(mel^))

with lambda the adaptive weight ||grad rec|| / ||grad g|| at the decoder's last layer.
The PatchGAN discriminator trains with the hinge loss. Before ``disc_start`` its
optimiser still steps with zero gradients (exactly what the reference's disc_factor 0
does), which keeps two optimiser steps per training step at every precision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from clapldm.audio.mel import MelFrontEnd
from clapldm.checkpoints.native import load_into, load_weights, save_component
from clapldm.config import VAEConfig
from clapldm.errors import ConfigError
from clapldm.models.discriminators import PatchDiscriminator
from clapldm.models.vae import AutoencoderKL
from clapldm.training.common import StageModule, lr_lambda, make_adam, mel_frames_for
from clapldm.training.config import TrainingRun, VaeTrainConfig
from clapldm.training.losses import (
    adaptive_weight,
    hinge_d_loss,
    kl_per_element,
    multiresolution_mel_loss,
)


def initial_vae_weights(init: str, config: VAEConfig) -> dict[str, torch.Tensor] | None:
    """Weights of the VAE component folder named by ``vae.init`` (None for "").

    The folder's config must equal the training model's, its ``scale_factor`` aside (the
    LDM stage measures that again)."""
    if not init:
        return None
    folder = Path(init)
    folder_config = VAEConfig.load(folder / "config.json")
    if folder_config.replace(scale_factor=config.scale_factor) != config:
        raise ConfigError(f"{folder}: its VAE config differs from the training config's model")
    return load_weights(folder / "model.safetensors")


class VaeModule(StageModule):
    """LightningModule of the VAE stage. Batch: {"wave": (B, S)} (normalised)."""

    def __init__(self, run: TrainingRun) -> None:
        super().__init__(run)
        self.options: VaeTrainConfig = run.options
        self.vae = AutoencoderKL(run.model)
        state = initial_vae_weights(self.options.init, run.model)
        if state is not None:
            load_into(self.vae, state, Path(self.options.init))
        if self.options.decoder_only:
            self.vae.encoder.requires_grad_(False)
            self.vae.quant_conv.requires_grad_(False)
        self.mel = MelFrontEnd(run.mel)
        factor = self.vae.downsample_factor
        if run.mel.n_mels % factor:
            raise ValueError(
                f"{run.mel.n_mels} mel bins are not divisible by the VAE factor {factor}"
            )
        self.frames = mel_frames_for(
            run.train.segment_seconds, run.mel.hop_length, run.mel.sample_rate, factor
        )
        self.use_disc = self.options.disc_weight > 0
        if self.use_disc:
            self.discriminator = PatchDiscriminator(
                run.model.out_channels, self.options.disc_channels, self.options.disc_layers
            )
            self.optimizers_per_step = 2
        self.automatic_optimization = False
        self.setup_ema()

    def trained_module(self) -> nn.Module:
        return self.vae

    def segment_samples(self) -> int:
        return self.frames * self.run.mel.hop_length

    def configure_optimizers(self) -> Any:
        train = self.run.train
        opt_g = make_adam([p for p in self.vae.parameters() if p.requires_grad], train.lr, self.run)
        optimizers = [opt_g]
        if self.use_disc:
            optimizers.append(
                make_adam(
                    self.discriminator.parameters(), self.options.disc_lr or train.lr, self.run
                )
            )
        schedulers = [
            torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(self.run)) for opt in optimizers
        ]
        return optimizers, schedulers

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, S) normalised wave -> (B, 1, frames, n_mels) log-mel image."""
        return self.mel(wave, normalize=False)[:, : self.frames].unsqueeze(1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        step = self.train_step
        generator = self.step_generator()
        optimizers = self.optimizer_list()
        opt_g = optimizers[0]

        mel = self.log_mel(batch["wave"])
        if step == 0 and self.options.init_output_bias and not self.options.init:
            self._init_output_bias(mel)
        recon, posterior = self.vae(
            mel, sample_posterior=self.options.sample_posterior, generator=generator
        )
        rec = (mel - recon).abs().mean()
        nll = rec
        spectral = torch.zeros((), device=mel.device)
        if self.options.spectral_weight > 0:
            spectral = multiresolution_mel_loss(mel, recon, self.options.spectral_scales)
            nll = nll + self.options.spectral_weight * spectral
        kl = kl_per_element(posterior)
        loss = nll + self.options.kl_weight * kl
        disc_active = self.use_disc and step >= self.options.disc_start
        g_loss = torch.zeros((), device=mel.device)
        d_weight = torch.zeros((), device=mel.device)
        if disc_active:
            g_loss = -self.discriminator(recon).mean()
            last_layer = self.vae.decoder.conv_out.weight
            d_weight = adaptive_weight(nll, g_loss, last_layer) * self.options.disc_weight
            loss = loss + d_weight * g_loss
        self.check_finite(loss)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self._clip(opt_g)
        opt_g.step()

        values: dict[str, Any] = {"loss": loss, "rec": rec, "kl": kl}
        if self.options.spectral_weight > 0:
            values["spectral"] = spectral
        if self.use_disc:
            opt_d = optimizers[1]
            opt_d.zero_grad(set_to_none=True)
            if disc_active:
                logits_real = self.discriminator(mel.detach())
                logits_fake = self.discriminator(recon.detach())
                d_loss = hinge_d_loss(logits_real, logits_fake)
                values.update(d_loss=d_loss, g_loss=g_loss, d_weight=d_weight)
            else:  # zero gradients: the optimiser steps (counted) but nothing moves
                d_loss = torch.stack([p.sum() for p in self.discriminator.parameters()]).sum() * 0.0
            self.manual_backward(d_loss)
            opt_d.step()
        for scheduler in self.scheduler_list():
            scheduler.step()
        self.log_losses(values)

    @torch.no_grad()
    def _init_output_bias(self, mel: torch.Tensor) -> None:
        """Data-dependent init (fresh runs only: step 0 is never replayed by a resume)."""
        level = self.gather(mel.mean()).mean()
        bias = self.vae.decoder.conv_out.bias
        assert bias is not None
        bias.fill_(float(level))

    def _clip(self, optimizer: Any) -> None:
        if self.run.train.grad_clip > 0:
            self.clip_gradients(
                optimizer,
                gradient_clip_val=self.run.train.grad_clip,
                gradient_clip_algorithm="norm",
            )

    def export(self, folder: Path, use_ema: bool = True) -> None:
        vae = self.module_for_export(use_ema)
        save_component(folder, self.run.model, vae, self.run.mel)


__all__ = ["VaeModule"]
