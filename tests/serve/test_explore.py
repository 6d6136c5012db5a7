"""The explorer's data functions on a real comparison of the session's explained runs: every number shown is
the runs' own (predictions.parquet, attributions/), every figure draws those arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agnbench.errors import AgnbenchError
from agnbench.reports.fig_errors import confident_mistakes
from agnbench.serve.explore import (cutout_figure, mistakes, object_probabilities, object_table, open_explorer,
                                    shap_waterfall, spectrum_figure)


@pytest.fixture(scope="module")
def ex(comparison: Path):
    return open_explorer(comparison)


def _preds(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "predictions.parquet").astype({"object_id": str}).set_index("object_id")


def _explained_ids(run: Path) -> list[str]:
    return pd.read_csv(run / "attributions" / "object_ids.csv", dtype=str)["object_id"].tolist()


def test_object_table_holds_the_compared_objects_and_each_runs_probability(ex, comparison: Path,
                                                                           explained_runs: dict[str, Path]) -> None:
    table = object_table(ex)
    shared = yaml.safe_load((comparison / "inputs.yaml").read_text())["objects"]
    assert len(table) == shared["shared"] and table["object_id"].is_unique
    for name in ("catalog", "spectra", "images"):
        p = _preds(explained_runs[name])
        assert np.array_equal(table[name].to_numpy(), p.loc[table["object_id"], "p_agn"].to_numpy())
    n_explained = int((table["explained"] != "").sum())
    assert n_explained > 0 and (table["explained"].iloc[:n_explained] != "").all()  # explained objects come first
    spectra_ids = set(_explained_ids(explained_runs["spectra"]))
    assert all(("spectra" in e) == (o in spectra_ids) for o, e in zip(table["object_id"], table["explained"]))


def test_object_probabilities_are_the_runs_predictions(ex, explained_runs: dict[str, Path]) -> None:
    oid = object_table(ex)["object_id"].iloc[0]
    probs = object_probabilities(ex, oid).set_index("run")
    for name in ("catalog", "spectra", "images"):
        row = _preds(explained_runs[name]).loc[oid]
        assert probs.loc[name, "p_agn"] == row["p_agn"] and probs.loc[name, "p_sf"] == row["p_sf"]
        assert probs.loc[name, "predicted"] == ("sf", "agn")[int(row["y_pred"])]
    with pytest.raises(AgnbenchError, match="in no run's predictions"):
        object_probabilities(ex, "no-such-object")


def test_spectrum_figure_draws_the_store_spectrum_and_the_runs_ig(ex, explained_runs: dict[str, Path]) -> None:
    run = explained_runs["spectra"]
    oid = _explained_ids(run)[0]
    fig = spectrum_figure(ex, oid)
    top, bottom = fig.axes[:2]
    store = ex.inputs.store
    objects = pd.read_parquet(store / "objects.parquet").astype({"object_id": str}).set_index("object_id")
    flux = np.load(store / "spectra" / "flux.npy", mmap_mode="r")[int(objects.loc[oid, "spec_row"])]
    drawn = np.asarray(top.lines[0].get_ydata(), dtype=np.float64)
    ok = np.isfinite(drawn)
    assert ok.mean() > 0.9 and np.allclose(drawn[ok], flux[ok])
    row = pd.read_parquet(run / "attributions" / "objects.parquet")["object_id"].astype(str).tolist().index(oid)
    ig = np.load(run / "attributions" / "ig.npy")[row]
    assert np.allclose(bottom.lines[0].get_ydata(), ig[0] if ig.ndim == 2 else ig)
    assert any("[OIII]" in t.get_text() for t in top.texts)  # the emission lines are marked
    unexplained = object_table(ex).query("explained == ''")["object_id"]
    if len(unexplained):
        assert len(spectrum_figure(ex, unexplained.iloc[0]).axes) == 1


def test_cutout_figure_draws_ig_and_gradcam_of_the_images_run(ex, explained_runs: dict[str, Path]) -> None:
    run = explained_runs["images"]
    ids = pd.read_parquet(run / "attributions" / "objects.parquet")["object_id"].astype(str).tolist()
    fig = cutout_figure(ex, ids[0])
    ig = np.load(run / "attributions" / "ig.npy")[0]
    cam = np.load(run / "attributions" / "gradcam.npy")[0]
    composite, ig_ax, cam_ax = fig.axes[:3]
    assert np.allclose(ig_ax.images[0].get_array(), ig.sum(axis=0) if ig.ndim == 3 else ig, atol=1e-6)
    shown = np.asarray(cam_ax.images[1].get_array())
    clipped = np.clip(cam, 0, None)
    assert np.allclose(shown, clipped / clipped.max() if clipped.max() > 0 else clipped, atol=1e-6)
    assert composite.images[0].get_array().shape[-1] == 3


def test_shap_waterfall_adds_up_to_the_models_log_odds(ex, explained_runs: dict[str, Path]) -> None:
    import xgboost as xgb

    run = explained_runs["catalog"]
    shap = pd.read_parquet(run / "attributions" / "shap.parquet").astype({"object_id": str})
    oid = shap["object_id"].iloc[0]
    fig = shap_waterfall(ex, oid)
    ax = fig.axes[0]
    widths = np.array([p.get_width() for p in ax.patches])
    row = shap[(shap["object_id"] == oid)].iloc[-1]
    feats = [c for c in shap.columns if c not in ("object_id", "class_out", "base")]
    assert np.isclose(widths.sum(), row[feats].sum(), atol=1e-9)
    assert np.isclose(abs(widths[0]), np.abs(row[feats].to_numpy(np.float64)).max())  # largest |SHAP| on top
    # the end of the waterfall is the model's own margin (log-odds) for this object
    objects = ex.inputs.objects.astype({"object_id": str}).set_index("object_id")
    booster = xgb.Booster(model_file=str(run / "model.json"))
    margin = booster.predict(xgb.DMatrix(objects.loc[[oid], feats].to_numpy(np.float64), feature_names=feats),
                             output_margin=True)
    assert np.isclose(row["base"] + widths.sum(), float(np.ravel(margin)[-1]), atol=1e-3)
    assert shap_waterfall(ex, "not-explained") is None


def test_mistakes_are_the_reports_table_with_galleries(ex, explained_runs: dict[str, Path]) -> None:
    table, images, spectra = mistakes(ex, "images", k=5)
    expected = confident_mistakes(ex.run("images").predictions, split="test", k=5, classes=["sf", "agn"],
                                  objects=ex.inputs.objects)
    pd.testing.assert_frame_equal(table, expected)
    assert (table["true"] != table["predicted"]).all() and table["p"].is_monotonic_decreasing
    assert images is not None and spectra is not None
    assert sum(bool(a.images) for a in images.axes) == len(table)
    with pytest.raises(AgnbenchError, match="no run 'nope'"):
        mistakes(ex, "nope")


def test_open_explorer_refuses_what_is_not_a_comparison(tmp_path: Path) -> None:
    with pytest.raises(AgnbenchError, match="not a comparison directory.*Contract 4"):
        open_explorer(tmp_path)
    with pytest.raises(AgnbenchError, match="no such directory.*Contract 4"):
        open_explorer(tmp_path / "missing")


def test_without_the_store_probabilities_and_shap_remain(ex, explained_runs: dict[str, Path]) -> None:
    """A store that moved (no --data): no spectra, cutouts or galleries, and the page says so; the rest stays."""
    from dataclasses import replace

    from agnbench.serve.app import _object_view
    from agnbench.serve.explore import Explorer

    bare = Explorer(inputs=replace(ex.inputs, store=None, objects=None))
    oid = pd.read_parquet(explained_runs["catalog"] / "attributions" / "shap.parquet")["object_id"].astype(str).iloc[0]
    assert spectrum_figure(bare, oid) is None and cutout_figure(bare, oid) is None
    assert shap_waterfall(bare, oid) is not None
    table, images, spectra = mistakes(bare, "catalog", k=3)
    assert len(table) == 3 and images is None and spectra is None
    text, probs, spec, cut, shap = _object_view(bare, oid)
    assert "Not available for this object: spectrum, cutout" in text and len(probs) == 3 and shap is not None
