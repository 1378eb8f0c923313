"""Discriminators for adversarial training (training only; no pipeline uses them).

- `MultiPeriodDiscriminator` and `MultiScaleDiscriminator`: HiFi-GAN's (Kong et al. 2020,
  arXiv 2010.05646, section 2.2-2.3) for the vocoder. Each returns, per sub-discriminator,
  the logits and the feature maps that the feature-matching loss compares.
- `PatchDiscriminator`: the PatchGAN of pix2pix / taming-transformers
  ("NLayerDiscriminator") that AudioLDM's VAE loss uses on the log-mel image.

Channel widths are arguments (defaults: the published sizes), so tests can build tiny ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

LRELU_SLOPE = 0.1  # HiFi-GAN discriminators
PATCH_LRELU_SLOPE = 0.2  # PatchGAN

Logits = list[torch.Tensor]
FeatureMaps = list[list[torch.Tensor]]


class PeriodDiscriminator(nn.Module):
    """Views a waveform (B, 1, T) as a 2-D (B, 1, T/p, p) image and applies (k, 1) convs,
    so each column sees every p-th sample. Returns (logits (B, N), feature maps)."""

    def __init__(
        self,
        period: int,
        channels: tuple[int, ...] = (32, 128, 512, 1024, 1024),
        kernel_size: int = 5,
        stride: int = 3,
    ) -> None:
        super().__init__()
        self.period = period
        widths = (1, *channels)
        pad = (kernel_size - 1) // 2
        self.convs = nn.ModuleList(
            weight_norm(
                nn.Conv2d(
                    widths[i],
                    widths[i + 1],
                    (kernel_size, 1),
                    (stride if i < len(channels) - 1 else 1, 1),
                    padding=(pad, 0),
                )
            )
            for i in range(len(channels))
        )
        self.conv_post = weight_norm(nn.Conv2d(channels[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        batch, chans, length = wave.shape
        if length % self.period:
            pad = self.period - length % self.period
            wave = F.pad(wave, (0, pad), mode="reflect" if length > pad else "constant")
            length += pad
        x = wave.view(batch, chans, length // self.period, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return torch.flatten(x, 1, -1), features


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN MPD: one `PeriodDiscriminator` per period (2, 3, 5, 7, 11: primes, so the
    sub-discriminators look at disjoint sample patterns)."""

    def __init__(
        self,
        periods: tuple[int, ...] = (2, 3, 5, 7, 11),
        channels: tuple[int, ...] = (32, 128, 512, 1024, 1024),
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, channels) for p in periods)

    def forward(self, wave: torch.Tensor) -> tuple[Logits, FeatureMaps]:
        """wave (B, 1, T) -> (logits per period, feature maps per period)."""
        logits, features = [], []
        for disc in self.discriminators:
            score, maps = disc(wave)
            logits.append(score)
            features.append(maps)
        return logits, features


# (kernel, stride, groups) of the MSD conv stack after its k15 input conv.
_MSD_LAYOUT = (
    (15, 1, 1),
    (41, 2, 4),
    (41, 2, 16),
    (41, 4, 16),
    (41, 4, 16),
    (41, 1, 16),
    (5, 1, 1),
)


class ScaleDiscriminator(nn.Module):
    """Grouped strided 1-D convs on a waveform (B, 1, T) -> (logits (B, N), feature maps)."""

    def __init__(
        self,
        channels: tuple[int, ...] = (128, 128, 256, 512, 1024, 1024, 1024),
        use_spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if len(channels) != len(_MSD_LAYOUT):
            raise ValueError(f"ScaleDiscriminator needs {len(_MSD_LAYOUT)} channel widths")
        norm = spectral_norm if use_spectral_norm else weight_norm
        widths = (1, *channels)
        self.convs = nn.ModuleList(
            norm(
                nn.Conv1d(
                    widths[i],
                    widths[i + 1],
                    kernel,
                    stride,
                    groups=groups if widths[i] % groups == 0 and widths[i + 1] % groups == 0 else 1,
                    padding=(kernel - 1) // 2,
                )
            )
            for i, (kernel, stride, groups) in enumerate(_MSD_LAYOUT)
        )
        self.conv_post = norm(nn.Conv1d(channels[-1], 1, 3, 1, padding=1))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, features = wave, []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return torch.flatten(x, 1, -1), features


class MultiScaleDiscriminator(nn.Module):
    """HiFi-GAN MSD: `ScaleDiscriminator` s on the raw waveform (spectral norm) and on x2,
    x4 average-pooled copies (weight norm)."""

    def __init__(
        self, scales: int = 3, channels: tuple[int, ...] = (128, 128, 256, 512, 1024, 1024, 1024)
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(channels, use_spectral_norm=(i == 0)) for i in range(scales)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, wave: torch.Tensor) -> tuple[Logits, FeatureMaps]:
        """wave (B, 1, T) -> (logits per scale, feature maps per scale)."""
        logits, features = [], []
        for index, disc in enumerate(self.discriminators):
            if index > 0:
                wave = self.pool(wave)
            score, maps = disc(wave)
            logits.append(score)
            features.append(maps)
        return logits, features


class PatchDiscriminator(nn.Module):
    """PatchGAN ("NLayerDiscriminator", taming-transformers): (B, C, H, W) -> (B, 1, h, w)
    logits, one per overlapping patch. ``n_layers`` stride-2 stages then two stride-1.

    BatchNorm as in the reference; conv weights N(0, 0.02), BN weights N(1, 0.02).
    """

    def __init__(self, in_channels: int = 1, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, 2, 1),
            nn.LeakyReLU(PATCH_LRELU_SLOPE, True),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * mult),
                nn.LeakyReLU(PATCH_LRELU_SLOPE, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False),
            nn.BatchNorm2d(ndf * mult),
            nn.LeakyReLU(PATCH_LRELU_SLOPE, True),
            nn.Conv2d(ndf * mult, 1, 4, 1, 1),
        ]
        self.main = nn.Sequential(*layers)
        self.apply(_patch_init)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.main(image)


def _patch_init(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


__all__ = [
    "MultiPeriodDiscriminator",
    "MultiScaleDiscriminator",
    "PatchDiscriminator",
    "PeriodDiscriminator",
    "ScaleDiscriminator",
]
