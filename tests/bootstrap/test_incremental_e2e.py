"""Incremental value end to end: agnbench train fusion on trained runs, compare, explain the fusion (issue 20)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.baselines.train_catalog import train_catalog
from agnbench.bootstrap.compare import compare
from agnbench.config.core import load_config
from agnbench.data_prep.ingest.store import prep
from agnbench.fusion.train_fusion import train_fusion_runs
from agnbench.interpretability.explain import explain_run

from tests.conftest import REAL

CFG = load_config(overrides=["compare.n_boot=300", "compare.subgroup_boot=100"])
UV = REAL / "uv_optical_sdss_reduced.csv"


def test_mock_fusion_of_three_tracks_and_its_leave_one_outs(trained_runs: dict[str, Path], tmp_path: Path) -> None:
    members = [trained_runs[k] for k in ("catalog", "spectra", "images")]
    fusions = train_fusion_runs(load_config(), runs=members, runs_dir=tmp_path / "runs", name="fus", leave_one_out=True)
    assert [f.name for f in fusions][0] == "fus" and len(fusions) == 4
    out = compare(CFG, runs=[*members, *fusions], out=tmp_path / "cmp", progress=False)
    inc = pd.read_csv(out / "incremental.csv")
    full = inc[(inc["fusion"] == "fus") & (inc["metric"] == "roc_auc") & (inc["method"] == "DeLong")]
    assert set(full["relation"]) == {"vs_member", "vs_leave_one_out"} and len(full) == 6
    loo = full[full["relation"] == "vs_leave_one_out"].set_index("added")
    assert set(loo.index) == {"catalog", "spectra", "images"}
    # planted: the spectra's lines define the label, so the fusion without them loses significantly
    assert loo.loc["spectra", "lo"] > 0
    shares_dir = explain_run(load_config(overrides=["explain.split=test"]), run=fusions[0])
    shares = pd.read_parquet(shares_dir / "modality_shares.parquet")
    assert set(c for c in shares.columns if c.startswith("share_")) == {"share_catalog", "share_spectra",
                                                                         "share_images"}
    summary = pd.read_csv(shares_dir / "modality_shares.csv")
    assert {"class", "redshift", "sn"} <= set(summary["by"])
    spec = summary[(summary["by"] == "class") & (summary["modality"] == "spectra")]["mean_share"]
    assert (spec > 0.3).all()


def test_real_table_store_fusion_of_two_catalog_models(tmp_path: Path) -> None:
    if not UV.exists():
        pytest.skip("real UV-optical table absent")
    store = prep(load_config(), source="table", table=UV, id_col="Objid", label_col="BPT_class",
                 label_map="SF:sf,AGN:agn,Composite:ood", out=tmp_path / "store", progress=False)
    runs = [train_catalog(load_config(overrides=["catalog.model=logreg", f"catalog.features={f}"]), data=store,
                          runs_dir=tmp_path / "runs", name=f"lr-{f}") for f in ("all", "photometry")]
    fus = train_fusion_runs(load_config(), runs=runs, runs_dir=tmp_path / "runs", name="fus")[0]
    out = compare(CFG, runs=[*runs, fus], out=tmp_path / "cmp", progress=False)
    inc = pd.read_csv(out / "incremental.csv")
    assert set(inc["baseline"]) == {"lr-all", "lr-photometry"} and inc["text"].str.contains(" alone: ΔAUC ").any()
    shares = pd.read_parquet(explain_run(load_config(overrides=["explain.split=test"]), run=fus)
                             / "modality_shares.parquet")
    cols = [c for c in shares.columns if c.startswith("share_")]
    assert len(cols) == 2 and np.allclose(shares[cols].sum(axis=1), 1.0)
