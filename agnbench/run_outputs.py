"""Outputs every training run writes (DESIGN Contracts 2 and 3), shared by all tracks.

- :func:`prediction_frame` builds ``predictions.parquet`` (long form, one row per val/test/ood object);
- :func:`split_metrics` gives the headline numbers for ``metrics.json`` with the majority-class
  baseline beside them (scikit-learn implementations; the bootstrap module gives the intervals);
- :func:`write_status` marks a run ``complete`` or ``failed`` so a partial run is never read as done.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from agnbench.runs import atomic_write_json
from agnbench.schema import validate_predictions


def prediction_frame(
    *, object_id: np.ndarray, split: np.ndarray, y_true: np.ndarray, proba: np.ndarray, y_pred: np.ndarray,
    classes: tuple[str, ...], track: str, model: str, run_id: str, seed: int,
) -> pd.DataFrame:
    """The predictions table of Contract 2, validated.

    Parameters
    ----------
    object_id, split : numpy.ndarray of str, shape (n,)
    y_true : numpy.ndarray of int, shape (n,)
        Class index, -1 for ood objects.
    proba : numpy.ndarray, shape (n, K)
        Class probabilities (rows sum to 1).
    y_pred : numpy.ndarray of int, shape (n,)
    classes : tuple of str, length K
    """
    df = pd.DataFrame({
        "object_id": np.asarray(object_id).astype(str), "split": np.asarray(split).astype(str),
        "track": track, "model": model, "run_id": run_id, "seed": np.int64(seed),
        "y_true": np.asarray(y_true, dtype=np.int64), "y_pred": np.asarray(y_pred, dtype=np.int64),
    })
    for k, name in enumerate(classes):
        df[f"p_{name}"] = np.asarray(proba[:, k], dtype=np.float64)
    validate_predictions(df)
    return df


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


def write_status(run_dir, status: str, *, error: str | None = None) -> None:
    """``status.json``: ``running``, ``complete`` or ``failed`` (with the error message)."""
    payload = {"status": status}
    if error is not None:
        payload["error"] = error
    atomic_write_json(run_dir / "status.json", payload)
