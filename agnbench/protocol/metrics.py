"""Headline metrics of one split for a run's ``metrics.json``, with the majority-class baseline beside them.

scikit-learn implementations; :mod:`agnbench.bootstrap` gives the intervals.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def split_metrics(y_true: np.ndarray, proba: np.ndarray, y_pred: np.ndarray, *, majority_class: int) -> dict:
    """Headline metrics on one labelled split, with the majority-class baseline.

    Parameters
    ----------
    y_true : shape (n,), int 0..K-1
    proba : shape (n, K)
    y_pred : shape (n,)
    majority_class : int
        The most frequent class of the training split (the baseline predicts it for everyone).
    """
    n_classes = proba.shape[1]
    labels = np.arange(n_classes)
    out = {
        "n": int(y_true.size),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "log_loss": float(skm.log_loss(y_true, np.clip(proba, 1e-15, 1), labels=labels)),
        "majority_baseline_accuracy": float(np.mean(y_true == majority_class)),
    }
    present = np.unique(y_true)
    if present.size < 2:
        out["roc_auc"] = None
        out["roc_auc_note"] = "undefined: one class in this split"
    elif n_classes == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, proba[:, 1]))
    elif present.size < n_classes:
        out["roc_auc"] = None
        out["roc_auc_note"] = f"undefined: only {present.size} of {n_classes} classes in this split"
    else:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels))
    return out
