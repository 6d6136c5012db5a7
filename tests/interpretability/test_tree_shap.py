"""Tests for agnbench.interpretability.tree_shap and .permutation: additivity for the four model kinds,
planted drivers and interactions, agreement with shap.TreeExplainer and scikit-learn, failing checks.
Small synthetic data (2,000 rows x 6 features), any seed."""

from __future__ import annotations

import numpy as np
import pytest

from agnbench.baselines.catalog_models import fit_model
from agnbench.errors import AgnbenchError
from agnbench.interpretability import permutation as perm_mod
from agnbench.interpretability import tree_shap as ts
from agnbench.interpretability.permutation import permutation_importance
from agnbench.interpretability.tree_shap import (
    ShapResult,
    dependence_table,
    global_importance,
    logreg_coefficients,
    tree_shap,
    tree_shap_interactions,
)

SEED = 0
N, D = 2000, 6
NAMES = [f"feat_{i}" for i in range(D)]
KINDS = ("xgboost", "lightgbm", "logreg", "rf")
# small models keep the suite fast; one thread: the machine may be busy with a benchmark
PARAMS = {"xgboost": {"n_estimators": 100, "learning_rate": 0.2, "max_depth": 4},
          "lightgbm": {"n_estimators": 100, "learning_rate": 0.2, "num_leaves": 15},
          "logreg": {}, "rf": {"n_estimators": 30, "min_samples_leaf": 10}}


