"""Tests for agnbench.interpretability.fast_treeshap / tree_arrays and tree_shap(method=...): the numba
TreeSHAP equals the native kernels (XGBoost, LightGBM; binary, 3-class; NaN, LightGBM's zero / no-missing
rules, early-stopped rounds, repeated path features, stumps, single-leaf trees), equals brute-force
Shapley values of the path-dependent value function, is deterministic (repeats, threads, tables vs per
row), and unsupported models fall back to native under "auto" and fail clearly under "fast".
Small models (a few hundred rows, <= 40 trees); numba compiles once and caches to __pycache__."""

from __future__ import annotations

import itertools
import logging
import math

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from agnbench.baselines.catalog_models import HISTORY_COLUMNS, FitResult, fit_model
from agnbench.errors import AgnbenchError
from agnbench.interpretability import tree_arrays as ta
from agnbench.interpretability.fast_treeshap import _paths, fast_tree_shap
from agnbench.interpretability.tree_shap import tree_shap

SEED = 0
N, D = 600, 5
NAMES = [f"feat_{i}" for i in range(D)]
PARAMS = {"xgboost": {"n_estimators": 30, "learning_rate": 0.3, "max_depth": 4},
          "lightgbm": {"n_estimators": 30, "learning_rate": 0.3, "num_leaves": 12, "min_child_samples": 5}}


