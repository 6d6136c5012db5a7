"""Tests for agnbench.baselines.catalog_models: planted signal, determinism, native save/load, early stopping,
imputation, class weights and input errors. Tiny data, any seed."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from agnbench.baselines.catalog_models import (
    DEFAULT_PARAMS,
    MODEL_KINDS,
    FitResult,
    fit_model,
    load_model,
)
from agnbench.contracts.run_dir import read_model_meta
from agnbench.errors import AgnbenchError

SEEDS = (0, 1)
N_FEATURES = 10
NAMES = [f"feat_{i}" for i in range(N_FEATURES)]
# Smaller than the defaults only to keep the suite fast; the code paths are the same.
FAST = {"xgboost": {"learning_rate": 0.1}, "lightgbm": {"learning_rate": 0.1}, "logreg": {},
        "rf": {"n_estimators": 60}}


def planted(n: int, n_classes: int, seed: int, *, pos_frac: float | None = None, nan_frac: float = 0.05,
            noise: float = 0.4):
    """``n`` rows, 10 features of which 2 informative (linear score + ``noise``), NaN in ``nan_frac`` of cells."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    score = 1.6 * X[:, 0] - 1.2 * X[:, 1] + noise * rng.normal(size=n)
    if n_classes == 2:
        cut = 0.0 if pos_frac is None else np.quantile(score, 1 - pos_frac)
        y = (score > cut).astype(np.int64)
    else:
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])).astype(np.int64)
    X[rng.random(X.shape) < nan_frac] = np.nan
    return X, y


def split(X, y):
    """train 2400 / val 800 / test 800 of a 4000-row problem."""
    return (X[:2400], y[:2400]), (X[2400:3200], y[2400:3200]), (X[3200:], y[3200:])


@pytest.fixture(scope="module")
def fits():
    """Fits cached per (kind, n_classes, seed), shared by the tests of this module."""
    cache: dict = {}

    def get(kind: str, n_classes: int, seed: int):
        key = (kind, n_classes, seed)
        if key not in cache:
            data = planted(4000, n_classes, seed)
            (Xt, yt), (Xv, yv), _ = split(*data)
            cache[key] = (fit_model(kind, Xt, yt, Xv, yv, n_classes=n_classes, feature_names=NAMES, seed=seed,
                                    params=FAST[kind]), data)
        return cache[key]

    return get


# ------------------------------------------------------------------ planted signal
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_planted_signal_beats_majority(fits, kind, n_classes, seed):
    res, data = fits(kind, n_classes, seed)
    _, _, (Xs, ys) = split(*data)
    proba = res.predict_proba(Xs)
    assert proba.shape == (ys.size, n_classes) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    majority = np.bincount(ys).max() / ys.size
    accuracy = np.mean(proba.argmax(axis=1) == ys)
    auc = roc_auc_score(ys, proba[:, 1]) if n_classes == 2 else roc_auc_score(ys, proba, multi_class="ovr")
    assert accuracy > majority + 0.2, (accuracy, majority)
    assert auc > 0.85
    assert res.kind == kind and res.n_classes == n_classes and res.feature_names == NAMES
    assert list(res.history.columns) == ["round", "train_logloss", "val_logloss"]
    json.dumps(res.params)


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_same_seed_bit_identical_other_seed_differs(fits, kind, seed):
    res, data = fits(kind, 2, seed)
    (Xt, yt), (Xv, yv), (Xs, _) = split(*data)
    again = fit_model(kind, Xt, yt, Xv, yv, n_classes=2, feature_names=NAMES, seed=seed, params=FAST[kind])
    assert np.array_equal(res.predict_proba(Xs), again.predict_proba(Xs))
    assert res.best_iteration == again.best_iteration
    if kind != "logreg":  # logreg (lbfgs) has no randomness
        other = fit_model(kind, Xt, yt, Xv, yv, n_classes=2, feature_names=NAMES, seed=seed + 100,
                          params=FAST[kind])
        assert not np.array_equal(res.predict_proba(Xs), other.predict_proba(Xs))