def planted(n_classes: int, seed: int, *, interaction: bool = False, nan_frac: float = 0.02):
    """y driven by features 0 (+) and 1 (-) only, or (``interaction``) by x2*x3 plus a little x0."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    score = (0.5 * X[:, 0] + 2.5 * X[:, 2] * X[:, 3]) if interaction else (2.0 * X[:, 0] - 1.5 * X[:, 1])
    score = score + rng.logistic(scale=0.3, size=N)
    if n_classes == 2:
        y = (score > np.median(score)).astype(np.int64)
    else:
        y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.int64)
    X[rng.random(X.shape) < nan_frac] = np.nan
    return X, y


@pytest.fixture(scope="module")
def fits():
    """(fit, X, y) cached per (kind, n_classes, interaction); train on 1,500 rows, val 500, explain all."""
    cache: dict = {}

    def get(kind: str, n_classes: int, interaction: bool = False):
        key = (kind, n_classes, interaction)
        if key not in cache:
            X, y = planted(n_classes, SEED, interaction=interaction)
            fit = fit_model(kind, X[:1500], y[:1500], X[1500:], y[1500:], n_classes=n_classes, feature_names=NAMES,
                            seed=SEED, params=PARAMS[kind], threads=1)
            cache[key] = (fit, X, y)
        return cache[key]

    return get


def model_output(fit, X: np.ndarray) -> np.ndarray:
    """What the SHAP values must add up to, computed independently: (n, K_out)."""
    if fit.kind == "xgboost":
        import xgboost as xgb

        out = fit.model.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True,
                                iteration_range=(0, fit.best_iteration + 1))
    elif fit.kind == "lightgbm":
        out = fit.model.predict(X, raw_score=True, num_iteration=fit.best_iteration + 1)
    elif fit.kind == "logreg":
        out = fit.model.decision_function(X)
    else:
        proba = fit.predict_proba(X)
        out = proba[:, 1] if fit.n_classes == 2 else proba
    return np.asarray(out, dtype=np.float64).reshape(X.shape[0], -1)


# ----------------------------------------------------------------------------- additivity and shapes
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_additivity_and_shapes(fits, kind, n_classes):
    fit, X, _ = fits(kind, n_classes)
    res = tree_shap(fit, X)
    k_out = 1 if n_classes == 2 else n_classes
    assert res.values.shape == (N, k_out, D) and res.values.dtype == np.float64
    assert res.base.shape == (k_out,)
    assert res.classes_out == ([1] if n_classes == 2 else [0, 1, 2])
    expected = model_output(fit, X)
    np.testing.assert_allclose(res.base + res.values.sum(-1), expected, atol=1e-4 * max(1, np.abs(expected).max()))
    assert res.max_additivity_error <= 1e-4 * max(1, np.abs(expected).max())
    if kind == "rf":
        assert res.output == "probability"
    else:
        assert res.output == ("log-odds" if n_classes == 2 else "raw multiclass margin (softmax input)")


@pytest.mark.parametrize("n_classes", [2, 3])
def test_boosters_give_the_same_layout(fits, n_classes):
    a, b = (tree_shap(fits(kind, n_classes)[0], fits(kind, n_classes)[1]) for kind in ("xgboost", "lightgbm"))
    assert a.values.shape == b.values.shape and a.base.shape == b.base.shape
    assert a.output == b.output and a.classes_out == b.classes_out


# ----------------------------------------------------------------------------- planted drivers
@pytest.mark.parametrize("kind", ["xgboost", "lightgbm", "logreg"])
def test_planted_drivers_rank_top_with_their_sign(fits, kind):
    fit, X, _ = fits(kind, 2)
    table = global_importance(tree_shap(fit, X), X)
    assert list(table.columns) == ["class_out", "feature", "mean_abs_shap", "rank", "direction"]
    assert set(table.loc[table["rank"] <= 2, "feature"]) == {"feat_0", "feat_1"}
    assert sorted(table["rank"]) == list(range(1, D + 1))
    direction = table.set_index("feature")["direction"]
    assert direction["feat_0"] > 0.5 and direction["feat_1"] < -0.5


def test_dependence_table_long_form(fits):
    fit, X, _ = fits("lightgbm", 3)
    res = tree_shap(fit, X)
    dep = dependence_table(res, X, top=2, max_rows=300, seed=SEED)
    assert list(dep.columns) == ["feature", "value", "shap", "class_out", "row"]
    assert len(dep) == 300 * 3 * 2 and set(dep["feature"]) == {"feat_0", "feat_1"}
    first = dep.iloc[0]
    assert first["shap"] == res.values[first["row"], res.classes_out.index(first["class_out"]),
                                       NAMES.index(first["feature"])]
    chosen = dependence_table(res, X, features=["feat_4"], max_rows=10_000)
    assert len(chosen) == N * 3
    with pytest.raises(AgnbenchError, match="unknown feature"):
        dependence_table(res, X, features=["nope"])
    with pytest.raises(AgnbenchError, match="rows that were explained"):
        global_importance(res, X[:10])


def test_logreg_coefficients(fits):
    fit, X, _ = fits("logreg", 2)
    coef = logreg_coefficients(fit).set_index("feature")
    assert coef.loc["feat_0", "coefficient"] > 0 > coef.loc["feat_1", "coefficient"]
    np.testing.assert_allclose(coef["odds_ratio_per_sd"], np.exp(coef["coefficient"]))
    assert (coef["class_out"] == 1).all()
    assert len(logreg_coefficients(fits("logreg", 3)[0])) == 3 * D
    with pytest.raises(AgnbenchError, match="logreg"):
        logreg_coefficients(fits("xgboost", 2)[0])


# ----------------------------------------------------------------------------- agreement with shap
@pytest.mark.parametrize("n_classes", [2, 3])
def test_xgboost_matches_shap_tree_explainer(fits, n_classes):
    import shap

    fit, X, _ = fits("xgboost", n_classes)
    res = tree_shap(fit, X[:300])
    explainer = shap.TreeExplainer(fit.model)
    ref = np.asarray(explainer.shap_values(X[:300]))
    ref = ref[:, None, :] if ref.ndim == 2 else np.moveaxis(ref, -1, 1)
    np.testing.assert_allclose(res.values, ref, atol=1e-4)
    np.testing.assert_allclose(res.base, np.atleast_1d(explainer.expected_value), atol=1e-4)


# ----------------------------------------------------------------------------- interactions
@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_planted_interaction_is_the_largest(fits, kind):
    fit, X, _ = fits(kind, 2, interaction=True)
    inter, rows = tree_shap_interactions(fit, X, max_rows=200, seed=SEED)
    assert inter.shape == (200, 1, D, D) and rows.shape == (200,) and np.all(np.diff(rows) > 0)
    np.testing.assert_allclose(inter.sum(-1), tree_shap(fit, X[rows]).values, atol=1e-4)
    strength = np.abs(inter[:, 0]).mean(axis=0)
    np.fill_diagonal(strength, 0.0)
    assert set(np.unravel_index(np.argmax(strength), strength.shape)) == {2, 3}


@pytest.mark.parametrize("kind", KINDS)
def test_interactions_multiclass_sum_to_shap(fits, kind):
    fit, X, _ = fits(kind, 3)
    inter, rows = tree_shap_interactions(fit, X, max_rows=40, seed=SEED + 1)
    assert inter.shape == (40, 3, D, D)
    np.testing.assert_allclose(inter.sum(-1), tree_shap(fit, X[rows]).values, atol=1e-4)
    np.testing.assert_allclose(inter, np.swapaxes(inter, -1, -2), atol=1e-4)
    _, rows_again = tree_shap_interactions(fit, X, max_rows=40, seed=SEED + 1)
    np.testing.assert_array_equal(rows, rows_again)


# ----------------------------------------------------------------------------- failing checks
def test_check_additivity_reports_worst_object():
    rng = np.random.default_rng(SEED)
    values, base = rng.normal(size=(50, 2, 4)), np.array([0.3, -0.2])
    margin = base + values.sum(-1)
    assert ts._check_additivity(margin, base, values, 1e-6) < 1e-12
    margin[7, 1] += 0.05
    with pytest.raises(AgnbenchError, match=r"0\.05.*object 7, output 1"):
        ts._check_additivity(margin, base, values, 1e-4)
    margin[7, 1] = np.nan
    with pytest.raises(AgnbenchError, match="object 7"):
        ts._check_additivity(margin, base, values, 1e-4)
    with pytest.raises(AgnbenchError, match="do not match"):
        ts._check_additivity(margin[:10], base, values, 1e-4)


def test_corrupt_model_output_raises(fits, monkeypatch):
    fit, X, _ = fits("xgboost", 2)
    real = ts._booster_contribs

    def corrupt(fit_, X_, **options):
        margin, contrib, method, choice = real(fit_, X_, **options)
        margin[3] += 1.0
        return margin, contrib, method, choice

    monkeypatch.setattr(ts, "_booster_contribs", corrupt)
    with pytest.raises(AgnbenchError, match="additivity failed.*object 3"):
        tree_shap(fit, X)
    assert np.isnan(tree_shap(fit, X, check_additivity=False).max_additivity_error)


def test_corrupt_interactions_raise(fits, monkeypatch):
    fit, X, _ = fits("lightgbm", 2)
    monkeypatch.setattr(ts, "_lightgbm_interactions", lambda fit_, X_: np.zeros((X_.shape[0], 1, D, D)))
    with pytest.raises(AgnbenchError, match="do not sum to its SHAP values"):
        tree_shap_interactions(fit, X, max_rows=20)


def test_input_errors(fits):
    fit, X, _ = fits("lightgbm", 2)
    with pytest.raises(AgnbenchError, match=r"shape \(n, 6\)"):
        tree_shap(fit, X[:, :5])
    with pytest.raises(AgnbenchError, match="inf"):
        tree_shap(fit, np.full((2, D), np.inf))
    with pytest.raises(AgnbenchError, match="max_rows"):
        tree_shap_interactions(fit, X, max_rows=0)
    with pytest.raises(AgnbenchError, match="do not match"):
        ShapResult(values=np.zeros((3, 1, D)), base=np.zeros(2), feature_names=NAMES, output="log-odds",
                   classes_out=[1], max_additivity_error=0.0, method="test")


# ----------------------------------------------------------------------------- permutation importance
@pytest.fixture(scope="module")
def logistic():
    """A scikit-learn logistic regression on the planted binary problem, and held-out rows."""
    from sklearn.linear_model import LogisticRegression

    X, y = planted(2, SEED + 7, nan_frac=0.0)
    return LogisticRegression().fit(X[:1000], y[:1000]), X[1000:], y[1000:]


def test_permutation_planted_signal(fits):
    fit, X, y = fits("xgboost", 2)
    table, raw = permutation_importance(fit.predict_proba, X[1500:], y[1500:], feature_names=NAMES, n_repeats=5,
                                        random_state=SEED)
    assert raw.shape == (D, 5) and list(table["feature"]) == NAMES
    imp = table.set_index("feature")["importance_mean"]
    assert imp["feat_0"] > 0.1 and imp["feat_1"] > 0.05
    assert (imp[NAMES[2:]].abs() < 0.02).all()
    np.testing.assert_allclose(table["importance_mean"], raw.mean(axis=1))
    again, raw_again = permutation_importance(fit.predict_proba, X[1500:], y[1500:], feature_names=NAMES,
                                              n_repeats=5, random_state=SEED)
    np.testing.assert_array_equal(raw, raw_again)


def _sklearn_indices(random_state: int):
    """scikit-learn's shuffles (RandomState; each repeat re-shuffles the shuffled column) as row orders."""
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1)

    def indices(n: int, n_repeats: int, random_state_: int, feature: int) -> np.ndarray:
        rs, idx, order, out = np.random.RandomState(seed), np.arange(n), np.arange(n), []
        for _ in range(n_repeats):
            rs.shuffle(idx)
            order = order[idx]
            out.append(order.copy())
        return np.stack(out)

    return indices


