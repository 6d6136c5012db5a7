"""Outputs every training run writes (DESIGN Contracts 2 and 3), shared by all tracks.

- :func:`prediction_frame` builds ``predictions.parquet`` (long form, one row per val/test/ood object);
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agnbench.contracts.schema import validate_predictions


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
