"""Paired comparisons of two classifiers, multiple-testing adjustment and seed-to-seed spread.

* :func:`mcnemar_test` compares the per-object correctness of two classifiers on the same objects.
* :func:`holm` adjusts a family of p-values (Holm 1979, step-down; controls the family-wise error).
* :func:`seed_spread` summarises one metric over training seeds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import binom, chi2

from agnbench.errors import AgnbenchError

__all__ = ["EXACT_BELOW", "McNemarResult", "holm", "mcnemar_test", "seed_spread"]

#: With ``exact=None``, the exact binomial test is used when fewer discordant pairs than this.
EXACT_BELOW = 25

METHOD_EXACT = "exact binomial"
METHOD_CHI2 = "chi-square with continuity correction"
METHOD_NONE = "no discordant pairs"


class McNemarResult(NamedTuple):
    """Outcome of :func:`mcnemar_test`.

    ``n01``: a wrong and b right; ``n10``: a right and b wrong. ``statistic`` is ``min(n01, n10)`` for
    the exact test, ``(|n01 - n10| - 1)**2 / (n01 + n10)`` for the chi-square test, 0 with no
    discordant pairs. ``method`` is one of ``"exact binomial"``, ``"chi-square with continuity
    correction"``, ``"no discordant pairs"``.
    """

    n01: int
    n10: int
    statistic: float
    p_value: float
    method: str


def _as_bool(x: np.ndarray, name: str) -> np.ndarray:
    """Shape (n,) bool from bool or 0/1 input; anything else raises."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise AgnbenchError(f"{name} must be 1-D (one entry per object), got shape {a.shape}")
    if a.dtype == bool:
        return a
    if not (np.issubdtype(a.dtype, np.number) and np.isin(a, (0, 1)).all()):
        bad = np.unique(a[~np.isin(a, (0, 1))]) if np.issubdtype(a.dtype, np.number) else np.unique(a)
        raise AgnbenchError(f"{name} must be boolean (prediction correct or not); found values "
                            f"{bad[:10].tolist()}; pass y_pred == y_true")
    return a == 1


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray, *, exact: bool | None = None) -> McNemarResult:
    """McNemar's test of equal error rates for two classifiers on the same objects (two-sided).

    Parameters
    ----------
    correct_a, correct_b : numpy.ndarray, shape (n,), bool
        Whether classifier a (b) got each object right.
    exact : bool or None, keyword-only
        True: exact binomial test, ``p = min(1, 2 * binom.cdf(min(n01, n10), n01 + n10, 0.5))``.
        False: chi-square (1 dof) with continuity correction. None: exact when
        ``n01 + n10 < EXACT_BELOW`` (25), chi-square otherwise.

    Returns
    -------
    McNemarResult
        With ``n01 + n10 == 0``: ``statistic`` 0, ``p_value`` 1.0, ``method`` "no discordant pairs".
    """
    a, b = _as_bool(correct_a, "correct_a"), _as_bool(correct_b, "correct_b")
    if a.size != b.size:
        raise AgnbenchError(f"correct_a has {a.size} entries and correct_b {b.size}; "
                            "both must score the same objects in the same order")
    n01, n10 = int(np.count_nonzero(~a & b)), int(np.count_nonzero(a & ~b))
    n = n01 + n10
    if n == 0:
        return McNemarResult(n01, n10, 0.0, 1.0, METHOD_NONE)
    if exact is None:
        exact = n < EXACT_BELOW
    if exact:
        k = min(n01, n10)
        return McNemarResult(n01, n10, float(k), float(min(1.0, 2.0 * binom.cdf(k, n, 0.5))), METHOD_EXACT)
    stat = (abs(n01 - n10) - 1.0) ** 2 / n
    return McNemarResult(n01, n10, float(stat), float(chi2.sf(stat, 1)), METHOD_CHI2)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values.

    The i-th smallest of the ``m`` finite p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``,
    so adjusted values keep the order of the raw ones. NaN entries stay NaN and do not count in ``m``.

    Parameters
    ----------
    p_values : numpy.ndarray, shape (k,)
        Values in [0, 1] or NaN.

    Returns
    -------
    numpy.ndarray, shape (k,), float64
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise AgnbenchError(f"p_values must be 1-D, got shape {p.shape}; flatten the family first")
    ok = ~np.isnan(p)
    if ((p[ok] < 0.0) | (p[ok] > 1.0)).any():
        raise AgnbenchError(f"p-values must lie in [0, 1] (or be NaN); found {p[ok & ((p < 0) | (p > 1))][:5].tolist()}")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def seed_spread(values: np.ndarray) -> dict[str, float | int]:
    """Mean and sample standard deviation of one metric across seeds, ignoring NaN.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_seeds,)

    Returns
    -------
    dict
        ``mean`` (NaN if no finite value), ``std`` (ddof=1; NaN with fewer than 2 values) and ``n``
        (number of non-NaN values used).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise AgnbenchError(f"values must be 1-D (one value per seed), got shape {v.shape}")
    v = v[~np.isnan(v)]
    n = int(v.size)
    mean = float(v.mean()) if n else float("nan")
    std = float(v.std(ddof=1)) if n > 1 else float("nan")
    return {"mean": mean, "std": std, "n": n}
