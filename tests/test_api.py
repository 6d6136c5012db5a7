"""The public API: cheap ``import agnbench``, lazy re-exports, and the conveniences on a user's own arrays and
models (``compare_predictions`` equal to ``agnbench compare``; ``explain_trees`` on an XGBClassifier /
LGBMClassifier checked against the libraries' own margins and contributions; gradient attributions of a
user-defined torch module)."""

from __future__ import annotations

import importlib
import io
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import agnbench
from agnbench.contracts.predictions import prediction_frame
from agnbench.errors import AgnbenchError, ConfigError
from agnbench.fileio import atomic_write_parquet

#: Packages whose ``__init__`` re-exports the public API (docs/api.md).
API_PACKAGES = ("agnbench", "agnbench.bootstrap", "agnbench.interpretability", "agnbench.reports", "agnbench.deep", "agnbench.fusion", "agnbench.transfer",
                "agnbench.data_prep", "agnbench.data_prep.mock", "agnbench.data_prep.formats",
                "agnbench.data_prep.fetch", "agnbench.data_prep.ingest", "agnbench.serve")


# ----------------------------------------------------------------------------- exports
def test_import_agnbench_is_cheap() -> None:
    code = ("import sys, agnbench; heavy = [m for m in ('torch', 'xgboost', 'lightgbm', 'matplotlib', 'captum', "
            "'pandas') if m in sys.modules]; print(','.join(heavy)); print(agnbench.__version__)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, version = res.stdout.splitlines()
    assert heavy == ""
    assert version == agnbench.__version__


@pytest.mark.parametrize("package", API_PACKAGES)
def test_every_export_resolves_and_shadows_no_submodule(package: str) -> None:
    mod = importlib.import_module(package)
    assert mod.__all__ and len(set(mod.__all__)) == len(mod.__all__)
    submodules = {m.name for m in pkgutil.iter_modules(mod.__path__)}
    assert not set(mod.__all__) & submodules  # importing the submodule would rebind the name to it
    for name in mod.__all__:
        assert getattr(mod, name) is not None
        assert name in dir(mod)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(mod, "nope")


def test_submodules_stay_importable_by_name() -> None:
    from agnbench.data_prep import bpt  # a submodule, not an export
    from agnbench.interpretability import probes, tree_shap

    assert bpt.__name__ == "agnbench.data_prep.bpt" and probes.__name__ == "agnbench.interpretability.probes"
    assert tree_shap.__name__ == "agnbench.interpretability.tree_shap"
    assert agnbench.compare.__module__ == "agnbench.bootstrap.compare"


# ----------------------------------------------------------------------------- compare_predictions
def _scores(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(np.int64)
    good = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.2, n), 0.001, 0.999)
    weak = np.clip(0.5 + (y - 0.5) * 0.2 + rng.normal(0, 0.2, n), 0.001, 0.999)
    return y, {"good": np.column_stack([1 - good, good]), "weak": np.column_stack([1 - weak, weak])}


def _write_run(root: Path, name: str, y: np.ndarray, proba: np.ndarray, classes: tuple[str, ...]) -> Path:
    """A bare run directory: predictions.parquet only, objects named so that sorting keeps the array order."""
    run = root / name
    run.mkdir()
    ids = np.array([f"obj{i:05d}" for i in range(y.size)])
    atomic_write_parquet(run / "predictions.parquet", prediction_frame(
        object_id=ids, split=np.full(y.size, "test"), y_true=y, proba=proba, y_pred=proba.argmax(1), classes=classes,
        track="user", model=name, run_id=name, seed=0))
    return run


def _as_written(table: pd.DataFrame) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(table.to_csv(index=False)))


