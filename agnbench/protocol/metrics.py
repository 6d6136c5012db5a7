"""Headline metrics of a run's ``metrics.json``, with the majority-class baseline beside them.

:func:`split_metrics` scores one labelled split; :func:`prediction_metrics` gives the ``val``, ``test``
and ``ood`` sections of ``metrics.json`` from a run's predictions table. scikit-learn implementations;
:mod:`agnbench.bootstrap` gives the intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

#: The labelled splits a run is scored on (``metrics.json`` sections and model-card rows), in order.
METRIC_SPLITS = ("val", "test")
#: The split whose objects have no label: only the fraction predicted as each class is reported.
OOD_SPLIT = "ood"

__all__ = ["METRIC_SPLITS", "OOD_SPLIT", "majority_class", "prediction_metrics", "split_metrics"]


def majority_class(y_train: np.ndarray, n_classes: int) -> int:
    """The most frequent class of the training labels ``y_train`` (shape (n,), ints 0..K-1); ties: the lowest."""
    return int(np.bincount(y_train, minlength=n_classes).argmax())


def prediction_metrics(predictions: pd.DataFrame, *, classes: Sequence[str], majority: int) -> dict:
    """The ``val``, ``test`` and ``ood`` sections of ``metrics.json``.

    Parameters
    ----------
    predictions : pandas.DataFrame
        A run's predictions table (Contract 2: ``split``, ``y_true``, ``y_pred``, ``p_<class>``).
    classes : sequence of str, length K
        Class names in label order.
    majority : int
        The training split's most frequent class (:func:`majority_class`).

    Returns
    -------
    dict
        ``val`` and ``test``: :func:`split_metrics`; ``ood``: ``n`` and ``fraction_predicted``
        (class name -> fraction of ood objects predicted as it; empty when there are none).
    """
    probs = [f"p_{c}" for c in classes]
    out: dict = {}
    for split in METRIC_SPLITS:
        part = predictions[predictions["split"] == split]
        out[split] = split_metrics(part["y_true"].to_numpy(), part[probs].to_numpy(), part["y_pred"].to_numpy(),
                                   majority_class=majority)
    ood = predictions[predictions["split"] == OOD_SPLIT]
    out[OOD_SPLIT] = {"n": int(len(ood)),
                      "fraction_predicted": {c: float(np.mean(ood["y_pred"] == k)) for k, c in enumerate(classes)}
                      if len(ood) else {}}
    return out


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
