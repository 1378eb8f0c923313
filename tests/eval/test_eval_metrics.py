"""FD / KL / IS / CLAP score against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from clapldm.errors import InvalidInputError
from clapldm.eval.metrics import (
    clap_score,
    frechet_distance,
    frechet_from_features,
    inception_score,
    kl_divergence,
)


def _scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """pytorch-fid / audioldm_eval's formula with scipy.linalg.sqrtm of the product."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1 = np.atleast_2d(np.cov(a, rowvar=False))
    s2 = np.atleast_2d(np.cov(b, rowvar=False))
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


@pytest.mark.parametrize("dim", [1, 8, 64])
def test_frechet_matches_scipy_on_random_gaussians(dim: int) -> None:
    rng = np.random.default_rng(dim)
    mix1 = rng.normal(size=(dim, dim))
    mix2 = rng.normal(size=(dim, dim))
    a = rng.normal(size=(400, dim)) @ mix1 + 0.5
    b = rng.normal(size=(300, dim)) @ mix2 - 0.3
    expected = _scipy_frechet(a, b)
    assert frechet_from_features(a, b) == pytest.approx(expected, rel=1e-6)
    # Symmetric in its arguments, and accepts torch tensors.
    swapped = frechet_from_features(torch.from_numpy(b).float().double(), torch.from_numpy(a))
    assert swapped == pytest.approx(expected, rel=1e-6)


def test_frechet_low_rank_feature_route_matches_covariance_route_and_scipy() -> None:
    # 40 and 30 vectors in 128-d (the FD situation: fewer files than dimensions) take the
    # feature-space route; the (D, D) route and scipy must agree.
    rng = np.random.default_rng(7)
    a = rng.normal(size=(40, 128)) @ rng.normal(size=(128, 128)) * 0.1 + 0.2
    b = np.abs(rng.normal(size=(30, 128))) @ rng.normal(size=(128, 128)) * 0.1
    value = frechet_from_features(a, b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    assert frechet_distance(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(value, rel=1e-8)
    assert _scipy_frechet(a, b) == pytest.approx(value, rel=1e-6)


def test_frechet_zero_for_identical_sets_even_rank_deficient() -> None:
    rng = np.random.default_rng(0)
    full = rng.normal(size=(200, 16))
    assert abs(frechet_from_features(full, full)) < 1e-9 * np.trace(np.cov(full, rowvar=False))
    few = rng.normal(size=(10, 128))  # 10 files, 128-d: covariance of rank 9
    value = frechet_from_features(few, few.copy())
    assert 0.0 <= value < 1e-9 * np.trace(np.cov(few, rowvar=False))
    other = rng.normal(size=(12, 128)) + 1.0
    assert (
        math.isfinite(frechet_from_features(few, other)) and frechet_from_features(few, other) > 0
    )


def test_frechet_closed_forms() -> None:
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s.
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)
    # Equal covariances: only the mean term remains.
    cov = np.diag([1.0, 2.0, 3.0])
    assert frechet_distance([0, 0, 0], cov, [1, 2, 2], cov) == pytest.approx(9.0)


def test_frechet_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        frechet_from_features(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(InvalidInputError):
        frechet_from_features(np.zeros((5, 4)), np.zeros((5, 3)))
    with pytest.raises(InvalidInputError):
        frechet_from_features(np.full((5, 4), np.nan), np.zeros((5, 4)))


def test_kl_zero_for_identical_pairs() -> None:
    logits = np.random.default_rng(1).normal(size=(6, 527)) * 3
    for variant in ("softmax", "sigmoid"):
        # Exactly 0 up to the reference's +1e-6 inside the log: |KL| <= classes * 1e-6.
        assert abs(kl_divergence(logits, logits, variant)) <= 527 * 1e-6


def test_kl_matches_hand_computation() -> None:
    # Pair 1: generated softmax (1/4, 3/4), reference (1/2, 1/2).
    # Pair 2: generated (1/2, 1/2), reference (1/2, 1/2) -> 0.
    pred = np.array([[0.0, math.log(3.0)], [0.0, 0.0]])
    ref = np.zeros((2, 2))
    softmax_pair1 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(pred, ref, "softmax") == pytest.approx(softmax_pair1 / 2, abs=1e-5)
    # Sigmoid variant: per-class p log(p / q) with p = sigmoid(ref) = 1/2,
    # q = sigmoid(pred) = (1/2, 3/4) and (1/2, 1/2); no (1 - p) terms, as the reference.
    sigmoid_pair1 = 0.5 * math.log(0.5 / 0.5) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(pred, ref, "sigmoid") == pytest.approx(sigmoid_pair1 / 2, abs=1e-5)
    # Same as the reference's torch expression (float32 there).
    reference = (
        torch.nn.functional.kl_div(
            (torch.tensor(pred).softmax(1) + 1e-6).log(),
            torch.tensor(ref).softmax(1),
            reduction="sum",
        )
        / 2
    )
    assert kl_divergence(pred, ref) == pytest.approx(float(reference), rel=1e-9)


def test_kl_rejects_mismatched_shapes_and_variants() -> None:
    with pytest.raises(InvalidInputError):
        kl_divergence(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(InvalidInputError):
        kl_divergence(np.zeros((2, 3)), np.zeros((2, 3)), "bernoulli")  # type: ignore[arg-type]


def test_inception_score_uniform_classifier_is_one() -> None:
    mean, std = inception_score(np.zeros((50, 527)), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_confident_balanced_classifier_is_class_count() -> None:
    classes = 10
    logits = np.full((100, classes), -50.0)
    logits[np.arange(100), np.arange(100) % classes] = 50.0
    # Unshuffled, every split of 10 rows holds each class once: IS = number of classes.
    mean, std = inception_score(logits, splits=10, shuffle_seed=None)
    assert mean == pytest.approx(classes, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)
    # Fewer samples than splits: splits shrink instead of producing NaN.
    small_mean, _ = inception_score(logits[:4], splits=10)
    assert math.isfinite(small_mean)


def test_clap_score_is_mean_cosine() -> None:
    text = np.array([[1.0, 0.0], [0.0, 2.0]])
    audio = np.array([[3.0, 0.0], [1.0, 0.0]])  # cos 1 and cos 0
    assert clap_score(text, audio) == pytest.approx(0.5)