def test_compare_predictions_equals_agnbench_compare(tmp_path: Path) -> None:
    y, proba = _scores(400, seed=1)
    classes = ("sf", "agn")
    runs = [_write_run(tmp_path, name, y, p, classes) for name, p in proba.items()]
    cli = [sys.executable, "-m", "agnbench.cli.main", "compare", *map(str, runs), "--n-boot", "200", "--seed", "7",
           "-q", "--out", str(tmp_path / "cmp")]
    res = subprocess.run(cli, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    got = agnbench.compare_predictions(y, proba, classes=classes, n_boot=200, seed=7)
    for name, table in (("summary", got.summary), ("tests", got.tests)):
        written = pd.read_csv(tmp_path / "cmp" / f"{name}.csv")
        pd.testing.assert_frame_equal(_as_written(table), written)
    replicates = pd.read_parquet(tmp_path / "cmp" / "replicates.parquet")
    pd.testing.assert_frame_equal(got.replicates_table(), replicates)


def test_compare_predictions_input_forms() -> None:
    y, proba = _scores(300, seed=2)
    ref = agnbench.compare_predictions(y, proba, classes=["sf", "agn"], n_boot=100, seed=3)
    names = np.array(["sf", "agn"])[y]
    by_name = agnbench.compare_predictions(list(names), {k: p[:, 1] for k, p in proba.items()}, classes=["sf", "agn"],
                                           y_pred={k: p.argmax(1) for k, p in proba.items()}, n_boot=100, seed=3)
    pd.testing.assert_frame_equal(ref.summary, by_name.summary)
    pd.testing.assert_frame_equal(ref.tests, by_name.tests)
    assert {"f1_agn", "recall_sf"} <= set(ref.metrics)
    default = agnbench.compare_predictions(y, proba, n_boot=100, seed=3)
    assert "f1_1" in default.metrics
    assert (default.summary["n_boot"] == 100).all() and set(default.summary["run"]) == {"good", "weak"}


def test_compare_predictions_clear_errors() -> None:
    y, proba = _scores(200, seed=4)
    with pytest.raises(AgnbenchError, match="same shape"):
        agnbench.compare_predictions(y, {"a": proba["good"], "b": proba["weak"][:100]})
    with pytest.raises(AgnbenchError, match="not among classes"):
        agnbench.compare_predictions(np.where(y == 1, "agn", "qso"), proba, classes=["sf", "agn"])
    with pytest.raises(AgnbenchError, match="pass classes"):
        agnbench.compare_predictions(np.where(y == 1, "agn", "sf"), proba)
    with pytest.raises(AgnbenchError, match="class indices 0..1"):
        agnbench.compare_predictions(y + 1, proba)
    with pytest.raises(ConfigError, match="compare.n_boot"):
        agnbench.compare_predictions(y, proba, n_boot=10)
    with pytest.raises(AgnbenchError, match="proba is empty"):
        agnbench.compare_predictions(y, {})
    with pytest.raises(AgnbenchError, match="no decisions"):
        agnbench.compare_predictions(y, proba, y_pred={"good": y})


# ----------------------------------------------------------------------------- explain_trees
def _tabular(n_classes: int, n: int = 600, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    score = 2 * X[:, 0] - X[:, 1] + rng.logistic(scale=0.3, size=n)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    X[rng.random(X.shape) < 0.03] = np.nan
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("method", ["fast", "native"])
def test_explain_trees_on_own_xgbclassifier(n_classes: int, method: str) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = _tabular(n_classes)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1).fit(X, y)
    res = agnbench.explain_trees(model, X, method=method, threads=1)
    k_out = 1 if n_classes == 2 else n_classes
    assert res.values.shape == (X.shape[0], k_out, X.shape[1]) and res.feature_names == [f"x{j}" for j in range(5)]
    margin = np.asarray(model.predict(X, output_margin=True), dtype=np.float64).reshape(X.shape[0], k_out)
    np.testing.assert_allclose(res.base + res.values.sum(-1), margin, atol=1e-4)
    native = model.get_booster().predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    native = np.asarray(native).reshape(X.shape[0], k_out, X.shape[1] + 1)
    np.testing.assert_allclose(res.values, native[:, :, :-1], atol=1e-5)
    assert res.max_additivity_error < 1e-4


@pytest.mark.parametrize("n_classes", [2, 3])
def test_explain_trees_on_own_lgbmclassifier(n_classes: int) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = _tabular(n_classes, seed=1)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    model = lgb.LGBMClassifier(n_estimators=30, num_leaves=7, n_jobs=1, verbose=-1).fit(frame, y)
    res = agnbench.explain_trees(model, frame[frame.columns[::-1]], threads=1)  # reordered to the model's columns
    k_out = 1 if n_classes == 2 else n_classes
    assert res.feature_names == list(frame.columns)
    margin = np.asarray(model.predict(frame, raw_score=True), dtype=np.float64).reshape(X.shape[0], k_out)
    np.testing.assert_allclose(res.base + res.values.sum(-1), margin, atol=1e-4)
    native = np.asarray(model.predict(frame, pred_contrib=True)).reshape(X.shape[0], k_out, X.shape[1] + 1)
    np.testing.assert_allclose(res.values, native[:, :, :-1], atol=1e-5)
    np.testing.assert_allclose(res.base, native[0, :, -1], atol=1e-6)


def test_explain_trees_uses_the_rounds_the_model_predicts_with() -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = _tabular(2, seed=2)
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    model = xgb.XGBClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=5, n_jobs=1)
    model.fit(frame[:400], y[:400], eval_set=[(frame[400:], y[400:])], verbose=False)
    assert model.best_iteration < 299
    res = agnbench.explain_trees(model, frame, threads=1)
    assert res.feature_names == list(frame.columns)
    np.testing.assert_allclose(res.base + res.values[:, 0].sum(-1), model.predict(frame, output_margin=True),
                               atol=1e-4)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, xgb.DMatrix(X, label=y), 10)
    raw = agnbench.explain_trees(booster, X, feature_names=list("abcde"))
    np.testing.assert_allclose(raw.base + raw.values[:, 0].sum(-1),
                               booster.predict(xgb.DMatrix(X), output_margin=True), atol=1e-4)