# ------------------------------------------------------------------ save / load
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_save_load_round_trip_native_formats(fits, kind, n_classes, tmp_path):
    res, data = fits(kind, n_classes, SEEDS[0])
    _, _, (Xs, _) = split(*data)
    files = res.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))
    model_file = tmp_path / files[0]
    if kind == "xgboost":
        assert files[0] == "model.json" and "learner" in json.loads(model_file.read_text())
    elif kind == "lightgbm":
        assert files[0] == "model.txt" and model_file.read_text().startswith("tree")
    else:
        assert files[0] == "model.skops" and zipfile.is_zipfile(model_file)
    meta = json.loads((tmp_path / "model_meta.json").read_text())
    assert meta["kind"] == kind and meta["feature_names"] == NAMES
    loaded = load_model(tmp_path)
    assert isinstance(loaded, FitResult)
    assert (loaded.best_iteration, loaded.n_classes, loaded.imputation) == (res.best_iteration, n_classes,
                                                                            res.imputation)
    assert loaded.params == res.params
    assert np.array_equal(loaded.predict_proba(Xs), res.predict_proba(Xs))


@pytest.mark.parametrize("kind", ["xgboost", "logreg"])
def test_meta_has_the_run_schema_and_legacy_kind_meta_still_loads(fits, kind, tmp_path):
    res, data = fits(kind, 2, SEEDS[0])
    _, _, (Xs, _) = split(*data)
    res.save(tmp_path)
    raw = json.loads((tmp_path / "model_meta.json").read_text())
    assert list(raw)[:2] == ["track", "model"] and (raw["track"], raw["model"]) == ("catalog", kind)
    assert read_model_meta(tmp_path)["model"] == kind
    legacy = {k: v for k, v in raw.items() if k not in ("track", "model")}  # as written before the one schema
    (tmp_path / "model_meta.json").write_text(json.dumps(legacy, indent=2))
    loaded = load_model(tmp_path)
    assert loaded.kind == kind and np.array_equal(loaded.predict_proba(Xs), res.predict_proba(Xs))


def test_load_refuses_missing_meta(tmp_path):
    with pytest.raises(AgnbenchError, match="model_meta.json"):
        load_model(tmp_path)


# ------------------------------------------------------------------ early stopping
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_early_stopping_noise_vs_signal(fits, kind, seed):
    esr = 30
    res_signal, data = fits(kind, 2, seed)
    (Xt, yt), (Xv, _), _ = split(*data)
    noise = np.random.default_rng(seed + 7).integers(0, 2, size=Xv.shape[0])
    res_noise = fit_model(kind, Xt, yt, Xv, noise, n_classes=2, feature_names=NAMES, seed=seed,
                          params=FAST[kind], early_stopping_rounds=esr)
    assert res_noise.best_iteration < 100
    assert len(res_noise.history) == res_noise.best_iteration + 1 + esr
    assert res_signal.best_iteration > res_noise.best_iteration + 20
    assert len(res_signal.history) == res_signal.best_iteration + 1 + 50
    for res in (res_noise, res_signal):
        h = res.history
        assert h["round"].tolist() == list(range(len(h)))
        assert h["val_logloss"].iloc[res.best_iteration] == h["val_logloss"].min()
        assert np.argmin(h["val_logloss"].to_numpy()) == res.best_iteration
        assert h["train_logloss"].iloc[-1] < h["train_logloss"].iloc[0]
        # the model keeps exactly the rounds up to the best one
        rounds = res.model.num_boosted_rounds() if kind == "xgboost" else res.model.current_iteration()
        assert rounds == res.best_iteration + 1


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_early_stopping_caps_at_n_estimators(fits, kind):
    _, data = fits(kind, 2, SEEDS[0])
    (Xt, yt), (Xv, yv), _ = split(*data)
    res = fit_model(kind, Xt, yt, Xv, yv, n_classes=2, feature_names=NAMES, seed=0,
                    params={"n_estimators": 5}, early_stopping_rounds=50)
    assert len(res.history) == 5 and res.best_iteration == int(np.argmin(res.history["val_logloss"]))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_class_absent_from_train_keeps_its_column(kind):
    X, y = planted(900, 3, 4)
    keep = y[:600] != 2  # class 2 only in val
    res = fit_model(kind, X[:600][keep], y[:600][keep], X[600:], y[600:], n_classes=3, feature_names=NAMES,
                    seed=0, params=FAST[kind])
    proba = res.predict_proba(X[600:])
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[:, 2].max() < 0.2  # never seen in train


