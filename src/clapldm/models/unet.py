"""The AudioLDM UNet: eps-prediction on VAE latents, conditioned on a CLAP embedding.

The CLAP embedding (B, cond_dim) passes through one Linear to 4C and is *concatenated*
to the 4C time embedding, so every res block sees an 8C vector (AudioLDM's
"film_emb" with concat). Spatial transformers hold two self-attention layers and a GEGLU
feed-forward; there is no cross-attention (AudioLDM conditions only through the
embedding). Module names follow diffusers' `UNet2DConditionModel`, so a diffusers folder
loads without renaming; the original `.ckpt` layout is mapped in `checkpoints/keys_unet.py`.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from clapldm.config import UNetConfig
from clapldm.models.fused import add_, add_mul, conv_add, linear, linear_layer, silu_norm


def timestep_embedding(
    timesteps: torch.Tensor, dim: int, max_period: float = 10000.0
) -> torch.Tensor:
    """Sinusoidal embedding (B,) -> (B, dim), [cos | sin] order as the original and diffusers."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(
        half, dtype=torch.float32, device=timesteps.device
    )
    freqs = torch.exp(exponent / half)
    args = timesteps.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, out_dim)
        self.linear_2 = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, embedding added between; 1x1 shortcut when channels change."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch, eps=eps)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_emb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch, eps=eps)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(silu_norm(self.norm1, x))
        h = add_(h, self.time_emb_proj(F.silu(emb))[:, :, None, None])
        skip = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return conv_add(skip, silu_norm(self.norm2, h), self.conv2)


