"""DeLong's test for two correlated ROC-AUCs of binary classifiers scored on the same objects.

The covariance of the empirical AUCs follows DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44,
837) and is computed with the O(n log n) midrank algorithm of Sun & Xu (2014, IEEE Signal Processing
Letters 21, 1389): one sort per score vector, no ``n_pos x n_neg`` matrix. Notation as in DeLong:
``V10`` are the placement values of the positives (fraction of negatives scored below, ties counting
one half), ``V01`` those of the negatives (fraction of positives scored above), and
``cov = S10 / n_pos + S01 / n_neg`` with ``S10``, ``S01`` their sample covariances (ddof=1).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

from agnbench.errors import AgnbenchError

__all__ = ["AUCCovariance", "AUCInterval", "DeLongResult", "delong_auc_covariance", "delong_ci",
           "delong_test", "midrank"]

logger = logging.getLogger(__name__)


class AUCCovariance(NamedTuple):
    """``aucs`` shape (m,) and DeLong ``cov`` shape (m, m) (NaN with fewer than 2 of a class)."""

    aucs: np.ndarray
    cov: np.ndarray


class AUCInterval(NamedTuple):
    """One ROC-AUC with a normal-approximation confidence interval clipped to [0, 1]."""

    auc: float
    lo: float
    hi: float


class DeLongResult(NamedTuple):
    """Outcome of :func:`delong_test`; ``note`` is empty unless a degenerate case was met."""

    auc_a: float
    auc_b: float
    delta: float
    se: float
    z: float
    p_value: float
    n_pos: int
    n_neg: int
    note: str = ""


def midrank(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank, in O(n log n).

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)

    Returns
    -------
    numpy.ndarray, shape (n,), float64 (equals ``scipy.stats.rankdata(x, method="average")``)
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise AgnbenchError(f"midrank needs a 1-D array, got shape {x.shape}; pass one vector at a time")
    order = np.argsort(x)
    out = np.empty(x.size, dtype=np.float64)
    out[order] = _sorted_midrank(x[order])
    return out


def _sorted_midrank(xs: np.ndarray) -> np.ndarray:
    """Midranks of an already sorted vector, shape (n,) -> (n,), in O(n)."""
    n = xs.size
    if n == 0:
        return np.empty(0, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.append(starts[1:], n)
    return np.repeat((starts + ends + 1) / 2.0, ends - starts)


def _check_labels(y_true: np.ndarray) -> np.ndarray:
    """Boolean positive mask, shape (n,), from 0/1 or bool labels; anything else raises."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise AgnbenchError(f"y_true must be 1-D, got shape {y.shape}; pass one label per object")
    if y.dtype == bool:
        return y
    numeric = np.issubdtype(y.dtype, np.number)
    if not (numeric and np.isin(y, (0, 1)).all()):
        found = np.unique(y[~np.isin(y, (0, 1))] if numeric else y)
        raise AgnbenchError(f"y_true must be binary (0/1 or bool); found values {found[:10].tolist()}; "
                            "map the labels to 0 (negative) and 1 (positive) first")
    return y == 1


