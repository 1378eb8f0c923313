"""Distribution metrics between generated and reference audio: FD/FAD, KL, IS.

Each function reproduces what the reference evaluator ``audioldm_eval`` computes (its
``metrics/fid.py``, ``metrics/fad.py``, ``metrics/kl.py`` and ``metrics/isc.py``); the
deliberate differences are listed in each docstring. Inputs may be numpy arrays or torch
tensors; everything is computed in float64 and returned as Python floats.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import torch

from clapldm.errors import InvalidInputError

logger = logging.getLogger(__name__)

ArrayLike = np.ndarray | torch.Tensor

# audioldm_eval adds this to the predicted probabilities before the log in both KL variants.
KL_EPS = 1e-6
# audioldm_eval shuffles features with np.random.RandomState(2020) before splitting for IS.
IS_SHUFFLE_SEED = 2020


def _as_float64(values: ArrayLike, name: str) -> np.ndarray:
    """Convert a tensor / array to a float64 numpy array, rejecting non-finite values."""
    if isinstance(values, torch.Tensor):
        array = values.detach().to("cpu", torch.float64).numpy()
    else:
        array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} holds NaN or infinite values")
    return array


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a (numerically) positive semi-definite matrix, (D, D).

    Uses the eigen-decomposition of the symmetrised matrix; eigenvalues a rounding error
    below zero are clipped to zero, so rank-deficient covariances (fewer files than feature
    dimensions, the usual case for 2048-d CNN14 features) are handled exactly.
    """
    symmetric = 0.5 * (matrix + matrix.T)
    eigvals, eigvecs = np.linalg.eigh(symmetric)
    root = np.sqrt(np.clip(eigvals, 0.0, None))
    return (eigvecs * root[None, :]) @ eigvecs.T


def _trace_sqrt_product(cov1: np.ndarray, cov2: np.ndarray) -> float:
    """tr((cov1 cov2)^(1/2)) for PSD (D, D) matrices, via a symmetric eigenproblem.

    cov1 cov2 is similar to the symmetric PSD matrix L^T cov2 L, where cov1 = L L^T
    (Cholesky), so its square root's trace is sum(sqrt(eigvalsh(L^T cov2 L))). A singular
    cov1 (no Cholesky factor) uses its symmetric square root R instead: R cov2 R.
    """
    try:
        factor = np.linalg.cholesky(cov1)
        inner = factor.T @ cov2 @ factor
    except np.linalg.LinAlgError:
        root = _sqrt_psd(cov1)
        inner = root @ cov2 @ root
    eigvals = np.linalg.eigvalsh(0.5 * (inner + inner.T))
    return float(np.sum(np.sqrt(np.clip(eigvals, 0.0, None))))


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), float64.

    d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)).

    mu1, mu2: (D,); sigma1, sigma2: (D, D) covariance matrices.

    The trace term is computed without a general (non-symmetric) matrix square root:
    sigma1 sigma2 is similar to a symmetric PSD matrix (``_trace_sqrt_product``), whose
    eigenvalues ``eigvalsh`` finds stably, where ``scipy.linalg.sqrtm`` of the product can
    return complex or non-finite values (the reference then retries with 1e-6 added to
    both diagonals; that is not needed here). Equal to the reference's result wherever
    the latter is well defined. A result a rounding error below zero is returned as 0.
    """
    mean1 = np.atleast_1d(_as_float64(mu1, "mu1"))
    mean2 = np.atleast_1d(_as_float64(mu2, "mu2"))
    cov1 = np.atleast_2d(_as_float64(sigma1, "sigma1"))
    cov2 = np.atleast_2d(_as_float64(sigma2, "sigma2"))
    dim = mean1.shape[0]
    if mean1.shape != (dim,) or mean2.shape != (dim,):
        raise InvalidInputError(
            f"Fréchet distance: mean shapes {mean1.shape} and {mean2.shape} differ"
        )
    if cov1.shape != (dim, dim) or cov2.shape != (dim, dim):
        raise InvalidInputError(
            f"Fréchet distance: covariance shapes {cov1.shape}, {cov2.shape} do not match "
            f"dimension {dim}"
        )
    diff = mean1 - mean2
    cross = _trace_sqrt_product(cov1, cov2)
    value = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * cross)
    return max(value, 0.0)


def gaussian_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) (ddof=1, as ``np.cov``) of (N, D) features."""
    array = _as_float64(features, "features")
    if array.ndim != 2:
        raise InvalidInputError(f"features must be (N, D), got shape {array.shape}")
    if array.shape[0] < 2:
        raise InvalidInputError(
            f"a Fréchet distance needs at least 2 feature vectors per set, got {array.shape[0]}"
        )
    return array.mean(axis=0), np.cov(array, rowvar=False)


