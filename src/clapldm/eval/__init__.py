"""Evaluation: FD / FAD / KL / IS / CLAP score between generated and reference audio.

Backbones: PANNs CNN14 (``cnn14``), VGGish (``vggish``), and any audio-text embedder
(the project's CLAP). ``evaluate`` is the library entry point, ``eval_main`` the CLI.
"""

from clapldm.eval.cli import eval_main
from clapldm.eval.cnn14 import Cnn14, Cnn14Config, download_cnn14_weights, load_cnn14
from clapldm.eval.evaluate import AudioTextEmbedder, EvalReport, MetricResult, evaluate
from clapldm.eval.files import load_captions
from clapldm.eval.metrics import (
    clap_score,
    frechet_distance,
    frechet_from_features,
    inception_score,
    kl_divergence,
)
from clapldm.eval.vggish import Vggish, download_vggish_weights, load_vggish

__all__ = [
    "AudioTextEmbedder",
    "Cnn14",
    "Cnn14Config",
    "EvalReport",
    "MetricResult",
    "Vggish",
    "clap_score",
    "download_cnn14_weights",
    "download_vggish_weights",
    "eval_main",
    "evaluate",
    "frechet_distance",
    "frechet_from_features",
    "inception_score",
    "kl_divergence",
    "load_captions",
    "load_cnn14",
    "load_vggish",
]
