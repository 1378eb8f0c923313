"""VGGish (Hershey et al. 2017) with its exact front end, as FAD uses it.

Layout and key names are torchvggish's (``harritaylor/torchvggish``, which audioldm_eval
loads through ``torch.hub``): ``features.{0,3,6,8,11,13}`` 3x3 convs, ``embeddings.{0,2,4}``
Linear 12288 -> 4096 -> 4096 -> 128, optional PCA ``pproc.pca_matrix`` / ``pproc.pca_means``.

Front end (TensorFlow ``vggish_input`` / ``mel_features``): 16 kHz mono; frames of 400
samples (25 ms) every 160 (10 ms), no padding; periodic Hann; |rfft| with n_fft 512
(magnitude, not power); 64 HTK-mel bands 125-7500 Hz whose triangles are linear in mel
and ignore the DC bin; log(mel + 0.01); non-overlapping examples of 96 frames (0.96 s).
A clip shorter than 15,600 samples (96 frames, ~0.98 s) yields no example.

audioldm_eval's FAD uses ``postprocess=False`` (no PCA) and drops the last ReLU of
``embeddings``: ``Vggish.forward`` does the same by default.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clapldm.errors import InvalidInputError, ModelLoadError
from clapldm.eval.weights import cache_dir, download_file, load_state_dict_file

logger = logging.getLogger(__name__)

VGGISH_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
VGGISH_PCA_URL = (
    "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
    "vggish_pca_params-970ea276.pth"
)

# vggish_params.py
SAMPLE_RATE = 16000
STFT_WINDOW_SAMPLES = 400  # 0.025 s
STFT_HOP_SAMPLES = 160  # 0.010 s
FFT_LENGTH = 512  # next power of two above the window
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s of 10 ms frames; examples do not overlap
EMBEDDING_SIZE = 128
QUANTIZE_MIN_VAL = -2.0
QUANTIZE_MAX_VAL = 2.0

# HTK mel scale as mel_features.py writes it.
_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _hertz_to_mel(freqs_hz: np.ndarray) -> np.ndarray:
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + freqs_hz / _MEL_BREAK_FREQUENCY_HERTZ)


def vggish_mel_matrix(
    num_mel_bins: int = NUM_MEL_BINS,
    num_spectrogram_bins: int = FFT_LENGTH // 2 + 1,
    sample_rate: int = SAMPLE_RATE,
    lower_edge_hertz: float = MEL_MIN_HZ,
    upper_edge_hertz: float = MEL_MAX_HZ,
) -> np.ndarray:
    """mel_features.spectrogram_to_mel_matrix: (num_spectrogram_bins, num_mel_bins) float64.

    Unnormalised triangles whose slopes are linear in HTK mel, bands equally spaced in mel
    between the edges; row 0 (DC) is zero. This differs from ``librosa.filters.mel(htk=True)``.
    """
    nyquist = sample_rate / 2.0
    if not 0.0 <= lower_edge_hertz < upper_edge_hertz <= nyquist:
        raise InvalidInputError(
            f"mel edges must satisfy 0 <= {lower_edge_hertz} < {upper_edge_hertz} <= {nyquist}"
        )
    bins_mel = _hertz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins))
    edges_mel = np.linspace(
        _hertz_to_mel(np.array(lower_edge_hertz)),
        _hertz_to_mel(np.array(upper_edge_hertz)),
        num_mel_bins + 2,
    )
    weights = np.empty((num_spectrogram_bins, num_mel_bins))
    for band in range(num_mel_bins):
        lower, center, upper = edges_mel[band : band + 3]
        rising = (bins_mel - lower) / (center - lower)
        falling = (upper - bins_mel) / (upper - center)
        weights[:, band] = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # HTK excludes the DC bin
    return weights


_MEL_MATRIX = torch.from_numpy(vggish_mel_matrix())  # (257, 64) float64
# Periodic Hann: 0.5 - 0.5 cos(2 pi n / N), n = 0..N-1 (mel_features.periodic_hann).
_WINDOW = torch.hann_window(STFT_WINDOW_SAMPLES, periodic=True, dtype=torch.float64)


def log_mel_spectrogram(wave: torch.Tensor) -> torch.Tensor:
    """VGGish log-mel of one 16 kHz clip: wave (samples,) -> (frames, 64) float64.

    frames = 1 + (samples - 400) // 160 (0 if samples < 400). Computed in float64 like the
    numpy reference.
    """
    if wave.dim() != 1:
        raise InvalidInputError(f"VGGish front end expects (samples,), got {tuple(wave.shape)}")
    signal = wave.detach().to("cpu", torch.float64)
    if signal.shape[0] < STFT_WINDOW_SAMPLES:
        return torch.zeros((0, NUM_MEL_BINS), dtype=torch.float64)
    frames = signal.unfold(0, STFT_WINDOW_SAMPLES, STFT_HOP_SAMPLES)  # (T, 400)
    magnitude = torch.fft.rfft(frames * _WINDOW, n=FFT_LENGTH).abs()  # (T, 257)
    return torch.log(magnitude @ _MEL_MATRIX + LOG_OFFSET)


def waveform_to_examples(wave: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """vggish_input.waveform_to_examples: wave (samples,) at 16 kHz -> (N, 1, 96, 64) float32.

    N = frames // 96 non-overlapping 0.96 s examples (a trailing partial one is dropped).
    Resample to 16 kHz before calling (the reference uses resampy; clapldm uses soxr).
    """
    if sample_rate != SAMPLE_RATE:
        raise InvalidInputError(f"VGGish needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    log_mel = log_mel_spectrogram(wave)
    if log_mel.shape[0] < EXAMPLE_FRAMES:
        return torch.zeros((0, 1, EXAMPLE_FRAMES, NUM_MEL_BINS), dtype=torch.float32)
    examples = log_mel.unfold(0, EXAMPLE_FRAMES, EXAMPLE_FRAMES)  # (N, 64, 96)
    return examples.transpose(1, 2)[:, None].float()


def _make_features() -> nn.Sequential:
    """VGG conv stack; indices match torchvggish ``make_layers`` (convs at 0,3,6,8,11,13)."""
    layers: list[nn.Module] = []
    in_channels = 1
    for spec in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
        if spec == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(spec, int)
            layers += [nn.Conv2d(in_channels, spec, kernel_size=3, padding=1), nn.ReLU()]
            in_channels = spec
    return nn.Sequential(*layers)


class _Postprocessor(nn.Module):
    """PCA (with whitening) + 8-bit quantisation of AudioSet's released embeddings."""

    pca_matrix: torch.Tensor
    pca_means: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pca_matrix", torch.zeros(EMBEDDING_SIZE, EMBEDDING_SIZE))
        self.register_buffer("pca_means", torch.zeros(EMBEDDING_SIZE, 1))
        self.loaded = False

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """embeddings (N, 128) -> PCA'd, clipped to [-2, 2], quantised to 0..255 (N, 128)."""
        if not self.loaded:
            raise ModelLoadError("VGGish PCA parameters are not loaded (pass a PCA file)")
        pca = (self.pca_matrix @ (embeddings.T - self.pca_means)).T
        clipped = torch.clamp(pca, QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL)
        return torch.round(
            (clipped - QUANTIZE_MIN_VAL) * (255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL))
        )


