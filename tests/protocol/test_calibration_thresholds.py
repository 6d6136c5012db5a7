"""Tests for agnbench.protocol.calibration and agnbench.protocol.thresholds: planted over-confidence,
closed-form temperature, brute-force threshold searches. Any seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agnbench.protocol.calibration import CALIBRATION_METHODS, Calibrator, fit_calibrator
from agnbench.protocol.thresholds import THRESHOLD_RULES, apply_threshold, fit_threshold
from agnbench.errors import AgnbenchError

SEEDS = (0, 1, 2)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def overconfident(n: int, k: int, seed: int, *, factor: float = 3.0):
    """Labels drawn from softmax(z); the 'model' reports softmax(factor * z). Returns (p_model, p_true, y)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.0, size=(n, k)) + (0.7 if k == 2 else 0.0) * np.eye(k)[rng.integers(0, k, n)]
    true = softmax(z)
    y = (rng.random(n)[:, None] > np.cumsum(true, axis=1)).sum(axis=1)
    return softmax(factor * z), true, y


def nll(p, y):
    return float(-np.mean(np.log(np.clip(p[np.arange(y.size), y], 1e-15, 1))))


def brier(p, y):
    return float(np.mean(np.sum((p - np.eye(p.shape[1])[y]) ** 2, axis=1)))


# ------------------------------------------------------------------ calibration
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3])
def test_temperature_recovers_planted_factor(k, seed):
    p, _, y = overconfident(20_000, k, seed)
    cal = fit_calibrator(p, y, method="temperature")
    assert abs(cal.params["temperature"] - 3.0) < 0.3
    out = cal.transform(p)
    assert nll(out, y) < nll(p, y)
    assert np.array_equal(out.argmax(axis=1), p.argmax(axis=1))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_isotonic_sigmoid_lower_heldout_brier(method, k, seed):
    p, _, y = overconfident(12_000, k, seed)
    cal = fit_calibrator(p[:6000], y[:6000], method=method)
    out = cal.transform(p[6000:])
    assert out.shape == (6000, k)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    assert (out >= 0).all() and (out <= 1).all()
    assert brier(out, y[6000:]) < brier(p[6000:], y[6000:]) - 0.005


def test_sigmoid_recovers_binary_platt_map():
    """p = sigmoid(3 * s) while P(y=1) = sigmoid(s): Platt's slope on logit(p) is 1/3, intercept 0."""
    rng = np.random.default_rng(5)
    s = rng.normal(scale=2.0, size=40_000)
    y = (rng.random(s.size) < 1 / (1 + np.exp(-s))).astype(int)
    p1 = 1 / (1 + np.exp(-3 * s))
    cal = fit_calibrator(np.column_stack([1 - p1, p1]), y, method="sigmoid")
    assert abs(cal.params["a"][0] - 1 / 3) < 0.02 and abs(cal.params["b"][0]) < 0.05


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_calibrator_round_trip_and_rows_sum_to_one(method, k):
    p, _, y = overconfident(3000, k, 11)
    cal = fit_calibrator(p, y, method=method)
    again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal
    assert np.array_equal(again.transform(p), cal.transform(p))
    np.testing.assert_allclose(cal.transform(p).sum(axis=1), 1.0, atol=1e-12)
    if method == "none":
        assert np.array_equal(cal.transform(p), p)


def test_isotonic_matches_sklearn_predictions():
    from sklearn.isotonic import IsotonicRegression

    p, _, y = overconfident(4000, 2, 3)
    cal = fit_calibrator(p, y, method="isotonic")
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p[:, 1], y == 1)
    grid = np.column_stack([1 - np.linspace(0, 1, 501), np.linspace(0, 1, 501)])
    np.testing.assert_allclose(cal.transform(grid)[:, 1], iso.predict(grid[:, 1]), atol=1e-12)