# ------------------------------------------------------------------ imputation, class weights
@pytest.mark.parametrize("seed", SEEDS)
def test_logreg_imputation_records_train_medians(fits, seed):
    res, data = fits("logreg", 2, seed)
    (Xt, _), _, (Xs, _) = split(*data)
    assert res.imputation is not None and list(res.imputation) == NAMES
    np.testing.assert_allclose([res.imputation[n] for n in NAMES], np.nanmedian(Xt, axis=0), rtol=0, atol=1e-12)
    rows = np.vstack([Xs[:5], np.full((1, N_FEATURES), np.nan)])
    rows[:5, :3] = np.nan
    proba = res.predict_proba(rows)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    for kind in ("xgboost", "lightgbm", "rf"):
        assert fits(kind, 2, seed)[0].imputation is None
        assert np.isfinite(fits(kind, 2, seed)[0].predict_proba(rows)).all()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_balanced_class_weight_raises_minority_recall(kind, seed):
    X, y = planted(4000, 2, seed, pos_frac=0.1, noise=1.5)
    (Xt, yt), (Xv, yv), (Xs, ys) = split(X, y)
    recall = {}
    for cw in ("none", "balanced"):
        res = fit_model(kind, Xt, yt, Xv, yv, n_classes=2, feature_names=NAMES, seed=seed, class_weight=cw,
                        params=FAST[kind])
        pred = res.predict_proba(Xs).argmax(axis=1)
        recall[cw] = np.mean(pred[ys == 1] == 1)
        assert res.params["class_weight"] == cw
    assert recall["balanced"] > recall["none"] + 0.1, recall


# ------------------------------------------------------------------ errors and params
def test_errors_are_clear():
    X, y = planted(300, 2, 0)
    with pytest.raises(AgnbenchError, match="label has one class in train: 1"):
        fit_model("xgboost", X, np.ones(300, dtype=int), X, y, n_classes=2, feature_names=NAMES, seed=0)
    with pytest.raises(AgnbenchError, match="unknown model kind 'svm'.*xgboost"):
        fit_model("svm", X, y, X, y, n_classes=2, feature_names=NAMES, seed=0)
    with pytest.raises(AgnbenchError, match="'max_leaves'.*n_estimators"):
        fit_model("xgboost", X, y, X, y, n_classes=2, feature_names=NAMES, seed=0, params={"max_leaves": 3})
    with pytest.raises(AgnbenchError, match="shape"):
        fit_model("rf", X[:, :3], y, X, y, n_classes=2, feature_names=NAMES, seed=0)
    with pytest.raises(AgnbenchError, match="class_weight"):
        fit_model("logreg", X, y, X, y, n_classes=2, feature_names=NAMES, seed=0, class_weight="auto")
    with pytest.raises(AgnbenchError, match="labels 0..1"):
        fit_model("logreg", X, y + 1, X, y, n_classes=2, feature_names=NAMES, seed=0)


def test_params_resolved_and_overridden():
    X, y = planted(600, 2, 0)
    res = fit_model("lightgbm", X[:400], y[:400], X[400:], y[400:], n_classes=2, feature_names=NAMES, seed=3,
                    params={"num_leaves": 7}, threads=1)
    assert res.params["num_leaves"] == 7 and res.params["seed"] == 3 and res.params["threads"] == 1
    assert res.params["n_estimators"] == DEFAULT_PARAMS["lightgbm"]["n_estimators"]
    assert DEFAULT_PARAMS["lightgbm"]["num_leaves"] == 31  # defaults untouched
    assert set(DEFAULT_PARAMS) == set(MODEL_KINDS)
