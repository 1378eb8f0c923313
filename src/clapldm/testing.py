"""Tiny, offline, random components for tests (shared by every test module).

Nothing here touches the network or loads real weights: tokenizers are built from
hand-written vocabularies and models from tiny transformers configs. Builders take a
``seed`` and leave the global torch RNG untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertModel,
    BertTokenizer,
    ClapModel,
    ClapTextConfig,
    ClapTextModelWithProjection,
    PreTrainedTokenizerBase,
    RobertaTokenizer,
)
from transformers import ClapConfig as HFClapConfig

from clapldm.checkpoints.keys_clap import clap_to_laion, make_clap_config
from clapldm.checkpoints.keys_unet import unet_config_to_diffusers, unet_to_original
from clapldm.checkpoints.keys_vae import vae_to_original
from clapldm.config import HifiGanConfig, MelConfig, UNetConfig, VAEConfig
from clapldm.models.clap import LaionClap, laion_feature_extractor
from clapldm.models.compact_clap import CompactClap

ROBERTA_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0-3, as in roberta-base
ROBERTA_MAX_TOKENS = 512


def tiny_configs(cond_dim: int = 16) -> tuple[MelConfig, VAEConfig, UNetConfig, HifiGanConfig]:
    mel = MelConfig(
        sample_rate=16000, n_fft=256, win_length=256, hop_length=64, n_mels=16, f_max=8000.0
    )
    vae = VAEConfig(
        ch=8, ch_mult=(1, 2), num_res_blocks=1, z_channels=4, norm_groups=4, scale_factor=0.9
    )
    unet = UNetConfig(
        in_channels=4,
        out_channels=4,
        model_channels=16,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_levels=(1,),
        heads=(2, 4),
        cond_dim=cond_dim,
        norm_groups=8,
    )
    vocoder = HifiGanConfig(
        num_mels=16,
        upsample_initial_channel=32,
        upsample_rates=(8, 8),
        upsample_kernel_sizes=(16, 16),
        resblock_kernel_sizes=(3,),
        resblock_dilations=((1, 3, 5),),
    )
    return mel, vae, unet, vocoder


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable unicode symbol table (the byte-level BPE alphabet)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    shift = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + shift)
            shift += 1
    return {byte: chr(code) for byte, code in zip(printable, codes, strict=True)}


def byte_level_roberta_tokenizer(folder: str | os.PathLike[str]) -> Path:
    """Write a RoBERTa-style byte-level BPE tokenizer to ``folder``; returns ``folder``.

    Vocabulary: ``<s> <pad> </s> <unk>`` (ids 0-3, roberta-base's), the 256 byte symbols
    in byte order (ids 4-259), ``<mask>`` (260); no merges, so every byte is one token and
    any text encodes without ``<unk>``. ``model_max_length`` is 512 like roberta-base.
    Loadable with ``RobertaTokenizer(Fast)`` / ``AutoTokenizer.from_pretrained(folder)``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = [bytes_to_unicode()[byte] for byte in range(256)]
    tokens = [*ROBERTA_SPECIAL_TOKENS, *symbols, "<mask>"]
    (folder / "vocab.json").write_text(
        json.dumps({token: index for index, token in enumerate(tokens)}), encoding="utf-8"
    )
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "RobertaTokenizer", "model_max_length": ROBERTA_MAX_TOKENS}),
        encoding="utf-8",
    )
    tokenizer = RobertaTokenizer.from_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_bert_tokenizer(folder: str | os.PathLike[str]) -> Path:
    """Write a lower-case WordPiece vocabulary of single characters to ``folder``.

    ``[PAD] [UNK] [CLS] [SEP] [MASK]``, a-z, 0-9, their ``##`` continuations and basic
    punctuation: any ASCII text tokenises (a word becomes its letters).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    vocab += [f"##{c}" for c in chars] + list(".,!?'-")
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 128}
        ),
        encoding="utf-8",
    )
    BertTokenizer.from_pretrained(folder).save_pretrained(folder)
    return folder


@torch.no_grad()
def randomize_(module: nn.Module, seed: int, scale: float = 0.05) -> nn.Module:
    """Perturb every float parameter and BatchNorm statistic so that no weight is trivial
    (LayerNorm weights 1, biases 0, ...): a swapped or dropped key then changes outputs."""
    generator = torch.Generator().manual_seed(seed)
    for parameter in module.parameters():
        if parameter.is_floating_point():
            noise = torch.randn(parameter.shape, generator=generator) * scale
            parameter.add_(noise.to(parameter.dtype))
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and child.running_mean is not None:
            assert child.running_var is not None
            child.running_mean.copy_(
                torch.randn(child.running_mean.shape, generator=generator) * 0.5
            )
            child.running_var.copy_(torch.rand(child.running_var.shape, generator=generator) + 0.5)
    return module


def tiny_clap_text_config(vocab_size: int = 261, projection_dim: int = 16) -> dict[str, Any]:
    """Text sub-config of the tiny CLAP: RoBERTa-like, hidden 32, 1 layer, 1 head.

    514 positions like roberta-base, so diffusers' padding to 512 tokens fits.
    """
    return {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 1,
        "intermediate_size": 37,
        "max_position_embeddings": 514,
        "layer_norm_eps": 1e-5,
        "projection_dim": projection_dim,
    }


def tiny_clap_config(vocab_size: int = 261, projection_dim: int = 16) -> HFClapConfig:
    """Tiny unfused LAION-CLAP: the text config above and an HTSAT with patch width 8,
    depths (2, 1) (one shifted-window block), heads (1, 2), window 8. spec_size 256 and
    64 mel bins as the real one, so the real 48 kHz / 10 s feature extractor fits."""
    return make_clap_config(
        text_config=tiny_clap_text_config(vocab_size, projection_dim),
        audio_config={
            "patch_embeds_hidden_size": 8,
            "depths": [2, 1],
            "num_attention_heads": [1, 2],
            "hidden_size": 16,
            "window_size": 8,
            "spec_size": 256,
            "num_mel_bins": 64,
        },
        projection_dim=projection_dim,
    )


def _roberta_tokenizer() -> PreTrainedTokenizerBase:
    with tempfile.TemporaryDirectory() as tmp:
        return AutoTokenizer.from_pretrained(byte_level_roberta_tokenizer(tmp))


def tiny_clap_model(
    folder: str | os.PathLike[str], seed: int = 0, projection_dim: int = 16
) -> LaionClap:
    """A random tiny `LaionClap` (text + audio), saved as a native CLAP folder in ``folder``.

    ``load_clap(folder)`` reads it back. Audio goes in at 48 kHz like the real model.
    """
    tokenizer = _roberta_tokenizer()
    config = tiny_clap_config(len(tokenizer), projection_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ClapModel(config)
    randomize_(model, seed)
    clap = LaionClap(model.eval(), tokenizer, laion_feature_extractor())
    clap.save_pretrained(folder)
    return clap


def tiny_clap_text_encoder(
    text_dir: str | os.PathLike[str],
    tokenizer_dir: str | os.PathLike[str],
    seed: int = 0,
    projection_dim: int = 16,
) -> ClapTextModelWithProjection:
    """Save a random tiny ``ClapTextModelWithProjection`` + byte-level RoBERTa tokenizer in
    diffusers' AudioLDM layout (``text_encoder/``, ``tokenizer/``); returns the model."""
    tokenizer = AutoTokenizer.from_pretrained(byte_level_roberta_tokenizer(tokenizer_dir))
    text_config = make_clap_config(
        tiny_clap_text_config(len(tokenizer), projection_dim), {}, projection_dim
    ).text_config
    assert isinstance(text_config, ClapTextConfig)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ClapTextModelWithProjection(text_config)
    randomize_(model, seed)
    model.eval().save_pretrained(text_dir)
    return model


