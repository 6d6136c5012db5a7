"""Interpretability and error-analysis figures of the report: planted answers, one stretch, headless builds."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

from agnbench.reports import fig_common
from agnbench.reports.build_interpret import build_error_figures, build_interpretability_figures
from agnbench.reports.fig_attribution import (plot_cross_track, plot_image_attribution_examples, plot_radial_profile,
                                              plot_score_drivers, plot_spectral_attribution, radial_profile_table)
from agnbench.reports.fig_errors import confident_mistakes, plot_image_gallery, plot_spectrum_gallery
from agnbench.reports.fig_shap import feature_label, plot_shap_beeswarm, plot_shap_dependence, swarm_offsets
from agnbench.reports.report_inputs import ReportInputs, RunInfo
from agnbench.reports.style import new_figure

matplotlib.use("Agg")
CLASSES = ["sf", "agn"]


def _shap_table(rng, n=60):
    ids = [str(i) for i in range(n)]
    shap = pd.DataFrame({"object_id": ids, "class_out": 1, "base": 0.1,
                         "feat_small": rng.normal(0, 0.05, n), "feat_big": rng.normal(0, 3.0, n),
                         "feat_g_r": rng.normal(0, 0.5, n)})
    values = pd.DataFrame({"object_id": ids, "feat_small": rng.normal(size=n), "feat_big": rng.normal(size=n),
                           "feat_g_r": rng.normal(size=n)})
    return shap, values


def test_beeswarm_ranks_features_by_mean_abs_shap():
    shap, values = _shap_table(np.random.default_rng(0))
    fig, ax = new_figure("column")
    out = plot_shap_beeswarm(shap, values, ax=ax, top=3)
    assert out is ax
    ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]), reverse=True)
    assert [label for _, label in ticks] == ["big", "g − r", "small"]  # top row = largest mean |SHAP|
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "feature value"  # the colour bar
    top2 = plot_shap_beeswarm(shap, None, ax=new_figure("column")[1], top=1)
    assert [t.get_text() for t in top2.get_yticklabels()] == ["big"]


def test_swarm_offsets_bounded_and_deterministic():
    x = np.r_[np.zeros(50), np.linspace(-1, 1, 20), np.nan]
    a, b = swarm_offsets(x, width=0.4), swarm_offsets(x, width=0.4)
    assert np.array_equal(a, b) and np.abs(a).max() <= 0.4 + 1e-12 and a[-1] == 0
    assert np.ptp(a[:50]) > np.ptp(a[50:70])  # the dense bin spreads widest


def test_feature_labels():
    assert feature_label("feat_g_r") == "g − r"
    assert feature_label("feat_g_r", units=True) == "g − r (mag)"
    assert feature_label("feat_dered_z") == "z mag"
    assert feature_label("feat_unknown_thing") == "unknown thing"


def test_dependence_draws_on_given_ax():
    rng = np.random.default_rng(1)
    dep = pd.DataFrame({"feature": "feat_g_r", "value": rng.uniform(0, 1, 80), "shap": rng.normal(size=80),
                        "class_out": 1, "row": np.arange(80)})
    fig, ax = new_figure("column")
    assert plot_shap_dependence(dep, "feat_g_r", ax=ax) is ax
    assert ax.get_xlabel() == "g − r (mag)" and len(ax.collections) == 1
    with pytest.raises(Exception, match="no rows for"):
        plot_shap_dependence(dep, "feat_other", ax=ax)


def test_line_markers_at_the_right_wavelengths():
    marks = {m.name: m.wave for m in fig_common.line_markers()}
    expected = {"H_ALPHA": 6564.6, "H_BETA": 4862.7, "OIII_5007": 5008.2, "OIII_4959": 4960.3, "NII_6584": 6585.3,
                "NII_6548": 6549.9, "SII_6717": 6718.3, "SII_6731": 6732.7, "OI_6300": 6302.0, "OII_3726": 3727.1,
                "CaII K": 3934.0, "CaII H": 3969.0}  # vacuum rest wavelengths (A)
    for name, wave in expected.items():
        assert marks[name] == pytest.approx(wave, abs=0.2), name
    assert fig_common.d4000_bands() == [(3850.0, 3950.0), (4000.0, 4100.0)]
    wave = np.linspace(3750, 7400, 300)
    stacked = pd.concat([pd.DataFrame({"wave": wave, "class": c, "mean_attr": 0.0, "mean_abs_attr": np.exp(
        -0.5 * ((wave - 6564.6) / 3) ** 2) * (k + 1), "n": 5}) for k, c in enumerate(CLASSES)])
    fig, ax = new_figure("page")
    plot_spectral_attribution(stacked, ax=ax)
    drawn = sorted(line.get_xdata()[0] for line in ax.lines if line.get_linestyle() in (":", "-."))
    assert drawn == pytest.approx(sorted(w for n, w in marks.items() if 3750 <= w <= 7400))
    assert 3727.1 not in drawn  # [OII] is off this grid: not drawn


def test_gallery_uses_one_stretch_for_all_panels():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 0.3, (3, 8, 8)).astype(np.float32)
    bright = a + 5.0
    one = plot_image_gallery(np.stack([a, bright, a]), ["a", "bright", "a again"])
    pix = [ax.images[0].get_array() for ax in one[:3]]
    assert np.array_equal(pix[0], pix[2])  # same cutout, same pixels
    assert not np.array_equal(pix[0], pix[1])
    alone = plot_image_gallery(np.stack([a, a]), ["a", "a"])[0].images[0].get_array()
    assert not np.array_equal(alone, pix[0])  # the stretch is computed once from all cutouts shown
    z_only = np.zeros((1, 3, 4, 4), np.float32)
    z_only[0, 2] = 1.0
    rgb = plot_image_gallery(z_only, ["z"], stretch=fig_common.Stretch(0.0, 1.0))[0].images[0].get_array()
    assert rgb[..., 0].min() == 1.0 and rgb[..., 1:].max() == 0.0  # red = z, green = r, blue = g
    s = fig_common.gallery_stretch(np.stack([a, bright]))
    v = np.linspace(-10, 10, 101)
    assert np.all(np.diff(s(v)) >= 0) and s(v).min() == 0 and s(v).max() == 1  # monotone, clipped to [0, 1]
    missing = plot_image_gallery(np.stack([a, np.full_like(a, np.nan)]), ["a", "none"])
    assert missing[1].texts[0].get_text() == "no image"


def test_confident_mistakes_picks_the_planted_ones():
    p_agn = [0.99, 0.95, 0.10, 0.70, 0.20, 0.60, 0.01, 0.90]
    y_true = [0, 0, 0, 0, 1, 1, 1, 1]  # wrong (p on the wrong class): o0 0.99, o1 0.95, o3 0.70, o4 0.80, o6 0.99
    preds = pd.DataFrame({"object_id": [f"o{i}" for i in range(8)], "split": "test", "y_true": y_true,
                          "y_pred": (np.array(p_agn) > 0.5).astype(int), "p_sf": 1 - np.array(p_agn), "p_agn": p_agn})
    extra = preds.iloc[[0]].assign(object_id="val0", split="val")
    objects = pd.DataFrame({"object_id": [f"o{i}" for i in range(8)], "z": np.arange(8) / 100, "q_logmass": 10.0,
                            "bpt_class": 1, "image_row": np.arange(8)})
    out = confident_mistakes(pd.concat([preds, extra]), split="test", k=4, classes=CLASSES, objects=objects)
    assert out["object_id"].tolist() == ["o0", "o6", "o1", "o4"]  # ties (0.99) broken by id
    assert out["p"].tolist() == pytest.approx([0.99, 0.99, 0.95, 0.80])
    assert out["true"].tolist() == ["sf", "agn", "sf", "agn"]
    assert out["predicted"].tolist() == ["agn", "sf", "agn", "sf"]
    assert out["z"].tolist() == pytest.approx([0.0, 0.06, 0.01, 0.04]) and out["rank"].tolist() == [1, 2, 3, 4]
    assert len(confident_mistakes(preds, split="test", k=50, classes=CLASSES)) == 5  # every mistake, no more
    three = pd.DataFrame({"object_id": ["a", "b", "c"], "split": "test", "y_true": [0, 1, 2], "y_pred": [1, 1, 0],
                          "p_x": [0.3, 0.1, 0.45], "p_y": [0.4, 0.8, 0.1], "p_z": [0.3, 0.1, 0.45]})
    m = confident_mistakes(three, split="test", k=5, classes=["x", "y", "z"])
    assert m["object_id"].tolist() == ["c", "a"] and m["p"].tolist() == pytest.approx([0.45, 0.4])


def test_radial_profile_closed_form():
    n, h = 4, 21
    uniform = np.ones((n, 3, h, h))
    central = np.zeros((n, 3, h, h))
    central[:, :, 10, 10] = 1.0
    edges = [0.0, 0.5, 2.0, 5.0]
    t = radial_profile_table(np.concatenate([uniform, central]), ["flat"] * n + ["peak"] * n, unit_pix=2.0,
                             unit="psf_fwhm", edges=edges)
    flat, peak = t[t["group"] == "flat"], t[t["group"] == "peak"]
    assert flat["density"].to_numpy() == pytest.approx(1.0)
    assert peak["density"].iloc[0] == pytest.approx(h * h) and peak["density"].iloc[1:].max() == 0
    assert (t["n"] == n).all()
    fig, ax = new_figure("column")
    assert plot_radial_profile(t.assign(density=t["density"] + 1e-3), ax=ax) is ax
    assert len(ax.lines) >= 2 and ax.get_xlabel() == "radius (PSF FWHM)"


def test_other_plots_draw_on_given_axes():
    rng = np.random.default_rng(3)
    cut = rng.normal(size=(2, 3, 12, 12))
    fig, axs = new_figure("page", nrows=3, ncols=2)
    out = plot_image_attribution_examples(cut, rng.normal(size=(2, 3, 12, 12)), rng.random((2, 12, 12)), ["a", "b"],
                                          axes=axs, psf_fwhm_pix=2.0)
    assert out[0, 0] is axs[0, 0] and all(len(a.images) >= 1 for a in out.ravel())
    scores = pd.DataFrame({"object_id": list("abcd"), "r1": [0.1, 0.9, 0.2, 0.8], "r2": [0.2, 0.7, 0.1, 0.95],
                           "true_class": ["sf", "agn", "sf", "agn"]})
    corr = pd.DataFrame({"run_a": ["r1"], "run_b": ["r2"], "spearman": [0.8], "pearson": [0.9], "n": [4]})
    fig, ax = new_figure("column")
    assert plot_cross_track(scores, corr, axes=[ax])[0] is ax
    assert any("Spearman ρ = 0.80" in t.get_text() for t in ax.texts)
    drivers = pd.DataFrame({"run": ["r1", "r1", "r2", "r2"], "property": ["z", "q_g_r"] * 2,
                            "spearman": [0.1, 0.8, -0.2, 0.5], "n": 4})
    fig, ax = new_figure("column")
    assert plot_score_drivers(drivers, ax=ax) is ax and len(ax.collections) == 2
    wave = np.linspace(3800, 7000, 200)
    fig, axs = new_figure("page", nrows=1, ncols=2)
    assert plot_spectrum_gallery(wave, np.ones((2, 200)), ["a", "b"], axes=axs)[0] is axs[0]


def test_no_pyplot_anywhere():
    code = ("import sys, agnbench.reports.build_interpret, agnbench.reports.fig_errors, agnbench.reports.fig_shap, "
            "agnbench.reports.fig_attribution; assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- the build functions on a hand-made tiny setup


def _tiny(tmp_path, *, explained: bool = True, store: bool = True) -> ReportInputs:
    rng = np.random.default_rng(4)
    n, h, L = 12, 16, 300
    ids = [str(1000 + i) for i in range(n)]
    label = np.arange(n) % 2
    raw, st = tmp_path / "raw" / "mock", tmp_path / "data" / "mock"
    for d in (raw / "catalog", st / "spectra", st / "images"):
        d.mkdir(parents=True)
    pd.DataFrame({"object_id": ids, "ps_frac": np.where(np.arange(n) % 4 == 1, 0.2, 0.0)}).to_parquet(
        raw / "truth.parquet")
    (st / "manifest.json").write_text(json.dumps({"inputs": {"info": "raw/mock/catalog/galSpecInfo.fits"},
                                                  "prep": {"norm_wave_min": 5300.0, "norm_wave_max": 5700.0}}))
    wave = np.geomspace(3750, 7400, L)
    np.save(st / "spectra" / "wave.npy", wave)
    np.save(st / "spectra" / "flux.npy", (1 + rng.normal(0, 0.05, (n, L)) + np.exp(
        -0.5 * ((wave - 6564.6) / 4) ** 2)).astype(np.float32))
    np.save(st / "spectra" / "ivar.npy", np.ones((n, L), np.float32))
    np.save(st / "images" / "cutouts.npy", rng.normal(0, 0.3, (n, 3, h, h)).astype(np.float16))
    (st / "images" / "meta.json").write_text(json.dumps({"bands": "grz", "pixel_scale_arcsec": 0.262}))
    objects = pd.DataFrame({"object_id": ids, "label": label, "split": "test", "spec_row": np.arange(n),
                            "image_row": np.where(np.arange(n) == 3, -1, np.arange(n)), "z": 0.05, "q_logmass": 10.0,
                            "q_g_r": rng.normal(0.6, 0.1, n), "q_sn_median": 20.0, "bpt_class": 1 + 3 * label,
                            "feat_g_r": rng.normal(0.6, 0.1, n), "feat_r_i": rng.normal(0.3, 0.05, n),
                            "feat_petror50_r": 1.5})
    runs = []
    for name, track in (("cat", "catalog"), ("spec", "spectra"), ("img", "images")):
        p_agn = np.clip(label * 0.8 + rng.uniform(0, 0.3, n), 0.01, 0.99)
        p_agn[[0, 5]] = [0.97, 0.02]  # two confident mistakes
        preds = pd.DataFrame({"object_id": ids, "split": "test", "y_true": label, "y_pred": (p_agn > 0.5).astype(int),
                              "p_sf": 1 - p_agn, "p_agn": p_agn})
        att = tmp_path / "runs" / name / "attributions"
        att.mkdir(parents=True)
        _attributions(att, track, ids, label, rng, wave, h)
        runs.append(RunInfo(name=name, path=att.parent, track=track, model="m", seed=0, predictions=preds,
                            attributions=att if explained else None))
    ct = tmp_path / "cmp" / "crosstrack"
    ct.mkdir(parents=True)
    pd.DataFrame({"object_id": ids, **{r.name: r.predictions["p_agn"].to_numpy() for r in runs}}).to_parquet(
        ct / "scores.parquet")
    pd.DataFrame({"run_a": ["cat", "cat", "spec"], "run_b": ["spec", "img", "img"], "spearman": [0.5, 0.6, 0.7],
                  "pearson": 0.5, "n": n}).to_csv(ct / "correlations.csv", index=False)
    pd.DataFrame({"run": ["cat", "spec", "img"] * 2, "property": ["z"] * 3 + ["q_g_r"] * 3,
                  "spearman": rng.uniform(-1, 1, 6), "n": n}).to_csv(ct / "drivers.csv", index=False)
    (ct / "summary.json").write_text("{}")
    return ReportInputs(comparison=ct.parent, inputs={}, classes=CLASSES, split="test", runs=runs, tables={},
                        replicates=None, store=st if store else None, objects=objects if store else None,
                        cross_track=ct if explained else None)


def _attributions(att, track, ids, label, rng, wave, h):
    n = len(ids)
    summary = {"split": "test", "n": n, "target": "predicted", "complete": True}
    if track == "catalog":
        shap = pd.DataFrame({"object_id": ids, "class_out": 1, "base": 0.0, "feat_g_r": rng.normal(0, 1, n),
                             "feat_r_i": rng.normal(0, 0.1, n)})
        shap.to_parquet(att / "shap.parquet")
        pd.DataFrame({"class_out": 1, "feature": ["feat_g_r", "feat_r_i"], "mean_abs_shap": [0.8, 0.1], "rank": [1, 2],
                      "direction": [0.9, -0.2]}).to_csv(att / "importance.csv", index=False)
        pd.concat([pd.DataFrame({"feature": f, "value": rng.normal(size=n), "shap": shap[f], "class_out": 1,
                                 "row": np.arange(n)}) for f in ("feat_g_r", "feat_r_i")]).to_parquet(
            att / "dependence.parquet")
        summary["shap"] = {"output": "log-odds", "method": "test TreeSHAP", "max_additivity_error": 1e-7}
    elif track == "spectra":
        pd.concat([pd.DataFrame({"wave": wave, "class": c, "mean_attr": 0.0, "mean_abs_attr": rng.random(wave.size),
                                 "n": int((label == k).sum())}) for k, c in enumerate(CLASSES)]).to_csv(
            att / "stacked_by_class.csv", index=False)
        pd.DataFrame({"object_id": ids, "label": label, "predicted": label}).to_parquet(att / "objects.parquet")
        summary.update(baseline="continuum", ig={"steps": 8, "fraction_complete": 1.0},
                       bpt_windows={"median_fraction": 0.5, "grid_share": 0.03, "median_enrichment": 16.0})
    else:
        np.save(att / "ig.npy", rng.normal(size=(n, 3, h, h)).astype(np.float32))
        np.save(att / "gradcam.npy", rng.random((n, h, h)).astype(np.float32))
        rings = {f"occlusion_drop_ring{j}": rng.normal(0.1 / j, 0.01, n) for j in range(1, 5)}
        pd.DataFrame({"object_id": ids, "label": label, "predicted": label, "target": label,
                      "ig_logit_gap": rng.normal(size=n), "ig_complete": True, **rings}).to_parquet(
            att / "objects.parquet")
        summary.update(baseline="zeros", ig={"steps": 8}, psf_fwhm_pix=3.0,
                       occlusion={"rings": {"n_rings": 4, "n_pixels": [64] * 4, "r_inner_pix": [0.7, 4.6, 6.4, 7.8],
                                            "r_outer_pix": [4.5, 6.4, 7.8, 10.6]}})
    (att / "summary.json").write_text(json.dumps(summary))


def test_build_writes_every_expected_figure(tmp_path):
    inputs = _tiny(tmp_path)
    figs, tabs = tmp_path / "report" / "figures", tmp_path / "report" / "tables"
    records = build_interpretability_figures(inputs, figures_dir=figs, tables_dir=tabs, k=4)
    records += build_error_figures(inputs, figures_dir=figs, tables_dir=tabs, k=3)
    names = {r.name for r in records}
    assert names == {"shap_beeswarm_cat", "shap_dependence_cat", "shap_groups_cat", "spectral_attribution_spec",
                     "radial_profile_img", "occlusion_rings_img", "image_attribution_img", "cross_track_scores",
                     "score_drivers",
                     *(f"mistakes_{kind}_{run}" for kind in ("images", "spectra") for run in ("cat", "spec", "img"))}
    for r in records:
        assert r.pdf.stat().st_size > 0 and r.png.stat().st_size > 0 and r.caption
        assert r.section == ("errors" if r.name.startswith("mistakes") else "interpretability")
        assert all((tabs / f"{t}.csv").exists() for t in r.tables)
    mistakes = pd.read_csv(tabs / "mistakes_cat.csv", dtype={"object_id": str})
    assert mistakes["object_id"].tolist() == ["1005", "1000"]  # the planted mistakes (p = 0.98, 0.97), nothing else
    profile = pd.read_csv(tabs / "radial_profile_img.csv")
    assert {"agn, point source", "agn, no point source", "sf"} == set(profile["group"])  # split by the mock truth
    assert set(profile["unit"]) == {"psf_fwhm", "r50"}
    rings = pd.read_csv(tabs / "occlusion_rings_img.csv")
    assert set(rings["group"]) == set(profile["group"]) and rings["n_pixels"].nunique() == 1  # equal areas
    first = rings[rings["ring"] == 1]
    assert (first["mean_drop"] > rings[rings["ring"] == 4]["mean_drop"].to_numpy()).all()
    groups = pd.read_csv(tabs / "shap_groups_cat.csv")  # computed from shap.parquet (no importance_groups.csv)
    assert set(groups["group"]) == {"colours"} and groups["n_features"].tolist() == [2]
    caption = next(r for r in records if r.name == "spectral_attribution_spec").caption
    assert "relative to the grid" in caption and "re-run agnbench explain" in caption
    assert "one linear stretch for all panels" in next(r for r in records if r.name == "mistakes_images_cat").caption


def test_build_skips_cleanly_without_attributions_or_store(tmp_path, caplog):
    inputs = _tiny(tmp_path, explained=False, store=False)
    figs, tabs = tmp_path / "figures", tmp_path / "tables"
    with caplog.at_level("INFO", logger="agnbench.reports.build_interpret"):
        assert build_interpretability_figures(inputs, figures_dir=figs, tables_dir=tabs) == []
        assert build_error_figures(inputs, figures_dir=figs, tables_dir=tabs) == []
    assert "no completed attributions" in caplog.text and "tables only" in caplog.text
    assert sorted(p.name for p in tabs.iterdir()) == ["mistakes_cat.csv", "mistakes_img.csv", "mistakes_spec.csv"]
    assert not figs.exists() or not any(figs.iterdir())
