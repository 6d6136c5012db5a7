"""Debiased calibration error, calibration slope/intercept and Spiegelhalter's test against references."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression

from agnbench.bootstrap.calibration import calibration_table, logistic_calibration, spiegelhalter_test
from agnbench.bootstrap.compare_arrays import compare_predictions
from agnbench.bootstrap.metrics import metric_notes, point_metrics, weighted_metrics
from agnbench.bootstrap.resample import counts_from_indices, index_chunks
from agnbench.contracts.comparison import read_optional_tables, write_comparison
from tests.conftest import REAL

CLASSES = ("sf", "agn")
CAL = ["debiased_ce", "calibration_slope", "calibration_intercept"]


def _problem(n: int, seed: int, a: float = 0.4, b: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(-1.0, 1.6, n)
    y = (rng.random(n) < expit(a + b * x)).astype(np.int64)
    p = expit(x)
    return y, np.column_stack([1 - p, p])


def _sklearn_fit(p1: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(intercept with slope fixed at 1, slope of the joint fit): scipy root and unpenalised scikit-learn."""
    x = np.log(p1) - np.log1p(-p1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slope = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x[:, None], y).coef_[0, 0]
    intercept = brentq(lambda a: float(np.sum(y - expit(a + x))), -30, 30, xtol=1e-14)
    return intercept, float(slope)