def tiny_bert_text_encoder(
    folder: str | os.PathLike[str], hidden_size: int = 16, seed: int = 0
) -> tuple[BertModel, PreTrainedTokenizerBase]:
    """A random tiny BERT (1 layer, 2 heads) + character WordPiece tokenizer, saved in
    ``folder``: a stand-in for MiniLM in `CompactClap` tests."""
    folder = tiny_bert_tokenizer(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=128,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    model.eval().save_pretrained(folder)
    return model, tokenizer


def tiny_compact_clap(
    folder: str | os.PathLike[str],
    mel: MelConfig | None = None,
    *,
    embed_dim: int = 16,
    audio_channels: tuple[int, ...] = (4, 8),
    seed: int = 0,
) -> CompactClap:
    """A random tiny self-contained `CompactClap` saved in ``folder`` (its tiny BERT text
    tower in ``folder/text_encoder/``). ``mel`` defaults to the AudioLDM 16 kHz front end."""
    from clapldm.config import ClapConfig

    folder = Path(folder)
    text_encoder, tokenizer = tiny_bert_text_encoder(folder / "text_encoder", seed=seed)
    config = ClapConfig(
        kind="compact",
        embed_dim=embed_dim,
        audio_channels=audio_channels,
        text_model="tiny-bert",
        text_dim=int(text_encoder.config.hidden_size),
        text_max_tokens=32,
        mel=(mel or MelConfig()).to_dict(),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clap = CompactClap(config, text_encoder, tokenizer)
    randomize_(clap.audio_encoder, seed)
    clap.eval().save_pretrained(folder)
    return clap


def tiny_diffusers_pipeline(folder: str | os.PathLike[str]) -> Any:
    """A random tiny diffusers ``AudioLDMPipeline`` saved at ``folder/diffusers``; returns
    it. Needs diffusers (a dev dependency). Its UNet is the debug model's with 2 heads on
    every level (diffusers' convention), its vocoder transformers' SpeechT5HifiGan."""
    import diffusers  # optional: only the parity and fine-tuning tests build one
    import transformers

    folder = Path(folder)
    text_encoder = tiny_clap_text_encoder(folder / "_text", folder / "_tok", projection_dim=16)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder / "_tok")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vae = diffusers.AutoencoderKL(
            in_channels=1,
            out_channels=1,
            block_out_channels=(8, 16),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=4,
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            scaling_factor=0.9,
        )
        unet_config = tiny_configs()[2].replace(heads=(2, 2))
        unet = diffusers.UNet2DConditionModel(**unet_config_to_diffusers(unet_config))
        vocoder = transformers.SpeechT5HifiGan(
            transformers.SpeechT5HifiGanConfig(
                model_in_dim=16,
                sampling_rate=16000,
                upsample_initial_channel=32,
                upsample_rates=[4, 4],
                upsample_kernel_sizes=[8, 8],
                resblock_kernel_sizes=[3, 7],
                resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
                normalize_before=False,
            )
        )
    for index, module in enumerate((vae, unet, vocoder)):
        randomize_(module, index + 1, scale=0.1)  # type: ignore[arg-type]  # untyped diffusers
    scheduler = audioldm_ddim_scheduler()
    pipe = diffusers.AudioLDMPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        vocoder=vocoder,
    )
    pipe.save_pretrained(folder / "diffusers")  # type: ignore[attr-defined]  # DiffusionPipeline
    return pipe


