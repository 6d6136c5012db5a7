"""Tests for agnbench.contracts.schema: contract constants and the objects/predictions validators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnbench.errors import SchemaError
from agnbench.contracts.schema import (
    BPT_CODES,
    OBJECT_COLUMNS,
    PREDICTION_COLUMNS,
    PREDICTION_SPLIT_VALUES,
    SPLITS,
    class_names,
    prob_columns,
    validate_objects,
    validate_predictions,
)


@pytest.fixture
def objects() -> pd.DataFrame:
    n = 8
    return pd.DataFrame({
        "object_id": [f"2990{i:04d}" for i in range(n)],
        "ra": np.linspace(150.0, 151.0, n),
        "dec": np.linspace(2.0, 2.5, n),
        "z": np.linspace(0.03, 0.18, n),
        "label": np.array([0, 1, 0, 1, 0, -1, 1, -1], dtype=np.int64),
        "label_name": ["sf", "agn", "sf", "agn", "sf", "composite", "agn", "excluded"],
        "bpt_class": np.array([1, 4, 1, 4, 1, 3, 4, -1], dtype=np.int64),
        "split": ["train", "train", "val", "val", "test", "ood", "test", "excluded"],
        "spec_row": np.array([0, 1, 2, 3, 4, 5, -1, 6], dtype=np.int64),
        "image_row": np.array([0, -1, 1, 2, 3, 4, 5, 6], dtype=np.int64),
        "feat_mass": np.linspace(9.5, 11.0, n),
        "feat_g_r": np.linspace(0.3, 0.9, n).astype(np.float32),
        "q_snr": np.linspace(5, 50, n),
    })


@pytest.fixture
def predictions() -> pd.DataFrame:
    p_agn = np.array([0.1, 0.8, 0.4, 0.95, 0.5])
    return pd.DataFrame({
        "object_id": ["a", "b", "c", "d", "e"],
        "split": ["val", "val", "test", "test", "ood"],
        "track": "catalog",
        "model": "xgboost",
        "run_id": "20240305-070809-catalog-xgboost-s0",
        "seed": np.int64(0),
        "y_true": np.array([0, 1, 0, 1, -1], dtype=np.int64),
        "y_pred": (p_agn >= 0.5).astype(np.int64),
        "p_sf": 1.0 - p_agn,
        "p_agn": p_agn,
    })


def schema_error(func, df, **kwargs) -> str:
    with pytest.raises(SchemaError) as info:
        func(df, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_constants():
    assert SPLITS == ("train", "val", "test", "ood", "excluded")
    assert set(BPT_CODES) == {-1, 1, 2, 3, 4, 5}
    assert OBJECT_COLUMNS["object_id"] == "str" and OBJECT_COLUMNS["z"] == "float"
    assert OBJECT_COLUMNS["spec_row"] == "int"
    assert list(PREDICTION_COLUMNS) == ["object_id", "split", "track", "model", "run_id", "seed",
                                        "y_true", "y_pred"]


# ------------------------------------------------------------------ objects


def test_valid_objects_pass(objects):
    validate_objects(objects)


def test_valid_objects_pass_with_object_and_string_dtypes(objects):
    objects["object_id"] = objects["object_id"].astype(object)
    objects["split"] = objects["split"].astype("string")
    validate_objects(objects)


def test_valid_objects_pass_after_parquet_round_trip(objects, tmp_path):
    objects.to_parquet(tmp_path / "objects.parquet", index=False)
    validate_objects(pd.read_parquet(tmp_path / "objects.parquet"))


def test_missing_columns_listed(objects):
    msg = schema_error(validate_objects, objects.drop(columns=["z", "split"]),
                       source="data/x/objects.parquet")
    assert msg.startswith("data/x/objects.parquet: ")
    assert "'z'" in msg and "'split'" in msg


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("z", lambda df: df["z"].astype(str).astype(object),
         "column 'z' has dtype object, expected float"),
        ("label", lambda df: df["label"].astype(float),
         "column 'label' has dtype float64, expected int"),
        ("spec_row", lambda df: df["spec_row"].astype(float), "column 'spec_row'"),
        ("object_id", lambda df: np.arange(len(df)),
         "column 'object_id' has dtype int64, expected str"),
        ("ra", lambda df: df["ra"].astype(int), "column 'ra' has dtype int64, expected float"),
    ],
)
def test_wrong_dtype(objects, column, values, expected):
    objects[column] = values(objects)
    assert expected in schema_error(validate_objects, objects)


def test_nan_in_required_column(objects):
    objects.loc[2, "bpt_class"] = np.nan
    objects["bpt_class"] = objects["bpt_class"].astype("Int64")
    msg = schema_error(validate_objects, objects)
    assert "column 'bpt_class'" in msg and "1 missing" in msg


def test_unknown_position_and_redshift_are_allowed(objects):
    """A user's own table may lack ra/dec/z: NaN means unknown, but the columns must exist."""
    objects.loc[2, ["ra", "dec", "z"]] = np.nan
    validate_objects(objects)
    msg = schema_error(validate_objects, objects.drop(columns="z"))
    assert "'z'" in msg


def test_null_in_string_column(objects):
    objects["label_name"] = objects["label_name"].astype(object)
    objects.loc[0, "label_name"] = None
    assert "column 'label_name'" in schema_error(validate_objects, objects)


def test_duplicate_object_id(objects):
    objects.loc[3, "object_id"] = objects.loc[1, "object_id"]
    msg = schema_error(validate_objects, objects)
    assert "column 'object_id'" in msg and repr(objects.loc[1, "object_id"]) in msg


def test_duplicate_examples_capped(objects):
    big = pd.concat([objects] * 2, ignore_index=True)
    msg = schema_error(validate_objects, big)
    assert "(+3 more)" in msg