def _kumar_loop(y: np.ndarray, proba: np.ndarray, bins: int) -> float:
    """Kumar et al.'s debiased squared L2 error, one bin at a time (signed root)."""
    conf, correct = proba.max(axis=1), (proba.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    total = 0.0
    for m in range(bins):
        sel = which == m
        if sel.sum() < 2:
            continue
        acc = correct[sel].mean()
        total += sel.mean() * ((acc - conf[sel].mean()) ** 2 - acc * (1 - acc) / (sel.sum() - 1))
    return float(np.sign(total) * np.sqrt(abs(total)))


def test_slope_and_intercept_equal_sklearn_on_the_full_sample() -> None:
    y, proba = _problem(800, seed=1)
    ours = point_metrics(y, proba, proba.argmax(1), classes=CLASSES, metrics=CAL)
    intercept, slope = _sklearn_fit(proba[:, 1], y)
    assert ours["calibration_slope"] == pytest.approx(slope, abs=1e-6)
    assert ours["calibration_intercept"] == pytest.approx(intercept, abs=1e-9)
    assert ours["debiased_ce"] == pytest.approx(_kumar_loop(y, proba, 15), abs=1e-12)
    assert abs(ours["calibration_slope"] - 0.7) < 0.15  # the planted slope


@pytest.mark.skipif(not (REAL / "uv_optical_sdss_reduced.csv").exists(), reason="real SDSS table absent")
def test_on_real_sdss_bpt_classes() -> None:
    """A colour-only logistic model of BPT AGN vs SF on real SDSS galaxies, scored on held-out objects."""
    table = pd.read_csv(REAL / "uv_optical_sdss_reduced.csv")
    table = table[table["BPT_class"].isin(["AGN", "SF"])].dropna(subset=["dered_u", "dered_g", "dered_r", "dered_i"])
    x = np.column_stack([table["dered_u"] - table["dered_g"], table["dered_g"] - table["dered_r"],
                         table["dered_r"] - table["dered_i"]])
    y = (table["BPT_class"] == "AGN").to_numpy().astype(np.int64)
    half = np.arange(y.size) % 2 == 0
    model = LogisticRegression(C=0.1).fit(x[half], y[half])
    p1 = model.predict_proba(x[~half])[:, 1]
    yt, proba = y[~half], np.column_stack([1 - p1, p1])
    ours = point_metrics(yt, proba, proba.argmax(1), classes=CLASSES, metrics=CAL + ["ece"])
    intercept, slope = _sklearn_fit(p1, yt)
    assert ours["calibration_slope"] == pytest.approx(slope, abs=1e-6)
    assert ours["calibration_intercept"] == pytest.approx(intercept, abs=1e-9)
    assert ours["debiased_ce"] == pytest.approx(_kumar_loop(yt, proba, 15), abs=1e-12)
    assert ours["debiased_ce"] < ours["ece"] + 0.05
    z, p = spiegelhalter_test(yt.astype(float), p1)
    assert np.isfinite(z) and 0 <= p <= 1


def test_replicates_are_the_estimators_on_the_resampled_arrays() -> None:
    n = 300
    y, proba = _problem(n, seed=2)
    _, idx = next(index_chunks(n, n_boot=60, seed=4, strata=y, chunk_size=60))
    counts = counts_from_indices(idx, n)
    values = weighted_metrics(y, proba, proba.argmax(1), counts, classes=CLASSES, metrics=CAL)
    as_int = weighted_metrics(y, proba, proba.argmax(1), counts.astype(np.int64), classes=CLASSES, metrics=CAL)
    for name in CAL:
        np.testing.assert_array_equal(values[name], as_int[name])
    refit = np.array([_sklearn_fit(proba[i, 1], y[i]) for i in idx])  # fully iterated fits, (60, 2)
    for b in range(0, 60, 7):
        assert values["debiased_ce"][b] == pytest.approx(_kumar_loop(y[idx[b]], proba[idx[b]], 15), abs=1e-12)
    # two steps from the full-sample fit: a small fraction of the bootstrap spread from the refitted value
    for j, name in enumerate(["calibration_intercept", "calibration_slope"]):
        error = (values[name] - refit[:, j]) / np.std(refit[:, j])
        assert np.max(np.abs(error)) < (0.15 if j else 0.02) and abs(error.mean()) < 0.02, (name, error)


def test_binary_only_separated_and_constant_scores() -> None:
    rng = np.random.default_rng(3)
    y3 = rng.integers(0, 3, 200)
    p3 = rng.dirichlet(np.ones(3), 200)
    out = point_metrics(y3, p3, p3.argmax(1), classes=("a", "b", "c"), metrics=CAL)
    assert np.isnan(out["calibration_slope"]) and np.isnan(out["calibration_intercept"])
    assert np.isfinite(out["debiased_ce"])  # top-label: defined for any K
    assert metric_notes(y3, n_classes=3)["calibration_slope"] == "binary problems only"
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    separated = np.column_stack([1 - np.r_[np.full(50, 0.2), np.full(50, 0.8)], np.r_[np.full(50, 0.2), np.full(50, 0.8)]])
    out = point_metrics(y, separated, separated.argmax(1), classes=CLASSES, metrics=CAL)
    assert np.isnan(out["calibration_slope"]) and np.isfinite(out["calibration_intercept"])
    constant = np.tile([0.7, 0.3], (100, 1))
    out = point_metrics(y, constant, constant.argmax(1), classes=CLASSES, metrics=CAL)
    assert np.isnan(out["calibration_slope"])
    assert out["calibration_intercept"] == pytest.approx(np.log(0.5 / 0.5) - np.log(0.3 / 0.7), abs=1e-9)
    assert logistic_calibration(np.full(4, 0.5), np.array([0, 1, 0, 1]))[1] != logistic_calibration(
        np.full(4, 0.5), np.array([0, 1, 0, 1]))[1]  # NaN slope


def test_spiegelhalter_formula_and_table() -> None:
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.2, 0.6, 0.3, 0.4, 0.1, 0.8, 0.7])
    num = sum((yi - pi) * (1 - 2 * pi) for yi, pi in zip(y, p))
    den = np.sqrt(sum((1 - 2 * pi) ** 2 * pi * (1 - pi) for pi in p))
    z, pv = spiegelhalter_test(y, p)
    assert z == pytest.approx(num / den, abs=1e-14) and pv == pytest.approx(2 * norm.sf(abs(num / den)), abs=1e-14)
    assert np.isnan(spiegelhalter_test(y, np.full(8, 0.5))[0])
    yb, proba = _problem(400, seed=5)
    result = compare_predictions(yb, {"m": proba, "n": proba[:, ::-1]}, classes=CLASSES, n_boot=100)
    cal = result.calibration
    assert list(cal.columns) == ["run", "test", "statistic", "p_value", "n", "note"]
    assert list(cal["run"]) == ["m", "n"] and (cal["test"] == "Spiegelhalter z").all()
    assert cal.set_index("run").at["n", "p_value"] < 1e-6  # reversed probabilities: badly miscalibrated
    note = result.summary.set_index(["run", "metric"]).at[("m", "calibration_intercept"), "note"]
    assert "conditional on the test prevalence" in note
    assert calibration_table(np.zeros(3, int), {"k3": np.full((3, 3), 1 / 3)}).empty


def test_calibration_csv_round_trip(tmp_path) -> None:
    y, proba = _problem(200, seed=6)
    result = compare_predictions(y, {"m": proba}, classes=CLASSES, n_boot=100)
    write_comparison(tmp_path, replicates=result.replicates_table(), summary=result.summary, tests=result.tests,
                     tables={"calibration": result.calibration}, inputs={})
    back = read_optional_tables(tmp_path)["calibration"]
    pd.testing.assert_frame_equal(back, result.calibration, check_dtype=False)
