"""Shared helpers for the benchmarks: peer construction, timing, FLOP counting, memory.

The peer is diffusers' `AudioLDMPipeline` built with random weights at the real
AudioLDM-S size (compute does not depend on the weights), saved to a folder that
`AudioLDM.from_pretrained` imports, so both sides run the very same weights.

Sizes:
- "s": AudioLDM-S as diffusers' conversion leaves it: UNet block_out_channels
  (128, 256, 384, 640), `attention_head_dim` 8 (= 8 heads per level in diffusers),
  cross_attention_dim per block, class_embed_type simple_projection, concat; VAE
  (128, 256, 512), 8 latent channels; SpeechT5HifiGan AudioLDM config (64 mels, 1024
  channels, rates 5,4,2,2,2, kernels 16,16,8,4,4); a RoBERTa-base-size
  ClapTextModelWithProjection (12 layers, 768 hidden, 512-d projection) with the offline
  byte-level tokenizer of `clapldm.testing`.
- "tiny": a few-kilobyte version of each for the smoke test.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

SCALING_FACTOR = 0.9227914  # audioldm-s-full's
VOCODER_OUTPUT_GAIN = 20.0
BUILD_VERSION = 3  # bump when the folder contents change
# Words that get a whole-word BPE token in the benchmark tokenizer (the benchmark prompts'
# words), so prompts tokenise to about as many tokens as roberta-base gives them.
WORDS = """a an the in of on and while from through with at to dog barking distance rain falls
falling tin roof low quality noise church bell ringing three times footsteps gravel old car
engine starting birds singing morning forest crowd applauding large hall waves crashing rocky
shore window chirping man speaking water running tap wooden floor piano playing slow melody
wind blowing trees door creaking open people clapping cat meowing thunder rumbling drum beat
alarm clock""".split()


@dataclass(frozen=True)
class PeerSize:
    unet_channels: tuple[int, ...]
    unet_heads: int
    unet_groups: int
    vae_channels: tuple[int, ...]
    vae_groups: int
    vae_layers: int
    latent_channels: int
    vocoder_channels: int
    vocoder_rates: tuple[int, ...]
    vocoder_kernels: tuple[int, ...]
    num_mels: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_intermediate: int
    projection_dim: int


SIZES = {
    "s": PeerSize(
        unet_channels=(128, 256, 384, 640),
        unet_heads=8,
        unet_groups=32,
        vae_channels=(128, 256, 512),
        vae_groups=32,
        vae_layers=2,
        latent_channels=8,
        vocoder_channels=1024,
        vocoder_rates=(5, 4, 2, 2, 2),
        vocoder_kernels=(16, 16, 8, 4, 4),
        num_mels=64,
        text_hidden=768,
        text_layers=12,
        text_heads=12,
        text_intermediate=3072,
        projection_dim=512,
    ),
    "tiny": PeerSize(
        unet_channels=(16, 32),
        unet_heads=2,
        unet_groups=8,
        vae_channels=(8, 16),
        vae_groups=4,
        vae_layers=1,
        latent_channels=4,
        vocoder_channels=32,
        vocoder_rates=(5, 4, 2, 2, 2),
        vocoder_kernels=(16, 16, 8, 4, 4),
        num_mels=64,
        text_hidden=32,
        text_layers=1,
        text_heads=1,
        text_intermediate=37,
        projection_dim=16,
    ),
}


def add_word_merges(folder: Path, words: list[str]) -> None:
    """Replace a byte-level BPE tokenizer's vocab.json + merges.txt with ones trained (by
    the `tokenizers` BPE trainer) on `words`, so each of them becomes about one token; the
    special tokens keep roberta-base's ids 0-3 and any text still encodes."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=4096,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    sentences = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    tokenizer.train_from_iterator(sentences, trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"]), encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )
    (folder / "tokenizer.json").unlink(missing_ok=True)


