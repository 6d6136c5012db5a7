"""Model-agnostic permutation importance: the drop in a score when one feature column is shuffled.

Works on any ``predict_proba`` callable (catalog models, networks on catalog features). Raw draws are
returned next to their summary, as :func:`sklearn.inspection.permutation_importance` does
(``importances``, shape (d, n_repeats)); summarise them later (bootstrap, ranks).
All ``n_repeats`` shuffles of one feature go to the model in one stacked ``predict_proba`` call,
so the working buffer holds ``n_repeats * n`` rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from agnbench.errors import AgnbenchError

logger = logging.getLogger(__name__)

METRICS = ("roc_auc", "log_loss", "accuracy")


def permutation_importance(predict_proba: Callable[[np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray, *,
                           feature_names: Sequence[str], n_repeats: int = 5, random_state: int = 0,
                           metric: str = "roc_auc") -> tuple[pd.DataFrame, np.ndarray]:
    """Permutation importance of each feature for a probabilistic classifier.

    Parameters
    ----------
    predict_proba : callable
        ``(m, d) float array -> (m, K) class probabilities`` (e.g. ``FitResult.predict_proba``).
    X : numpy.ndarray, shape (n, d)
        Evaluation features (NaN allowed if the model takes them).
    y : numpy.ndarray, shape (n,)
        Integer labels in ``0 .. K-1``.
    feature_names : sequence of str
        ``d`` names.
    n_repeats : int
        Shuffles per feature.
    random_state : int
        Seed; feature ``j`` uses the stream ``numpy.random.default_rng([random_state, j])``, so its
        shuffles do not depend on the other features.
    metric : {"roc_auc", "log_loss", "accuracy"}
        Score. ``roc_auc`` is of class 1 (binary) or macro one-vs-rest (multi-class).

    Returns
    -------
    table : pandas.DataFrame
        One row per feature, in input order: ``feature``, ``importance_mean``, ``importance_std``
        (population std over repeats, as scikit-learn), ``baseline_score``, ``metric``.
    importances : numpy.ndarray, shape (d, n_repeats), float64
        Raw drops in performance (baseline - permuted score; permuted - baseline log-loss), > 0 = useful.

    Raises
    ------
    AgnbenchError
        Unknown metric, mismatched shapes, ``n_repeats < 1``, or a malformed ``predict_proba`` output.
    """
    if metric not in METRICS:
        raise AgnbenchError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    names = list(feature_names)
    if X.ndim != 2 or X.shape[1] != len(names) or X.shape[0] < 2:
        raise AgnbenchError(f"X must have shape (n >= 2, {len(names)}) to match feature_names, got {X.shape}")
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise AgnbenchError(f"y must hold {X.shape[0]} non-negative integer labels, got shape {y.shape}, "
                            f"dtype {y.dtype}")
    if n_repeats < 1:
        raise AgnbenchError(f"n_repeats must be >= 1, got {n_repeats}")
    n, d = X.shape
    baseline = _score(metric, y, _proba(predict_proba, X, n, y))
    stacked = np.tile(X, (n_repeats, 1))
    drops = np.empty((d, n_repeats))
    for j in range(d):
        perms = _permutation_indices(n, n_repeats, random_state, j)
        stacked[:, j] = X[perms.ravel(), j]
        proba = _proba(predict_proba, stacked, n * n_repeats, y)
        stacked[:, j] = np.tile(X[:, j], n_repeats)
        for r in range(n_repeats):
            score = _score(metric, y, proba[r * n : (r + 1) * n])
            drops[j, r] = score - baseline if metric == "log_loss" else baseline - score
        logger.debug("permutation importance %s: %.5f", names[j], drops[j].mean())
    table = pd.DataFrame({"feature": names, "importance_mean": drops.mean(axis=1),
                          "importance_std": drops.std(axis=1), "baseline_score": baseline, "metric": metric})
    return table, drops


def _permutation_indices(n: int, n_repeats: int, random_state: int, feature: int) -> np.ndarray:
    """Row orders of the ``n_repeats`` shuffles of column ``feature``, shape (n_repeats, n)."""
    rng = np.random.default_rng([int(random_state), int(feature)])
    return np.stack([rng.permutation(n) for _ in range(n_repeats)])


def _proba(predict_proba: Callable[[np.ndarray], np.ndarray], X: np.ndarray, n: int, y: np.ndarray) -> np.ndarray:
    proba = np.asarray(predict_proba(X), dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != n or proba.shape[1] < 2 or proba.shape[1] <= y.max():
        raise AgnbenchError(f"predict_proba must return shape ({n}, K) with K >= 2 and K > max label {y.max()}, "
                            f"got {proba.shape}")
    return proba


def _score(metric: str, y: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import log_loss, roc_auc_score

    labels = np.arange(proba.shape[1])
    if metric == "accuracy":
        return float(np.mean(np.argmax(proba, axis=1) == y))
    if metric == "log_loss":
        return float(log_loss(y, proba, labels=labels))
    if np.unique(y).size < 2:
        raise AgnbenchError("roc_auc needs both classes in y; use metric='log_loss' or 'accuracy'")
    if proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=labels))
