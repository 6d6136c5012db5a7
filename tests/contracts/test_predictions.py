"""Tests for agnbench.contracts.predictions: where predictions live, writing and validated reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnbench.contracts.predictions import (find_predictions, prediction_frame, predictions_path, read_predictions,
                                            write_predictions)
from agnbench.errors import SchemaError


def _frame() -> pd.DataFrame:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    return prediction_frame(object_id=np.array(["a", "b", "c"]), split=np.array(["val", "test", "ood"]),
                            y_true=np.array([0, 1, -1]), proba=proba, y_pred=proba.argmax(1), classes=("sf", "agn"),
                            track="catalog", model="xgboost", run_id="r", seed=0)


def test_paths(tmp_path):
    assert predictions_path(tmp_path) == tmp_path / "predictions.parquet"
    assert find_predictions(tmp_path) == tmp_path / "predictions.parquet"
    mine = tmp_path / "mine.parquet"
    assert find_predictions(mine) == mine


def test_write_and_read(tmp_path):
    path = write_predictions(tmp_path, _frame())
    assert path == tmp_path / "predictions.parquet"
    pd.testing.assert_frame_equal(read_predictions(tmp_path), _frame())
    pd.testing.assert_frame_equal(read_predictions(path), _frame())


def test_read_validates(tmp_path):
    bad = _frame()
    bad.loc[0, "p_sf"] = 0.5  # rows no longer sum to 1
    file = tmp_path / "bad.parquet"
    bad.to_parquet(file, index=False)
    with pytest.raises(SchemaError, match="bad.parquet: columns p_sf, p_agn do not sum to 1"):
        read_predictions(file)
    assert len(read_predictions(file, validate=False)) == 3


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_predictions(tmp_path)
