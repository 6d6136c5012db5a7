"""Tests for agnbench.interpretability.treeshap_kernel: the TreeSHAP kernel choice.

A planted model (the label is driven by x0 and x1 * x2): every kernel (native, numba, auto) gives
SHAP values that sum to the library's own margin and agree with each other to 1e-5 of the output
scale; "auto" picks native below its threshold and numba from it on (threshold injected); the choice
is recorded in ShapResult.kernel and in attributions/summary.json; config validation."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from agnbench.baselines.catalog_models import fit_model
from agnbench.config.core import load_config
from agnbench.errors import AgnbenchError, ConfigError
from agnbench.interpretability.treeshap_kernel import booster_trees, choose_kernel
from agnbench.interpretability.tree_shap import tree_shap

D = 4
NAMES = [f"feat_{i}" for i in range(D)]
PARAMS = {"xgboost": {"n_estimators": 12, "learning_rate": 0.3, "max_depth": 3},
          "lightgbm": {"n_estimators": 12, "learning_rate": 0.3, "num_leaves": 8, "min_child_samples": 5},
          "rf": {"n_estimators": 10, "max_depth": 4}}


def planted(n_classes: int, n: int = 300):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(n, D))
    score = 1.5 * X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=n)
    y = (score > 0).astype(np.int64) if n_classes == 2 else np.digitize(score, [-0.7, 0.7]).astype(np.int64)
    X[rng.random(X.shape) < 0.03] = np.nan
    return X, y


@pytest.fixture(scope="module")
def fitted():
    cache: dict = {}

    def get(kind: str, n_classes: int = 2):
        if (kind, n_classes) not in cache:
            X, y = planted(n_classes)
            cache[kind, n_classes] = fit_model(kind, X[:200], y[:200], X[200:], y[200:], n_classes=n_classes,
                                               feature_names=NAMES, seed=0, params=PARAMS[kind], threads=1), X
        return cache[kind, n_classes]

    return get


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_all_kernels_agree_and_add_up(fitted, kind, n_classes):
    fit, X = fitted(kind, n_classes)
    results = {m: tree_shap(fit, X, method=m) for m in ("native", "fast", "auto")}
    assert results["native"].kernel["kernel"] == "native" and results["fast"].kernel["kernel"] == "fast"
    margin = results["native"].base + results["native"].values.sum(-1)
    scale = max(1.0, float(np.abs(margin).max()))
    for res in results.values():
        assert res.max_additivity_error <= 1e-5 * scale  # checked against the library's own raw margin
    for m in ("fast", "auto"):
        assert np.abs(results[m].values - results["native"].values).max() <= 1e-5 * scale
        assert np.abs(results[m].base - results["native"].base).max() <= 1e-5 * scale
    # the planted driver x0 carries the most attribution (binary: log-odds of class 1)
    if n_classes == 2:
        assert int(np.argmax(np.abs(results["auto"].values[:, 0]).mean(0))) == 0


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_auto_threshold(fitted, kind):
    fit, X = fitted(kind)
    trees = booster_trees(fit)
    work = X.shape[0] * trees
    below = tree_shap(fit, X, native_below=work + 1)
    at = tree_shap(fit, X, native_below=work)
    assert below.kernel == {"requested": "auto", "kernel": "native", "work": work, "native_below": work + 1,
                            "reason": below.kernel["reason"]}
    assert "native is faster" in below.kernel["reason"] and "native" in below.method
    assert at.kernel["kernel"] == "fast" and at.method.startswith("fast TreeSHAP")
    assert "numba is faster" in at.kernel["reason"]
    # a forced kernel ignores the threshold
    assert tree_shap(fit, X, method="fast", native_below=10**12).kernel["kernel"] == "fast"
    assert tree_shap(fit, X, method="native", native_below=0).kernel["kernel"] == "native"
    # the default threshold: this small job goes to native
    assert tree_shap(fit, X).kernel["kernel"] == "native"


def test_booster_trees_counts_outputs_and_rounds(fitted):
    fit, _ = fitted("xgboost", 3)
    assert booster_trees(fit) == (fit.best_iteration + 1) * 3
    whole = SimpleNamespace(kind="xgboost", n_classes=3, best_iteration=None, model=fit.model)
    assert booster_trees(whole) == fit.model.num_boosted_rounds() * 3
    lfit, _ = fitted("lightgbm", 2)
    assert booster_trees(SimpleNamespace(kind="lightgbm", n_classes=2, best_iteration=None,
                                         model=lfit.model)) == lfit.model.num_trees()


def test_other_kinds_record_their_kernel(fitted):
    fit, X = fitted("rf")
    assert tree_shap(fit, X[:20]).kernel == {"kernel": "shap.TreeExplainer"}


def test_choice_errors(fitted):
    fit, _ = fitted("xgboost")
    with pytest.raises(AgnbenchError, match="unknown SHAP method 'numba'"):
        choose_kernel(fit, 10, method="numba")
    with pytest.raises(AgnbenchError, match="native_below must be >= 0"):
        choose_kernel(fit, 10, native_below=-1)
    with pytest.raises(ConfigError, match="explain.treeshap"):
        load_config(overrides=["explain.treeshap=gpu"])
    with pytest.raises(ConfigError, match="explain.treeshap_native_below"):
        load_config(overrides=["explain.treeshap_native_below=-5"])


@pytest.mark.parametrize("method, native_below, expected", [("auto", 0, "fast"), ("auto", 10**9, "native"),
                                                             ("native", 0, "native")])
def test_explain_records_the_kernel(fitted, tmp_path, method, native_below, expected):
    """agnbench explain's catalog step passes explain.treeshap / treeshap_native_below and records the choice."""
    from agnbench.interpretability.explain import _explain_catalog

    fit, X = fitted("xgboost")
    fit.save(tmp_path / "run")
    objects = pd.DataFrame(X, columns=NAMES).assign(label=(np.nan_to_num(X[:, 0]) > 0).astype(np.int64),
                                                    object_id=[f"obj{i}" for i in range(len(X))])
    ec = load_config(overrides=[f"explain.treeshap={method}", f"explain.treeshap_native_below={native_below}"]).explain
    (tmp_path / "out").mkdir()
    summary = _explain_catalog(tmp_path / "run", SimpleNamespace(objects=objects), np.arange(50), ["shap"], ec, 0,
                               tmp_path / "out")
    kernel = json.loads(json.dumps(summary["shap"]["kernel"]))
    assert kernel["kernel"] == expected and kernel["requested"] == method and kernel["work"] == 50 * booster_trees(fit)


def test_numba_kernel_is_cached_on_disk(fitted):
    """numba compiles once per environment: every kernel function has an on-disk cache index after a call."""
    from pathlib import Path

    from agnbench.interpretability import fast_treeshap as ft

    fit, X = fitted("xgboost")
    tree_shap(fit, X[:20], method="fast")
    for fn in (ft._paths, ft._fill_tables, ft._accumulate):
        cache = getattr(fn, "_cache", None)
        if cache is None or not hasattr(cache, "_cache_path"):
            pytest.skip("this numba version hides its cache locator")
        index = [p.name for p in Path(cache._cache_path).iterdir()
                 if p.name.startswith(f"fast_treeshap.{fn.py_func.__name__}-") and p.suffix == ".nbi"]
        assert index, f"no numba cache index for {fn.py_func.__name__} in {cache._cache_path}"
