"""Mel-spectrogram AutoencoderKL (the LDM "first stage"), AudioLDM architecture.

Encoder: conv_in -> per level ``num_res_blocks`` ResnetBlocks + a stride-2 Downsample
(all but the last level) -> mid (res, single-head self-attention, res) -> GroupNorm,
SiLU, conv_out to 2 * z_channels (mean and log-variance). Decoder mirrors it with
``num_res_blocks + 1`` blocks per level and nearest x2 upsampling, and no output tanh.

Module and parameter names are identical to diffusers' ``AutoencoderKL`` state dict, so
a diffusers checkpoint loads without renaming (see ``checkpoints/keys_vae.py`` for the
original LDM naming). The mel enters as an image (B, 1, T, F): time on the height axis,
mel bins on the width axis; both are divided by 2 ** (len(ch_mult) - 1).

CPU inference runs channels-last (NHWC): oneDNN's 3x3 kernels are faster on it for the
wide, full-resolution decoder levels, GroupNorm / SiLU / nearest upsampling keep the
layout, and attention reads its (B, H*W, C) tokens as a view. Same function; results
differ from NCHW only by float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clapldm.config import VAEConfig
from clapldm.models.fused import conv_add, silu_norm, to_fast_layout


class DiagonalGaussian:
    """Posterior N(mean, exp(logvar)) over latents, from the encoder's 2 * z channels.

    parameters: (B, 2 * z, h, w); ``mean`` / ``logvar`` / ``std`` are (B, z, h, w).
    logvar is clamped to [-30, 20] like the reference, so std never under/overflows.
    """

    def __init__(self, parameters: torch.Tensor) -> None:
        self.parameters = parameters
        mean, logvar = torch.chunk(parameters, 2, dim=1)
        self.mean = mean
        self.logvar = torch.clamp(logvar, -30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """mean + std * noise, (B, z, h, w). Noise is drawn on the generator's device
        (CPU for a CPU generator) and moved, so a seed gives the same latent anywhere."""
        noise_device = generator.device if generator is not None else self.mean.device
        noise = torch.randn(
            self.mean.shape, generator=generator, device=noise_device, dtype=self.mean.dtype
        )
        return self.mean + self.std * noise.to(self.mean.device)

    def mode(self) -> torch.Tensor:
        """The posterior mean, (B, z, h, w): the deterministic encoding."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over (z, h, w): (B,)."""
        return 0.5 * torch.sum(self.mean.pow(2) + self.var - 1.0 - self.logvar, dim=(1, 2, 3))


class ResnetBlock(nn.Module):
    """GroupNorm -> SiLU -> conv3x3, twice, plus a (1x1-projected) skip. No time input."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, H, W) -> (B, out, H, W)."""
        h = self.conv1(silu_norm(self.norm1, x))
        skip = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return conv_add(skip, silu_norm(self.norm2, h), self.conv2)


class SelfAttention(nn.Module):
    """Single-head self-attention over all H*W positions, with a residual connection.

    Linear projections (diffusers layout); the original LDM stores them as 1x1 convs.
    """

    def __init__(self, channels: int, groups: int, eps: float) -> None:
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=eps)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        batch, channels, height, width = x.shape
        h = self.group_norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C)
        q = self.to_q(h).unsqueeze(1)  # (B, 1, H*W, C): one head
        k = self.to_k(h).unsqueeze(1)
        v = self.to_v(h).unsqueeze(1)
        attended = F.scaled_dot_product_attention(q, k, v).squeeze(1)  # (B, H*W, C)
        out = self.to_out[0](attended)
        return x + out.transpose(1, 2).reshape(batch, channels, height, width)


