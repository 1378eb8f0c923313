"""HiFi-GAN V1 generator (Kong et al. 2020, arXiv 2010.05646): log-mel -> waveform.

conv_pre (k7) -> per upsampling stage: LeakyReLU -> ConvTranspose1d (halves channels,
multiplies time by the rate) -> mean of the multi-receptive-field ResBlock1 outputs
(one per kernel size) -> LeakyReLU(0.01) -> conv_post (k7, 1 channel) -> tanh.

Names follow the original jik876 implementation (``conv_pre``, ``ups.{i}``,
``resblocks.{k}.convs1.{j}``, ``resblocks.{k}.convs2.{j}``, ``conv_post``); weights are
plain tensors (weight norm folded in at import, see ``checkpoints/keys_vocoder.py``).
Training can re-apply weight norm with `HifiGan.apply_weight_norm`. The padding
arithmetic and the final 0.01 slope match transformers' ``SpeechT5HifiGan`` exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from clapldm.config import HifiGanConfig

# The last activation uses F.leaky_relu's default slope in every reference implementation.
FINAL_LEAKY_SLOPE = 0.01


def _same_padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """HiFi-GAN ResBlock1: for each dilation d, x += conv_d1(lrelu(conv_dd(lrelu(x))))."""

    def __init__(
        self, channels: int, kernel_size: int, dilations: tuple[int, ...], slope: float
    ) -> None:
        super().__init__()
        self.slope = slope
        self.convs1 = nn.ModuleList(
            nn.Conv1d(
                channels,
                channels,
                kernel_size,
                dilation=dilation,
                padding=_same_padding(kernel_size, dilation),
            )
            for dilation in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size, 1))
            for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B, C, L)."""
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            h = conv1(F.leaky_relu(x, self.slope))
            h = conv2(F.leaky_relu(h, self.slope))
            x = x + h
        return x


class HifiGan(nn.Module):
    """HiFi-GAN generator: mel (B, frames, num_mels) -> waveform (B, samples).

    The input is the natural-log magnitude mel of the matching `MelFrontEnd`, time-major.
    ``samples = num_samples(frames)``, which is ``frames * hop_length`` when every
    upsampling kernel minus its rate is even (universal V1); AudioLDM's (5,4,2,2,2) /
    (16,16,8,4,4) gives ``160 * frames + 32``: trim to the wanted duration.
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, config: HifiGanConfig) -> None:
        super().__init__()
        if len(config.upsample_rates) != len(config.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        if len(config.resblock_kernel_sizes) != len(config.resblock_dilations):
            raise ValueError("resblock_kernel_sizes and resblock_dilations differ in length")
        self.config = config
        channels = config.upsample_initial_channel
        self.conv_pre = nn.Conv1d(config.num_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for stage, (rate, kernel) in enumerate(
            zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True)
        ):
            in_channels = channels // 2**stage
            out_channels = channels // 2 ** (stage + 1)
            self.ups.append(
                nn.ConvTranspose1d(
                    in_channels, out_channels, kernel, stride=rate, padding=(kernel - rate) // 2
                )
            )
            for res_kernel, dilations in zip(
                config.resblock_kernel_sizes, config.resblock_dilations, strict=True
            ):
                self.resblocks.append(
                    ResBlock1(out_channels, res_kernel, dilations, config.leaky_relu_slope)
                )
        final_channels = channels // 2 ** len(config.upsample_rates)
        self.conv_post = nn.Conv1d(final_channels, 1, 7, padding=3)
        if config.normalize_before:
            self.register_buffer("mean", torch.zeros(config.num_mels))
            self.register_buffer("scale", torch.ones(config.num_mels))

    def num_samples(self, frames: int) -> int:
        """Exact output length for ``frames`` input frames."""
        length = frames
        for rate, kernel in zip(
            self.config.upsample_rates, self.config.upsample_kernel_sizes, strict=True
        ):
            length = (length - 1) * rate - 2 * ((kernel - rate) // 2) + kernel
        return length

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, frames, num_mels) natural-log mel -> waveform (B, num_samples(frames))."""
        if self.config.normalize_before:
            mel = (mel - self.mean) / self.scale
        x = self.conv_pre(mel.transpose(1, 2))  # (B, C, frames)
        num_kernels = len(self.config.resblock_kernel_sizes)
        for stage, upsample in enumerate(self.ups):
            x = upsample(F.leaky_relu(x, self.config.leaky_relu_slope))
            first = stage * num_kernels
            branches = self.resblocks[first](x)
            for index in range(first + 1, first + num_kernels):
                branches = branches + self.resblocks[index](x)
            x = branches / num_kernels
        x = self.conv_post(F.leaky_relu(x, FINAL_LEAKY_SLOPE))
        return torch.tanh(x).squeeze(1)

    def _weight_layers(self) -> list[nn.Module]:
        layers: list[nn.Module] = [self.conv_pre, *self.ups, self.conv_post]
        for block in self.resblocks:
            if isinstance(block, ResBlock1):
                layers.extend([*block.convs1, *block.convs2])
        return layers

    def apply_weight_norm(self) -> None:
        """Re-parametrise every conv as g * v / ||v|| (dim 0) for training."""
        for layer in self._weight_layers():
            nn.utils.parametrizations.weight_norm(layer, name="weight", dim=0)

    def remove_weight_norm(self) -> None:
        """Fold weight norm back into plain ``weight`` tensors (inference layout)."""
        for layer in self._weight_layers():
            if parametrize.is_parametrized(layer, "weight"):
                parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
