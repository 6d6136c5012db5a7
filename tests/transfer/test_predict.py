"""`agnbench predict` with a catalog run on the real SDSS BPT table: its own store reproduces the run, a table
(CSV and FITS written by astropy) gives the same probabilities, another store is compared in transfer mode, the
prior EM and re-thresholding are recorded and never read the test split, and bad input is a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.table import Table

from agnbench.baselines.train_catalog import train_catalog
from agnbench.bootstrap.compare import compare
from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.contracts.schema import validate_predictions
from agnbench.data_prep.ingest.store import prep
from agnbench.errors import AgnbenchError
from agnbench.protocol.prior_shift import adjust_posteriors
from agnbench.protocol.thresholds import fit_threshold
from agnbench.transfer.apply_run import predict

from tests.conftest import REAL

UV = REAL / "uv_optical_sdss_reduced.csv"
PROBS = ["p_sf", "p_agn"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two stores of the real table: A (seed 0, composites ood) and B (seed 1 splits, composites left unlabelled)."""
    root = tmp_path_factory.mktemp("stores")
    common = {"source": "table", "table": UV, "id_col": "Objid", "label_col": "BPT_class", "progress": False}
    return {
        "a": prep(load_config(), label_map="SF:sf,AGN:agn,Composite:ood", out=root / "a", **common),
        "b": prep(load_config(overrides=["seed=1"]), label_map="SF:sf,AGN:agn", out=root / "b", **common),
    }


@pytest.fixture(scope="module")
def runs(stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """XGBoost (photometry, max-F1 threshold, isotonic calibration) trained on each store."""
    root = tmp_path_factory.mktemp("runs")
    cfg = load_config(overrides=["catalog.features=photometry", "catalog.threshold=max_f1",
                                 "catalog.calibration=isotonic"])
    return {k: train_catalog(cfg, data=store, runs_dir=root, name=f"run-{k}") for k, store in stores.items()}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path / "predictions.parquet")


def test_own_store_reproduces_the_run(stores: dict[str, Path], runs: dict[str, Path], tmp_path: Path) -> None:
    out = predict(run=runs["a"], data=stores["a"], out=tmp_path / "own", progress=False)
    own, again = _read(runs["a"]), _read(out)
    validate_predictions(again)
    assert sorted(again["object_id"]) == sorted(own["object_id"])
    merged = own.merge(again, on="object_id", suffixes=("", "_new"))
    assert (merged["split"] == merged["split_new"]).all() and (merged["y_true"] == merged["y_true_new"]).all()
    np.testing.assert_allclose(merged[PROBS].to_numpy(), merged[[f"{p}_new" for p in PROBS]].to_numpy(), rtol=0,
                               atol=1e-12)
    assert (merged["y_pred"] == merged["y_pred_new"]).all()
    assert set(again["run_id"]) == {"own"} and set(again["model"]) == {"xgboost"}
    record = json.loads((out / "predict.json").read_text())
    run_metrics = json.loads((runs["a"] / "metrics.json").read_text())
    for split in ("val", "test"):
        for key in ("accuracy", "roc_auc", "log_loss", "majority_baseline_accuracy"):
            assert record["metrics"][split][key] == pytest.approx(run_metrics[split][key], abs=1e-12), (split, key)
    assert record["source_run"]["run_id"] == "run-a" and record["data"]["kind"] == "store"
    assert record["applied"]["calibrator"] == "isotonic" and record["applied"]["threshold"]["rule"] == "max_f1"
    assert record["counts"]["skipped"]["train_split"] == 984
    data = json.loads((out / "data.json").read_text())
    assert data["objects_sha256"] == data["trained_on"]["objects_sha256"]
    with pytest.raises(AgnbenchError, match="already exists"):
        predict(run=runs["a"], data=stores["a"], out=out, progress=False)


