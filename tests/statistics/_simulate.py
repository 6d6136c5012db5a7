"""Vectorised binormal score simulations shared by the tests/statistics coverage tests and benchmarks.

Binormal model: negatives score ``N(0, 1)``, positives ``N(mu, 1)``, so the population ROC-AUC is
``Phi(mu / sqrt(2))``. Class counts are fixed (``n_pos`` positives first, then ``n_neg`` negatives), the
design that a stratified bootstrap mimics. Every function takes a :class:`numpy.random.Generator` and draws
all repetitions at once.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import norm


def mu_for_auc(auc: float) -> float:
    """Separation ``mu`` of the binormal model with population ROC-AUC ``auc``."""
    return float(np.sqrt(2.0) * norm.ppf(auc))


def labels(n_pos: int, n_neg: int) -> np.ndarray:
    """``y`` shape (n_pos + n_neg,), int64: ``n_pos`` ones then ``n_neg`` zeros."""
    return np.r_[np.ones(n_pos, dtype=np.int64), np.zeros(n_neg, dtype=np.int64)]


def binormal_scores(rng: np.random.Generator, *, auc: float, n_pos: int, n_neg: int, reps: int) -> np.ndarray:
    """Scores shape (reps, n_pos + n_neg): row ``r`` is one simulated test set (labels from :func:`labels`)."""
    noise = rng.standard_normal((reps, n_pos + n_neg))
    noise[:, :n_pos] += mu_for_auc(auc)
    return noise


def binormal_pair(rng: np.random.Generator, *, auc_a: float, auc_b: float, rho: float, n_pos: int, n_neg: int,
                  reps: int) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated scorings of the same objects, each shape (reps, n_pos + n_neg).

    ``score_a = mu_a y + e_a``, ``score_b = mu_b y + e_b`` with unit-variance noises of correlation ``rho``
    (both classes), so the true AUC difference is ``auc_a - auc_b``.
    """
    shared = rng.standard_normal((reps, n_pos + n_neg))
    own = rng.standard_normal((reps, n_pos + n_neg))
    a = shared.copy()
    b = rho * shared + np.sqrt(1.0 - rho**2) * own
    a[:, :n_pos] += mu_for_auc(auc_a)
    b[:, :n_pos] += mu_for_auc(auc_b)
    return a, b


def auc_of_rows(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Empirical ROC-AUC of each row of ``scores`` (reps, n) against labels ``y`` (n,), by ranks (no ties)."""
    ranks = np.argsort(np.argsort(scores, axis=1), axis=1) + 1.0
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    return (ranks[:, y == 1].sum(axis=1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def proba_from_scores(score: np.ndarray, mu: float) -> np.ndarray:
    """Class probabilities shape (n, 2) from one score vector (n,): ``p1 = expit(score - mu / 2)``."""
    p1 = expit(score - mu / 2.0)
    return np.stack([1.0 - p1, p1], axis=1)


def true_balanced_accuracy(auc: float) -> float:
    """Population balanced accuracy of the decision ``score > mu / 2`` (``Phi(mu / 2)`` for both classes)."""
    return float(norm.cdf(mu_for_auc(auc) / 2.0))


def true_average_precision(auc: float, prevalence: float, grid: int = 200_001) -> float:
    """Population average precision ``int precision d(recall)`` of the binormal model, by quadrature."""
    mu = mu_for_auc(auc)
    t = np.linspace(mu + 9.0, -9.0, grid)  # thresholds from high to low: recall increases
    tpr, fpr = norm.sf(t - mu), norm.sf(t)
    precision = prevalence * tpr / np.maximum(prevalence * tpr + (1 - prevalence) * fpr, 1e-300)
    return float(np.sum(0.5 * (precision[1:] + precision[:-1]) * np.diff(tpr)))