@pytest.mark.parametrize("metric, scoring", [("roc_auc", "roc_auc"), ("log_loss", "neg_log_loss"),
                                             ("accuracy", "accuracy")])
def test_permutation_matches_sklearn_for_the_same_shuffles(logistic, monkeypatch, metric, scoring):
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    model, X, y = logistic
    monkeypatch.setattr(perm_mod, "_permutation_indices", _sklearn_indices(SEED))
    _, raw = permutation_importance(model.predict_proba, X, y, feature_names=NAMES, n_repeats=4,
                                    random_state=SEED, metric=metric)
    ref = sk_permutation_importance(model, X, y, scoring=scoring, n_repeats=4, random_state=SEED)
    np.testing.assert_allclose(raw, ref.importances, atol=1e-10)


def test_permutation_agrees_with_sklearn_within_monte_carlo_error(logistic):
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    model, X, y = logistic
    table, _ = permutation_importance(model.predict_proba, X, y, feature_names=NAMES, n_repeats=20,
                                      random_state=SEED, metric="log_loss")
    ref = sk_permutation_importance(model, X, y, scoring="neg_log_loss", n_repeats=20, random_state=SEED)
    error = np.sqrt((table["importance_std"] ** 2 + ref.importances_std**2) / 20)
    assert np.all(np.abs(table["importance_mean"] - ref.importances_mean) <= 5 * error + 1e-3)


def test_permutation_errors(logistic):
    model, X, y = logistic
    with pytest.raises(AgnbenchError, match="unknown metric"):
        permutation_importance(model.predict_proba, X, y, feature_names=NAMES, metric="f1")
    with pytest.raises(AgnbenchError, match="feature_names"):
        permutation_importance(model.predict_proba, X, y, feature_names=NAMES[:3])
    with pytest.raises(AgnbenchError, match="predict_proba must return"):
        permutation_importance(lambda A: np.ones(len(A)), X, y, feature_names=NAMES)