class Downsample(nn.Module):
    """Pad right/bottom by one, then 3x3 conv stride 2: (B, C, H, W) -> (B, C, H/2, W/2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest x2 then 3x3 conv: (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One encoder / decoder level: ``resnets`` then an optional resampler, kept in a
    list under the name diffusers uses (``downsamplers.0`` / ``upsamplers.0``)."""

    resampler_name: str
    resampler: type[nn.Module]

    def __init__(
        self, in_channels: int, out_channels: int, num_layers: int, resample: bool, cfg: VAEConfig
    ) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(
            ResnetBlock(
                in_channels if i == 0 else out_channels, out_channels, cfg.norm_groups, cfg.norm_eps
            )
            for i in range(num_layers)
        )
        resamplers = [self.resampler(out_channels)] if resample else []
        setattr(self, self.resampler_name, nn.ModuleList(resamplers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        for layer in getattr(self, self.resampler_name):
            x = layer(x)
        return x


class DownBlock(_Level):
    resampler_name, resampler = "downsamplers", Downsample


class UpBlock(_Level):
    resampler_name, resampler = "upsamplers", Upsample


class MidBlock(nn.Module):
    """res -> (single-head attention) -> res at the lowest resolution."""

    def __init__(self, channels: int, cfg: VAEConfig) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(
            ResnetBlock(channels, channels, cfg.norm_groups, cfg.norm_eps) for _ in range(2)
        )
        self.attentions = nn.ModuleList(
            [SelfAttention(channels, cfg.norm_groups, cfg.norm_eps)] if cfg.mid_attention else []
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x)
        for attention in self.attentions:
            x = attention(x)
        return self.resnets[1](x)


class Encoder(nn.Module):
    """(B, in_channels, T, F) -> (B, 2 * z_channels, T / 2^(L-1), F / 2^(L-1))."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        widths = [cfg.ch * mult for mult in cfg.ch_mult]
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            DownBlock(
                widths[max(level - 1, 0)],
                widths[level],
                cfg.num_res_blocks,
                resample=level < len(widths) - 1,
                cfg=cfg,
            )
            for level in range(len(widths))
        )
        self.mid_block = MidBlock(widths[-1], cfg)
        self.conv_norm_out = nn.GroupNorm(cfg.norm_groups, widths[-1], eps=cfg.norm_eps)
        self.conv_out = nn.Conv2d(widths[-1], 2 * cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(to_fast_layout(x))
        for block in self.down_blocks:
            h = block(h)
        h = self.mid_block(h)
        return self.conv_out(silu_norm(self.conv_norm_out, h)).contiguous()


class Decoder(nn.Module):
    """(B, z_channels, h, w) -> (B, out_channels, h * 2^(L-1), w * 2^(L-1)).

    ``up_blocks.0`` is the deepest (widest) level, as in diffusers.
    """

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        widths = [cfg.ch * mult for mult in reversed(cfg.ch_mult)]  # deepest first
        self.conv_in = nn.Conv2d(cfg.z_channels, widths[0], 3, padding=1)
        self.mid_block = MidBlock(widths[0], cfg)
        self.up_blocks = nn.ModuleList(
            UpBlock(
                widths[max(index - 1, 0)],
                widths[index],
                cfg.num_res_blocks + 1,
                resample=index < len(widths) - 1,
                cfg=cfg,
            )
            for index in range(len(widths))
        )
        self.conv_norm_out = nn.GroupNorm(cfg.norm_groups, widths[-1], eps=cfg.norm_eps)
        self.conv_out = nn.Conv2d(widths[-1], cfg.out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid_block(self.conv_in(to_fast_layout(z)))
        for block in self.up_blocks:
            h = block(h)
        return self.conv_out(silu_norm(self.conv_norm_out, h))


class AutoencoderKL(nn.Module):
    """KL-regularised mel autoencoder.

    ``encode``: mel (B, 1, T, F) -> DiagonalGaussian over (B, z, T/d, F/d) with
    d = 2 ** (len(ch_mult) - 1) (AudioLDM: d = 4, 1024x64 mel -> 8x256x16 latent).
    ``decode``: (B, z, T/d, F/d) -> mel (B, 1, T, F). T and F must be multiples of d.
    The diffusion model works on ``config.scale_factor * latent``; scaling is the caller's.
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quant_conv = nn.Conv2d(2 * config.z_channels, 2 * config.z_channels, 1)
        self.post_quant_conv = nn.Conv2d(config.z_channels, config.z_channels, 1)

    @property
    def downsample_factor(self) -> int:
        """How much T and F shrink from mel to latent."""
        return 2 ** (len(self.config.ch_mult) - 1)

    def encode(self, mel: torch.Tensor) -> DiagonalGaussian:
        """mel (B, in_channels, T, F) -> posterior over latents (B, z, T/d, F/d)."""
        return DiagonalGaussian(self.quant_conv(self.encoder(mel)))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (B, z, h, w) (unscaled) -> mel (B, out_channels, h * d, w * d)."""
        return self.decoder(self.post_quant_conv(latents))

    def forward(
        self,
        mel: torch.Tensor,
        *,
        sample_posterior: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Reconstruct (training): mel (B, 1, T, F) -> (reconstruction (B, 1, T, F), posterior)."""
        posterior = self.encode(mel)
        latents = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(latents), posterior
