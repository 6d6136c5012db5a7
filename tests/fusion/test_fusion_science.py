"""Planted truth on the mock (the spectra's lines define the label; photometry and morphology only correlate with
it), and a fusion of two catalog runs on the real SDSS table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agnbench.cli.main import main
from agnbench.config.core import load_config
from tests.conftest import real_table_store

COMPARE = ["--n-boot", "1000", "--set", "compare.subgroups=[]", "-q"]


def test_fusion_matches_the_best_member_and_loses_without_the_spectra(trained_runs: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    members = [trained_runs[k] for k in ("catalog", "spectra", "images")]
    runs = tmp_path / "runs"
    assert main(["train", "fusion", "--runs", *map(str, members), "--runs-dir", str(runs), "--name", "fusion",
                 "--leave-one-out", "-q"]) == 0
    full, no_spectra = runs / "fusion", runs / "fusion-without-spectra"
    out = tmp_path / "cmp"
    assert main(["compare", str(full), str(no_spectra), *map(str, members), "--out", str(out), *COMPARE]) == 0
    summary = pd.read_csv(out / "summary.csv").query("metric == 'roc_auc'").set_index("run")
    best = summary.loc[["catalog", "spectra", "images"], "estimate"].idxmax()
    assert best == "spectra"  # the planted truth: the lines define the label
    # fusion >= the best member within its interval
    assert summary.loc["fusion", "estimate"] >= summary.loc[best, "lo"]
    tests = pd.read_csv(out / "tests.csv").query("metric == 'roc_auc' and test == 'paired bootstrap'")
    row = tests[(tests["run_a"] == "fusion") & (tests["run_b"] == "fusion-without-spectra")].iloc[0]
    assert row["delta"] > 0 and row["lo"] > 0  # leaving the spectra out loses significantly


@pytest.fixture(scope="module")
def uv_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of the real SDSS table (photometry features, BPT labels), shared by the test run."""
    return real_table_store(tmp_path_factory)


def test_fusion_of_two_catalog_runs_on_the_real_sdss_table(uv_store: Path, tmp_path: Path) -> None:
    from agnbench.baselines.train_catalog import train_catalog

    runs = tmp_path / "runs"
    members = [train_catalog(load_config(overrides=[f"catalog.model={m}", "catalog.features=photometry"]),
                             data=uv_store, runs_dir=runs, name=m) for m in ("xgboost", "logreg")]
    assert main(["train", "fusion", "--runs", *map(str, members), "--runs-dir", str(runs), "--name", "fz",
                 "-q"]) == 0
    fused = runs / "fz"
    meta = pd.read_json(fused / "model_meta.json", typ="series")
    assert meta["inputs"] == ["catalog-xgboost:logit_agn", "catalog-logreg:logit_agn"]
    preds = pd.read_parquet(fused / "predictions.parquet")
    base = pd.read_parquet(members[0] / "predictions.parquet")
    assert set(preds["object_id"]) == set(base["object_id"])
    out = tmp_path / "cmp"
    assert main(["compare", str(fused), *map(str, members), "--out", str(out), "--n-boot", "200",
                 "--set", "compare.subgroups=[]", "-q"]) == 0
    auc = pd.read_csv(out / "summary.csv").query("metric == 'roc_auc'").set_index("run")["estimate"]
    assert auc["fz"] > 0.7 and auc["fz"] >= auc[["xgboost", "logreg"]].min() - 0.02
    # fusion.features: the store's feat_* columns join the logits, the label-defining ones left out
    assert main(["train", "fusion", "--runs", *map(str, members), "--runs-dir", str(runs), "--name", "fz-feat",
                 "--set", "fusion.features=true", "-q"]) == 0
    inputs = pd.read_json(runs / "fz-feat" / "model_meta.json", typ="series")["inputs"]
    feats = [c for c in inputs if c.startswith("feat_")]
    assert feats and "feat_u_g" in feats and not any("nii" in c or "oiii" in c for c in feats)
