"""Report performance/dataset figures: curve tables against scikit-learn, bands, ECE agreement, plots on a given
axes (headless, no pyplot), and the builders on a tiny synthetic comparison with and without a store."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from sklearn.metrics import (average_precision_score, confusion_matrix, precision_recall_curve, roc_auc_score,
                             roc_curve)

from agnbench.bootstrap.compare import compare
from agnbench.bootstrap.metrics import point_metrics
from agnbench.config.core import load_config
from agnbench.reports import fig_dataset as fd
from agnbench.reports.build_performance import build_dataset_figures, build_performance_figures
from agnbench.reports.curves import confusion_table, curve_tables, reliability_table
from agnbench.reports.fig_diagnostics import plot_bpt, plot_deltas, plot_ood_fractions, plot_training
from agnbench.reports.fig_performance import plot_confusion, plot_pr, plot_reliability, plot_roc, plot_subgroup
from agnbench.reports.report_inputs import load_report_inputs
from agnbench.reports.perf_tables import bpt_table, delta_table, training_table
from agnbench.reports.style import COLUMN_IN, PAGE_IN, PNG_DPI, journal_style, new_figure
from agnbench.contracts.predictions import prediction_frame
from agnbench.fileio import atomic_write_json, atomic_write_parquet

CLASSES = ("sf", "agn")
CFG = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100", "compare.jackknife_groups=50",
                             "compare.subgroup_bins=3"])
REPORTS = Path(__file__).parents[2] / "agnbench" / "reports"


def _planted(n: int, seed: int, skill: float = 0.6, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    s = np.clip(0.5 + (y - 0.5) * skill + rng.normal(0, 0.2, n), 0.0, 1.0)
    return y, (np.round(s, 2) if ties else s)


def _proba(score: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - score, score])


def test_curves_agree_with_sklearn() -> None:
    y, s = _planted(400, seed=0, ties=True)  # rounded scores: tied thresholds
    _, w = _planted(400, seed=1, skill=0.2)
    tabs = curve_tables(y, {"a": _proba(s), "b": _proba(w)}, classes=CLASSES, n_boot=50, seed=0)
    roc, pr = tabs["roc"], tabs["pr"]
    curve = roc[(roc["run"] == "a") & (roc["kind"] == "curve")]
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(curve["fpr"], fpr)
    np.testing.assert_allclose(curve["tpr"], tpr)
    np.testing.assert_allclose(curve["threshold"], thr)
    assert curve["auc"].iloc[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert np.trapezoid(curve["tpr"], curve["fpr"]) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    curve = pr[(pr["run"] == "a") & (pr["kind"] == "curve")]
    precision, recall, thr = precision_recall_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(curve["precision"], precision[::-1])
    np.testing.assert_allclose(curve["recall"], recall[::-1])
    np.testing.assert_allclose(curve["threshold"].iloc[1:], thr[::-1])
    assert curve["ap"].iloc[0] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert curve["prevalence"].iloc[0] == pytest.approx(y.mean())
    assert set(roc["class"]) == {"agn"}  # binary: the positive class only


def test_multiclass_one_vs_rest() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(0, 1, (300, 3)) + 1.5 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    roc = curve_tables(y, {"m": p}, classes=("sf", "composite", "agn"), n_boot=20)["roc"]
    for k, c in enumerate(("sf", "composite", "agn")):
        auc = roc.loc[(roc["class"] == c) & (roc["kind"] == "curve"), "auc"].iloc[0]
        assert auc == pytest.approx(roc_auc_score(y == k, p[:, k]), abs=1e-12)


def _band_stats(n: int) -> tuple[float, float, tuple[float, float, float]]:
    y, s = _planted(n, seed=n)
    tabs = curve_tables(y, {"a": _proba(s)}, classes=CLASSES, n_boot=300, seed=3)
    band = tabs["roc"][tabs["roc"]["kind"] == "band"]
    inner = band[(band["fpr"] > 0.02) & (band["fpr"] < 0.98)]
    inside = ((inner["tpr_lo"] <= inner["tpr"] + 1e-12) & (inner["tpr"] <= inner["tpr_hi"] + 1e-12)).mean()
    row = band.iloc[0]
    return float(inside), float((inner["tpr_hi"] - inner["tpr_lo"]).mean()), (row["auc"], row["auc_lo"], row["auc_hi"])


def test_band_contains_estimate_and_narrows_with_n() -> None:
    inside_small, width_small, (auc, lo, hi) = _band_stats(200)
    inside_big, width_big, (auc_b, lo_b, hi_b) = _band_stats(3200)
    assert inside_small >= 0.9 and inside_big >= 0.9
    assert lo <= auc <= hi and lo_b <= auc_b <= hi_b
    assert width_big < 0.5 * width_small  # ~1/sqrt(16) = 0.25 expected
    assert hi_b - lo_b < 0.5 * (hi - lo)


def test_paired_resampling_is_deterministic_and_shared() -> None:
    y, s = _planted(300, seed=5)
    _, w = _planted(300, seed=6, skill=0.3)
    both = curve_tables(y, {"a": _proba(s), "b": _proba(w)}, classes=CLASSES, n_boot=120, seed=7)
    again = curve_tables(y, {"a": _proba(s), "b": _proba(w)}, classes=CLASSES, n_boot=120, seed=7)
    alone = curve_tables(y, {"a": _proba(s)}, classes=CLASSES, n_boot=120, seed=7)
    other = curve_tables(y, {"a": _proba(s)}, classes=CLASSES, n_boot=120, seed=8)
    for key in ("roc", "pr"):
        pd.testing.assert_frame_equal(both[key], again[key])
        # one resample matrix for all runs: run a's band does not depend on which other runs are compared
        pd.testing.assert_frame_equal(both[key][both[key]["run"] == "a"].reset_index(drop=True), alone[key])
        assert not np.allclose(alone[key]["auc_lo" if key == "roc" else "ap_lo"],
                               other[key]["auc_lo" if key == "roc" else "ap_lo"])
    nob = curve_tables(y, {"a": _proba(s)}, classes=CLASSES, n_boot=0)["roc"]
    assert nob["tpr_lo"].isna().all() and nob["auc"].notna().all()


def test_reliability_ece_equals_metrics_module() -> None:
    y, s = _planted(500, seed=9)
    rng = np.random.default_rng(10)
    y3 = rng.integers(0, 3, 500)
    p3 = rng.dirichlet([1, 1, 1], 500)
    for yy, proba, classes in ((y, {"a": _proba(s), "b": _proba(np.clip(s * 0.7 + 0.2, 0, 1))}, CLASSES),
                               (y3, {"c": p3}, ("sf", "composite", "agn"))):
        for bins in (10, 15):
            rel = reliability_table(yy, proba, classes=classes, n_bins=bins)
            for run, p in proba.items():
                r = rel[rel["run"] == run]
                ece = point_metrics(yy, p, p.argmax(1), classes=classes, metrics=["ece"], ece_bins=bins)["ece"]
                assert abs(r["ece"].iloc[0] - ece) < 1e-9 and abs(r["gap"].sum() - ece) < 1e-9
                assert r["count"].sum() == yy.size and len(r) == bins
                ok = r[r["count"] > 0]
                assert ((ok["accuracy_lo"] <= ok["accuracy"]) & (ok["accuracy"] <= ok["accuracy_hi"])).all()


def test_confusion_counts_equal_sklearn() -> None:
    y, s = _planted(250, seed=11)
    pred = (s > 0.45).astype(np.int64)
    table = confusion_table(y, {"a": pred}, classes=CLASSES)
    counts = table.pivot(index="true", columns="pred", values="count").loc[list(CLASSES), list(CLASSES)]
    np.testing.assert_array_equal(counts.to_numpy(), confusion_matrix(y, pred, labels=[0, 1]))
    np.testing.assert_allclose(table.groupby("true")["fraction"].sum(), 1.0)


def test_plot_functions_draw_on_the_given_axes() -> None:
    y, s = _planted(300, seed=12)
    _, w = _planted(300, seed=13, skill=0.3)
    proba = {"good": _proba(s), "weak": _proba(w)}
    tabs = curve_tables(y, proba, classes=CLASSES, n_boot=50)
    summary = pd.DataFrame({"metric": ["roc_auc"] * 2, "run": ["good", "weak"], "estimate": [0.91, 0.62],
                            "lo": [0.88, 0.55], "hi": [0.94, 0.68], "confidence": 0.95})
    colors = {"good": "#0072B2", "weak": "#D55E00"}
    with journal_style():
        fig, axs = new_figure("page", nrows=2, ncols=4)
        ax = axs[0, 0]
        assert plot_roc(tabs["roc"], ax=ax, colors=colors, summary=summary) is ax
        assert len(ax.lines) == 3 and len(ax.collections) == 2  # chance + 2 curves; 2 bands
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts == ["good  0.910 [0.880, 0.940]", "weak  0.620 [0.550, 0.680]"]
        assert ax.get_xlabel() == "False positive rate" and ax.lines[1].get_color() == "#0072B2"
        plot_pr(tabs["pr"], ax=axs[0, 1], colors=colors)
        assert len(axs[0, 1].lines) == 3 and "prevalence" in axs[0, 1].get_legend().get_texts()[0].get_text()
        rel = reliability_table(y, proba, classes=CLASSES, n_bins=10)
        plot_reliability(rel, ax=axs[0, 2], colors=colors)
        assert axs[0, 2].get_legend().get_texts()[0].get_text().startswith("good  0.")
        plot_confusion(confusion_table(y, {"good": (s > 0.5).astype(int)}, classes=CLASSES), run="good", ax=axs[0, 3])
        assert len(axs[0, 3].images) == 1 and len(axs[0, 3].texts) == 4
        sub = pd.DataFrame({"variable": "z", "bin": [0, 1, 0, 1], "lo_edge": [0.0, 0.1] * 2, "hi_edge": [0.1, 0.2] * 2,
                            "n": [50, 60] * 2, "run": ["good", "good", "weak", "weak"], "metric": "roc_auc",
                            "estimate": [0.9, 0.8, 0.6, 0.7], "lo": [0.8, 0.7, 0.5, 0.6], "hi": [0.95, 0.9, 0.7, 0.8]})
        plot_subgroup(sub, variable="z", metric="roc_auc", ax=axs[1, 0], colors=colors)
        assert axs[1, 0].get_xlabel() == "Redshift $z$" and axs[1, 0].get_ylabel() == "ROC AUC"
        np.testing.assert_allclose(np.mean([c.get_xdata().mean() for c in axs[1, 0].lines[-2:]]), 0.1)
        hist = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.7, 0.5, 0.4], "val_loss": [0.6, 0.5, 0.55],
                             "val_score": [0.8, 0.9, 0.88], "best": [True, True, False]})
        plot_training(training_table(hist, run="good"), run="good", ax=axs[1, 1], colors=colors)
        assert [l.get_linestyle() for l in axs[1, 1].lines] == ["-", "--", ":"]
        assert axs[1, 1].lines[2].get_xdata()[0] == 2  # the kept (last improving) epoch
        reps = pd.DataFrame({"replicate": np.tile(np.arange(100), 2), "run": np.repeat(["good", "weak"], 100),
                             "metric": "roc_auc", "value": np.r_[np.full(100, 0.9), np.linspace(0.5, 0.7, 100)]})
        tests = pd.DataFrame({"run_a": ["good"], "run_b": ["weak"], "metric": ["roc_auc"], "test": ["paired bootstrap"],
                              "delta": [0.3], "lo": [0.2], "hi": [0.4], "p_value": [0.01], "p_holm": [0.02]})
        deltas = delta_table(reps, tests, runs=["good", "weak"], metrics=["roc_auc"])
        assert deltas["count"].sum() == 100
        plot_deltas(deltas, metric="roc_auc", ax=axs[1, 2])
        assert "0.02" in axs[1, 2].get_yticklabels()[0].get_text()
        objects = pd.DataFrame({"object_id": ["1", "2", "3"], "q_log_nii_ha": [-0.3, -0.2, np.nan],
                                "q_log_oiii_hb": [0.1, 0.0, 0.2]})
        preds = prediction_frame(object_id=np.array(["1", "2", "3"]), split=np.array(["ood"] * 3),
                                 y_true=np.full(3, -1), proba=_proba(np.array([0.2, 0.9, 0.5])),
                                 y_pred=np.array([0, 1, 1]), classes=CLASSES, track="t", model="m", run_id="r", seed=0)
        bpt = bpt_table(objects, {"good": preds}, positive="agn")
        assert len(bpt) == 2  # the object without [NII]/Halpha is left off
        plot_bpt(bpt, run="good", positive="agn", ax=axs[1, 3], colorbar=False)
        assert len(axs[1, 3].lines) == 2 and len(axs[1, 3].collections) == 1
        fig.savefig(Path("/dev/null"), format="png")  # renders headless (no display, no pyplot)
        fig2, ax2 = new_figure("column")
        ood = pd.DataFrame({"run": ["good", "good"], "predicted_class": list(CLASSES), "fraction": [0.3, 0.7],
                            "lo": [0.2, 0.6], "hi": [0.4, 0.8], "n": 10})
        plot_ood_fractions(ood, ax=ax2, colors=colors)
        assert len(ax2.patches) == 2 and ax2.get_ylabel() == "Fraction of composites"
    for path in REPORTS.glob("*.py"):
        if path.name in {"curves.py", "perf_tables.py", "fig_performance.py", "fig_diagnostics.py", "fig_dataset.py",
                         "build_performance.py", "labels.py"}:
            text = path.read_text()
            assert "matplotlib.pyplot" not in text and "import pyplot" not in text, path


def _fake_comparison(root: Path) -> Path:
    """Three fake runs (a deep-like, a tree-like, one without history) on a tiny store, compared."""
    rng = np.random.default_rng(0)
    n_test, n_val, n_ood = 240, 120, 60
    n = n_test + n_val + n_ood
    ids = np.array([f"{1000 + i}" for i in range(n)])
    split = np.array(["test"] * n_test + ["val"] * n_val + ["ood"] * n_ood)
    y = np.where(split == "ood", -1, (rng.random(n) < 0.3).astype(int))
    store = root / "store"
    store.mkdir()
    objects = pd.DataFrame({"object_id": ids, "split": split, "label": y,
                            "label_name": np.where(y < 0, "ood", np.where(y == 1, "agn", "sf")),
                            "z": rng.uniform(0.02, 0.2, n), "q_logmass": rng.normal(10.4, 0.5, n),
                            "q_g_r": rng.normal(0.6, 0.15, n), "q_sn_median": rng.lognormal(2.8, 0.4, n),
                            "q_log_nii_ha": rng.normal(-0.3, 0.1, n), "q_log_oiii_hb": rng.normal(0.0, 0.3, n)})
    atomic_write_parquet(store / "objects.parquet", objects)
    sha = hashlib.sha256((store / "objects.parquet").read_bytes()).hexdigest()
    atomic_write_json(store / "manifest.json", {
        "cuts": [{"cut": "input", "n_after": 500}, {"cut": "0.02 <= z <= 0.2", "n_after": n}],
        "counts": {"test/sf": 170, "val/sf": 80, "ood/ood": n_ood}, "labels": {"scheme": "agn_vs_sf"}})
    runs = []
    for name, skill, history in (("deep", 0.7, "epoch"), ("tree", 0.4, "round"), ("bare", 0.2, None)):
        run = root / name
        run.mkdir()
        score = np.clip(0.5 + (np.maximum(y, 0) - 0.5) * skill + rng.normal(0, 0.2, n), 0.001, 0.999)
        preds = prediction_frame(object_id=ids, split=split, y_true=y, proba=_proba(score),
                                 y_pred=(score > 0.5).astype(int), classes=CLASSES, track=name, model=name, run_id=name,
                                 seed=0)
        atomic_write_parquet(run / "predictions.parquet", preds)
        atomic_write_json(run / "data.json", {"store": str(store), "objects_sha256": sha, "label_scheme": "agn_vs_sf",
                                              "classes": list(CLASSES), "counts": {"train/sf": 80, "train/agn": 20}})
        steps = np.arange(1, 9)
        if history == "epoch":
            pd.DataFrame({"epoch": steps, "train_loss": 1 / steps, "val_loss": 1 / steps + 0.1,
                          "val_score": 1 - 0.5 / steps, "best": True}).to_csv(run / "history.csv", index=False)
        elif history == "round":
            pd.DataFrame({"round": steps - 1, "train_logloss": 1 / steps,
                          "val_logloss": 1 / steps + 0.2}).to_csv(run / "history.csv", index=False)
            atomic_write_json(run / "metrics.json", {"model": {"best_iteration": 5}})
        runs.append(run)
    return compare(CFG, runs=runs, out=root / "cmp", progress=False)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fake_comparison(tmp_path_factory.mktemp("perf"))


def test_builders_write_every_figure_and_table(comparison: Path, tmp_path: Path) -> None:
    inputs = load_report_inputs(comparison)
    assert inputs.objects is not None
    figures, tables = tmp_path / "figures", tmp_path / "tables"
    records = build_performance_figures(inputs, figures_dir=figures, tables_dir=tables, seed=1, n_boot=100)
    records += build_dataset_figures(inputs, figures_dir=figures, tables_dir=tables)
    names = [r.name for r in records]
    assert names == ["roc", "pr", "reliability", "confusion", "subgroups_roc_auc", "subgroups_balanced_accuracy",
                     "training_loss", "training_score", "paired_differences", "composites_bpt",
                     "composites_fractions", "class_balance", "distributions"]
    for r in records:
        assert r.pdf.read_bytes()[:5] == b"%PDF-" and r.png.stat().st_size > 1000
        assert r.section in {"dataset", "performance", "calibration", "subgroups", "training", "tests", "composites"}
        assert r.caption and r.title and "$" not in r.caption
        for t in r.tables:
            assert (tables / f"{t}.csv").exists(), t
    widths = {r.name: imread(r.png).shape[1] / PNG_DPI for r in records}
    assert 0.8 * COLUMN_IN < widths["roc"] <= COLUMN_IN + 0.1
    assert 0.8 * PAGE_IN < widths["confusion"] <= PAGE_IN + 0.1
    assert {"cuts.csv", "dataset_counts.csv", "roc_curves.csv", "pr_curves.csv"} <= {p.name for p in tables.iterdir()}
    assert not [p for p in figures.iterdir() if ".tmp" in p.name]
    cuts = pd.read_csv(tables / "cuts.csv")
    assert list(cuts["n_removed"]) == [0, 80, 170]  # 500 -> 420, then 250 labelled (170 ood/excluded by labels)
    counts = pd.read_csv(tables / "dataset_counts.csv").set_index("split")
    assert counts.loc["total", "total"] == 420 and counts.loc["ood", "other"] == 60
    roc = pd.read_csv(tables / "roc_curves.csv")
    summary = inputs.tables["summary"].set_index(["run", "metric"])["estimate"]
    for run in ("deep", "tree", "bare"):
        assert roc.loc[roc["run"] == run, "auc"].iloc[0] == pytest.approx(summary[(run, "roc_auc")], abs=1e-12)
    rel = pd.read_csv(tables / "reliability.csv")
    for run, ece in rel.groupby("run")["ece"].first().items():
        assert ece == pytest.approx(summary[(run, "ece")], abs=1e-9)
    training = pd.read_csv(tables / "training.csv")
    assert set(training["run"]) == {"deep", "tree"}
    assert training.loc[training["run"] == "tree", "best_step"].iloc[0] == 5


def test_builders_skip_cleanly_without_store_or_history(comparison: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(comparison.parent, copy)
    shutil.rmtree(copy / "store")
    for run in ("deep", "tree"):
        (copy / run / "history.csv").unlink()
    for path in [copy / "cmp" / "inputs.yaml", *copy.glob("*/data.json")]:
        path.write_text(path.read_text().replace(str(comparison.parent), str(copy)))
    (copy / "cmp" / "subgroups.csv").unlink()
    inputs = load_report_inputs(copy / "cmp")
    assert inputs.objects is None and all(r.history is None for r in inputs.runs)
    caplog.set_level("INFO", logger="agnbench.reports.build_performance")
    records = build_performance_figures(inputs, figures_dir=tmp_path / "f", tables_dir=tmp_path / "t", n_boot=0)
    names = {r.name for r in records}
    assert names == {"roc", "pr", "reliability", "confusion", "paired_differences", "composites_fractions"}
    assert "No bands" in next(r for r in records if r.name == "roc").caption
    assert build_dataset_figures(inputs, figures_dir=tmp_path / "f", tables_dir=tmp_path / "t") == []
    assert any("skipped" in m for m in caplog.messages)


def test_dataset_tables() -> None:
    objects = pd.DataFrame({"split": ["train"] * 4 + ["test"] * 2 + ["ood", "excluded"],
                            "label": [0, 0, 0, 1, 0, 1, -1, -1],
                            "label_name": ["sf", "sf", "sf", "agn", "sf", "agn", "ood", "excluded"],
                            "z": [0.05, 0.06, 0.07, 0.1, 0.08, 0.12, 0.09, np.nan]})
    counts = fd.split_class_counts(objects).set_index("split")
    assert list(counts.columns) == ["sf", "agn", "other", "total"]
    assert counts.loc["train", "sf"] == 3 and counts.loc["total", "total"] == 8 and counts.loc["excluded", "other"] == 1
    balance = fd.class_balance_table(objects)
    assert balance.set_index(["split", "class"]).loc[("train", "agn"), "fraction"] == 0.25
    dist = fd.distribution_table(objects, columns=("z", "missing"), bins=5, percentiles=(0, 100))
    assert set(dist["group"]) == {"sf", "agn", fd.OOD_GROUP} and set(dist["variable"]) == {"z"}
    assert dist.groupby("group")["count"].sum().to_dict() == {"sf": 4, "agn": 2, fd.OOD_GROUP: 1}
    with pytest.raises(Exception, match="cuts"):
        fd.cuts_table({})
    assert json.dumps(fd.cuts_table({"cuts": [{"cut": "input", "n_after": 3}]}).to_dict("records"))
