"""PANNs CNN14 audio tagger (Kong et al. 2020, arXiv 1912.10211) as audioldm_eval uses it.

audioldm_eval computes FD on CNN14's 2048-d embedding and KL / IS on its 527 AudioSet
logits, with the 16 kHz model ``Cnn14_16k_mAP=0.438.pth``: window 512, hop 160 (10 ms),
64 mel bins from 50 to 8000 Hz. Module and parameter names follow PANNs
(``spectrogram_extractor.stft.conv_real.weight``, ``logmel_extractor.melW``, ``bn0``,
``conv_block1..6.{conv1,conv2,bn1,bn2}``, ``fc1``, ``fc_audioset``) so a PANNs
checkpoint loads with strict key checking.

Front end (torchlibrosa, as PANNs): reflect-pad n_fft/2 each side (center=True), a
DFT-by-matrix STFT with a periodic Hann window, power spectrogram (|X|^2), Slaney mel
filterbank with Slaney area norm (librosa's default), then 10 log10(clamp(mel, 1e-10))
(ref 1.0, no top_db). The STFT and mel matrices are persistent buffers with the
checkpoint's key names: the values in a checkpoint are used as they are (they are the
reference's own), and a state dict without them gets the computed ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clapldm.audio.mel import slaney_mel_filterbank
from clapldm.errors import InvalidInputError, ModelLoadError
from clapldm.eval.weights import cache_dir, download_file, load_state_dict_file

logger = logging.getLogger(__name__)

CNN14_16K_URL = "https://zenodo.org/record/3987831/files/Cnn14_16k_mAP%3D0.438.pth"
CNN14_16K_FILENAME = "Cnn14_16k_mAP=0.438.pth"


@dataclass(frozen=True)
class Cnn14Config:
    """CNN14 hyper-parameters; the defaults are audioldm_eval's 16 kHz setting.

    The 32 kHz model (``Cnn14_mAP=0.431.pth``) is ``Cnn14Config(sample_rate=32000,
    window_size=1024, hop_size=320, fmax=14000.0)``. ``block_channels`` exists so tests
    can build a tiny network; the released models use the default.
    """

    sample_rate: int = 16000
    window_size: int = 512  # samples; also n_fft (32 ms at 16 kHz)
    hop_size: int = 160  # samples; 10 ms at 16 kHz
    mel_bins: int = 64
    fmin: float = 50.0  # Hz
    fmax: float = 8000.0  # Hz
    classes_num: int = 527  # AudioSet ontology
    block_channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    # audioldm_eval zero-pads clips shorter than 2 s (32000 samples at 16 kHz) at the end.
    min_samples: int = 32000

    def __post_init__(self) -> None:
        if len(self.block_channels) != 6:
            raise InvalidInputError("Cnn14Config.block_channels needs 6 entries")

    @property
    def embedding_dim(self) -> int:
        """Size of the ``embedding`` output (2048 for the released models)."""
        return self.block_channels[-1]


class _DftConv(nn.Module):
    """A frozen real or imaginary DFT-times-window bank, stored as ``weight`` (F, 1, n_fft).

    Named and shaped like torchlibrosa's ``nn.Conv1d`` so checkpoints load; kept as a
    buffer because it is not trained.
    """

    weight: torch.Tensor

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight)


class _Stft(nn.Module):
    """Centered STFT by matrix product; returns real and imaginary parts (B, T, F)."""

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        # Periodic Hann (librosa get_window("hann", fftbins=True)); DFT W[n, k] = e^{-2pi i nk/N}.
        window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
        bins = np.arange(n_fft // 2 + 1)
        angle = -2.0 * np.pi * np.outer(bins, np.arange(n_fft)) / n_fft  # (F, n_fft)
        real = torch.from_numpy(np.cos(angle) * window[None, :]).float()[:, None, :]
        imag = torch.from_numpy(np.sin(angle) * window[None, :]).float()[:, None, :]
        self.conv_real = _DftConv(real)
        self.conv_imag = _DftConv(imag)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """wave (B, samples) -> (real, imag), each (B, frames, n_fft // 2 + 1).

        frames = 1 + samples // hop_length (reflect padding of n_fft // 2 each side).
        """
        half = self.n_fft // 2
        padded = F.pad(wave[:, None, :], (half, half), mode="reflect")[:, 0, :]
        frames = padded.unfold(-1, self.n_fft, self.hop_length)  # (B, T, n_fft)
        real = frames @ self.conv_real.weight[:, 0, :].T
        imag = frames @ self.conv_imag.weight[:, 0, :].T
        return real, imag


class _Spectrogram(nn.Module):
    """Power spectrogram |X|^2, (B, samples) -> (B, 1, frames, n_fft // 2 + 1)."""

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.stft = _Stft(n_fft, hop_length)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        real, imag = self.stft(wave)
        return (real**2 + imag**2)[:, None]


class _LogMel(nn.Module):
    """Mel filterbank ``melW`` (F, mel_bins) then 10 log10(clamp(., 1e-10)) (dB, ref 1.0)."""

    melW: torch.Tensor  # noqa: N815 -- the checkpoint's key name

    def __init__(self, config: Cnn14Config) -> None:
        super().__init__()
        basis = slaney_mel_filterbank(
            config.sample_rate, config.window_size, config.mel_bins, config.fmin, config.fmax
        )
        self.register_buffer("melW", torch.from_numpy(basis.T).float())

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        """power (B, 1, T, F) -> log-mel (B, 1, T, mel_bins) in dB."""
        mel = power @ self.melW
        # power_to_db with amin 1e-10, ref 1.0 (its offset 10 log10(max(amin, ref)) is 0).
        return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))