def original_checkpoint_state(pipe: Any) -> dict[str, torch.Tensor]:
    """An AudioLDM pipeline's weights in the original ``.ckpt`` layout (``state_dict``).
    The raw UNet weights are perturbed and the EMA copy holds the real ones, so an
    importer that does not prefer the EMA weights is caught."""
    state: dict[str, torch.Tensor] = {}
    unet = unet_to_original(pipe.unet.state_dict(), pipe.unet.config)
    for key, value in unet.items():
        state["model.diffusion_model." + key] = value + 0.5
        state["model_ema." + ("diffusion_model." + key).replace(".", "")] = value.clone()
    state["model_ema.decay"] = torch.tensor(0.9999)
    state["model_ema.num_updates"] = torch.tensor(10, dtype=torch.int32)
    for key, value in vae_to_original(pipe.vae.state_dict()).items():
        state["first_stage_model." + key] = value.clone()
    for key, value in pipe.vocoder.state_dict().items():
        state["first_stage_model.vocoder." + key] = value.clone()
    for key, value in clap_to_laion(pipe.clap.model.state_dict(), include_unused=True).items():
        state["cond_stage_model.model." + key] = value.clone()
    state["scale_factor"] = torch.tensor(pipe.vae.config.scale_factor)
    state["betas"] = torch.zeros(1000)
    return state


def audioldm_ddim_scheduler() -> Any:
    """diffusers' DDIMScheduler as AudioLDM configures it (scaled_linear 0.0015 -> 0.0195,
    1000 steps, steps_offset 1, no clipping, alpha_prev of the last step alphas_cumprod[0])."""
    import diffusers  # optional: only parity tests and benchmarks build the reference

    return diffusers.DDIMScheduler(
        beta_start=0.0015,
        beta_end=0.0195,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        num_train_timesteps=1000,
    )