def _placements(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong placement values ``V10`` (m, n_pos) and ``V01`` (m, n_neg), via midranks (Sun & Xu)."""
    pos = _check_labels(y_true)
    s = np.asarray(scores, dtype=np.float64)
    s = s[None, :] if s.ndim == 1 else s
    if s.ndim != 2 or s.shape[1] != pos.size:
        raise AgnbenchError(f"scores must have shape (m, n) = (m, {pos.size}) to match y_true, got "
                            f"{np.shape(scores)}; stack one score vector per row")
    if np.isnan(s).any():
        raise AgnbenchError("scores contain NaN; drop or impute those objects before computing the AUC")
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise AgnbenchError(f"one class present ({n_pos} positives, {n_neg} negatives): AUC undefined; "
                            "evaluate on a sample holding both classes")
    v10, v01 = np.empty((s.shape[0], n_pos)), np.empty((s.shape[0], n_neg))
    pos_idx, neg_idx = np.flatnonzero(pos), np.flatnonzero(~pos)
    for r, row in enumerate(s):
        order = np.argsort(row)
        sorted_row, sorted_pos = row[order], pos[order]
        tz = np.empty(row.size)
        tz[order] = _sorted_midrank(sorted_row)  # ranks among all objects
        tc = np.empty(row.size)  # ranks within the object's own class
        tc[order[sorted_pos]] = _sorted_midrank(sorted_row[sorted_pos])
        tc[order[~sorted_pos]] = _sorted_midrank(sorted_row[~sorted_pos])
        v10[r] = (tz[pos_idx] - tc[pos_idx]) / n_neg
        v01[r] = 1.0 - (tz[neg_idx] - tc[neg_idx]) / n_pos
    return v10, v01


def _sample_cov(v: np.ndarray) -> np.ndarray:
    """Covariance over the last axis with ddof=1, shape (m, k) -> (m, m); NaN when k < 2."""
    if v.shape[1] < 2:
        return np.full((v.shape[0], v.shape[0]), np.nan)
    c = v - v.mean(axis=1, keepdims=True)
    return c @ c.T / (v.shape[1] - 1)


def delong_auc_covariance(y_true: np.ndarray, scores: np.ndarray) -> AUCCovariance:
    """ROC-AUCs of ``m`` score vectors on the same objects and their DeLong covariance.

    Parameters
    ----------
    y_true : numpy.ndarray, shape (n,)
        0/1 or bool labels, 1 = positive; both classes must be present.
    scores : numpy.ndarray, shape (m, n) or (n,)
        Higher = more positive; no NaN.

    Returns
    -------
    AUCCovariance
        ``aucs`` shape (m,), ``cov`` shape (m, m) = ``S10 / n_pos + S01 / n_neg``.
    """
    v10, v01 = _placements(y_true, scores)
    cov = _sample_cov(v10) / v10.shape[1] + _sample_cov(v01) / v01.shape[1]
    return AUCCovariance(aucs=v10.mean(axis=1), cov=cov)


def delong_test(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> DeLongResult:
    """Two-sided DeLong test of ``AUC_a == AUC_b`` for two scorings of the same objects.

    Parameters
    ----------
    y_true : numpy.ndarray, shape (n,)
        0/1 or bool labels; other values raise :class:`AgnbenchError`.
    score_a, score_b : numpy.ndarray, shape (n,)

    Returns
    -------
    DeLongResult
        ``delta = auc_a - auc_b``, ``z = delta / se``, ``p_value = 2 * norm.sf(|z|)``.
        Degenerate cases return instead of raising, with ``note`` saying why:
        one class present -> all AUC/z/p fields NaN; fewer than 2 of a class -> AUCs set, ``se``,
        ``z``, ``p_value`` NaN; ``se == 0`` and ``delta == 0`` (e.g. identical scores) -> ``z`` NaN,
        ``p_value`` 1.0; ``se == 0`` with ``delta != 0`` (degenerate placements) -> ``z``, ``p_value`` NaN.
    """
    pos = _check_labels(y_true)
    n_pos, n_neg, nan = int(pos.sum()), int((~pos).sum()), float("nan")
    if n_pos == 0 or n_neg == 0:
        return DeLongResult(nan, nan, nan, nan, nan, nan, n_pos, n_neg, "one class present: AUC undefined")
    a, b = np.asarray(score_a), np.asarray(score_b)
    if a.ndim != 1 or a.shape != b.shape:
        raise AgnbenchError(f"score_a and score_b must be 1-D of equal length, got shapes {a.shape} and {b.shape}")
    v10, v01 = _placements(y_true, np.stack([a, b]))
    auc_a, auc_b = (float(v) for v in v10.mean(axis=1))
    delta = auc_a - auc_b
    if n_pos < 2 or n_neg < 2:
        return DeLongResult(auc_a, auc_b, delta, nan, nan, nan, n_pos, n_neg,
                            "fewer than 2 positives or 2 negatives: DeLong variance undefined")
    # variance of the difference from the differenced placements: exact zero for identical scores
    d10, d01 = v10[0] - v10[1], v01[0] - v01[1]
    var = float(d10.var(ddof=1) / n_pos + d01.var(ddof=1) / n_neg)
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:
        if delta == 0.0:
            return DeLongResult(auc_a, auc_b, delta, se, nan, 1.0, n_pos, n_neg,
                                "zero variance and zero difference (e.g. identical scores): p set to 1")
        return DeLongResult(auc_a, auc_b, delta, se, nan, nan, n_pos, n_neg,
                            "zero variance with nonzero difference (degenerate placements, e.g. perfect "
                            "separation): normal approximation invalid; use a permutation test")
    z = delta / se
    return DeLongResult(auc_a, auc_b, delta, se, z, float(2.0 * norm.sf(abs(z))), n_pos, n_neg)


def delong_ci(y_true: np.ndarray, score: np.ndarray, *, confidence: float = 0.95) -> AUCInterval:
    """ROC-AUC with a DeLong-variance normal confidence interval, clipped to [0, 1].

    Parameters
    ----------
    y_true : numpy.ndarray, shape (n,)
    score : numpy.ndarray, shape (n,)
    confidence : float, keyword-only
        Two-sided coverage in (0, 1).

    Returns
    -------
    AUCInterval
        ``(auc, lo, hi)``; all NaN if one class is absent, ``lo``/``hi`` NaN with fewer than 2 of
        a class (a warning is logged in both cases).
    """
    if not 0.0 < confidence < 1.0:
        raise AgnbenchError(f"confidence must lie in (0, 1), got {confidence}; e.g. 0.95")
    pos = _check_labels(y_true)
    if pos.all() or not pos.any():
        logger.warning("delong_ci: one class present: AUC undefined")
        return AUCInterval(float("nan"), float("nan"), float("nan"))
    if np.ndim(score) != 1:
        raise AgnbenchError(f"score must be 1-D, got shape {np.shape(score)}; use delong_auc_covariance for several")
    aucs, cov = delong_auc_covariance(y_true, score)
    auc, se = float(aucs[0]), float(np.sqrt(np.maximum(cov[0, 0], 0.0)))
    if np.isnan(se):
        logger.warning("delong_ci: fewer than 2 positives or negatives; interval undefined")
    half = float(norm.ppf(0.5 + confidence / 2.0)) * se
    return AUCInterval(auc, float(np.clip(auc - half, 0.0, 1.0)), float(np.clip(auc + half, 0.0, 1.0)))