class Vggish(nn.Module):
    """VGGish embedding network: (N, 1, 96, 64) log-mel examples -> (N, 128) embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _make_features()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096),
            nn.ReLU(),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, EMBEDDING_SIZE),
        )
        self.pproc = _Postprocessor()

    def forward(self, examples: torch.Tensor, *, activation: bool = False) -> torch.Tensor:
        """examples (N, 1, 96, 64) -> (N, 128).

        ``activation=False`` (audioldm_eval's FAD) returns the last Linear's output;
        ``True`` applies torchvggish's final ReLU.
        """
        x = self.features(examples)  # (N, 512, 6, 4)
        # Flatten in TensorFlow's NHWC order, as the converted weights expect.
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        x = self.embeddings(x)
        return F.relu(x) if activation else x

    def postprocess(self, embeddings: torch.Tensor) -> torch.Tensor:
        """PCA + quantisation (torchvggish ``postprocess=True``); needs PCA parameters."""
        return self.pproc(embeddings)

    @torch.no_grad()
    def embed_waveform(self, wave: torch.Tensor, *, batch_size: int = 64) -> torch.Tensor:
        """One 16 kHz clip (samples,) -> (N_examples, 128) FAD embeddings on the CPU (N may be 0)."""
        examples = waveform_to_examples(wave)
        device = next(self.parameters()).device
        outputs = [
            self(examples[start : start + batch_size].to(device)).cpu()
            for start in range(0, examples.shape[0], batch_size)
        ]
        return torch.cat(outputs) if outputs else torch.zeros((0, EMBEDDING_SIZE))


def load_vggish_state_dict(
    model: Vggish,
    state_dict: dict[str, torch.Tensor],
    pca: dict[str, torch.Tensor] | None = None,
) -> None:
    """Load torchvggish-named weights strictly (``pproc.*`` optional) and optional PCA.

    ``pca`` holds ``pca_eigen_vectors`` (128, 128) and ``pca_means`` (128,) as in
    torchvggish's PCA file. Raises ``ModelLoadError`` on any mismatch.
    """
    own = model.state_dict()
    optional = {"pproc.pca_matrix", "pproc.pca_means"}
    missing = sorted(set(own) - set(state_dict) - optional)
    unexpected = sorted(set(state_dict) - set(own))
    # pproc.pca_means is (128, 1) here and may be saved as (128,): compare sizes there.
    wrong = [
        k
        for k, v in state_dict.items()
        if k in own and (v.numel() != own[k].numel() if k in optional else v.shape != own[k].shape)
    ]
    if missing or unexpected or wrong:
        raise ModelLoadError(
            f"VGGish weights do not match the architecture: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}"
        )
    merged = {**own, **{k: v.reshape(own[k].shape) for k, v in state_dict.items()}}
    model.load_state_dict(merged, strict=True)
    model.pproc.loaded = optional <= set(state_dict)
    if pca is not None:
        try:
            matrix = pca["pca_eigen_vectors"].reshape(EMBEDDING_SIZE, EMBEDDING_SIZE)
            means = pca["pca_means"].reshape(EMBEDDING_SIZE, 1)
        except (KeyError, RuntimeError) as exc:
            raise ModelLoadError(
                f"VGGish PCA parameters need pca_eigen_vectors (128, 128) and pca_means (128,): "
                f"{exc}"
            ) from exc
        model.pproc.pca_matrix.copy_(matrix)
        model.pproc.pca_means.copy_(means)
        model.pproc.loaded = True


def load_vggish(
    weights: str | Path, pca: str | Path | None = None, device: str | torch.device = "cpu"
) -> Vggish:
    """Build VGGish, load ``vggish-10086976.pth`` (or any torchvggish-named state dict,
    ``.pth`` or ``.safetensors``) and optionally a PCA file; return it in eval mode."""
    model = Vggish()
    pca_params = load_state_dict_file(pca) if pca is not None else None
    load_vggish_state_dict(model, load_state_dict_file(weights), pca_params)
    logger.info("loaded VGGish weights from %s", weights)
    return model.eval().to(device)


def download_vggish_weights(directory: Path | None = None, *, pca: bool = False) -> list[Path]:
    """Download torchvggish's weights (~280 MB, GitHub releases) and optionally the PCA file.

    Only ever called on explicit request; raises ``ModelLoadError`` offline. Returns the
    paths, weights first.
    """
    folder = directory or cache_dir()
    paths = [download_file(VGGISH_URL, folder / "vggish-10086976.pth")]
    if pca:
        paths.append(download_file(VGGISH_PCA_URL, folder / "vggish_pca_params-970ea276.pth"))
    return paths
