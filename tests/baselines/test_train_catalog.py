"""`agnbench train catalog`: run directories, science margin on the mock, real table, guard, determinism."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.baselines.train_catalog import train_catalog
from agnbench.config.core import load_config
from agnbench.data_prep.ingest.store import prep
from agnbench.errors import AgnbenchError
from agnbench.contracts.schema import validate_predictions

from tests.conftest import REAL, real_table_store

UV = REAL / "uv_optical_sdss_reduced.csv"
UV_MAP = "SF:sf,AGN:agn,Composite:ood"
RUN_FILES = {"config.yaml", "env.json", "data.json", "history.csv", "calibration.json", "predictions.parquet",
             "metrics.json", "MODEL_CARD.md", "status.json", "model_meta.json"}


@pytest.fixture(scope="module")
def uv_leaky_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of the real SDSS table (photometry features, BPT labels), shared by the test run."""
    return real_table_store(tmp_path_factory)


@pytest.mark.parametrize("model", ["xgboost", "lightgbm", "logreg", "rf"])
def test_run_directory_and_margin_over_majority(mock_store: Path, tmp_path: Path, model: str) -> None:
    cfg = load_config(overrides=[f"catalog.model={model}", "catalog.features=physical"])
    run = train_catalog(cfg, data=mock_store, runs_dir=tmp_path)
    assert run.parent == tmp_path and run.name.endswith(f"-catalog-{model}-s0")
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    preds = pd.read_parquet(run / "predictions.parquet")
    validate_predictions(preds)
    objects = pd.read_parquet(mock_store / "objects.parquet")
    expected = objects[objects["split"].isin(["val", "test", "ood"])]
    assert set(preds["object_id"]) == set(expected["object_id"])
    assert (preds.loc[preds.split == "ood", "y_true"] == -1).all()
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    # the mock's physical features separate SF from AGN well (5-fold CV AUC ~0.97 with trees)
    assert test["accuracy"] > test["majority_baseline_accuracy"] + 0.06, test
    assert test["roc_auc"] > 0.9, test
    data = json.loads((run / "data.json").read_text())
    assert data["objects_sha256"] and data["counts"]["test/agn"] > 0
    assert "## Leakage" in (run / "MODEL_CARD.md").read_text()


def test_same_seed_same_predictions(mock_store: Path, tmp_path: Path) -> None:
    cfg = load_config(overrides=["catalog.model=xgboost"])
    a = pd.read_parquet(train_catalog(cfg, data=mock_store, runs_dir=tmp_path, name="a") / "predictions.parquet")
    b = pd.read_parquet(train_catalog(cfg, data=mock_store, runs_dir=tmp_path, name="b") / "predictions.parquet")
    probs = [c for c in a.columns if c.startswith("p_")]
    np.testing.assert_array_equal(a[probs].to_numpy(), b[probs].to_numpy())
    np.testing.assert_array_equal(a["y_pred"].to_numpy(), b["y_pred"].to_numpy())


def test_runs_are_never_overwritten(mock_store: Path, tmp_path: Path) -> None:
    cfg = load_config(overrides=["catalog.model=logreg"])
    train_catalog(cfg, data=mock_store, runs_dir=tmp_path, name="mine")
    with pytest.raises(AgnbenchError, match="mine"):
        train_catalog(cfg, data=mock_store, runs_dir=tmp_path, name="mine")


