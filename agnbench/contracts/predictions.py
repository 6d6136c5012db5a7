"""Contract 2, ``predictions.parquet``: the one file every track (or a user's own model) writes for comparison.

- :func:`prediction_frame` builds the table (long form, one row per val/test/ood object), validated;
- :func:`predictions_path` is where it lives in a run, :func:`find_predictions` for a run or a bare file;
- :func:`write_predictions` writes it into a run directory atomically;
- :func:`read_predictions` reads and validates it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.contracts import files
from agnbench.contracts.schema import validate_predictions
from agnbench.fileio import atomic_write_parquet, read_parquet


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


def predictions_path(run_dir: str | Path) -> Path:
    """A run directory's ``predictions.parquet``."""
    return Path(run_dir) / files.PREDICTIONS


def find_predictions(path: str | Path) -> Path:
    """The predictions file of ``path``: its ``predictions.parquet`` if it is a directory, else ``path`` itself."""
    path = Path(path)
    return predictions_path(path) if path.is_dir() else path


def write_predictions(run_dir: str | Path, predictions: pd.DataFrame) -> Path:
    """Write a :func:`prediction_frame` table as the run's ``predictions.parquet`` (atomically); return its path."""
    return atomic_write_parquet(predictions_path(run_dir), predictions)


def read_predictions(path: str | Path, *, validate: bool = True) -> pd.DataFrame:
    """Read a run's (or a bare file's) predictions; see :func:`find_predictions`.

    Parameters
    ----------
    path : path
        A run directory or a predictions file.
    validate : bool, optional
        Check the table against Contract 2 (default); the error names the file.

    Raises
    ------
    FileNotFoundError
        If there is no predictions file (callers say what to do: check :func:`find_predictions` first).
    SchemaError
        If ``validate`` and the table breaks the contract.
    """
    file = find_predictions(path)
    frame = read_parquet(file, fix="re-run the command that wrote it (train or predict)")
    if validate:
        validate_predictions(frame, source=str(file))
    return frame
