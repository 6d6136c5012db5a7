"""SHAP attributions of the catalog-track models, in the model's own output space, self-checked.

* XGBoost and LightGBM: path-dependent TreeSHAP on the rounds ``0 .. best_iteration`` that
  :meth:`FitResult.predict_proba` uses, with the libraries' native TreeSHAP (``pred_contribs`` /
  ``pred_contrib``) or the numba kernel of :mod:`.fast_treeshap` (the same values and base value,
  10-20x faster on large jobs but with a fixed start-up cost): ``method="auto"`` picks by the size
  of the job (:func:`~.treeshap_kernel.choose_kernel`), ``"native"`` / ``"fast"`` force one; numba
  falls back to native where it cannot represent the model (categorical splits, linear trees, ...).
  Both give the same shape and the same output: binary ``"log-odds"`` of class 1 (``K_out = 1``),
  multi-class the raw margin fed to the softmax (``K_out = K``). :attr:`ShapResult.kernel` records
  which kernel ran and why.
* Random forest: :class:`shap.TreeExplainer` (path-dependent TreeSHAP) on the class *probability*.
* Logistic regression: exact linear SHAP in log-odds / raw margin, ``coef * (z - mean_bg(z))`` on
  the standardised features ``z`` of the fitted pipeline (median imputation, then scaling); the
  background is the training set, whose standardised mean is 0 by construction, so ``base`` is
  the intercept.

Every attribution checks itself: ``base + values.sum(-1)`` must equal the model output it explains
(:func:`_check_additivity`), and interaction values must sum to the SHAP values; a failure raises
:class:`~agnbench.errors.AgnbenchError` naming the worst object, output and deviation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from agnbench.baselines.catalog_models import FitResult
from agnbench.errors import AgnbenchError
from agnbench.threads import usable_threads
from agnbench.interpretability.treeshap_kernel import (KERNEL_FAST, KERNEL_NATIVE, KernelChoice, choose_kernel,
                                                       fast_contribs)
from agnbench.config.choices import SHAP_METHODS

logger = logging.getLogger(__name__)

OUTPUT_LOG_ODDS = "log-odds"
OUTPUT_MARGIN = "raw multiclass margin (softmax input)"
OUTPUT_PROBA = "probability"
FAST_METHOD = "fast TreeSHAP (numba, exact path-dependent, tabulated leaf patterns) on the {kind} trees"


@dataclass(frozen=True, eq=False)
class ShapResult:
    """SHAP values of ``n`` objects for ``K_out`` model outputs and ``d`` features.

    Attributes
    ----------
    values : numpy.ndarray, shape (n, K_out, d), float64
        Attribution of each feature to each output, in the units of :attr:`output`.
    base : numpy.ndarray, shape (K_out,), float64
        Expected output over the background (the training data); ``base + values.sum(-1)`` is the output.
    feature_names : list of str
        The ``d`` feature names.
    output : str
        ``"log-odds"`` (binary, ``K_out = 1``: log-odds of class 1), ``"raw multiclass margin (softmax
        input)"`` (``K_out = K``) or ``"probability"`` (random forest).
    classes_out : list of int
        Class index explained by each of the ``K_out`` outputs.
    max_additivity_error : float
        ``max |base + values.sum(-1) - output|`` over objects and outputs.
    method : str
        How the values were computed.
    kernel : dict
        XGBoost / LightGBM: :meth:`~.treeshap_kernel.KernelChoice.as_dict` (``requested``, ``kernel``:
        ``"fast"`` or ``"native"``, ``work`` in rows x trees, ``native_below``, ``reason``); the
        random forest ``{"kernel": "shap.TreeExplainer"}``; logistic regression ``{"kernel": "linear"}``.
    """

    values: np.ndarray
    base: np.ndarray
    feature_names: list[str]
    output: str
    classes_out: list[int]
    max_additivity_error: float
    method: str
    kernel: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_out, d = len(self.classes_out), len(self.feature_names)
        if self.values.ndim != 3 or self.values.shape[1:] != (n_out, d) or self.base.shape != (n_out,):
            raise AgnbenchError(f"ShapResult: values {self.values.shape} / base {self.base.shape} do not match "
                                f"{n_out} outputs x {d} features")


def tree_shap(fit: FitResult, X: np.ndarray, *, check_additivity: bool = True, atol: float = 1e-4,
              method: str = "auto", native_below: int | None = None) -> ShapResult:
    """SHAP values of every row of ``X`` for a fitted catalog model (any of the four kinds).

    Parameters
    ----------
    fit : FitResult
        A model from :func:`~agnbench.baselines.catalog_models.fit_model` or ``load_model``.
    X : numpy.ndarray, shape (n, d)
        Features (NaN allowed), columns in the order of ``fit.feature_names``; ``n >= 1``.
    check_additivity : bool
        Verify ``base + values.sum(-1)`` against the model output (XGBoost ``output_margin``,
        LightGBM ``raw_score``, logistic ``decision_function``, forest ``predict_proba``).
    atol : float
        Tolerance of that check, relative to the output scale ``max(1, max |output|)``.
    method : {"auto", "fast", "native"}
        XGBoost / LightGBM only: ``"fast"`` the numba TreeSHAP of :mod:`.fast_treeshap`, ``"native"``
        the library's own kernel, ``"auto"`` native below ``native_below`` rows x trees, else fast
        where the model is supported (else native, logged at INFO). The values agree to float
        rounding; :attr:`ShapResult.kernel` says which ran and why.
    native_below : int, optional
        Threshold of ``"auto"`` in rows x trees; default
        :data:`~agnbench.config.explain.TREESHAP_NATIVE_BELOW` (``explain.treeshap_native_below``).

    Returns
    -------
    ShapResult
        ``values`` (n, K_out, d), ``base`` (K_out,); see :class:`ShapResult` for the output units.

    Raises
    ------
    AgnbenchError
        Malformed ``X``, an unknown ``method`` or ``"fast"`` for a model it cannot explain (the
        message says why), or failed additivity (with the worst object's index and the deviation).
    """
    _check_fit(fit)
    if method not in SHAP_METHODS:
        raise AgnbenchError(f"unknown SHAP method {method!r}; valid: {', '.join(SHAP_METHODS)}")
    if method == "fast" and fit.kind not in ("xgboost", "lightgbm"):
        raise AgnbenchError(f"method='fast' explains xgboost and lightgbm models, not {fit.kind!r}; use 'auto'")
    X = _features(X, fit)
    if fit.kind in ("xgboost", "lightgbm"):
        margin, contrib, method, choice = _booster_contribs(fit, X, method=method, native_below=native_below)
        kernel = choice.as_dict()
        values, base = np.ascontiguousarray(contrib[:, :, :-1]), contrib[0, :, -1].copy()
        classes = [1] if fit.n_classes == 2 else list(range(fit.n_classes))
        output = OUTPUT_LOG_ODDS if fit.n_classes == 2 else OUTPUT_MARGIN
    elif fit.kind == "logreg":
        values, base, margin, classes = _linear_shap(fit, X)
        output = OUTPUT_LOG_ODDS if len(classes) == 1 else OUTPUT_MARGIN
        method, kernel = "exact linear SHAP on standardised features (training-set background)", {"kernel": "linear"}
    elif fit.kind == "rf":
        values, base, margin, classes = _forest_shap(fit, X)
        output, method = OUTPUT_PROBA, "shap.TreeExplainer (path-dependent TreeSHAP) on class probabilities"
        kernel = {"kernel": "shap.TreeExplainer"}
    else:
        raise AgnbenchError(f"tree_shap: unknown model kind {fit.kind!r}")
    err = _check_additivity(margin, base, values, atol) if check_additivity else float("nan")
    return ShapResult(values=values, base=base, feature_names=list(fit.feature_names), output=output,
                      classes_out=[int(c) for c in classes], max_additivity_error=err, method=method, kernel=kernel)


def tree_shap_interactions(fit: FitResult, X: np.ndarray, *, max_rows: int = 500, seed: int = 0,
                           atol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """SHAP interaction values on a seeded random subsample of at most ``max_rows`` rows (default 500).

    Interaction values cost ``O(d)`` times more than SHAP values, hence the cap. XGBoost uses its
    native ``pred_interactions``; LightGBM and the random forest use :class:`shap.TreeExplainer`
    (LightGBM multi-class per class, on that class's trees); logistic regression has no interactions
    (diagonal = SHAP values).

    Parameters
    ----------
    fit : FitResult
    X : numpy.ndarray, shape (n, d)
    max_rows : int
        Rows explained: all if ``n <= max_rows``, else a random subset of ``max_rows`` (sorted).
    seed : int
        Seed of the subsample.
    atol : float
        Tolerance (relative to the output scale) of the checks.

    Returns
    -------
    interactions : numpy.ndarray, shape (m, K_out, d, d), float64
        Symmetric per object; ``[:, k, i, i]`` main effects; summed over the last axis: the SHAP values.
    rows : numpy.ndarray, shape (m,), int64
        Indices into ``X`` of the explained rows.

    Raises
    ------
    AgnbenchError
        ``max_rows < 1``, or the interactions do not sum to the (additivity-checked) SHAP values.
    """
    _check_fit(fit)
    X = _features(X, fit)
    if max_rows < 1:
        raise AgnbenchError(f"max_rows must be >= 1, got {max_rows}")
    rows = _subsample(X.shape[0], max_rows, seed)
    Xs = X[rows]
    shap_result = tree_shap(fit, Xs, atol=atol)
    d = Xs.shape[1]
    if fit.kind == "xgboost":
        import xgboost as xgb

        phi = fit.model.predict(xgb.DMatrix(Xs, missing=np.nan, nthread=_threads(fit)), pred_interactions=True,
                                iteration_range=_xgb_rounds(fit))
        inter = np.asarray(phi, dtype=np.float64).reshape(Xs.shape[0], -1, d + 1, d + 1)[:, :, :d, :d]
    elif fit.kind == "lightgbm":
        inter = _lightgbm_interactions(fit, Xs)
    elif fit.kind == "rf":
        inter = _explainer_output(_forest_explainer(fit).shap_interaction_values(Xs), Xs.shape[0], 4)
        inter = inter[:, _forest_columns(fit)]
    else:
        inter = np.zeros((Xs.shape[0], shap_result.values.shape[1], d, d))
        idx = np.arange(d)
        inter[:, :, idx, idx] = shap_result.values
    scale = max(1.0, float(np.max(np.abs(shap_result.values), initial=0.0)) * d)
    dev = np.abs(inter.sum(-1) - shap_result.values)
    if not np.all(np.isfinite(dev)) or dev.max(initial=0.0) > atol * scale:
        i, k, j = np.unravel_index(np.nanargmax(np.where(np.isfinite(dev), dev, np.inf)), dev.shape)
        raise AgnbenchError(f"SHAP interactions of the {fit.kind} model do not sum to its SHAP values: deviation "
                            f"{dev[i, k, j]:.3g} (tolerance {atol * scale:.3g}) at object {int(rows[i])}, output "
                            f"{shap_result.classes_out[k]}, feature {fit.feature_names[j]!r}")
    return inter, rows


def global_importance(result: ShapResult, X: np.ndarray) -> pd.DataFrame:
    """Mean |SHAP| ranking and direction of effect per (output class, feature).

    Parameters
    ----------
    result : ShapResult
        Values of the ``n`` rows of ``X``.
    X : numpy.ndarray, shape (n, d)
        The features that were explained (NaN allowed: ignored in ``direction``).

    Returns
    -------
    pandas.DataFrame
        Columns ``class_out``, ``feature``, ``mean_abs_shap``, ``rank`` (1 = most important within the
        class), ``direction`` (Spearman correlation of the feature value with its SHAP value: > 0 means a
        larger value pushes towards the class; NaN if undefined). Sorted by ``class_out``, ``rank``.
    """
    X = _matching(result, X)
    records = []
    for k, cls in enumerate(result.classes_out):
        vals = result.values[:, k, :]
        mean_abs = np.abs(vals).mean(axis=0) if vals.shape[0] else np.zeros(vals.shape[1])
        order = np.argsort(-mean_abs, kind="stable")
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(1, order.size + 1)
        for j, name in enumerate(result.feature_names):
            records.append({"class_out": cls, "feature": name, "mean_abs_shap": float(mean_abs[j]),
                            "rank": int(rank[j]), "direction": _spearman(X[:, j], vals[:, j])})
    table = pd.DataFrame.from_records(records, columns=["class_out", "feature", "mean_abs_shap", "rank", "direction"])
    return table.sort_values(["class_out", "rank"], ignore_index=True)


def dependence_table(result: ShapResult, X: np.ndarray, *, features: Sequence[str] | None = None, top: int = 5,
                     max_rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Long-form (feature value, SHAP value) pairs for dependence plots.

    Parameters
    ----------
    result : ShapResult
    X : numpy.ndarray, shape (n, d)
        The features that were explained.
    features : sequence of str, optional
        Features to include; default the ``top`` by mean |SHAP| (averaged over the outputs).
    top : int
        Number of features when ``features`` is None.
    max_rows : int
        Rows included: all if ``n <= max_rows``, else a seeded random subset.
    seed : int
        Seed of the subsample.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``value``, ``shap``, ``class_out``, ``row`` (index into ``X``);
        ``m * K_out * len(features)`` rows.
    """
    X = _matching(result, X)
    names = list(result.feature_names)
    if features is None:
        if top < 1:
            raise AgnbenchError(f"top must be >= 1, got {top}")
        strength = np.abs(result.values).mean(axis=(0, 1)) if X.shape[0] else np.zeros(len(names))
        idx = list(np.argsort(-strength, kind="stable")[:top])
    else:
        if unknown := [f for f in features if f not in names]:
            raise AgnbenchError(f"unknown feature(s) {unknown}; known: {', '.join(names)}")
        idx = [names.index(f) for f in features]
    if max_rows < 1:
        raise AgnbenchError(f"max_rows must be >= 1, got {max_rows}")
    rows = _subsample(X.shape[0], max_rows, seed)
    parts = [pd.DataFrame({"feature": names[j], "value": X[rows, j], "shap": result.values[rows, k, j],
                           "class_out": cls, "row": rows})
             for j in idx for k, cls in enumerate(result.classes_out)]
    columns = ["feature", "value", "shap", "class_out", "row"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def logreg_coefficients(fit: FitResult) -> pd.DataFrame:
    """Coefficients of a logistic-regression fit on the standardised features.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``class_out``, ``coefficient`` (log-odds, or raw margin for multi-class, per
        training standard deviation of the feature) and ``odds_ratio_per_sd`` = ``exp(coefficient)``
        (multi-class: the factor on the class's unnormalised softmax weight).
    """
    if fit.kind != "logreg":
        raise AgnbenchError(f"logreg_coefficients needs a logreg fit, got {fit.kind!r}")
    lr = fit.model.named_steps["logisticregression"]
    coef = np.asarray(lr.coef_, dtype=np.float64)
    classes = _logreg_classes(fit, coef.shape[0])
    return pd.DataFrame([{"feature": name, "class_out": int(cls), "coefficient": float(coef[k, j]),
                          "odds_ratio_per_sd": float(np.exp(coef[k, j]))}
                         for k, cls in enumerate(classes) for j, name in enumerate(fit.feature_names)])


# ----------------------------------------------------------------------------- checks
def _check_additivity(margin: np.ndarray, base: np.ndarray, values: np.ndarray, atol: float) -> float:
    """``max |base + values.sum(-1) - margin|``; AgnbenchError above ``atol * max(1, max |margin|)``.

    Parameters
    ----------
    margin : numpy.ndarray, shape (n, K_out)
    base : numpy.ndarray, shape (K_out,)
    values : numpy.ndarray, shape (n, K_out, d)
    atol : float
    """
    margin = np.asarray(margin, dtype=np.float64)
    if margin.shape != values.shape[:2] or base.shape != values.shape[1:2]:
        raise AgnbenchError(f"additivity check: model output {margin.shape}, base {base.shape} and SHAP values "
                            f"{values.shape} do not match (n, K_out), (K_out,), (n, K_out, d)")
    dev = np.abs(base + values.sum(axis=-1) - margin)
    if dev.size == 0:
        return 0.0
    tol = atol * max(1.0, float(np.nanmax(np.abs(margin), initial=0.0)))
    bad = ~np.isfinite(dev) | (dev > tol)
    if bad.any():
        i, k = np.unravel_index(np.argmax(np.where(np.isfinite(dev), dev, np.inf)), dev.shape)
        raise AgnbenchError(f"SHAP additivity failed: base + sum(values) differs from the model output by "
                            f"{dev[i, k]:.3g} (tolerance {tol:.3g}) at object {i}, output {k} "
                            f"({int(bad.sum())} of {dev.size} entries over tolerance); check that X has the "
                            "model's columns in order and that the model was not modified")
    return float(dev.max())


# ----------------------------------------------------------------------------- per kind
def _booster_contribs(fit: FitResult, X: np.ndarray, *, method: str = "auto",
                      native_below: int | None = None) -> tuple[np.ndarray, np.ndarray, str, KernelChoice]:
    """(margin (n, K_out), contributions (n, K_out, d+1) with the bias last, method, kernel choice).

    ``method`` and ``native_below`` as in :func:`tree_shap`; the margin always comes from the library.
    """
    n, d = X.shape
    choice = choose_kernel(fit, n, method=method, native_below=native_below)
    if choice.kernel == KERNEL_FAST:
        fast, why = fast_contribs(fit, X, threads=_threads(fit), required=method == "fast")
        if fast is not None:
            return _booster_margin(fit, X, fast.shape[1]), fast, FAST_METHOD.format(kind=fit.kind), choice
        choice = replace(choice, kernel=KERNEL_NATIVE, reason=f"numba cannot explain this model ({why})")
    if fit.kind == "xgboost":
        import xgboost as xgb

        dm = xgb.DMatrix(X, missing=np.nan, nthread=_threads(fit))
        contrib = fit.model.predict(dm, pred_contribs=True, iteration_range=_xgb_rounds(fit))
        method = "xgboost native TreeSHAP (pred_contribs)"
    else:
        contrib = fit.model.predict(X, pred_contrib=True, num_iteration=_lgb_rounds(fit), num_threads=_threads(fit))
        method = "lightgbm native TreeSHAP (pred_contrib)"
    contrib = np.asarray(contrib, dtype=np.float64)
    if contrib.size % (n * (d + 1)):
        raise AgnbenchError(f"{fit.kind} returned contributions of shape {contrib.shape} for {n} x {d} features")
    k_out = contrib.size // (n * (d + 1))
    return _booster_margin(fit, X, k_out), contrib.reshape(n, k_out, d + 1), method, choice


def _booster_margin(fit: FitResult, X: np.ndarray, k_out: int) -> np.ndarray:
    """The booster's raw margin (XGBoost ``output_margin``, LightGBM ``raw_score``), (n, K_out) float64."""
    if fit.kind == "xgboost":
        import xgboost as xgb

        dm = xgb.DMatrix(X, missing=np.nan, nthread=_threads(fit))
        margin = fit.model.predict(dm, output_margin=True, iteration_range=_xgb_rounds(fit))
    else:
        margin = fit.model.predict(X, raw_score=True, num_iteration=_lgb_rounds(fit), num_threads=_threads(fit))
    return np.asarray(margin, dtype=np.float64).reshape(X.shape[0], k_out)


def _linear_shap(fit: FitResult, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Exact SHAP of the imputer -> scaler -> logistic pipeline: (values, base, decision function, classes)."""
    steps = fit.model.named_steps
    z = steps["standardscaler"].transform(steps["simpleimputer"].transform(X))
    lr = steps["logisticregression"]
    coef = np.asarray(lr.coef_, dtype=np.float64)  # (K_out, d); K_out = 1 when two classes were seen
    background = np.zeros(z.shape[1])  # standardised mean of the training set: 0 by construction
    values = coef[None, :, :] * (z - background)[:, None, :]
    base = np.asarray(lr.intercept_, dtype=np.float64) + coef @ background
    margin = np.asarray(fit.model.decision_function(X), dtype=np.float64).reshape(X.shape[0], coef.shape[0])
    return values, base, margin, _logreg_classes(fit, coef.shape[0])


def _logreg_classes(fit: FitResult, k_out: int) -> list[int]:
    classes = [int(c) for c in fit.model.classes_]
    return classes[1:] if k_out == 1 else classes


def _forest_explainer(fit: FitResult):
    import shap

    return shap.TreeExplainer(fit.model)


def _forest_columns(fit: FitResult) -> list[int]:
    """Columns of the forest's outputs (its ``classes_``) that are explained: class 1 if binary, else all."""
    classes = [int(c) for c in fit.model.classes_]
    return [classes.index(1)] if fit.n_classes == 2 else list(range(len(classes)))


def _forest_shap(fit: FitResult, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """TreeExplainer on the forest's probabilities: (values, base, predict_proba columns, classes)."""
    explainer = _forest_explainer(fit)
    cols = _forest_columns(fit)
    values = _explainer_output(explainer.shap_values(X, check_additivity=False), X.shape[0], 3)[:, cols]
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))[cols]
    classes = [int(fit.model.classes_[c]) for c in cols]
    return values, base, fit.predict_proba(X)[:, classes], classes


def _explainer_output(raw, n: int, ndim: int) -> np.ndarray:
    """shap's (n, d[, d], K) or (n, d[, d]) output -> (n, K, d[, d]) float64."""
    arr = np.asarray(raw, dtype=np.float64)
    if arr.shape[0] != n or arr.ndim not in (ndim - 1, ndim):
        raise AgnbenchError(f"shap.TreeExplainer returned shape {arr.shape} for {n} objects")
    return arr[:, None] if arr.ndim == ndim - 1 else np.moveaxis(arr, -1, 1)


def _lightgbm_interactions(fit: FitResult, X: np.ndarray) -> np.ndarray:
    """Per-class TreeExplainer on a LightGBM booster's trees (shap mixes the classes of a multi-class booster)."""
    import shap

    k_out = 1 if fit.n_classes == 2 else fit.n_classes
    trees = shap.TreeExplainer(fit.model).model.trees
    if trees is None:
        raise AgnbenchError("shap cannot parse this LightGBM model (categorical splits?); interactions are "
                            "available for XGBoost models")
    if fit.best_iteration is not None:
        trees = trees[: (fit.best_iteration + 1) * k_out]
    out = [np.asarray(shap.TreeExplainer(trees[k::k_out]).shap_interaction_values(X), dtype=np.float64)
           for k in range(k_out)]
    return np.stack(out, axis=1)


# ----------------------------------------------------------------------------- helpers
def _check_fit(fit: FitResult) -> None:
    """A raw model is refused with the way to explain it (:func:`~.tree_models.explain_trees` wraps it)."""
    if not isinstance(fit, FitResult):
        raise AgnbenchError(f"tree_shap takes an agnbench FitResult, got {type(fit).__module__}.{type(fit).__name__}; "
                            "for your own fitted xgboost / lightgbm model call agnbench.explain_trees(model, X)")


def _features(X: np.ndarray, fit: FitResult) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    d = len(fit.feature_names)
    if X.ndim != 2 or X.shape[1] != d or X.shape[0] == 0:
        raise AgnbenchError(f"X must have shape (n, {d}) with n >= 1 to match the model's features, got {X.shape}")
    if np.isinf(X).any():
        raise AgnbenchError("X contains +/-inf; replace it with NaN (missing) or a finite value")
    return np.ascontiguousarray(X)


def _matching(result: ShapResult, X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    n, _, d = result.values.shape
    if X.shape != (n, d):
        raise AgnbenchError(f"X must be the {n} x {d} rows that were explained, got shape {X.shape}")
    return X


def _subsample(n: int, max_rows: int, seed: int) -> np.ndarray:
    if n <= max_rows:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False)).astype(np.int64)


def _spearman(x: np.ndarray, s: np.ndarray) -> float:
    """Spearman correlation over the rows where ``x`` is finite; NaN if fewer than 3 or a constant."""
    ok = np.isfinite(x) & np.isfinite(s)
    if ok.sum() < 3:
        return float("nan")
    rx = pd.Series(x[ok]).rank().to_numpy()
    rs = pd.Series(s[ok]).rank().to_numpy()
    if rx.std() == 0 or rs.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, rs)[0, 1])


def _threads(fit: FitResult) -> int:
    return usable_threads(int(fit.params.get("threads", 2)))


def _xgb_rounds(fit: FitResult) -> tuple[int, int]:
    return (0, 0) if fit.best_iteration is None else (0, fit.best_iteration + 1)


def _lgb_rounds(fit: FitResult) -> int | None:
    return None if fit.best_iteration is None else fit.best_iteration + 1
