"""A confidence interval for one ROC-AUC that keeps its coverage near AUC = 1 (``compare.ci: newcombe``).

The percentile bootstrap interval of an AUC near 1 is too narrow: the AUC's variance shrinks as it
approaches 1, so the resamples of a test set whose AUC came out high are too tight. BCa, DeLong
normal intervals (raw or logit scale) fall short there too (docs/statistics.md, measured by
``benchmarks/bench_interval_coverage.py``). :func:`newcombe_auc_interval` is the score-type interval
of Newcombe (2006, Stat. Med. 25, 543, method 5): the ``theta`` with ``(A - theta)^2 = z^2 V(theta)``
and ``V`` the Hanley-McNeil variance evaluated at ``theta`` itself, as the Wilson interval of a
proportion. It holds its level up to AUC 0.999 and is conservative (wider than needed) above about
AUC 0.98 for binormal scores, whose tails are thinner than the Hanley-McNeil variance assumes.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from agnbench.errors import AgnbenchError

__all__ = ["hanley_mcneil_variance", "newcombe_auc_interval"]

_BISECTIONS = 60  # halves [0, 1] to 2**-60: below float64 resolution near 1


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise AgnbenchError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return float(norm.ppf(0.5 + confidence / 2.0))


def _counts(n_pos: int, n_neg: int) -> tuple[int, int]:
    if min(n_pos, n_neg) < 1:
        raise AgnbenchError(f"an AUC interval needs both classes, got {n_pos} positives and {n_neg} negatives")
    return int(n_pos), int(n_neg)


def hanley_mcneil_variance(theta: np.ndarray | float, n_pos: int, n_neg: int) -> np.ndarray:
    """Variance of the empirical AUC at true AUC ``theta`` (Hanley & McNeil 1982, Newcombe's form).

    ``V = theta (1 - theta) / (n_pos n_neg) * (1 + (N - 1) ((1 - theta) / (2 - theta) + theta / (1 + theta)))``
    with ``N = (n_pos + n_neg) / 2``. Shape of ``theta``; zero at 0 and 1.
    """
    n_pos, n_neg = _counts(n_pos, n_neg)
    t = np.asarray(theta, dtype=np.float64)
    half = (n_pos + n_neg) / 2.0
    return t * (1.0 - t) / (n_pos * n_neg) * (1.0 + (half - 1.0) * ((1.0 - t) / (2.0 - t) + t / (1.0 + t)))


def newcombe_auc_interval(auc: np.ndarray | float, n_pos: int, n_neg: int, *,
                          confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Score-type (Wilson-like) interval of an ROC-AUC, Newcombe (2006) method 5.

    Parameters
    ----------
    auc : float or numpy.ndarray, shape (...)
        Empirical AUCs in [0, 1] (NaN stays NaN).
    n_pos, n_neg : int
        Positives and negatives the AUCs were computed on.
    confidence : float, keyword-only

    Returns
    -------
    (lo, hi) : numpy.ndarray, shape (...)
        The two roots of ``(auc - theta)^2 = z^2 V(theta)`` (:func:`hanley_mcneil_variance`), found by
        bisection on ``[0, auc]`` and ``[auc, 1]``; always inside [0, 1], never of zero width for
        ``0 < confidence``, also at ``auc = 1``.
    """
    z2 = _z(confidence) ** 2
    a = np.asarray(auc, dtype=np.float64)
    if np.any((a < 0) | (a > 1)):
        raise AgnbenchError("AUC values must lie in [0, 1]")

    def excess(theta: np.ndarray) -> np.ndarray:  # > 0 outside the interval
        return (a - theta) ** 2 - z2 * hanley_mcneil_variance(theta, n_pos, n_neg)

    bounds = []
    for outer in (np.zeros_like(a), np.ones_like(a)):
        out_, in_ = outer.copy(), a.copy()  # excess(out_) >= 0, excess(in_) <= 0
        for _ in range(_BISECTIONS):
            mid = 0.5 * (out_ + in_)
            outside = excess(mid) > 0
            out_, in_ = np.where(outside, mid, out_), np.where(outside, in_, mid)
        bounds.append(np.where(np.isnan(a), np.nan, 0.5 * (out_ + in_)))
    return bounds[0], bounds[1]

