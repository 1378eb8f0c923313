"""CNN14: PANNs key names load strictly, output sizes, front end equals librosa."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from clapldm.errors import ModelLoadError
from clapldm.eval.cnn14 import Cnn14, Cnn14Config, load_cnn14, load_cnn14_state_dict

SR = 16000


def panns_state_dict(
    channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048), classes: int = 527
) -> dict[str, torch.Tensor]:
    """Random weights under the names and shapes of PANNs' ``Cnn14`` (torchlibrosa front end)."""
    gen = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {
        "spectrogram_extractor.stft.conv_real.weight": torch.randn(257, 1, 512, generator=gen),
        "spectrogram_extractor.stft.conv_imag.weight": torch.randn(257, 1, 512, generator=gen),
        "logmel_extractor.melW": torch.rand(257, 64, generator=gen),
    }

    def batch_norm(prefix: str, size: int) -> None:
        state[f"{prefix}.weight"] = 1.0 + 0.1 * torch.randn(size, generator=gen)
        state[f"{prefix}.bias"] = 0.1 * torch.randn(size, generator=gen)
        state[f"{prefix}.running_mean"] = 0.1 * torch.randn(size, generator=gen)
        state[f"{prefix}.running_var"] = 1.0 + torch.rand(size, generator=gen)
        state[f"{prefix}.num_batches_tracked"] = torch.tensor(1000)

    batch_norm("bn0", 64)
    in_ch = 1
    for index, out_ch in enumerate(channels, start=1):
        block = f"conv_block{index}"
        state[f"{block}.conv1.weight"] = (
            torch.randn(out_ch, in_ch, 3, 3, generator=gen) * (2.0 / (9 * in_ch)) ** 0.5
        )
        state[f"{block}.conv2.weight"] = (
            torch.randn(out_ch, out_ch, 3, 3, generator=gen) * (2.0 / (9 * out_ch)) ** 0.5
        )
        batch_norm(f"{block}.bn1", out_ch)
        batch_norm(f"{block}.bn2", out_ch)
        in_ch = out_ch
    width = channels[-1]
    state["fc1.weight"] = torch.randn(width, width, generator=gen) / width**0.5
    state["fc1.bias"] = torch.zeros(width)
    state["fc_audioset.weight"] = torch.randn(classes, width, generator=gen) / width**0.5
    state["fc_audioset.bias"] = torch.zeros(classes)
    return state


def _tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    noise = 0.01 * np.random.default_rng(0).normal(size=t.shape)
    wave = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 3000 * t) + noise
    return wave.astype(np.float32)


def test_full_size_cnn14_loads_panns_keys_and_gives_2048_and_527() -> None:
    model = Cnn14()
    state = panns_state_dict()
    assert set(state) == set(model.state_dict())
    load_cnn14_state_dict(model, state)
    # Checkpoint front-end values are used as they are.
    assert torch.equal(model.logmel_extractor.melW, state["logmel_extractor.melW"])
    model.eval()
    wave = model.prepare_waveform(torch.from_numpy(_tone(1.0)))
    assert wave.shape == (1, 32000)  # padded to 2 s as audioldm_eval does
    with torch.inference_mode():
        out = model(wave)
    assert out["embedding"].shape == (1, 2048)
    assert out["logits"].shape == (1, 527)
    assert torch.all(out["embedding"] >= 0)  # ReLU'd fc1, the reference's "2048" feature
    assert torch.allclose(out["clipwise_output"], torch.sigmoid(out["logits"]))
    assert torch.isfinite(out["logits"]).all()


def test_weights_file_round_trip_and_missing_front_end(tmp_path) -> None:
    config = Cnn14Config(block_channels=(4, 8, 8, 8, 8, 16), classes_num=5)
    state = panns_state_dict(config.block_channels, config.classes_num)
    path = tmp_path / "Cnn14_tiny.pth"
    torch.save({"iteration": 1, "model": state}, path)  # PANNs checkpoint layout
    model = load_cnn14(path, config)
    assert not model.training
    assert torch.equal(model.fc1.weight, state["fc1.weight"])
    # Without front-end keys, the computed STFT / mel matrices are kept.
    core = {k: v for k, v in state.items() if not k.startswith(("spectrogram", "logmel"))}
    fresh = Cnn14(config)
    computed_mel = fresh.logmel_extractor.melW.clone()
    load_cnn14_state_dict(fresh, core)
    assert torch.equal(fresh.logmel_extractor.melW, computed_mel)
    # A wrong key or shape is a ModelLoadError.
    with pytest.raises(ModelLoadError, match="missing"):
        load_cnn14_state_dict(Cnn14(config), {k: v for k, v in core.items() if k != "fc1.bias"})
    bad = dict(core, **{"fc1.weight": torch.zeros(3, 3)})
    with pytest.raises(ModelLoadError, match="shape"):
        load_cnn14_state_dict(Cnn14(config), bad)
    with pytest.raises(ModelLoadError):
        load_cnn14(tmp_path / "absent.pth", config)


def test_front_end_matches_librosa_on_a_tone() -> None:
    """torchlibrosa front end = librosa stft (center, reflect) -> power -> Slaney mel -> dB."""
    wave = _tone(1.0)
    model = Cnn14(Cnn14Config(block_channels=(4, 8, 8, 8, 8, 16)))
    ours = model.logmel(torch.from_numpy(wave)[None])[0, 0].double().numpy()  # (T, 64)
    power = (
        np.abs(
            librosa.stft(
                wave.astype(np.float64),
                n_fft=512,
                hop_length=160,
                win_length=512,
                window="hann",
                center=True,
                pad_mode="reflect",
            )
        )
        ** 2
    )
    mel_basis = librosa.filters.mel(sr=SR, n_fft=512, n_mels=64, fmin=50, fmax=8000)
    expected = librosa.power_to_db(mel_basis @ power, ref=1.0, amin=1e-10, top_db=None).T
    assert ours.shape == expected.shape == (101, 64)
    np.testing.assert_allclose(ours, expected, atol=2e-3)  # dB
    np.testing.assert_allclose(
        model.logmel_extractor.melW.numpy(), mel_basis.T, rtol=1e-5, atol=1e-9
    )
