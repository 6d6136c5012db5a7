"""Tests for agnbench.contracts.run_dir: status, model metadata, data record and the other files of a run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from agnbench.contracts import files
from agnbench.contracts.run_dir import (
    COMPLETE,
    INTERRUPTED,
    RUNNING,
    attributions_complete,
    attributions_dir,
    config_path,
    has_model_meta,
    history_path,
    is_complete,
    is_run_dir,
    metrics_path,
    model_weights_path,
    read_attributions_summary,
    read_data_record,
    read_history,
    read_metrics,
    read_model_meta,
    read_status,
    write_data_record,
    write_model_meta,
    write_status,
)
from agnbench.errors import AgnbenchError


@pytest.mark.parametrize(("status", "complete"), [(RUNNING, False), ("failed", False), (INTERRUPTED, False),
                                                  (COMPLETE, True)])
def test_status_round_trip(tmp_path, status, complete):
    write_status(tmp_path, status, error="boom" if status != COMPLETE else None)
    assert read_status(tmp_path) == status and is_complete(tmp_path) is complete
    payload = json.loads((tmp_path / "status.json").read_text())
    assert ("error" in payload) is (status != COMPLETE)


def test_status_missing_is_not_complete(tmp_path):
    assert read_status(tmp_path) is None and not is_complete(tmp_path)
    assert not is_complete(tmp_path / "no such run")


def test_unknown_status_is_refused(tmp_path):
    with pytest.raises(ValueError, match="status must be one of"):
        write_status(tmp_path, "done")
    assert not (tmp_path / "status.json").exists()


def test_model_meta_round_trip(tmp_path):
    assert not has_model_meta(tmp_path)
    with pytest.raises(AgnbenchError, match="not a run directory with a saved model"):
        read_model_meta(tmp_path)
    write_model_meta(tmp_path, {"track": "spectra", "model": "resnet1d", "architecture": {"width": 8}})
    assert has_model_meta(tmp_path)
    assert read_model_meta(tmp_path) == {"track": "spectra", "model": "resnet1d", "architecture": {"width": 8}}


def test_model_meta_needs_track_and_model(tmp_path):
    with pytest.raises(ValueError, match="needs \\['model'\\]"):
        write_model_meta(tmp_path, {"track": "catalog"})
    assert not has_model_meta(tmp_path)


def test_legacy_catalog_model_meta_is_read_as_catalog(tmp_path):
    (tmp_path / "model_meta.json").write_text(json.dumps({"kind": "xgboost", "feature_names": ["feat_a"]}))
    meta = read_model_meta(tmp_path)
    assert meta["track"] == "catalog" and meta["model"] == "xgboost" and meta["feature_names"] == ["feat_a"]


def test_model_meta_without_track_is_an_error(tmp_path):
    (tmp_path / "model_meta.json").write_text(json.dumps({"model": "mine"}))
    with pytest.raises(AgnbenchError, match="does not say which track made it"):
        read_model_meta(tmp_path)


def test_data_record_and_config(tmp_path):
    assert read_data_record(tmp_path) == {}
    write_data_record(tmp_path, {"store": "/data/mock", "objects_sha256": "abc"})
    assert read_data_record(tmp_path) == {"store": "/data/mock", "objects_sha256": "abc"}
    assert not is_run_dir(tmp_path)
    config_path(tmp_path).write_text("seed: 0\n")
    assert is_run_dir(tmp_path) and config_path(tmp_path).name == "config.yaml"


def test_other_files_of_a_run(tmp_path):
    assert (history_path(tmp_path).name, metrics_path(tmp_path).name, model_weights_path(tmp_path).name) == (
        "history.csv", "metrics.json", "model.pt")
    assert read_metrics(tmp_path) == {} and read_history(tmp_path) is None
    metrics_path(tmp_path).write_text('{"test": {"accuracy": 0.9}}')
    pd.DataFrame({"epoch": [1, 2], "val_loss": [0.5, 0.4]}).to_csv(history_path(tmp_path), index=False)
    assert read_metrics(tmp_path)["test"]["accuracy"] == 0.9
    assert read_history(tmp_path)["epoch"].tolist() == [1, 2]


def test_attributions_complete_needs_the_summary(tmp_path):
    assert attributions_dir(tmp_path) == tmp_path / "attributions"
    assert not attributions_complete(tmp_path)
    attributions_dir(tmp_path).mkdir()
    (attributions_dir(tmp_path) / files.ATTRIBUTIONS_OBJECT_IDS).write_text("object_id\n")
    assert not attributions_complete(tmp_path)  # an explanation that never finished
    (attributions_dir(tmp_path) / "summary.json").write_text('{"run": "r", "complete": true}')
    assert attributions_complete(tmp_path) and read_attributions_summary(tmp_path)["run"] == "r"
