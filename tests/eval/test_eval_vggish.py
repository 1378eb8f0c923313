"""VGGish: torchvggish key names load strictly, 128-d output, front end = TF mel_features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clapldm.errors import ModelLoadError
from clapldm.eval.vggish import (
    Vggish,
    load_vggish,
    load_vggish_state_dict,
    vggish_mel_matrix,
    waveform_to_examples,
)

SR = 16000


# --- Reference: TensorFlow models/research/audioset/vggish mel_features.py (numpy) ---------


def _ref_frame(data: np.ndarray, window_length: int, hop_length: int) -> np.ndarray:
    num_frames = 1 + int(np.floor((data.shape[0] - window_length) / hop_length))
    shape = (num_frames, window_length) + data.shape[1:]
    strides = (data.strides[0] * hop_length,) + data.strides
    return np.lib.stride_tricks.as_strided(data, shape=shape, strides=strides)


def _ref_mel_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower, upper):
    def hertz_to_mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    bins_mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))
    edges = np.linspace(hertz_to_mel(lower), hertz_to_mel(upper), num_mel_bins + 2)
    weights = np.empty((num_spectrogram_bins, num_mel_bins))
    for i in range(num_mel_bins):
        lo, center, hi = edges[i : i + 3]
        lower_slope = (bins_mel - lo) / (center - lo)
        upper_slope = (hi - bins_mel) / (hi - center)
        weights[:, i] = np.maximum(0.0, np.minimum(lower_slope, upper_slope))
    weights[0, :] = 0.0
    return weights


def _ref_waveform_to_examples(data: np.ndarray) -> np.ndarray:
    window_length, hop_length = int(round(SR * 0.025)), int(round(SR * 0.010))
    fft_length = 2 ** int(np.ceil(np.log(window_length) / np.log(2.0)))
    frames = _ref_frame(data, window_length, hop_length)
    window = 0.5 - (0.5 * np.cos(2 * np.pi / window_length * np.arange(window_length)))
    spectrogram = np.abs(np.fft.rfft(frames * window, int(fft_length)))
    mel = spectrogram @ _ref_mel_matrix(64, spectrogram.shape[1], SR, 125.0, 7500.0)
    log_mel = np.log(mel + 0.01)
    examples = _ref_frame(log_mel, 96, 96)
    return examples[:, None, :, :].astype(np.float32)


# --- Random weights under torchvggish's names --------------------------------------------


def torchvggish_state_dict(with_pca: bool = False) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    convs = {0: (64, 1), 3: (128, 64), 6: (256, 128), 8: (256, 256), 11: (512, 256), 13: (512, 512)}
    state: dict[str, torch.Tensor] = {}
    for index, (out_ch, in_ch) in convs.items():
        scale = (2.0 / (9 * in_ch)) ** 0.5
        state[f"features.{index}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=gen) * scale
        state[f"features.{index}.bias"] = torch.zeros(out_ch)
    for index, (out_f, in_f) in {0: (4096, 12288), 2: (4096, 4096), 4: (128, 4096)}.items():
        state[f"embeddings.{index}.weight"] = torch.randn(out_f, in_f, generator=gen) / in_f**0.5
        state[f"embeddings.{index}.bias"] = torch.zeros(out_f)
    if with_pca:
        state["pproc.pca_matrix"] = torch.eye(128)
        state["pproc.pca_means"] = torch.zeros(128, 1)
    return state


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    noise = 0.01 * np.random.default_rng(0).normal(size=t.shape)
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 2500 * t) + noise).astype(
        np.float32
    )


def test_front_end_matches_tf_mel_features_on_a_tone() -> None:
    wave = _tone(2.5)
    expected = _ref_waveform_to_examples(wave.astype(np.float64))
    ours = waveform_to_examples(torch.from_numpy(wave)).numpy()
    assert ours.shape == expected.shape == (2, 1, 96, 64)  # 2.5 s -> 248 frames -> 2 examples
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vggish_mel_matrix(), _ref_mel_matrix(64, 257, SR, 125.0, 7500.0))
    # Shorter than 0.96 s (96 frames need 400 + 95 * 160 = 15,600 samples): no example.
    assert waveform_to_examples(torch.zeros(15599)).shape[0] == 0
    assert waveform_to_examples(torch.zeros(15600)).shape[0] == 1


def test_vggish_loads_torchvggish_keys_and_gives_128() -> None:
    model = Vggish()
    state = torchvggish_state_dict()
    assert set(state) | {"pproc.pca_matrix", "pproc.pca_means"} == set(model.state_dict())
    load_vggish_state_dict(model, state)
    model.eval()
    examples = waveform_to_examples(torch.from_numpy(_tone(2.0)))
    with torch.inference_mode():
        embeddings = model(examples)
        assert embeddings.shape == (examples.shape[0], 128)
        # Same as torchvggish's VGG.forward: transpose(1, 3), transpose(1, 2), flatten.
        feats = model.features(examples)
        flat = torch.transpose(torch.transpose(feats, 1, 3), 1, 2).contiguous()
        reference = model.embeddings(flat.view(flat.size(0), -1))
        torch.testing.assert_close(embeddings, reference)
        assert torch.equal(model(examples, activation=True), torch.relu(reference))
        assert model.embed_waveform(torch.from_numpy(_tone(0.5))).shape == (0, 128)
    with pytest.raises(ModelLoadError):
        model.postprocess(embeddings)  # no PCA parameters loaded


def test_vggish_pca_and_file_loading(tmp_path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "vggish.safetensors"
    save_file(torchvggish_state_dict(with_pca=True), str(path))
    model = load_vggish(path)
    embeddings = torch.linspace(-3, 3, 256).reshape(2, 128)
    quantised = model.postprocess(embeddings)  # identity PCA: clip to [-2, 2], map to 0..255
    assert quantised.min() == 0 and quantised.max() == 255
    bad = torchvggish_state_dict()
    bad["embeddings.4.weight"] = torch.zeros(64, 4096)
    with pytest.raises(ModelLoadError):
        load_vggish_state_dict(Vggish(), bad)
