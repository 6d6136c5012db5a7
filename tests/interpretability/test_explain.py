"""`agnbench explain`: attributions checked against the mock survey's planted truth, and bad input.

On the mock: the spectra model's attribution concentrates on the BPT lines far above their share
of the grid (and the continuum-only model's does not); the images model looks more at the centre of
AGN hosts with a planted nuclear point source than of those without; the catalog model's top
features are planted drivers; re-initialising a network's weights changes its attributions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.config.core import load_config
from agnbench.errors import AgnbenchError
from agnbench.interpretability.crosstrack import explain_compare
from agnbench.interpretability.explain import explain_run

CFG = load_config(overrides=["explain.n=120", "explain.max_interactions=50", "explain.permutation_repeats=2"])
#: photometric proxies of the planted drivers (colour, bulge/concentration, mass via luminosity)
DRIVERS = {"feat_u_g", "feat_g_r", "feat_r_i", "feat_i_z", "feat_concentration", "feat_fracdev_r",
           "feat_petror50_r", "feat_petror90_r", "feat_dered_u", "feat_dered_g", "feat_dered_r", "feat_dered_i",
           "feat_dered_z"}


@pytest.fixture(scope="module")
def explained(explained_runs: dict[str, Path]) -> dict[str, Path]:
    """The attributions directories of the session's explained runs (made with the settings of :data:`CFG`)."""
    return {name: run / "attributions" for name, run in explained_runs.items()}


def _summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def test_catalog_shap_is_additive_and_finds_planted_drivers(explained: dict[str, Path]) -> None:
    out = explained["catalog"]
    summary = _summary(out)
    assert summary["complete"] and summary["shap"]["max_additivity_error"] < 1e-3
    shap = pd.read_parquet(out / "shap.parquet")
    assert len(shap) == 120 and shap["object_id"].is_unique
    top = [f["feature"] for f in summary["shap"]["top_features"][:3]]
    assert set(top) <= DRIVERS and len(set(top) & {"feat_u_g", "feat_g_r", "feat_r_i", "feat_i_z"}) >= 1
    perm = pd.read_csv(out / "permutation.csv")
    assert perm.sort_values("importance_mean", ascending=False)["feature"].iloc[0] in DRIVERS
    assert (out / "interactions.npy").exists()
    groups = pd.read_csv(out / "importance_groups.csv")
    assert groups.groupby("class_out")["n_features"].sum().eq(shap.shape[1] - 3).all()  # every feature in one group
    assert summary["shap"]["top_groups"][0]["group"] == groups[groups["class_out"] == groups["class_out"].max()][
        "group"].iloc[0]


def test_spectra_attribution_concentrates_on_the_bpt_lines(explained: dict[str, Path]) -> None:
    full, masked = _summary(explained["spectra"]), _summary(explained["masked"])
    assert full["baseline"] == "expected_gradients" and full["references"]["n"] == 4  # singles out no wavelength
    assert full["bpt_windows"]["median_free_share"] > 0.99  # so the two enrichments agree
    assert abs(full["bpt_windows"]["median_enrichment_vs_free"] / full["bpt_windows"]["median_enrichment"] - 1) < 0.02
    assert full["ig"]["fraction_complete"] > 0.9 and full["ig"]["median_relative_delta"] < 0.02  # completeness
    assert full["bpt_windows"]["median_enrichment"] > 3.0  # BPT windows are ~4% of the grid
    assert masked["bpt_windows"]["median_enrichment"] < 0.5 * full["bpt_windows"]["median_enrichment"]
    stacked = pd.read_csv(explained["spectra"] / "stacked_by_class.csv")
    agn = stacked[stacked["class"] == "agn"]
    peak = agn.loc[agn["mean_abs_attr"].idxmax(), "wave"]
    lines = np.array([4862.7, 4960.3, 5008.2, 6549.9, 6564.6, 6585.3, 3727.1, 3729.9, 6718.3, 6732.7, 6302.0])
    assert np.min(np.abs(lines - peak)) < 20  # the stacked AGN attribution peaks on an emission line
    ig = np.load(explained["spectra"] / "ig.npy")
    store = Path(json.loads((explained["spectra"].parent / "data.json").read_text())["store"])
    assert ig.shape == (120, 2, np.load(store / "spectra" / "wave.npy").size)