def frechet_from_features(features_a: ArrayLike, features_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to (N_a, D) and (N_b, D) feature sets.

    FD in ``audioldm_eval`` is this on CNN14 2048-d embeddings (one vector per file); FAD
    is this on VGGish 128-d embeddings (one vector per 0.96 s example, pooled over files).
    Covariances are unbiased (ddof 1), as ``np.cov``.

    With few vectors (the usual FD case: a few hundred files, 2048 dimensions) the
    covariances are low-rank and the trace term is computed in feature space instead:
    with A, B the centred features scaled by 1/sqrt(N - 1), sigma_a = A^T A and
    sigma_b = B^T B, so tr((sigma_a sigma_b)^(1/2)) is the sum of the singular values of
    A B^T (N_a, N_b): exact, and far cheaper than a (D, D) eigenproblem.
    """
    a = _as_float64(features_a, "features_a")
    b = _as_float64(features_b, "features_b")
    for array in (a, b):
        if array.ndim != 2:
            raise InvalidInputError(f"features must be (N, D), got shape {array.shape}")
        if array.shape[0] < 2:
            raise InvalidInputError(
                f"a Fréchet distance needs at least 2 feature vectors per set, got {array.shape[0]}"
            )
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError(
            f"feature sets have different dimensions: {a.shape[1]} and {b.shape[1]}"
        )
    (n_a, dim), n_b = a.shape, b.shape[0]
    if n_a * n_b * min(n_a, n_b) >= dim**3:
        mu_a, sigma_a = gaussian_statistics(a)
        mu_b, sigma_b = gaussian_statistics(b)
        return frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    scaled_a = (a - mu_a) / np.sqrt(n_a - 1)  # sigma_a = scaled_a.T @ scaled_a
    scaled_b = (b - mu_b) / np.sqrt(n_b - 1)
    cross = float(np.linalg.svd(scaled_a @ scaled_b.T, compute_uv=False).sum())
    diff = mu_a - mu_b
    value = diff @ diff + np.sum(scaled_a**2) + np.sum(scaled_b**2) - 2.0 * cross
    return max(float(value), 0.0)


def kl_divergence(
    pred_logits: ArrayLike,
    ref_logits: ArrayLike,
    variant: Literal["softmax", "sigmoid"] = "softmax",
) -> float:
    """Mean over pairs of KL(reference || generated) on classifier logits, as audioldm_eval.

    pred_logits: (N, C) logits of the generated clips; ref_logits: (N, C) logits of the
    reference clip paired with each (row i with row i). For CNN14 these are the 527
    AudioSet logits *before* the sigmoid (audioldm_eval's "logits" feature).

    With ``p = f(ref_logits)`` and ``q = f(pred_logits)``:

        KL = (1 / N) * sum_i sum_c p_ic * (log p_ic - log(q_ic + 1e-6))

    - ``"softmax"``: f = softmax over classes (the AudioGen formulation, reported by
      audioldm_eval as ``kullback_leibler_divergence_softmax``).
    - ``"sigmoid"``: f = sigmoid per class (``kullback_leibler_divergence_sigmoid``). As in
      the reference this sums only the positive-class terms p log(p / q); it is not the
      Bernoulli KL (no (1 - p) terms), so it can be negative.

    This is ``torch.nn.functional.kl_div(log(q + 1e-6), p, reduction="sum") / N`` exactly
    as the reference computes it, but in float64 (the reference uses float32).
    """
    pred = _as_float64(pred_logits, "pred_logits")
    ref = _as_float64(ref_logits, "ref_logits")
    if pred.ndim != 2 or pred.shape != ref.shape:
        raise InvalidInputError(
            f"KL needs two (N, C) logit arrays of the same shape, got {pred.shape} and {ref.shape}"
        )
    if pred.shape[0] == 0:
        raise InvalidInputError("KL needs at least one generated/reference pair")
    pred_t = torch.from_numpy(pred)
    ref_t = torch.from_numpy(ref)
    if variant == "softmax":
        pred_prob, ref_prob = pred_t.softmax(dim=1), ref_t.softmax(dim=1)
    elif variant == "sigmoid":
        pred_prob, ref_prob = pred_t.sigmoid(), ref_t.sigmoid()
    else:
        raise InvalidInputError(f"unknown KL variant {variant!r}; use 'softmax' or 'sigmoid'")
    total = torch.nn.functional.kl_div((pred_prob + KL_EPS).log(), ref_prob, reduction="sum")
    return float(total) / pred.shape[0]


def inception_score(
    logits: ArrayLike, splits: int = 10, shuffle_seed: int | None = IS_SHUFFLE_SEED
) -> tuple[float, float]:
    """Inception score of (N, C) classifier logits: (mean, std) over ``splits`` splits.

    As audioldm_eval's ``calculate_isc``: rows are shuffled with
    ``np.random.RandomState(2020).permutation(N)`` (``shuffle_seed=None`` keeps the
    order), p(y|x) = softmax(logits), and for each contiguous split
    ``exp(mean_x KL(p(y|x) || p(y)))`` with p(y) the split's mean prediction; the std is
    the population std (ddof 0) over splits. With fewer rows than splits the reference
    produces NaN from empty splits; here the number of splits is reduced to N instead
    (with a warning).
    """
    array = _as_float64(logits, "logits")
    if array.ndim != 2 or array.shape[0] == 0:
        raise InvalidInputError(f"IS needs (N, C) logits with N >= 1, got shape {array.shape}")
    if splits < 1:
        raise InvalidInputError(f"IS splits must be >= 1, got {splits}")
    num_rows = array.shape[0]
    if num_rows < splits:
        logger.warning("IS: %d samples < %d splits; using %d splits", num_rows, splits, num_rows)
        splits = num_rows
    if shuffle_seed is not None:
        array = array[np.random.RandomState(shuffle_seed).permutation(num_rows)]
    logits_t = torch.from_numpy(array)
    prob = logits_t.softmax(dim=1)
    log_prob = logits_t.log_softmax(dim=1)
    scores = []
    for split in range(splits):
        rows = slice(split * num_rows // splits, (split + 1) * num_rows // splits)
        prob_chunk, log_prob_chunk = prob[rows], log_prob[rows]
        marginal = prob_chunk.mean(dim=0, keepdim=True)
        kl = (prob_chunk * (log_prob_chunk - marginal.log())).sum(dim=1)
        scores.append(float(kl.mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))


def clap_score(text_embeddings: ArrayLike, audio_embeddings: ArrayLike) -> float:
    """Mean cosine similarity of paired (N, D) text and audio embeddings (CLAP score).

    Rows are L2-normalised here, so un-normalised embeddings are fine too. Same as
    audioldm_eval's ``calculate_clap_sore``: the mean over files of cos(text, audio).
    """
    text = _as_float64(text_embeddings, "text_embeddings")
    audio = _as_float64(audio_embeddings, "audio_embeddings")
    if text.ndim != 2 or text.shape != audio.shape or text.shape[0] == 0:
        raise InvalidInputError(
            f"CLAP score needs two non-empty (N, D) arrays of one shape, got {text.shape} "
            f"and {audio.shape}"
        )
    text_unit = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    audio_unit = audio / np.maximum(np.linalg.norm(audio, axis=1, keepdims=True), 1e-12)
    return float(np.mean(np.sum(text_unit * audio_unit, axis=1)))
