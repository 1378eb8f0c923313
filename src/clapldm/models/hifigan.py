"""HiFi-GAN V1 generator (Kong et al. 2020, arXiv 2010.05646): log-mel -> waveform.

conv_pre (k7) -> per upsampling stage: LeakyReLU -> ConvTranspose1d (halves channels,
multiplies time by the rate) -> mean of the multi-receptive-field ResBlock1 outputs
(one per kernel size) -> LeakyReLU(0.01) -> conv_post (k7, 1 channel) -> tanh.

Names follow the original jik876 implementation (``conv_pre``, ``ups.{i}``,
``resblocks.{k}.convs1.{j}``, ``resblocks.{k}.convs2.{j}``, ``conv_post``); weights are
plain tensors (weight norm folded in at import, see ``checkpoints/keys_vocoder.py``).
Training can re-apply weight norm with `HifiGan.apply_weight_norm`. The padding
arithmetic and the final 0.01 slope match transformers' ``SpeechT5HifiGan`` exactly.

bf16 inference on the CPU (no autograd) takes a fused path that computes the same function:
each conv runs as one oneDNN primitive with its LeakyReLU or residual add applied to the
output (`torch.ops.mkldnn._convolution_pointwise`), the stage input's LeakyReLU is
computed once for the three ResBlocks, and activations stay channels-last (about 10%
faster than the plain bf16 ops at AudioLDM-S size). fp32 keeps the plain ops: the fused
path measured no faster there. `_forward_fused` also runs in fp32 (tests compare it with
the plain path); results differ only by float rounding.
"""

from __future__ import annotations

from typing import cast

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
        if self._can_fuse(mel):
            return self._forward_fused(mel)
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

    def _can_fuse(self, mel: torch.Tensor) -> bool:
        """The fused path: CPU, no autograd, oneDNN present, bf16 (autocast or input).

        In fp32 it measured no faster than the plain ops at AudioLDM-S size (5.6-6.0 s
        either way, within run-to-run noise), so fp32 keeps the plain path."""
        bf16 = mel.dtype == torch.bfloat16 or (
            torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        )
        return (
            mel.device.type == "cpu"
            and bf16
            and not torch.is_grad_enabled()
            and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and all(isinstance(block, ResBlock1) for block in self.resblocks)
        )

    def _forward_fused(self, mel: torch.Tensor) -> torch.Tensor:
        """`forward` for inference on the CPU; tensors are (B, C, 1, L) inside.

        Under CPU autocast the convs run in the autocast dtype, as in the plain path.
        """
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else mel.dtype
        slope = self.config.leaky_relu_slope
        num_kernels = len(self.config.resblock_kernel_sizes)
        with torch.autocast("cpu", enabled=False):
            x = _conv(mel.transpose(1, 2).unsqueeze(2).to(dtype), self.conv_pre, dtype)
            for stage, upsample in enumerate(self.ups):
                up = cast(nn.ConvTranspose1d, upsample)
                x = _conv_transpose(F.leaky_relu(x, slope), up, dtype)
                if dtype == torch.float32:  # bf16: stay channels-last (~10% faster)
                    x = x.contiguous()
                activated = F.leaky_relu(x, slope)  # every ResBlock's first input
                total: torch.Tensor | None = None
                for block in self.resblocks[stage * num_kernels : (stage + 1) * num_kernels]:
                    branch = _resblock_fused(cast(ResBlock1, block), x, activated, dtype)
                    total = branch if total is None else total.add_(branch)
                assert total is not None
                x = total.div_(num_kernels)
            x = _conv(F.leaky_relu(x, FINAL_LEAKY_SLOPE), self.conv_post, dtype, "tanh")
        return x.reshape(x.shape[0], -1)

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


# --------------------------------------------------------------------------------------
# Fused CPU inference helpers: 1-D convs as (B, C, 1, L) oneDNN convs with post-ops.
# --------------------------------------------------------------------------------------


def _params(
    conv: nn.Conv1d | nn.ConvTranspose1d, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor | None]:
    weight = conv.weight.to(dtype).unsqueeze(2)
    bias = conv.bias.to(dtype) if conv.bias is not None else None
    return weight, bias


def _conv(
    x: torch.Tensor,
    conv: nn.Conv1d,
    dtype: torch.dtype,
    post: str = "none",
    scalars: tuple[float, ...] = (),
) -> torch.Tensor:
    """post(conv(x)) with post in oneDNN's eltwise set ("none", "leaky_relu", "tanh")."""
    weight, bias = _params(conv, dtype)
    return torch.ops.mkldnn._convolution_pointwise(
        x,
        weight,
        bias,
        [0, conv.padding[0]],
        [1, conv.stride[0]],
        [1, conv.dilation[0]],
        conv.groups,
        post,
        list(scalars),
        None,
    )


def _conv_add(
    residual: torch.Tensor,
    x: torch.Tensor,
    conv: nn.Conv1d,
    dtype: torch.dtype,
    inplace: bool = False,
) -> torch.Tensor:
    """residual + conv(x) (bias first, then the residual); written into `residual` if
    `inplace`."""
    weight, bias = _params(conv, dtype)
    geometry = ([0, conv.padding[0]], [1, conv.stride[0]], [1, conv.dilation[0]], conv.groups)
    if inplace:
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            residual, x, weight, bias, *geometry, "add", None, None, [], None
        )
    return torch.ops.mkldnn._convolution_pointwise.binary(
        x, residual, weight, bias, *geometry, "add", None, None, [], None
    )


def _conv_transpose(x: torch.Tensor, conv: nn.ConvTranspose1d, dtype: torch.dtype) -> torch.Tensor:
    """The upsampler on (B, C, 1, L), channels-last (faster for every AudioLDM shape)."""
    weight, bias = _params(conv, dtype)
    return F.conv_transpose2d(
        x.contiguous(memory_format=torch.channels_last),
        weight,
        bias,
        stride=(1, conv.stride[0]),
        padding=(0, int(conv.padding[0])),
        output_padding=(0, conv.output_padding[0]),
        groups=conv.groups,
        dilation=(1, conv.dilation[0]),
    )


def _resblock_fused(
    block: ResBlock1, x: torch.Tensor, activated: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """ResBlock1 on (B, C, 1, L): x += conv2(lrelu(conv1(lrelu(x)))) per dilation; lrelu(x)
    of the block input is passed in (shared by the stage's blocks)."""
    slope = block.slope
    residual = x
    for index, (conv1, conv2) in enumerate(zip(block.convs1, block.convs2, strict=True)):
        inner = activated if index == 0 else F.leaky_relu(residual, slope)
        hidden = _conv(inner, cast(nn.Conv1d, conv1), dtype, "leaky_relu", (slope,))
        # `x` (the first residual) is shared with the stage's other blocks: not in place.
        residual = _conv_add(residual, hidden, cast(nn.Conv1d, conv2), dtype, inplace=index > 0)
    return residual