@pytest.mark.parametrize("fmt", ["csv", "fits"])
def test_a_table_gives_the_same_probabilities(runs: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    """The real table itself, without its labels: columns found by the names prep turned into feat_*."""
    table = pd.read_csv(UV).drop(columns=["BPT_class", "AGN_class"])
    path = tmp_path / f"new.{fmt}"
    if fmt == "csv":
        table.to_csv(path, index=False)
    else:
        Table.from_pandas(table.astype({"Objid": str})).write(path)
    out = predict(run=runs["a"], data=path, out=tmp_path / "out", id_col="Objid", progress=False)
    new = _read(out)
    assert len(new) == len(table) and set(new["split"]) == {"unlabelled"} and (new["y_true"] == -1).all()
    merged = _read(runs["a"]).merge(new, on="object_id", suffixes=("", "_new"))
    assert len(merged) == 606
    np.testing.assert_allclose(merged[PROBS].to_numpy(), merged[[f"{p}_new" for p in PROBS]].to_numpy(), rtol=0,
                               atol=1e-12)
    assert (merged["y_pred"] == merged["y_pred_new"]).all()
    record = json.loads((out / "predict.json").read_text())
    assert record["data"]["kind"] == "table" and record["metrics"]["unlabelled"]["n"] == len(table)


def test_a_table_missing_features_names_them(runs: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    pd.read_csv(UV)[["Objid", "dered_u", "dered_g"]].to_csv(path, index=False)
    # u-g is computed from dered_u and dered_g, as prep does; the other colours cannot be
    with pytest.raises(AgnbenchError, match=r"lacks 7 of the catalog run's 10 features: feat_g_r, feat_r_i, feat_i_z, "
                                            r"feat_dered_r, feat_dered_i, feat_dered_z, feat_petror90_r"):
        predict(run=runs["a"], data=path, out=tmp_path / "out", progress=False)
    with pytest.raises(AgnbenchError, match="--id-col"):
        predict(run=runs["a"], data=path, out=tmp_path / "out", id_col="nope", progress=False)
    assert not (tmp_path / "out").exists()


def test_another_store_in_transfer_mode(stores: dict[str, Path], runs: dict[str, Path], tmp_path: Path) -> None:
    """Run A applied to store B, compared with the run trained on B: refused unless --transfer."""
    out = predict(run=runs["a"], data=stores["b"], out=tmp_path / "a-on-b", progress=False)
    new = _read(out)
    objects = pd.read_parquet(stores["b"] / "objects.parquet")
    composites = int((objects["label"] < 0).sum())
    assert (new["split"] == "unlabelled").sum() == composites == 186
    test_ids = set(objects.loc[objects["split"] == "test", "object_id"])
    assert set(new.loc[new["split"] == "test", "object_id"]) == test_ids
    cfg = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100"])
    with pytest.raises(AgnbenchError, match="trained on different stores.*--transfer"):
        compare(cfg, runs=[out, runs["b"]], out=tmp_path / "refused", progress=False)
    cmp = compare(cfg, runs=[out, runs["b"]], out=tmp_path / "cmp", transfer=True, progress=False)
    inputs = yaml.safe_load((cmp / "inputs.yaml").read_text())
    assert inputs["objects"]["shared"] == int((objects["split"] == "test").sum())
    assert set(inputs["transfer"]["trained_on"].values()) == {
        json.loads((runs[k] / "data.json").read_text())["objects_sha256"] for k in "ab"}
    summary = pd.read_csv(cmp / "summary.csv")
    assert {"a-on-b", "run-b"} <= set(summary["run"])


def _flip_test_labels(store: Path, dest: Path) -> Path:
    """A copy of ``store`` whose test labels are swapped (sf <-> agn): nothing but test metrics may change."""
    shutil.copytree(store, dest)
    objects = pd.read_parquet(dest / "objects.parquet")
    test = (objects["split"] == "test").to_numpy()
    objects.loc[test, "label"] = 1 - objects.loc[test, "label"]
    objects.loc[test, "label_name"] = np.where(objects.loc[test, "label"] == 1, "agn", "sf")
    objects.to_parquet(dest / "objects.parquet", index=False)
    return dest


def test_prior_shift_and_rethreshold_are_recorded_and_never_read_test(stores: dict[str, Path], runs: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    opts = {"adapt_prior": True, "rethreshold": "val", "progress": False}
    out = predict(run=runs["a"], data=stores["b"], out=tmp_path / "adapted", **opts)
    flipped = predict(run=runs["a"], data=_flip_test_labels(stores["b"], tmp_path / "flipped-store"),
                      out=tmp_path / "flipped", **opts)
    a, b = _read(out), _read(flipped)
    np.testing.assert_array_equal(a[PROBS].to_numpy(), b[PROBS].to_numpy())
    np.testing.assert_array_equal(a["y_pred"].to_numpy(), b["y_pred"].to_numpy())
    record = json.loads((out / "predict.json").read_text())
    shift = record["applied"]["prior_shift"]
    assert shift["fitted_on"] == {"val": 210} and shift["converged"]  # not the composites left unlabelled
    assert set(shift["prior"]) == {"sf", "agn"} and sum(shift["prior"].values()) == pytest.approx(1.0)
    assert all(lo <= shift["prior"][c] <= hi for c, (lo, hi) in shift["bootstrap_95"].items())
    assert shift["run_val_label_fractions"]["agn"] == pytest.approx(8 / 210)
    # the model's own val posteriors, corrected from the encoded prior to the val fractions, average to them
    own_val = _read(runs["a"]).query("split == 'val'")
    encoded = np.array([shift["train_prior"][c] for c in ("sf", "agn")])
    corrected = adjust_posteriors(own_val[PROBS].to_numpy(), encoded, np.array([202, 8]) / 210)
    np.testing.assert_allclose(corrected.mean(axis=0), np.array([202, 8]) / 210, atol=1e-6)
    # same population, another split (store B re-splits the same table): the estimate is near the truth (EM on
    # 210 objects from a classifier of val AUC 0.84: bootstrap standard error 0.04 here; 0.12 is 3 of them)
    assert abs(shift["prior"]["agn"] - shift["new_val_label_fractions"]["agn"]) < 0.12
    rule = record["applied"]["rethreshold"]["rule"]
    val = a[a["split"] == "val"]
    assert rule == fit_threshold(val[PROBS].to_numpy(), val["y_true"].to_numpy(), rule="max_f1")
    assert record["options"] == {"adapt_prior": True, "rethreshold": "val"}
    assert json.loads((flipped / "predict.json").read_text())["metrics"]["test"] != record["metrics"]["test"]


def test_clear_errors(stores: dict[str, Path], runs: dict[str, Path], tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    pd.read_csv(UV).drop(columns=["BPT_class"]).to_csv(table, index=False)
    with pytest.raises(AgnbenchError, match="rethreshold val needs a labelled val split"):
        predict(run=runs["a"], data=table, out=tmp_path / "o1", id_col="Objid", rethreshold="val", progress=False)
    with pytest.raises(AgnbenchError, match="only 'val'"):
        predict(run=runs["a"], data=stores["b"], out=tmp_path / "o2", rethreshold="test", progress=False)
    with pytest.raises(AgnbenchError, match="not a dataset store"):
        predict(run=runs["a"], data=tmp_path, out=tmp_path / "o3", progress=False)
    with pytest.raises(AgnbenchError, match="not complete"):
        predict(run=stores["a"], data=stores["a"], out=tmp_path / "o4", progress=False)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


def test_cli_prints_the_output_directory(stores: dict[str, Path], runs: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["predict", str(runs["a"]), "--data", str(stores["b"]), "--out", str(out), "--adapt-prior", "-q"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    assert main(["predict", str(runs["a"]), "--data", str(stores["b"]), "--out", str(out), "-q"]) == 1
    assert "already exists" in capsys.readouterr().err