def _old_platt(p1, target):
    """The hand-written Platt fit that LogisticRegression replaced (L-BFGS-B on the mean log-loss)."""
    from scipy.optimize import minimize

    z = np.log(np.clip(p1, 1e-12, 1 - 1e-12)) - np.log1p(-np.clip(p1, 1e-12, 1 - 1e-12))

    def loss(ab):
        s = ab[0] * z + ab[1]
        r = 1 / (1 + np.exp(-s)) - target
        return float(np.mean(np.logaddexp(0.0, s) - target * s)), np.array([np.mean(r * z), np.mean(r)])

    return minimize(loss, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B").x


@pytest.mark.parametrize("seed", SEEDS)
def test_sigmoid_is_the_maximum_likelihood_fit(seed):
    """Platt by sklearn's LogisticRegression: score equations hold; agrees with the replaced fit."""
    p, _, y = overconfident(3000, 2, seed)
    cal = fit_calibrator(p, y, method="sigmoid")
    a, b = cal.params["a"][0], cal.params["b"][0]
    z = np.log(p[:, 1]) - np.log(p[:, 0])
    r = 1 / (1 + np.exp(-(a * z + b))) - y
    assert abs(np.mean(r * z)) < 1e-8 and abs(np.mean(r)) < 1e-8  # gradient of the log-likelihood: zero
    # the replaced fit stopped at scipy's default gradient tolerance: within 5e-4 of the exact (a, b)
    old = _old_platt(p[:, 1], y.astype(float))
    np.testing.assert_allclose([a, b], old, atol=5e-4)
    out = cal.transform(p)[:, 1]
    old_out = 1 / (1 + np.exp(-(old[0] * z + old[1])))
    assert np.abs(out - old_out).max() < 1e-4


class _PassThrough:
    """A fitted 'classifier' whose predict_proba is its input: sklearn's calibration on given probabilities."""

    def __init__(self, k):
        self.k = k

    def get_params(self, deep=True):
        return {"k": self.k}

    def set_params(self, **params):
        self.k = params.get("k", self.k)
        return self

    def fit(self, X, y=None):
        self.classes_ = np.arange(self.k)
        return self

    def predict_proba(self, X):
        return np.asarray(X, dtype=np.float64)

    def predict(self, X):
        return np.argmax(X, axis=1)


@pytest.mark.parametrize("k", [2, 3])
def test_temperature_agrees_with_sklearn(k):
    """sklearn >= 1.8 CalibratedClassifierCV(FrozenEstimator(...), method="temperature") as the reference."""
    sklearn_calibration = pytest.importorskip("sklearn.calibration")
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.frozen import FrozenEstimator

    est = type("PassThrough", (ClassifierMixin, BaseEstimator, _PassThrough), {})(k).fit(None)
    p, _, y = overconfident(4000, k, 7)
    idx = np.arange(y.size)
    ref = sklearn_calibration.CalibratedClassifierCV(FrozenEstimator(est), method="temperature",
                                                      cv=[(idx, idx)]).fit(p, y)
    t_ref = 1.0 / float(ref.calibrated_classifiers_[0].calibrators[0].beta_)
    cal = fit_calibrator(p, y, method="temperature")
    assert cal.params["temperature"] == pytest.approx(t_ref, rel=1e-6)
    assert np.abs(cal.transform(p) - ref.predict_proba(p)).max() < 1e-6


def test_calibration_errors():
    p, _, y = overconfident(200, 3, 0)
    with pytest.raises(AgnbenchError, match="unknown calibration method"):
        fit_calibrator(p, y, method="beta")
    with pytest.raises(AgnbenchError, match="shape"):
        fit_calibrator(p, y, method="temperature").transform(p[:, :2])
    with pytest.raises(AgnbenchError, match="unknown calibration method"):
        Calibrator.from_dict({"method": "beta", "params": {}})
    with pytest.warns(UserWarning, match="class 2 is never"):
        cal = fit_calibrator(p, np.where(y == 2, 0, y), method="isotonic")
    assert cal.params["x"][2] is None


# ------------------------------------------------------------------ thresholds
def binary_problem(seed: int, n: int = 600):
    """Noisy binary scores rounded to 2 decimals (plenty of ties)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = np.round(np.clip(0.3 + 0.3 * y + rng.normal(scale=0.2, size=n), 0, 1), 2)
    return np.column_stack([1 - s, s]), y


def brute(proba, y, positive=1):
    """(threshold, f1, precision) for every unique probability, rule proba[:, positive] >= t."""
    rows = []
    for t in np.unique(proba[:, positive]):
        pred = proba[:, positive] >= t
        tp = int(np.sum(pred & (y == positive)))
        fp = int(np.sum(pred & (y != positive)))
        fn = int(np.sum(~pred & (y == positive)))
        rows.append((t, 2 * tp / (2 * tp + fp + fn), tp / (tp + fp)))
    return rows


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("positive", [0, 1])
def test_max_f1_equals_brute_force(seed, positive):
    proba, y = binary_problem(seed)
    rule = fit_threshold(proba, y, rule="max_f1", positive=positive)
    rows = brute(proba, y, positive)
    best_f1 = max(f for _, f, _ in rows)
    assert rule["val_f1"] == best_f1
    assert rule["threshold"] == min(t for t, f, _ in rows if f == best_f1)
    pred = apply_threshold(proba, rule)
    tp = np.sum((pred == positive) & (y == positive))
    assert 2 * tp / (np.sum(pred == positive) + np.sum(y == positive)) == pytest.approx(best_f1)
    json.dumps(rule)


def test_max_f1_tie_takes_lowest_threshold():
    s = np.array([0.9, 0.8, 0.7, 0.6])
    y = np.array([1, 0, 0, 1])  # F1 = 2/3 at t = 0.9 (1 TP, 1 FN) and at t = 0.6 (2 TP, 2 FP)
    rule = fit_threshold(np.column_stack([1 - s, s]), y, rule="max_f1")
    assert rule["threshold"] == 0.6 and rule["val_f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("target", [0.6, 0.8])
def test_target_precision_lowest_reaching_threshold(seed, target):
    proba, y = binary_problem(seed)
    rule = fit_threshold(proba, y, rule="target_precision", target_precision=target)
    pred = apply_threshold(proba, rule)
    assert rule["reached"] is True
    assert np.mean(y[pred == 1] == 1) >= target
    assert rule["threshold"] == min(t for t, _, prec in brute(proba, y) if prec >= target)


def test_target_precision_unreachable_warns():
    proba, y = binary_problem(0)
    proba = np.full_like(proba, 0.5)  # no information: precision is the base rate everywhere
    with pytest.warns(UserWarning, match="no threshold reaches"):
        rule = fit_threshold(proba, y, rule="target_precision", target_precision=0.99)
    assert rule["reached"] is False and rule["val_precision"] < 0.99


@pytest.mark.parametrize("seed", SEEDS)
def test_argmax_and_multiclass(seed):
    p, _, y = overconfident(500, 3, seed)
    rule = fit_threshold(p, y, rule="argmax")
    assert rule["threshold"] is None
    assert np.array_equal(apply_threshold(p, rule), p.argmax(axis=1))
    for name in ("max_f1", "target_precision"):
        with pytest.raises(AgnbenchError, match="binary"):
            fit_threshold(p, y, rule=name)
    with pytest.raises(AgnbenchError, match="unknown threshold rule"):
        fit_threshold(p, y, rule="youden")
    assert set(THRESHOLD_RULES) == {"argmax", "max_f1", "target_precision"}


@pytest.mark.parametrize("k", [2, 3])
def test_temperature_on_a_separable_split_keeps_the_probabilities(k):
    """Every val object right: the NLL falls to 0 as T -> 0, so no T is fitted (T = 1), not the search's bound."""
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 200)
    p = rng.dirichlet(np.ones(k), 200)
    p[np.arange(200), y] += 1.0  # argmax = label for every object, confidences still spread
    p /= p.sum(axis=1, keepdims=True)
    with pytest.warns(UserWarning, match="no maximum"):
        cal = fit_calibrator(p, y, method="temperature")
    assert cal.params["temperature"] == 1.0
    np.testing.assert_allclose(cal.transform(p), p, atol=1e-12)
    y_wrong = y.copy()
    y_wrong[0] = (y[0] + 1) % k  # one mistake: the likelihood has a maximum again, and T is fitted
    assert fit_calibrator(p, y_wrong, method="temperature").params["temperature"] != 1.0