def test_bad_split(objects):
    objects.loc[0, "split"] = "training"
    msg = schema_error(validate_objects, objects)
    assert "column 'split'" in msg and "'training'" in msg


def test_bad_bpt_class(objects):
    objects.loc[0, "bpt_class"] = 0
    assert "column 'bpt_class'" in schema_error(validate_objects, objects)


@pytest.mark.parametrize("column", ["spec_row", "image_row"])
def test_row_below_minus_one(objects, column):
    objects.loc[1, column] = -2
    assert f"column {column!r}" in schema_error(validate_objects, objects)


def test_label_name_inconsistent(objects):
    objects.loc[2, "label_name"] = "starforming"
    msg = schema_error(validate_objects, objects)
    assert "'label'" in msg and "'label_name'" in msg and "'starforming'" in msg


def test_two_labels_same_name(objects):
    objects.loc[1, "label_name"] = "sf"  # label 1 also called sf
    assert "'label_name'" in schema_error(validate_objects, objects)


def test_non_numeric_feature(objects):
    objects["feat_band"] = "r"
    assert "'feat_band'" in schema_error(validate_objects, objects)


def test_not_a_dataframe():
    assert "DataFrame" in schema_error(validate_objects, {"object_id": ["a"]})


# ------------------------------------------------------------------ predictions


def test_valid_predictions_pass(predictions, tmp_path):
    validate_predictions(predictions)
    predictions.to_parquet(tmp_path / "p.parquet", index=False)
    validate_predictions(pd.read_parquet(tmp_path / "p.parquet"))


def test_valid_multiclass_predictions(predictions):
    df = predictions.drop(columns=["p_sf", "p_agn"])
    df["p_sf"], df["p_composite"], df["p_agn"] = 0.2, 0.3, 0.5
    df["y_pred"] = 2
    df["y_true"] = [0, 1, 2, 2, -1]
    validate_predictions(df)
    assert prob_columns(df) == ["p_sf", "p_composite", "p_agn"]
    assert class_names(df) == ["sf", "composite", "agn"]


def test_prob_columns_and_class_names(predictions):
    assert prob_columns(predictions) == ["p_sf", "p_agn"]
    assert class_names(predictions) == ["sf", "agn"]


def test_missing_prediction_column(predictions):
    msg = schema_error(validate_predictions, predictions.drop(columns=["run_id"]),
                       source="runs/r/predictions.parquet")
    assert msg.startswith("runs/r/predictions.parquet: ") and "'run_id'" in msg


def test_no_probability_columns(predictions):
    no_probs = predictions.drop(columns=["p_sf", "p_agn"])
    assert "p_<class name>" in schema_error(validate_predictions, no_probs)


@pytest.mark.parametrize("value", [np.nan, np.inf, -0.1, 1.2])
def test_probability_out_of_range(predictions, value):
    predictions.loc[1, "p_agn"] = value
    predictions.loc[1, "p_sf"] = 0.5
    msg = schema_error(validate_predictions, predictions)
    assert "column 'p_agn'" in msg and "'b'" in msg


def test_probabilities_do_not_sum_to_one(predictions):
    predictions.loc[0, "p_sf"] = 0.5
    msg = schema_error(validate_predictions, predictions)
    assert "p_sf, p_agn" in msg and "sum to 1" in msg and "'a'" in msg


def test_sum_tolerance(predictions):
    predictions.loc[0, "p_sf"] += 5e-5
    validate_predictions(predictions)


def test_bad_prediction_split(predictions):
    predictions.loc[0, "split"] = "train"
    assert "column 'split'" in schema_error(validate_predictions, predictions)


def test_y_pred_out_of_range(predictions):
    predictions.loc[0, "y_pred"] = 2
    assert "column 'y_pred'" in schema_error(validate_predictions, predictions)


@pytest.mark.parametrize("value", [2, -2])
def test_y_true_out_of_range(predictions, value):
    predictions.loc[0, "y_true"] = value
    assert "column 'y_true'" in schema_error(validate_predictions, predictions)


def test_y_true_minus_one_only_for_ood(predictions):
    predictions.loc[0, "y_true"] = -1
    msg = schema_error(validate_predictions, predictions)
    assert "column 'y_true'" in msg and "'a'" in msg


def test_unlabelled_split_allows_minus_one(predictions):
    """``agnbench predict`` writes objects without a label to split ``unlabelled`` (docs/contracts.md, Contract 2)."""
    assert PREDICTION_SPLIT_VALUES == ("val", "test", "ood", "unlabelled")
    predictions.loc[0, "split"] = "unlabelled"
    predictions.loc[0, "y_true"] = -1
    validate_predictions(predictions)
    predictions.loc[0, "split"] = "excluded"
    assert "column 'split'" in schema_error(validate_predictions, predictions)


def test_y_true_float_dtype_refused(predictions):
    predictions["y_true"] = predictions["y_true"].astype(float)
    msg = schema_error(validate_predictions, predictions)
    assert "column 'y_true' has dtype float64, expected int" in msg


def test_duplicate_prediction_rows(predictions):
    predictions.loc[4, "object_id"] = "a"
    predictions.loc[4, "y_true"] = 0
    assert "column 'object_id'" in schema_error(validate_predictions, predictions)


@pytest.mark.parametrize(
    ("column", "value"), [("run_id", "other"), ("track", "images"), ("model", "rf"), ("seed", 1)]
)
def test_single_run_per_file(predictions, column, value):
    predictions.loc[2, column] = value
    assert f"column {column!r}" in schema_error(validate_predictions, predictions)


def test_empty_predictions(predictions):
    assert "no rows" in schema_error(validate_predictions, predictions.iloc[:0])