class ConvBlock(nn.Module):
    """Two 3x3 conv -> BN -> ReLU layers, then 2-D average pooling (PANNs ``ConvBlock``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool_size: tuple[int, int]) -> torch.Tensor:
        """x (B, C_in, T, M) -> (B, C_out, T / pool_t, M / pool_m)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool_size)


class Cnn14(nn.Module):
    """CNN14 returning the features audioldm_eval uses.

    ``forward(wave)`` with wave (B, samples) at ``config.sample_rate`` returns
    ``{"embedding": (B, 2048), "logits": (B, 527), "clipwise_output": (B, 527)}``:
    the ReLU'd ``fc1`` output (audioldm_eval's "2048" feature, for FD), the
    ``fc_audioset`` output before the sigmoid (its "logits", for KL and IS), and their
    sigmoid (PANNs' clip-wise tag probabilities). Use in ``eval()`` mode: dropout and
    SpecAugment of the training model are not implemented.
    """

    def __init__(self, config: Cnn14Config | None = None) -> None:
        super().__init__()
        self.config = config or Cnn14Config()
        cfg = self.config
        self.spectrogram_extractor = _Spectrogram(cfg.window_size, cfg.hop_size)
        self.logmel_extractor = _LogMel(cfg)
        self.bn0 = nn.BatchNorm2d(cfg.mel_bins)
        channels = (1, *cfg.block_channels)
        self.conv_block1 = ConvBlock(channels[0], channels[1])
        self.conv_block2 = ConvBlock(channels[1], channels[2])
        self.conv_block3 = ConvBlock(channels[2], channels[3])
        self.conv_block4 = ConvBlock(channels[3], channels[4])
        self.conv_block5 = ConvBlock(channels[4], channels[5])
        self.conv_block6 = ConvBlock(channels[5], channels[6])
        self.fc1 = nn.Linear(cfg.embedding_dim, cfg.embedding_dim)
        self.fc_audioset = nn.Linear(cfg.embedding_dim, cfg.classes_num)

    def logmel(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (B, samples) -> log-mel (B, 1, frames, mel_bins), dB, frames = 1 + S // hop."""
        return self.logmel_extractor(self.spectrogram_extractor(wave))

    def forward(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        """wave (B, samples) -> {"embedding" (B, 2048), "logits" (B, 527), "clipwise_output"}.

        Needs at least 32 frames (5 time poolings by 2): about 0.32 s at 16 kHz; use
        ``prepare_waveform`` first to pad as the reference does.
        """
        if wave.dim() != 2:
            raise InvalidInputError(f"CNN14 expects (B, samples), got {tuple(wave.shape)}")
        x = self.logmel(wave)  # (B, 1, T, M)
        # bn0 normalises each mel bin: move mel to the channel axis and back.
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        x = self.conv_block1(x, pool_size=(2, 2))
        x = self.conv_block2(x, pool_size=(2, 2))
        x = self.conv_block3(x, pool_size=(2, 2))
        x = self.conv_block4(x, pool_size=(2, 2))
        x = self.conv_block5(x, pool_size=(2, 2))
        x = self.conv_block6(x, pool_size=(1, 1))  # (B, 2048, T / 32, M / 32)
        x = x.mean(dim=3)  # average over frequency -> (B, 2048, T / 32)
        x = x.amax(dim=2) + x.mean(dim=2)  # max + mean over time -> (B, 2048)
        embedding = F.relu(self.fc1(x))
        logits = self.fc_audioset(embedding)
        return {
            "embedding": embedding,
            "logits": logits,
            "clipwise_output": torch.sigmoid(logits),
        }

    def prepare_waveform(self, wave: torch.Tensor) -> torch.Tensor:
        """audioldm_eval's input conditioning: remove the mean, zero-pad to ``min_samples``.

        wave (B, samples) or (samples,) at ``config.sample_rate``. The reference removes
        the mean before resampling and keeps only the first channel; callers here pass
        mono audio already resampled, which differs only by resampler edge effects.
        """
        if wave.dim() == 1:
            wave = wave[None]
        wave = wave - wave.mean(dim=-1, keepdim=True)
        short = self.config.min_samples - wave.shape[-1]
        if short > 0:
            wave = F.pad(wave, (0, short))
        return wave


def _front_end_keys(model: nn.Module) -> set[str]:
    return {k for k in model.state_dict() if k.startswith(("spectrogram_extractor.", "logmel_"))}


def load_cnn14_state_dict(model: Cnn14, state_dict: dict[str, torch.Tensor]) -> None:
    """Load a PANNs-named state dict into ``model``, strictly.

    Front-end keys (``spectrogram_extractor.*``, ``logmel_extractor.melW``) may be absent:
    the computed values are kept. Any other missing, unexpected or mis-shaped key raises
    ``ModelLoadError`` naming a few of them.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict) - _front_end_keys(model))
    unexpected = sorted(set(state_dict) - set(own))
    if missing or unexpected:
        raise ModelLoadError(
            f"CNN14 weights do not match the architecture: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]} ({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    wrong = [k for k, v in state_dict.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        details = ", ".join(
            f"{k}: {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:5]
        )
        raise ModelLoadError(f"CNN14 weights have wrong shapes: {details}")
    merged = {**own, **state_dict}
    model.load_state_dict(merged, strict=True)


def load_cnn14(
    weights: str | Path, config: Cnn14Config | None = None, device: str | torch.device = "cpu"
) -> Cnn14:
    """Build CNN14 (16 kHz setting by default), load a weights file, return it in eval mode.

    ``weights``: the PANNs checkpoint (``Cnn14_16k_mAP=0.438.pth``, a dict with "model")
    or any ``.pth``/``.safetensors`` state dict with PANNs key names.
    """
    model = Cnn14(config)
    load_cnn14_state_dict(model, load_state_dict_file(weights))
    logger.info("loaded CNN14 weights from %s", weights)
    return model.eval().to(device)


def download_cnn14_weights(directory: Path | None = None) -> Path:
    """Download ``Cnn14_16k_mAP=0.438.pth`` (~300 MB, Zenodo) unless present; return its path.

    Only ever called on explicit request; raises ``ModelLoadError`` offline.
    """
    target = (directory or cache_dir()) / CNN14_16K_FILENAME
    return download_file(CNN14_16K_URL, target)
