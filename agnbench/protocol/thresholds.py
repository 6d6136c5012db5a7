"""Decision rules turning probabilities into labels, chosen on the val split (never on test).

Rules (:data:`THRESHOLD_RULES`):

* ``argmax`` — the most probable class (any number of classes).
* ``max_f1`` — binary: predict ``positive`` when ``p_positive >= t``; ``t`` is the val probability
  that maximises the val F1 of the positive class (ties: the lowest such ``t``).
* ``target_precision`` — binary: the lowest val probability ``t`` whose val precision
  (``p_positive >= t``) is at least the target, i.e. the most recall at that precision. When no
  threshold reaches it, the threshold of maximum precision (ties: lowest), with a warning and
  ``"reached": False``.

Candidate thresholds are the unique val probabilities of the positive class, so the search is
exact (equal to a brute-force loop over them) and costs one sort.
"""

from __future__ import annotations

import warnings

import numpy as np

from agnbench.errors import AgnbenchError
from agnbench.config.choices import THRESHOLD_RULES


def fit_threshold(proba_val: np.ndarray, y_val: np.ndarray, *, rule: str = "argmax", target_precision: float = 0.9,
                  positive: int = 1) -> dict:
    """Choose a decision rule on val.

    Parameters
    ----------
    proba_val : numpy.ndarray, shape (n_val, K)
        Val probabilities (calibrated or not: the rule is applied to the same kind of output).
    y_val : numpy.ndarray, shape (n_val,)
        Integer labels ``0 .. K-1``.
    rule : str
        One of :data:`THRESHOLD_RULES`; ``max_f1`` and ``target_precision`` need ``K == 2``.
    target_precision : float
        Precision to reach, in (0, 1] (``target_precision`` rule only).
    positive : int
        The positive class (0 or 1) for binary rules.

    Returns
    -------
    dict
        JSON-serialisable: ``rule``, ``threshold`` (``None`` for argmax), ``positive``; ``max_f1`` adds
        ``val_f1``, ``val_precision``, ``val_recall``; ``target_precision`` adds ``target_precision``,
        ``val_precision``, ``val_recall``, ``reached``.

    Raises
    ------
    AgnbenchError
        Unknown rule, a binary rule on multi-class data, no positive example in val, bad inputs.
    """
    if rule not in THRESHOLD_RULES:
        raise AgnbenchError(f"unknown threshold rule {rule!r}; valid: {', '.join(THRESHOLD_RULES)}")
    proba = np.asarray(proba_val, dtype=np.float64)
    y = np.asarray(y_val)
    if proba.ndim != 2 or proba.shape[1] < 2 or y.shape != (proba.shape[0],) or y.size == 0:
        raise AgnbenchError(f"need proba_val (n, K >= 2) and y_val (n,), n > 0; got {proba.shape} and {y.shape}")
    if rule == "argmax":
        return {"rule": "argmax", "threshold": None, "positive": int(positive)}
    if proba.shape[1] != 2:
        raise AgnbenchError(f"threshold rule {rule!r} is for binary problems; this one has {proba.shape[1]} "
                            "classes (use rule 'argmax')")
    if positive not in (0, 1):
        raise AgnbenchError(f"positive must be 0 or 1 for a binary problem, got {positive!r}")
    n_pos = int(np.sum(y == positive))
    if n_pos == 0:
        raise AgnbenchError(f"val has no example of the positive class {positive}; cannot choose a threshold")
    thresholds, tp, fp = _sweep(proba[:, positive], y == positive)
    precision = tp / (tp + fp)
    recall = tp / n_pos
    if rule == "max_f1":
        f1 = 2 * tp / (2 * tp + fp + (n_pos - tp))
        i = _lowest_of_max(f1, thresholds)
        return {"rule": rule, "threshold": float(thresholds[i]), "positive": int(positive), "val_f1": float(f1[i]),
                "val_precision": float(precision[i]), "val_recall": float(recall[i])}
    if not 0.0 < target_precision <= 1.0:
        raise AgnbenchError(f"target_precision must be in (0, 1], got {target_precision}")
    ok = np.flatnonzero(precision >= target_precision)
    reached = ok.size > 0
    if reached:
        i = int(ok[np.argmin(thresholds[ok])])
    else:
        i = _lowest_of_max(precision, thresholds)
        warnings.warn(f"no threshold reaches val precision {target_precision}; using the threshold of maximum "
                      f"val precision ({precision[i]:.4f})", stacklevel=2)
    return {"rule": rule, "threshold": float(thresholds[i]), "positive": int(positive),
            "target_precision": float(target_precision), "val_precision": float(precision[i]),
            "val_recall": float(recall[i]), "reached": bool(reached)}


def apply_threshold(proba: np.ndarray, rule: dict) -> np.ndarray:
    """Labels from probabilities under a rule from :func:`fit_threshold`.

    Parameters
    ----------
    proba : numpy.ndarray, shape (n, K)
    rule : dict

    Returns
    -------
    numpy.ndarray, shape (n,), int64
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise AgnbenchError(f"proba must have shape (n, K), got {proba.shape}")
    name = rule.get("rule")
    if name == "argmax":
        return proba.argmax(axis=1).astype(np.int64)
    if name not in THRESHOLD_RULES:
        raise AgnbenchError(f"unknown threshold rule {name!r}; valid: {', '.join(THRESHOLD_RULES)}")
    if proba.shape[1] != 2:
        raise AgnbenchError(f"threshold rule {name!r} needs binary probabilities, got {proba.shape[1]} columns")
    positive = int(rule["positive"])
    hit = proba[:, positive] >= float(rule["threshold"])
    return np.where(hit, positive, 1 - positive).astype(np.int64)


def _sweep(score: np.ndarray, is_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each unique score t (descending): t, TP and FP of the rule ``score >= t``."""
    order = np.argsort(-score, kind="stable")
    s, pos = score[order], is_pos[order].astype(np.int64)
    tp, fp = np.cumsum(pos), np.cumsum(1 - pos)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # last index of each run of equal scores
    return s[last], tp[last].astype(np.float64), fp[last].astype(np.float64)


def _lowest_of_max(values: np.ndarray, thresholds: np.ndarray) -> int:
    """Index of the lowest threshold among those where ``values`` is maximal."""
    best = np.flatnonzero(values == values.max())
    return int(best[np.argmin(thresholds[best])])