def build_peer_folder(folder: Path, size: str = "s", seed: int = 0) -> Path:
    """Write a diffusers AudioLDMPipeline with random weights to `folder`; returns it.

    Reuses the folder when it already holds a complete pipeline of the same size and seed.
    """
    import diffusers
    import transformers
    from transformers import AutoTokenizer

    from clapldm.checkpoints.keys_unet import unet_config_to_diffusers
    from clapldm.config import UNetConfig
    from clapldm.testing import audioldm_ddim_scheduler, byte_level_roberta_tokenizer, randomize_

    stamp = folder / "bench_stamp.json"
    wanted = {
        "size": size,
        "seed": seed,
        "diffusers": diffusers.__version__,
        "version": BUILD_VERSION,
    }
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return folder
    spec = SIZES[size]
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer_dir = byte_level_roberta_tokenizer(folder / "_tok")
        add_word_merges(tokenizer_dir, WORDS)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        text_config = transformers.ClapTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=spec.text_hidden,
            num_hidden_layers=spec.text_layers,
            num_attention_heads=spec.text_heads,
            intermediate_size=spec.text_intermediate,
            max_position_embeddings=514,
            projection_dim=spec.projection_dim,
        )
        text_encoder = transformers.ClapTextModelWithProjection(text_config).eval()
        levels = len(spec.unet_channels)
        base = spec.unet_channels[0]
        unet_cfg = UNetConfig(
            in_channels=spec.latent_channels,
            out_channels=spec.latent_channels,
            model_channels=base,
            channel_mult=tuple(ch // base for ch in spec.unet_channels),
            attention_levels=tuple(range(1, levels)),
            heads=(spec.unet_heads,) * levels,
            cond_dim=spec.projection_dim,
            norm_groups=spec.unet_groups,
        )
        unet_kwargs = unet_config_to_diffusers(unet_cfg)
        # As diffusers' AudioLDM conversion leaves it: one int, meaning 8 heads everywhere.
        unet_kwargs["attention_head_dim"] = spec.unet_heads
        unet_kwargs["sample_size"] = 128
        unet = diffusers.UNet2DConditionModel(**unet_kwargs)
        vae_levels = len(spec.vae_channels)
        vae = diffusers.AutoencoderKL(
            in_channels=1,
            out_channels=1,
            block_out_channels=spec.vae_channels,
            layers_per_block=spec.vae_layers,
            latent_channels=spec.latent_channels,
            norm_num_groups=spec.vae_groups,
            down_block_types=("DownEncoderBlock2D",) * vae_levels,
            up_block_types=("UpDecoderBlock2D",) * vae_levels,
            scaling_factor=SCALING_FACTOR,
            sample_size=512,
        )
        vocoder = transformers.SpeechT5HifiGan(
            transformers.SpeechT5HifiGanConfig(
                model_in_dim=spec.num_mels,
                sampling_rate=16000,
                upsample_initial_channel=spec.vocoder_channels,
                upsample_rates=list(spec.vocoder_rates),
                upsample_kernel_sizes=list(spec.vocoder_kernels),
                resblock_kernel_sizes=[3, 7, 11],
                resblock_dilation_sizes=[[1, 3, 5]] * 3,
                normalize_before=False,
            )
        )
        # Default inits leave some weights trivial (norm gains 1, biases 0) and the
        # vocoder nearly silent; perturb so every parameter matters and outputs are O(0.1).
        for index, module in enumerate((unet, vae, vocoder, text_encoder)):
            randomize_(module, seed + index + 1, scale=0.02)
        with torch.no_grad():  # a waveform of speech-like level (peak ~0.5) instead of ~0.02
            vocoder.conv_post.weight.mul_(VOCODER_OUTPUT_GAIN)
        scheduler = audioldm_ddim_scheduler()
        pipe = diffusers.AudioLDMPipeline(
            vae=vae.eval(),
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet.eval(),
            scheduler=scheduler,
            vocoder=vocoder.eval(),
        )
        pipe.save_pretrained(folder)
    stamp.write_text(json.dumps(wanted))
    del pipe
    gc.collect()
    return folder


def load_peer(folder: Path) -> Any:
    import diffusers

    pipe = diffusers.AudioLDMPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_ours(folder: Path) -> Any:
    from clapldm import AudioLDM

    return AudioLDM.from_pretrained(folder)


# --------------------------------------------------------------------------- timing
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved(
    contenders: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every contender `warmup` times, then `repeats` rounds; the order rotates
    every round so that no side always runs right after the other."""
    names = list(contenders)
    with torch.inference_mode():
        for _ in range(warmup):
            for name in names:
                contenders[name]()
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_index in range(repeats):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed, _ = timed(contenders[name])
                times[name].append(elapsed)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations of one call (matmuls, convs, attention; 2 per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_peak(dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 7) -> float:
    """Measured dense matmul GFLOP/s (best of `repeats`) at the current thread count."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    for _ in range(2):
        torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        elapsed, _ = timed(lambda: torch.mm(a, b))
        best = min(best, elapsed)
    return 2 * size**3 / best / 1e9


def snr_db(reference: Any, estimate: Any) -> float:
    import numpy as np

    reference = np.asarray(reference, dtype=np.float64)
    noise = np.asarray(estimate, dtype=np.float64) - reference
    power = float((noise**2).sum())
    if power == 0.0:
        return math.inf
    return 10 * math.log10(float((reference**2).sum()) / power)


def peak_rss_mib() -> float:
    """This process's peak resident set size (ru_maxrss), MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def fmt_seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.2f}"