def test_images_look_at_the_planted_nucleus(explained: dict[str, Path], mock_survey: Path) -> None:
    table = pd.read_parquet(explained["images"] / "objects.parquet")
    truth = pd.read_parquet(mock_survey / "truth.parquet")[["object_id", "ps_frac", "bpt_class"]]
    merged = table.merge(truth.astype({"object_id": str}), on="object_id", how="left", validate="one_to_one")
    assert len(merged) == len(table) and merged["ps_frac"].notna().all()
    agn = merged[merged["label"] == 1]
    with_ps, without = agn[agn["ps_frac"] > 0.05], agn[agn["ps_frac"] == 0]
    assert len(with_ps) >= 5 and len(without) >= 5
    assert with_ps["ig_central_fraction"].mean() > without["ig_central_fraction"].mean()
    bands = [c for c in table.columns if c.startswith("ig_frac_")]
    assert len(bands) == 3 and np.allclose(table[bands].sum(axis=1), 1.0)
    assert (explained["images"] / "gradcam.npy").exists()
    rings = [f"occlusion_drop_ring{j}" for j in range(1, 7)]
    assert set(rings) <= set(table.columns)
    occ = _summary(explained["images"])["occlusion"]
    assert occ["rings"]["n_rings"] == 6 and max(occ["rings"]["n_pixels"]) - min(occ["rings"]["n_pixels"]) <= 1


def test_randomised_weights_change_the_attributions(explained: dict[str, Path]) -> None:
    for name in ("spectra", "images"):
        check = _summary(explained[name])["sanity_check"]
        assert check["median_spearman_trained_vs_reinitialised"] < 0.6, name


def test_cross_track_comparison(trained_runs: dict[str, Path], tmp_path: Path) -> None:
    out = explain_compare(runs=[trained_runs[k] for k in ("catalog", "spectra", "images")], out=tmp_path / "x")
    corr = pd.read_csv(out / "correlations.csv")
    assert len(corr) == 3 and corr["spearman"].between(-1, 1).all()
    drivers = pd.read_csv(out / "drivers.csv")
    assert {"z", "q_logmass", "q_g_r"} <= set(drivers["property"])
    assert len(pd.read_csv(out / "disagreements.csv")) > 0
    composites = pd.read_parquet(out / "composites.parquet")
    assert {"q_log_nii_ha", "q_log_oiii_hb"} <= set(composites.columns)


def test_bad_input(trained_runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(AgnbenchError, match="gradcam cannot explain a catalog"):
        explain_run(CFG, run=trained_runs["catalog"], methods=["gradcam"])
    with pytest.raises(AgnbenchError, match="--n 100000 is more than"):
        explain_run(CFG, run=trained_runs["catalog"], n=100000)
    moved = tmp_path / "run"
    shutil.copytree(trained_runs["catalog"], moved)
    data = json.loads((moved / "data.json").read_text())
    data["store"] = str(tmp_path / "gone")
    (moved / "data.json").write_text(json.dumps(data))
    with pytest.raises(AgnbenchError, match="pass --data"):
        explain_run(CFG, run=moved)
    (moved / "status.json").write_text('{"status": "failed"}')
    with pytest.raises(AgnbenchError, match="not complete"):
        explain_run(CFG, run=moved)
    res = subprocess.run([sys.executable, "-m", "agnbench.cli.main", "explain", str(trained_runs["catalog"]), "--methods",
                          "ig", "-q"], capture_output=True, text=True)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "cannot explain" in res.stderr