class Attention(nn.Module):
    """Multi-head self-attention over tokens (B, N, C); heads split C evenly."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels cannot be split into {heads} heads")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, C) -> (B, N, C); `residual` (B, N, C), if given, is added to the output."""
        batch, tokens, dim = x.shape
        shape = (batch, tokens, self.heads, dim // self.heads)
        q = linear_layer(self.to_q, x).view(shape).transpose(1, 2)
        k = linear_layer(self.to_k, x).view(shape).transpose(1, 2)
        v = linear_layer(self.to_v, x).view(shape).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, tokens, dim)
        return linear_layer(self.to_out[0], out, residual)


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, gate = linear_layer(self.proj, x).chunk(2, dim=-1)
        return add_mul(F.gelu(gate), hidden)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int) -> None:
        super().__init__()
        # net.1 is a dropout slot in both reference layouts; kept so indices match.
        self.net = nn.ModuleList(
            [GEGLU(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim)]
        )

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, C) -> (B, N, C), plus `residual` when given."""
        return linear_layer(self.net[2], self.net[0](x), residual)


class TransformerBlock(nn.Module):
    """Two self-attention layers (AudioLDM has no context) and a GEGLU feed-forward."""

    def __init__(self, dim: int, heads: int, ff_mult: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_mult)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn1(self.norm1(x), residual=x)
        x = self.attn2(self.norm2(x), residual=x)
        return self.ff(self.norm3(x), residual=x)


class SpatialTransformer(nn.Module):
    """GroupNorm -> 1x1 conv -> transformer blocks on (B, H*W, C) -> 1x1 conv, residual."""

    def __init__(
        self, dim: int, heads: int, depth: int, ff_mult: int, groups: int, eps: float
    ) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=eps)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList(
            [TransformerBlock(dim, heads, ff_mult) for _ in range(depth)]
        )
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        # The 1x1 convs run as matmuls on the token layout: one layout copy each way.
        h = self.norm(x).permute(0, 2, 3, 1).reshape(batch, height * width, channels)
        h = linear(h, self.proj_in.weight.view(channels, channels), self.proj_in.bias)
        for block in self.transformer_blocks:
            h = block(h)
        h = linear(h, self.proj_out.weight.view(channels, channels), self.proj_out.bias)
        return x + h.view(batch, height, width, channels).permute(0, 3, 1, 2)


class Downsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:  # odd skip sizes: match the skip exactly (as diffusers does)
            x = F.interpolate(x, size=size, mode="nearest")
        return self.conv(x)


class Level(nn.Module):
    """One resolution of the down or up path: res blocks, optional transformers, resampler."""

    def __init__(self) -> None:
        super().__init__()
        self.resnets = nn.ModuleList()
        self.attentions = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        self.upsamplers = nn.ModuleList()


def levels_of(blocks: nn.ModuleList) -> list[Level]:
    """The `Level`s of a down or up path, typed (a ModuleList yields plain Modules)."""
    return [cast(Level, block) for block in blocks]


class MidBlock(nn.Module):
    def __init__(self, ch: int, emb_dim: int, heads: int, cfg: UNetConfig) -> None:
        super().__init__()
        groups, eps = cfg.norm_groups, cfg.norm_eps
        self.resnets = nn.ModuleList(
            [ResnetBlock(ch, ch, emb_dim, groups, eps), ResnetBlock(ch, ch, emb_dim, groups, eps)]
        )
        self.attentions = nn.ModuleList(
            [
                SpatialTransformer(
                    ch, heads, cfg.transformer_depth, cfg.ff_mult, groups, cfg.transformer_norm_eps
                )
            ]
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x, emb)
        x = self.attentions[0](x)
        return self.resnets[1](x, emb)


class AudioLDMUNet(nn.Module):
    """eps(x_t, t, E): (B, in_ch, T', F') latents, (B,) timesteps, (B, cond_dim) CLAP -> eps."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        cfg = config
        base = cfg.model_channels
        temb_dim = cfg.time_embed_dim
        emb_dim = 2 * temb_dim  # time embedding ++ condition embedding
        groups, eps = cfg.norm_groups, cfg.norm_eps
        channels = [base * mult for mult in cfg.channel_mult]
        levels = len(channels)

        def transformer(ch: int, level: int) -> SpatialTransformer:
            return SpatialTransformer(
                ch,
                cfg.heads[level],
                cfg.transformer_depth,
                cfg.ff_mult,
                groups,
                cfg.transformer_norm_eps,
            )

        self.conv_in = nn.Conv2d(cfg.in_channels, base, 3, padding=1)
        self.time_embedding = TimestepEmbedding(base, temb_dim)
        self.class_embedding = nn.Linear(cfg.cond_dim, temb_dim)

        self.down_blocks = nn.ModuleList()
        skip_channels = [base]
        ch = base
        for level, out_ch in enumerate(channels):
            block = Level()
            for _ in range(cfg.num_res_blocks):
                block.resnets.append(ResnetBlock(ch, out_ch, emb_dim, groups, eps))
                ch = out_ch
                if level in cfg.attention_levels:
                    block.attentions.append(transformer(ch, level))
                skip_channels.append(ch)
            if level < levels - 1:
                block.downsamplers.append(Downsample(ch))
                skip_channels.append(ch)
            self.down_blocks.append(block)

        self.mid_block = MidBlock(ch, emb_dim, cfg.heads[-1], cfg)

        self.up_blocks = nn.ModuleList()
        for level in reversed(range(levels)):
            out_ch = channels[level]
            block = Level()
            for _ in range(cfg.num_res_blocks + 1):
                block.resnets.append(
                    ResnetBlock(ch + skip_channels.pop(), out_ch, emb_dim, groups, eps)
                )
                ch = out_ch
                if level in cfg.attention_levels:
                    block.attentions.append(transformer(ch, level))
            if level > 0:
                block.upsamplers.append(Upsample(ch))
            self.up_blocks.append(block)

        self.conv_norm_out = nn.GroupNorm(groups, ch, eps=eps)
        self.conv_out = nn.Conv2d(ch, cfg.out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, T', F'), timesteps (B,) or scalar, cond (B, cond_dim) -> (B, C_out, T', F')."""
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(x.shape[0])
        t_emb = timestep_embedding(timesteps, self.config.model_channels).to(x.dtype)
        emb = torch.cat(
            [self.time_embedding(t_emb), self.class_embedding(cond.to(x.dtype))], dim=-1
        )

        h = self.conv_in(x)
        skips = [h]
        for block in levels_of(self.down_blocks):
            for index, resnet in enumerate(block.resnets):
                h = resnet(h, emb)
                if len(block.attentions):
                    h = block.attentions[index](h)
                skips.append(h)
            for down in block.downsamplers:
                h = down(h)
                skips.append(h)

        h = self.mid_block(h, emb)

        for block in levels_of(self.up_blocks):
            for index, resnet in enumerate(block.resnets):
                h = resnet(torch.cat([h, skips.pop()], dim=1), emb)
                if len(block.attentions):
                    h = block.attentions[index](h)
            for up in block.upsamplers:
                target = skips[-1].shape[-2:]
                exact = target[0] == 2 * h.shape[-2] and target[1] == 2 * h.shape[-1]
                h = up(h, None if exact else (int(target[0]), int(target[1])))

        return self.conv_out(silu_norm(self.conv_norm_out, h))
