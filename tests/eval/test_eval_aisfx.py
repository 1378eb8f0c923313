"""The aisfx eval backbone: front end against librosa, the package's blocking, FD plumbing
on a random-weight trunk, the real checkpoint from the PyPI package, and the offline errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from clapldm.errors import InvalidInputError, ModelLoadError
from clapldm.eval.aisfx import (
    AISFX_SAMPLE_RATE,
    aisfx_blocks,
    aisfx_file_embedding,
    load_aisfx,
)
from clapldm.eval.cli import eval_main
from clapldm.eval.evaluate import evaluate
from clapldm.models.aisfx import (
    EMBED_DIM,
    AisfxEmbedder,
    AisfxFrontEnd,
    AisfxTrunk,
    htk_mel_filterbank,
)

PACKAGE_MISSING = importlib.util.find_spec("aisfx") is None
NEEDS_PACKAGE = pytest.mark.skipif(
    PACKAGE_MISSING, reason="aisfx not installed: pip install --no-deps aisfx==0.1.2"
)


def _tone(freq: float, seconds: float, sr: int = AISFX_SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-t)).astype(np.float32)


def _package_blocking(frames: int, block: int = 100, hop: int = 50) -> list[int]:
    """Start frames of the aisfx package's ``blocking(..., drop_partial_block=True)``."""
    count = int(np.ceil((frames - block) / hop + 1))
    if (frames - block) % hop != 0:
        count -= 1
    return [i * hop for i in range(max(count, 1))]


def test_filterbank_is_librosa_htk_with_unit_l1_norm() -> None:
    ours = htk_mel_filterbank(44100, 2048, 96, 0.0, 22050.0)
    reference = librosa.filters.mel(
        sr=44100, n_fft=2048, n_mels=96, fmin=0.0, fmax=22050.0, htk=True, norm=1.0
    )
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-7)


def test_front_end_matches_the_package_librosa_path() -> None:
    """The package's spectrogram (librosa 0.9: reflect padding), log10(1e4 x + 1) / max."""
    wave = _tone(440.0, 3.0) + 0.05 * np.random.default_rng(0).standard_normal(132300)
    peak_normalised = (wave / np.abs(wave).max()).astype(np.float32)
    mel = librosa.feature.melspectrogram(
        y=peak_normalised, sr=44100, n_fft=2048, hop_length=1024, n_mels=96, fmin=0.0,
        fmax=22050.0, htk=True, norm=1.0, power=2.0, pad_mode="reflect",
    )  # fmt: skip
    reference = np.log10(mel * 1e4 + 1.0).T / 9.457798957824707  # (frames, 96)
    ours = AisfxFrontEnd()(torch.from_numpy(3.0 * wave)[None])[0].numpy()  # gain-invariant
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=2e-4)


@pytest.mark.parametrize("frames", [100, 149, 150, 151, 216, 431])
def test_blocks_follow_the_package(frames: int) -> None:
    logmel = torch.arange(frames * 96, dtype=torch.float32).reshape(frames, 96)
    blocks = aisfx_blocks(logmel)
    starts = _package_blocking(frames)
    assert blocks.shape == (len(starts), 100, 96)
    for block, start in zip(blocks, starts, strict=True):
        assert torch.equal(block, logmel[start : start + 100])
    with pytest.raises(InvalidInputError):
        aisfx_blocks(logmel[:99])


def test_file_embedding_is_the_mean_of_block_embeddings() -> None:
    torch.manual_seed(0)
    embedder = load_aisfx(AisfxEmbedder(AisfxTrunk()))
    assert all(p.dtype == torch.float32 for p in embedder.parameters())
    wave = torch.from_numpy(_tone(300.0, 4.0))
    embedding = aisfx_file_embedding(embedder, wave)
    with torch.no_grad():
        logmel = embedder.front_end(wave[None])[0]
        starts = _package_blocking(logmel.shape[0])
        per_block = embedder.trunk(torch.stack([logmel[s : s + 100] for s in starts]))
    assert embedding.shape == (EMBED_DIM,) and len(starts) == 2  # 173 frames
    torch.testing.assert_close(embedding, per_block.mean(dim=0))
    short = aisfx_file_embedding(embedder, torch.from_numpy(_tone(300.0, 0.5)))
    assert short.shape == (EMBED_DIM,) and torch.isfinite(short).all()  # one padded block


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    gen, ref = tmp_path / "generated", tmp_path / "reference"
    gen.mkdir()
    ref.mkdir()
    for index, freq in enumerate((220, 330, 440, 660, 880)):
        sf.write(gen / f"clip{index}.wav", _tone(freq * 1.5, 1.2, 16000), 16000)
        sf.write(ref / f"clip{index}.flac", _tone(freq, 1.2, 22050), 22050)
    (gen / "broken.wav").write_bytes(b"not audio at all")
    return gen, ref


def test_fd_on_a_random_trunk(folders: tuple[Path, Path]) -> None:
    gen, ref = folders
    torch.manual_seed(0)
    embedder = AisfxEmbedder(AisfxTrunk())
    report = evaluate(gen, ref, metrics="fd,kl", backbone="aisfx", aisfx=embedder)
    result = {r.key: r for r in report.results}["fd[aisfx]"]
    assert result.value > 0 and result.generated == 5 and result.reference == 5
    assert "cnn14" in report.skipped_metrics["kl"]
    assert [s.name for s in report.files_skipped] == ["broken.wav"]
    same = evaluate(ref, ref, metrics="fd", aisfx=embedder)  # auto: used because given
    assert [r.key for r in same.results] == ["fd[aisfx]"]
    assert same.value("fd[aisfx]") == pytest.approx(0.0, abs=1e-6)
    # auto without an aisfx model leaves the backbone out.
    assert "fd" in evaluate(gen, ref, metrics="fd").skipped_metrics


def test_missing_package_is_one_clear_line(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "aisfx" else find_spec(name, *a),
    )
    with pytest.raises(ModelLoadError, match=r"pip install --no-deps aisfx==0\.1\.2"):
        load_aisfx()
    code = eval_main([str(folders[0]), str(folders[1]), "--backbone", "aisfx"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install --no-deps aisfx==0.1.2" in err
    code = eval_main([*map(str, folders), "--backbone", "aisfx", "--aisfx-weights", "nope.pth"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nope.pth" in err


@NEEDS_PACKAGE
def test_real_checkpoint_from_the_package(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    embedder = load_aisfx()
    tone = torch.from_numpy(_tone(440.0, 3.0))
    noise = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, 132300).astype("f4"))
    a, b, c = (aisfx_file_embedding(embedder, w) for w in (tone, 0.1 * tone, noise))
    assert a.shape == (EMBED_DIM,) and torch.isfinite(a).all() and (a >= 0).all()
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # peak-normalised: gain-free
    assert torch.nn.functional.cosine_similarity(a, c, dim=0) < 0.95  # tone is not noise
    out = tmp_path / "report.json"
    code = eval_main([*map(str, folders), "--backbone", "aisfx", "--json", str(out)])
    assert code == 0 and "(44100 Hz for aisfx)" in capsys.readouterr().out
    metrics = json.loads(out.read_text())["metrics"]
    assert set(metrics) == {"fd[aisfx]"} and metrics["fd[aisfx]"]["value"] > 0