def test_explain_trees_refuses_what_it_cannot_explain() -> None:
    xgb = pytest.importorskip("xgboost")
    from sklearn.linear_model import LogisticRegression

    from agnbench.interpretability.tree_shap import tree_shap

    X, y = _tabular(2, n=200)
    with pytest.raises(AgnbenchError, match="explain_trees explains an xgboost.XGBClassifier"):
        agnbench.explain_trees(LogisticRegression().fit(np.nan_to_num(X), y), X)
    with pytest.raises(AgnbenchError, match="classifiers; got a XGBRegressor"):
        agnbench.explain_trees(xgb.XGBRegressor(n_estimators=3).fit(X, y), X)
    reg = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(X, label=y), 3)
    with pytest.raises(AgnbenchError, match="objective 'reg:squarederror'"):
        agnbench.explain_trees(reg, X)
    model = xgb.XGBClassifier(n_estimators=3, n_jobs=1).fit(X, y)
    with pytest.raises(AgnbenchError, match="call agnbench.explain_trees"):
        tree_shap(model, X)
    with pytest.raises(AgnbenchError, match="has 2 names but the model has 5 features"):
        agnbench.explain_trees(model, X, feature_names=["a", "b"])
    with pytest.raises(AgnbenchError, match=r"shape \(n, 5\)"):
        agnbench.explain_trees(model, X[:, :3])
    named = xgb.XGBClassifier(n_estimators=3, n_jobs=1).fit(pd.DataFrame(X, columns=list("abcde")), y)
    with pytest.raises(AgnbenchError, match=r"lacks the model's feature\(s\) \['e'\]"):
        agnbench.explain_trees(named, pd.DataFrame(X, columns=list("abcdz")))
    renamed = agnbench.explain_trees(named, pd.DataFrame(X, columns=list("vwxyz")), feature_names=list("vwxyz"))
    assert renamed.feature_names == list("vwxyz")


# ----------------------------------------------------------------------------- gradients on a user's module
def test_gradient_attributions_on_own_torch_model() -> None:
    torch = pytest.importorskip("torch")
    from torch import nn

    class Tiny(nn.Module):
        """A user's own classifier: (n, 2, 8, 8) images -> 3 logits."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, padding=1)
            self.head = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.tanh(self.conv(x)).mean(dim=(2, 3)))

    torch.manual_seed(0)
    model = Tiny()
    x = torch.randn(6, 2, 8, 8)
    target = np.array([0, 1, 2, 0, 1, 2])
    ig = agnbench.integrated_gradients(model, x, torch.zeros(1, 2, 8, 8), target, steps=64)
    with torch.no_grad():
        gap = (model(x) - model(torch.zeros(1, 2, 8, 8)))[np.arange(6), target].numpy()
    np.testing.assert_allclose(ig.attr.reshape(6, -1).sum(1), gap, atol=2e-3)  # completeness
    assert ig.attr.shape == (6, 2, 8, 8) and np.abs(ig.delta).max() < 2e-3
    sal = agnbench.saliency(model, x.numpy(), target)
    assert sal.attr.shape == (6, 2, 8, 8) and (sal.attr >= 0).all() and np.isnan(sal.delta).all()
    cam = agnbench.grad_cam(model, x, target, layer=model.conv)
    assert cam.shape == (6, 8, 8) and (cam >= 0).all()
    assert model.training and all(p.requires_grad for p in model.parameters())  # restored afterwards