def test_real_table_trains_and_training_refuses_line_columns(uv_leaky_store: Path, tmp_path: Path) -> None:
    cfg = load_config(overrides=["catalog.features=all", "catalog.model=lightgbm"])
    with pytest.raises(AgnbenchError, match=r"refusing label-defining feature.*feat_f_halpha.*--allow-leaky"):
        train_catalog(cfg, data=uv_leaky_store, runs_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # refused before any run directory was made
    run = train_catalog(load_config(overrides=["catalog.features=photometry", "catalog.model=lightgbm"]),
                        data=uv_leaky_store, runs_dir=tmp_path)
    validate_predictions(pd.read_parquet(run / "predictions.parquet"))
    leaky = train_catalog(cfg, data=uv_leaky_store, runs_dir=tmp_path, allow_leaky=True)
    card = (leaky / "MODEL_CARD.md").read_text()
    assert "LEAKY FEATURES WERE ALLOWED" in card and "feat_f_halpha" in card
    assert json.loads((leaky / "metrics.json").read_text())["model"]["leaky_features_allowed"] is True


def test_bad_inputs(mock_store: Path, tmp_path: Path) -> None:
    with pytest.raises(AgnbenchError, match="unknown feature column.*feat_nope"):
        train_catalog(load_config(overrides=["catalog.features=feat_g_r,feat_nope"]), data=mock_store, runs_dir=tmp_path)
    with pytest.raises(AgnbenchError, match="not a dataset store"):
        train_catalog(load_config(), data=tmp_path / "missing", runs_dir=tmp_path)
    bare = tmp_path / "bare"
    shutil.copytree(mock_store, bare)
    objects = pd.read_parquet(bare / "objects.parquet")
    objects.drop(columns=[c for c in objects if c.startswith("feat_")]).to_parquet(bare / "objects.parquet")
    with pytest.raises(AgnbenchError, match="the store has no feat_\\* columns"):
        train_catalog(load_config(), data=bare, runs_dir=tmp_path / "runs")
    one_class = tmp_path / "one"
    shutil.copytree(mock_store, one_class)
    objects = pd.read_parquet(one_class / "objects.parquet")
    train = objects["split"] == "train"
    objects.loc[train, "label"], objects.loc[train, "label_name"] = 0, "sf"
    objects.to_parquet(one_class / "objects.parquet")
    with pytest.raises(AgnbenchError, match=r"the train split has 1 class\(es\) \(sf\)"):
        train_catalog(load_config(), data=one_class, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_cli_multi_seed(mock_store: Path, tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "agnbench", "train", "catalog", "--data", str(mock_store), "--model",
                          "logreg", "--seeds", "0,1", "--runs-dir", str(tmp_path), "--name", "ms", "-q"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[-2:] == [str(tmp_path / "ms-s0"), str(tmp_path / "ms-s1")]
    res = subprocess.run([sys.executable, "-m", "agnbench", "train", "catalog", "--data", str(tmp_path / "nope"), "-q"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "not a dataset store" in res.stderr


def test_multiclass_bpt4_store(mock_survey: Path, tmp_path: Path) -> None:
    store = prep(load_config(overrides=["labels.scheme=bpt4", "prep.image_size=48"]), source="mpajhu",
                 raw=mock_survey, out=tmp_path / "bpt4", progress=False)
    run = train_catalog(load_config(overrides=["catalog.model=lightgbm", "catalog.features=physical"]),
                        data=store, runs_dir=tmp_path / "runs")
    preds = pd.read_parquet(run / "predictions.parquet")
    assert [c for c in preds.columns if c.startswith("p_")] == ["p_sf", "p_composite", "p_agn", "p_liner"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > metrics["test"]["majority_baseline_accuracy"] + 0.05
    assert 0.5 < metrics["test"]["roc_auc"] <= 1.0
    with pytest.raises(AgnbenchError, match="needs a binary label scheme"):
        train_catalog(load_config(overrides=["catalog.threshold=max_f1"]), data=store, runs_dir=tmp_path / "runs2")
    assert not (tmp_path / "runs2").exists()


def test_renamed_bpt_ratios_are_refused_at_training_and_listed_when_kept(tmp_path: Path) -> None:
    """A store made with --allow-leaky from the real table with log [NII]/Hα, log [OIII]/Hβ under innocuous
    names (fluxes dropped): `train catalog --features all` refuses the pair; with --allow-leaky the model card
    lists it as leaky-kept and says why."""
    df = pd.read_csv(UV)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["x_ratio1"] = np.log10(df["F_nii"] / df["F_Halpha"]).where((df["F_nii"] > 0) & (df["F_Halpha"] > 0))
        df["x_ratio2"] = np.log10(df["F_oiii"] / df["F_Hbeta"]).where((df["F_oiii"] > 0) & (df["F_Hbeta"] > 0))
    table = tmp_path / "ratios.csv"
    df.drop(columns=["F_nii", "F_Halpha", "F_oiii", "F_Hbeta", "EW_Halpha"]).to_csv(table, index=False)
    store = prep(load_config(), source="table", table=table, id_col="Objid", label_col="BPT_class", label_map=UV_MAP,
                 allow_leaky=True, out=tmp_path / "store", progress=False)
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["leakage"]["allow_leaky"] and manifest["leakage"]["leaky"] == ["feat_x_ratio1", "feat_x_ratio2"]
    cfg = load_config(overrides=["catalog.features=all", "catalog.model=logreg"])
    runs = tmp_path / "runs"
    with pytest.raises(AgnbenchError, match=r"feat_x_ratio1, feat_x_ratio2: pair \(feat_x_ratio1, feat_x_ratio2\).*"
                                            r"Kauffmann et al\. \(2003\) demarcation.*--allow-leaky"):
        train_catalog(cfg, data=store, runs_dir=runs)
    assert not runs.exists() or not any(runs.iterdir())
    run = train_catalog(cfg, data=store, runs_dir=runs, allow_leaky=True)
    card = (run / "MODEL_CARD.md").read_text()
    assert "LEAKY FEATURES WERE ALLOWED (--allow-leaky): feat_x_ratio1, feat_x_ratio2" in card
    assert "pair (feat_x_ratio1, feat_x_ratio2) read as (log [NII]/Hα, log [OIII]/Hβ)" in card
    assert json.loads((run / "metrics.json").read_text())["model"]["leaky_features_allowed"] is True
    clean = train_catalog(load_config(overrides=["catalog.features=photometry", "catalog.model=logreg"]), data=store,
                          runs_dir=runs)
    text = (clean / "MODEL_CARD.md").read_text()
    assert "No pair of features reproduces the label" in text and "LEAKY" not in text