def data(n_classes: int, seed: int = SEED, *, nan_frac: float = 0.05, n: int = N):
    """Interacting drivers (x0, x1 * x2), a few exact zeros and NaN."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    score = X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=n)
    y = (score > 0).astype(np.int64) if n_classes == 2 else np.digitize(score, [-0.5, 0.5]).astype(np.int64)
    X[rng.random(X.shape) < 0.02] = 0.0
    X[rng.random(X.shape) < nan_frac] = np.nan
    return X, y


def as_fit(kind: str, model, n_classes: int, best_iteration: int | None, d: int = D) -> FitResult:
    return FitResult(kind=kind, n_classes=n_classes, feature_names=NAMES[:d], model=model,
                     best_iteration=best_iteration, history=pd.DataFrame({c: [] for c in HISTORY_COLUMNS}),
                     imputation=None, params={"threads": 2})


def scale_of(res) -> float:
    return max(1.0, float(np.abs(res.base + res.values.sum(-1)).max()))


def assert_matches_native(fit: FitResult, X: np.ndarray, *, rel: float = 1e-6) -> None:
    """Fast and native values within ``rel`` of the output scale; base values likewise."""
    fast, native = tree_shap(fit, X, method="fast"), tree_shap(fit, X, method="native")
    assert fast.method.startswith("fast TreeSHAP") and "native" in native.method
    assert fast.values.shape == native.values.shape and fast.base.shape == native.base.shape
    scale = scale_of(native)
    assert np.abs(fast.values - native.values).max() <= rel * scale
    assert np.abs(fast.base - native.base).max() <= rel * scale
    assert fast.output == native.output and fast.classes_out == native.classes_out


@pytest.fixture(scope="module")
def fits():
    cache: dict = {}

    def get(kind: str, n_classes: int):
        if (kind, n_classes) not in cache:
            X, y = data(n_classes)
            fit = fit_model(kind, X[:450], y[:450], X[450:], y[450:], n_classes=n_classes, feature_names=NAMES,
                            seed=SEED, params=PARAMS[kind], threads=1)
            cache[kind, n_classes] = fit, X
        return cache[kind, n_classes]

    return get


# ----------------------------------------------------------------------------- agreement with native
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_fast_equals_native(fits, kind, n_classes):
    fit, X = fits(kind, n_classes)
    assert np.isnan(X).any()
    # XGBoost's native kernel runs in float32; LightGBM's in float64 like ours
    assert_matches_native(fit, X, rel=1e-6 if kind == "xgboost" else 1e-12)
    assert tree_shap(fit, X, native_below=0).method.startswith("fast TreeSHAP")  # "auto" above its threshold


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_early_stopped_rounds(kind):
    """best_iteration < trees in the booster: only rounds 0..best_iteration are explained."""
    X, y = data(3, seed=1)
    if kind == "xgboost":
        model = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "nthread": 1},
                          xgb.DMatrix(X, label=y), num_boost_round=25)
    else:
        model = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 8, "verbosity": -1,
                           "num_threads": 1}, lgb.Dataset(X, label=y), num_boost_round=25)
    early = as_fit(kind, model, 3, best_iteration=9)
    assert ta.from_fit(early).n_trees == 10 * 3
    assert_matches_native(early, X, rel=1e-6 if kind == "xgboost" else 1e-12)
    full = tree_shap(as_fit(kind, model, 3, best_iteration=None), X, method="fast")
    assert np.abs(full.values - tree_shap(early, X, method="fast").values).max() > 1e-3


def test_repeated_features_match_brute_force_shapley():
    """Deep trees on two informative features split on each repeatedly; exact Shapley values agree."""
    rng = np.random.default_rng(SEED + 2)
    X = rng.normal(size=(400, 3))
    y = (np.sin(2 * X[:, 0]) + X[:, 1] ** 2 > 0.8).astype(np.int64)
    model = xgb.train({"objective": "binary:logistic", "max_depth": 5, "nthread": 1}, xgb.DMatrix(X, label=y),
                      num_boost_round=8)
    arrays = ta.from_xgboost(model)
    leaf_d = _paths(arrays.node_offset, arrays.left, arrays.right, arrays.feature, arrays.cover, arrays.value)[3]
    depth = leaf_depths(arrays)
    assert depth.size == leaf_d.size and (depth > leaf_d).sum() > 10  # many paths split on a feature twice
    fast = fast_tree_shap(arrays, X[:20])
    ref = np.stack([brute_force(arrays, x) for x in X[:20].astype(np.float32).astype(np.float64)])
    np.testing.assert_allclose(fast[:, 0], ref, rtol=0, atol=1e-12)
    assert_matches_native(as_fit("xgboost", model, 2, None, d=3), X, rel=1e-6)


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_stumps(kind):
    X, y = data(2, seed=3)
    if kind == "xgboost":
        model = xgb.train({"objective": "binary:logistic", "max_depth": 1, "nthread": 1}, xgb.DMatrix(X, label=y),
                          num_boost_round=20)
    else:
        model = lgb.train({"objective": "binary", "num_leaves": 2, "verbosity": -1, "num_threads": 1},
                          lgb.Dataset(X, label=y), num_boost_round=20)
    assert_matches_native(as_fit(kind, model, 2, None), X, rel=1e-6 if kind == "xgboost" else 1e-12)


def test_lightgbm_single_leaf_trees_give_the_base_only():
    X, y = data(2, seed=4)
    model = lgb.train({"objective": "binary", "min_data_in_leaf": 10_000, "verbosity": -1, "num_threads": 1},
                      lgb.Dataset(X, label=y), num_boost_round=3)
    fit = as_fit("lightgbm", model, 2, None)
    res = tree_shap(fit, X, method="fast")
    assert np.all(res.values == 0.0)
    assert_matches_native(fit, X, rel=1e-12)


@pytest.mark.parametrize("params", [{"zero_as_missing": True}, {"use_missing": False}, {}],
                         ids=["missing-zero", "missing-none", "missing-nan"])
def test_lightgbm_missing_rules(params):
    """LightGBM's missing types Zero / None / NaN, with exact zeros, NaN and values below 1e-35."""
    X, y = data(2, seed=5, nan_frac=0.1)
    X[::7, 0], X[1::7, 1], X[2::11, 2] = 0.0, 1e-40, -1e-40
    model = lgb.train({"objective": "binary", "num_leaves": 8, "verbosity": -1, "num_threads": 1, **params},
                      lgb.Dataset(X, label=y), num_boost_round=15)
    fit = as_fit("lightgbm", model, 2, None)
    arrays = ta.from_fit(fit)
    wanted = {"zero_as_missing": ta.MISSING_ZERO, "use_missing": ta.MISSING_NONE}.get(next(iter(params), ""),
                                                                                      ta.MISSING_NAN)
    assert set(arrays.missing[arrays.feature >= 0].tolist()) == {wanted}
    assert_matches_native(fit, X, rel=1e-12)


# ----------------------------------------------------------------------------- determinism
def test_deterministic_across_repeats_threads_tables_and_blocks(fits):
    fit, X = fits("lightgbm", 3)
    arrays = ta.from_fit(fit)
    one = fast_tree_shap(arrays, X, threads=1)
    assert one.tobytes() == fast_tree_shap(arrays, X, threads=1).tobytes()
    assert one.tobytes() == fast_tree_shap(arrays, X, threads=2).tobytes()
    assert one.tobytes() == fast_tree_shap(arrays, X, threads=2, table_max_features=0).tobytes()
    assert one.tobytes() == fast_tree_shap(arrays, X, threads=2, block_rows=7, table_budget_mib=0.01).tobytes()
    res = tree_shap(fits("xgboost", 2)[0], X)
    assert res.values.tobytes() == tree_shap(fits("xgboost", 2)[0], X).values.tobytes()


