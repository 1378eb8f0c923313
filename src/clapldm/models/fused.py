"""Inference helpers shared by the UNet, VAE and HiFi-GAN: same function, fewer passes.

Without autograd, fresh intermediates may be written in place, and on the CPU in fp32
oneDNN can apply a residual add or an activation to a conv / matmul output in one
primitive. With autograd on (training), or off the CPU, every helper is the plain op.
Results differ from the plain path only by float rounding (tests/models/test_inference_paths.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_MKLDNN = getattr(torch.ops, "mkldnn", None)
_CONV_POINTWISE = getattr(_MKLDNN, "_convolution_pointwise", None)
_LINEAR_POINTWISE = getattr(_MKLDNN, "_linear_pointwise", None)


def inference() -> bool:
    """No autograd: outputs may be written in place and oneDNN post-ops may be used."""
    return not torch.is_grad_enabled()


def _onednn_fp32(*tensors: torch.Tensor) -> bool:
    """fp32 CPU inference without autocast, oneDNN present: the fused ops apply."""
    return (
        inference()
        and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
        and not torch.is_autocast_enabled("cpu")
        and torch.backends.mkldnn.is_available()
    )


def conv_add(residual: torch.Tensor, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``residual + conv(x)``. For fp32 CPU inference one oneDNN primitive applies the add
    to the conv output (bias first, then the residual: the same sum as the plain path)."""
    if (
        _CONV_POINTWISE is not None
        and type(conv) is nn.Conv2d  # an adapter-wrapped conv (LoRA) must run its own forward
        and _onednn_fp32(x, residual, conv.weight)
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
    ):
        return _CONV_POINTWISE.binary(
            x,
            residual,
            conv.weight,
            conv.bias,
            list(conv.padding),
            list(conv.stride),
            list(conv.dilation),
            conv.groups,
            "add",
            None,
            None,
            [],
            None,
        )
    return residual + conv(x)


def linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` (+ ``residual``). fp32 CPU inference uses oneDNN's
    matmul (about 10% faster than MKL's for the UNet's token counts) with the residual add
    applied to its output; otherwise the plain ops."""
    if _LINEAR_POINTWISE is not None and _onednn_fp32(x, weight):
        if residual is None:
            return _LINEAR_POINTWISE(x, weight, bias, "none", [], "")
        if residual.dtype == torch.float32 and residual.shape[:-1] == x.shape[:-1]:
            return _LINEAR_POINTWISE.binary(x, residual, weight, bias, "add")
    out = F.linear(x, weight, bias)
    return out if residual is None else add_(out, residual)


def linear_layer(
    layer: nn.Module, x: torch.Tensor, residual: torch.Tensor | None = None
) -> torch.Tensor:
    """``layer(x)`` (+ ``residual``) through `linear` when ``layer`` is a plain
    ``nn.Linear``; any other module (a LoRA-wrapped linear, see `clapldm.adapters`) runs
    its own forward, so what it adds to the base layer is never skipped."""
    if type(layer) is nn.Linear:
        return linear(x, layer.weight, layer.bias, residual)
    out = layer(x)
    return out if residual is None else add_(out, residual)


def add_(out: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``other + out``, written into ``out`` (a fresh intermediate) when nothing can see it:
    no autograd and no type promotion. Addition commutes, so the bits are the same."""
    same_shape = out.shape == torch.broadcast_shapes(out.shape, other.shape)
    if inference() and same_shape and torch.result_type(out, other) == out.dtype:
        return out.add_(other)
    return other + out


def silu_norm(norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    """SiLU(GroupNorm(x)); in place on the norm's fresh output when there is no autograd."""
    return F.silu(norm(x), inplace=inference())


def to_fast_layout(x: torch.Tensor) -> torch.Tensor:
    """Channels-last for CPU inference (no autograd); other cases are left as they are."""
    if x.device.type == "cpu" and inference() and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def add_mul(out: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``other * out``, in place on the fresh ``out`` when there is no autograd."""
    if inference() and torch.result_type(out, other) == out.dtype and out.shape == other.shape:
        return out.mul_(other)
    return other * out
