"""End to end on real spectra without a catalog: prep --source spectra (observed frame, galaxy/qso/star from the
files' CLASS) -> train spectra -> explain -> compare -> report, and predict on the run's own store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.bootstrap.compare import compare
from agnbench.config.core import load_config
from agnbench.data_prep.ingest.store import prep
from agnbench.deep.train_deep import train_deep
from agnbench.interpretability.explain import explain_run
from agnbench.reports.report import build_report
from agnbench.transfer import predict

BOSS = Path(__file__).resolve().parents[2].parent / "shared" / "real" / "sdss_eboss_spec"
TINY = ["labels.scheme=sdss_class", "prep.workers=1", "prep.dloglam=0.001", "prep.val_fraction=0.25",
        "prep.test_fraction=0.3", "spectra.width=4", "spectra.blocks=[1,1]", "spectra.stem_stride=1",
        "spectra.epochs=3", "spectra.patience=3", "spectra.batch_size=4", "spectra.calibration=none",
        "explain.ig_steps=8", "explain.sanity_check=false", "compare.n_boot=200", "compare.subgroup_boot=100",
        "report.curve_boot=20", "report.mistakes=3"]


@pytest.mark.skipif(not BOSS.is_dir(), reason="the shared real BOSS sample (../shared/real) is not beside the repo")
def test_real_boss_spectra_store_runs_end_to_end(tmp_path: Path) -> None:
    cfg = load_config(overrides=TINY)
    store = prep(cfg, source="spectra", raw=BOSS, out=tmp_path / "store", progress=False)
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["spectra"]["frame"] == "observed" and manifest["n_spectra"] >= 25
    run = train_deep(cfg, track="spectra", data=store, runs_dir=tmp_path / "runs", progress=False)
    preds = pd.read_parquet(run / "predictions.parquet")
    assert set(preds["split"]) == {"val", "test"} and {"p_galaxy", "p_qso", "p_star"} <= set(preds.columns)
    explain_run(cfg, run=run, n=6, progress=False)
    summary = json.loads((run / "attributions" / "summary.json").read_text())
    assert summary["bpt_windows"] is None and summary["frame"] == "observed"  # no rest-frame line windows
    # the run applied to its own store reproduces its predictions
    out = predict(run=run, data=store, out=tmp_path / "again", progress=False)
    again = pd.read_parquet(out / "predictions.parquet").set_index("object_id").loc[preds["object_id"]]
    np.testing.assert_allclose(again[["p_galaxy", "p_qso", "p_star"]].to_numpy(),
                               preds[["p_galaxy", "p_qso", "p_star"]].to_numpy(), rtol=0, atol=1e-9)
    cmp_ = compare(cfg, runs=[run], out=tmp_path / "cmp", progress=False)
    report = build_report(cfg, comparison=cmp_, progress=False)
    assert (report / "report.md").exists()
    skipped = pd.read_csv(report / "skipped.csv")["what"].tolist()
    assert "BPT-plane figure" in skipped
    text = (report / "summary.txt").read_text()
    assert "(1/3 for 3 classes)" in text
    md = (report / "report.md").read_text()
    assert "observed wavelength" in md and "rest wavelength" not in md