# ----------------------------------------------------------------------------- unsupported models
def _categorical_models():
    rng = np.random.default_rng(SEED + 6)
    X = rng.normal(size=(500, 3))
    X[:, 0] = rng.integers(0, 5, 500)
    y = ((X[:, 0] == 2) | (X[:, 1] > 0.5)).astype(np.int64)
    xgb_model = xgb.train({"objective": "binary:logistic", "max_depth": 3, "max_cat_to_onehot": 1, "nthread": 1},
                          xgb.DMatrix(X, label=y, feature_types=["c", "q", "q"], enable_categorical=True),
                          num_boost_round=5)
    lgb_model = lgb.train({"objective": "binary", "num_leaves": 6, "verbosity": -1, "num_threads": 1,
                           "min_data_per_group": 5, "cat_smooth": 1},
                          lgb.Dataset(X, label=y, categorical_feature=[0]), num_boost_round=5)
    return X, {"xgboost": xgb_model, "lightgbm": lgb_model}


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_unsupported_model_falls_back_or_fails_clearly(kind, caplog):
    X, models = _categorical_models()
    fit = as_fit(kind, models[kind], 2, None, d=3)
    with caplog.at_level(logging.INFO, logger="agnbench.interpretability.treeshap_kernel"):
        res = tree_shap(fit, X, native_below=0)  # "auto" tries numba (above its threshold), falls back
    assert "native" in res.method and res.max_additivity_error < 1e-4
    assert res.kernel["kernel"] == "native" and "categorical" in res.kernel["reason"]
    assert any("categorical" in r.getMessage() and "native" in r.getMessage() for r in caplog.records)
    with pytest.raises(AgnbenchError, match=r"method='fast' cannot explain.*categorical.*method='native'"):
        tree_shap(fit, X, method="fast")


def test_lightgbm_linear_trees_are_refused():
    X, y = data(2, seed=7, nan_frac=0.0)
    model = lgb.train({"objective": "binary", "linear_tree": True, "num_leaves": 4, "verbosity": -1,
                       "num_threads": 1}, lgb.Dataset(X, label=y), num_boost_round=3)
    with pytest.raises(AgnbenchError, match="method='fast' cannot explain.*linear leaves"):
        tree_shap(as_fit("lightgbm", model, 2, None), X, method="fast")


def test_option_errors(fits):
    fit, X = fits("xgboost", 2)
    with pytest.raises(AgnbenchError, match="unknown SHAP method"):
        tree_shap(fit, X, method="gpu")
    logreg = as_fit("logreg", None, 2, None)
    with pytest.raises(AgnbenchError, match="method='fast' explains xgboost and lightgbm"):
        tree_shap(logreg, X, method="fast")
    with pytest.raises(ta.UnsupportedModelError, match="not 'logreg'"):
        ta.from_fit(logreg)
    with pytest.raises(ta.UnsupportedModelError, match="start at 0"):
        ta.from_xgboost(fit.model, iteration_range=(2, 5))
    with pytest.raises(AgnbenchError, match="shape"):
        fast_tree_shap(ta.from_fit(fit), X[:, :3])


# ----------------------------------------------------------------------------- reference
def leaf_depths(arrays: ta.TreeArrays) -> np.ndarray:
    """Number of splits above each leaf, leaves in pre-order tree by tree; (n_leaves,)."""
    out = []
    for t in range(arrays.n_trees):
        o, stack = arrays.node_offset[t], [(0, 0)]
        while stack:
            j, k = stack.pop()
            if arrays.left[o + j] < 0:
                out.append(k)
            else:
                stack += [(arrays.right[o + j], k + 1), (arrays.left[o + j], k + 1)]
    return np.asarray(out)


def brute_force(arrays: ta.TreeArrays, x: np.ndarray) -> np.ndarray:
    """Shapley values (and base, last) of ``E[f | x_S]`` by cover-weighted recursion, over all subsets.

    For a model with one output, no missing values, XGBoost's ``x < threshold``; (n_features + 1,).
    """
    d = arrays.n_features

    def expect(t: int, subset: frozenset) -> float:
        o = arrays.node_offset[t]

        def rec(j: int) -> float:
            g = o + j
            if arrays.left[g] < 0:
                return arrays.value[g]
            lg, rg = arrays.left[g], arrays.right[g]
            if arrays.feature[g] in subset:
                return rec(lg if x[arrays.feature[g]] < arrays.threshold[g] else rg)
            return (arrays.cover[o + lg] * rec(lg) + arrays.cover[o + rg] * rec(rg)) / arrays.cover[g]

        return rec(0)

    def v(subset: frozenset) -> float:
        return sum(expect(t, subset) for t in range(arrays.n_trees))

    phi = np.zeros(d + 1)
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for size in range(d):
            w = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
            for s in itertools.combinations(others, size):
                phi[i] += w * (v(frozenset(s) | {i}) - v(frozenset(s)))
    phi[d] = v(frozenset()) + arrays.base_margin[0]
    return phi
