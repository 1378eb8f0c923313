"""Compute per fine-tuning step, counted (not timed): parameters trained, optimizer state,
and FLOPs of one forward + backward of the UNet at batch 8, full and LoRA, for the
bundled model (2.56 s crops) and an AudioLDM-S-sized UNet (10.24 s crops).

    python scripts/finetune_cost.py

The GPU figures printed are estimates: FLOPs divided by an assumed sustained throughput
(stated in the output), not measurements; the CPU figures in the README are measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from clapldm.adapters import LoraSpec, add_adapter
from clapldm.checkpoints import BUNDLED
from clapldm.config import UNetConfig
from clapldm.models.unet import AudioLDMUNet

BATCH = 8
# (name, UNet config, latent (C, T', F') of one crop)
MODELS = [
    (
        "bundled clapldm-mini, 2.56 s crops",
        UNetConfig.from_dict(json.loads((Path(BUNDLED) / "unet" / "config.json").read_text())),
        (8, 56, 20),
    ),
    (
        "AudioLDM-S size, 10.24 s crops",
        UNetConfig(
            in_channels=8,
            out_channels=8,
            model_channels=128,
            channel_mult=(1, 2, 3, 5),
            num_res_blocks=2,
            attention_levels=(1, 2, 3),
            heads=(4, 8, 12, 20),
            cond_dim=512,
        ),
        (8, 256, 16),
    ),
]
LORA = LoraSpec(rank=8, targets=("attention", "conv"))
# Assumed sustained bf16 throughput for the estimate: 40% of an A100's 312 TFLOP/s peak.
ASSUMED_GPU_FLOPS = 0.4 * 312e12


def step_cost(config: UNetConfig, latent: tuple[int, int, int], lora: bool) -> tuple[int, float]:
    """(trainable parameters, FLOPs of forward + backward at batch 8), on the meta device."""
    with torch.device("meta"):
        unet = AudioLDMUNet(config)
        if lora:
            add_adapter(unet, LORA)
        x = torch.randn(BATCH, *latent)
        t = torch.zeros(BATCH, dtype=torch.long)
        cond = torch.randn(BATCH, config.cond_dim)
        with FlopCounterMode(display=False) as counter:
            unet(x, t, cond).float().pow(2).mean().backward()
    trainable = sum(p.numel() for p in unet.parameters() if p.requires_grad)
    return trainable, float(counter.get_total_flops())


def main() -> None:
    print(f"batch {BATCH}; LoRA rank {LORA.rank} on {', '.join(LORA.targets)}")
    print(f"GPU estimate assumes {ASSUMED_GPU_FLOPS / 1e12:.0f} TFLOP/s sustained (bf16)\n")
    for name, config, latent in MODELS:
        for lora in (False, True):
            trainable, flops = step_cost(config, latent, lora)
            adam_mb = trainable * 4 * 3 / 1e6  # fp32 weights' grads + Adam's two moments
            print(
                f"{name:36s} {'LoRA' if lora else 'full':4s}  trained {trainable / 1e6:7.3f}M  "
                f"grads+Adam {adam_mb:8.1f} MB  {flops / 1e9:8.1f} GFLOP/step  "
                f"GPU estimate {flops / ASSUMED_GPU_FLOPS * 1e3:6.2f} ms/step (compute only)"
            )


if __name__ == "__main__":
    main()
