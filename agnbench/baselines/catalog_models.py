"""Catalog-track models: XGBoost, LightGBM and two reference models (logistic regression, random forest).

:func:`fit_model` trains any of :data:`MODEL_KINDS` with early stopping on val (trees) and returns
a :class:`FitResult` that predicts, saves itself natively (XGBoost JSON, LightGBM text, scikit-learn
via skops; never pickle) and records its history and resolved parameters.

* ``class_weight="balanced"``: train row weight ``n / (K * n_k)`` (``K`` classes present in train),
  for all four kinds. Val rows (early stopping) get the *same per-class weights* from train counts,
  so early stopping monitors the objective the trees minimise (an unweighted val log-loss would
  reward drifting back to the imbalanced prior); ``history`` log-losses are weighted likewise.
* Trees are truncated to rounds ``0 .. best_iteration`` after early stopping, so whatever uses
  :attr:`FitResult.model` directly (SHAP) sees the evaluated model; ``history`` lists every round.
* Determinism: XGBoost ``hist`` on CPU, LightGBM ``deterministic=True`` + ``force_row_wise=True``,
  threads and seeds set; random-forest probabilities are summed over trees in a fixed order
  (scikit-learn's threaded sum is order-dependent). Same seed, data and ``threads`` give
  bit-identical probabilities.
* NaN goes to the trees natively (XGBoost, LightGBM, scikit-learn >= 1.4 forests); logistic
  regression imputes the train median per feature (``imputation``), then standardises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agnbench.config.choices import CATALOG_MODELS as MODEL_KINDS
from agnbench.contracts import files
from agnbench.contracts.run_dir import has_model_meta, read_model_meta, write_model_meta
from agnbench.errors import AgnbenchError
from agnbench.optional import import_xgboost
from agnbench.threads import usable_threads

logger = logging.getLogger(__name__)

#: The track name of catalog models (``model_meta.json``, predictions, run ids).
TRACK = "catalog"

#: Default hyper-parameters per kind (scikit-learn-style names; read-only by convention).
#: Only these keys may be overridden through ``fit_model(params=...)``.
DEFAULT_PARAMS: dict[str, dict] = {
    "xgboost": {"n_estimators": 2000, "learning_rate": 0.05, "max_depth": 6, "subsample": 0.8,
                "colsample_bytree": 0.8, "min_child_weight": 1.0, "reg_lambda": 1.0, "reg_alpha": 0.0,
                "gamma": 0.0, "max_bin": 256, "tree_method": "hist"},
    # lightgbm at 0.1: its trees predict ~3x slower than xgboost's, and at 0.05 (~430 trees) 1e6 rows
    # took 8.1 s (target 5 s); at 0.1, 2.35 s for -0.0016 AUC (benchmarks/bench_catalog.py)
    "lightgbm": {"n_estimators": 2000, "learning_rate": 0.1, "num_leaves": 31, "max_depth": -1,
                 "min_child_samples": 20, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
                 "reg_lambda": 0.0, "reg_alpha": 0.0, "max_bin": 255},
    "logreg": {"C": 1.0, "max_iter": 5000, "tol": 1e-4},
    "rf": {"n_estimators": 500, "min_samples_leaf": 2, "max_features": "sqrt", "max_depth": None},
}

HISTORY_COLUMNS = ("round", "train_logloss", "val_logloss")
MODEL_FILES = {"xgboost": "model.json", "lightgbm": "model.txt", "logreg": "model.skops", "rf": "model.skops"}
# skops types trusted on load: scikit-learn's own, and these NumPy types
_TRUSTED_NUMPY = frozenset(f"numpy.{t}" for t in (
    "dtype", "ndarray", "float32", "float64", "int32", "int64", "intp", "bool_", "str_", "random.RandomState",
    "random._mt19937.MT19937", "random._generator.Generator", "random._pcg64.PCG64"))


@dataclass
class FitResult:
    """A trained catalog model and everything needed to reproduce and reuse it.

    Attributes
    ----------
    kind : str
        One of :data:`MODEL_KINDS`.
    n_classes : int
        Number of classes ``K`` (2 for binary).
    feature_names : list of str
        Names of the ``d`` feature columns, in the order of ``X``.
    model : Any
        ``xgboost.Booster``, ``lightgbm.Booster`` or a fitted scikit-learn estimator.
    best_iteration : int or None
        0-based index of the best boosting round on val (trees); ``None`` for logreg/rf.
    history : pandas.DataFrame
        One row per round: ``round``, ``train_logloss``, ``val_logloss`` (one row, round 0, for logreg/rf).
    imputation : dict or None
        logreg: feature name -> train median used for NaN; ``None`` otherwise.
    params : dict
        The resolved parameters actually used (JSON-serialisable).
    """

    kind: str
    n_classes: int
    feature_names: list[str]
    model: Any
    best_iteration: int | None
    history: pd.DataFrame = field(repr=False)
    imputation: dict[str, float] | None
    params: dict

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : numpy.ndarray, shape (n, d)
            Features (float, NaN allowed), columns in the order of :attr:`feature_names`.

        Returns
        -------
        numpy.ndarray, shape (n, n_classes), float64
            Rows sum to 1 (binary: two columns too). Trees use rounds ``0 .. best_iteration``.
        """
        X = _as_features(X, len(self.feature_names), "X")
        if X.shape[0] == 0:  # scikit-learn estimators refuse empty input
            return np.zeros((0, self.n_classes))
        threads = usable_threads(int(self.params.get("threads", 2)))
        if self.kind == "xgboost":
            rounds = (0, 0) if self.best_iteration is None else (0, self.best_iteration + 1)
            raw = self.model.inplace_predict(X, iteration_range=rounds, missing=np.nan)
        elif self.kind == "lightgbm":
            rounds = None if self.best_iteration is None else self.best_iteration + 1
            raw = self.model.predict(X, num_iteration=rounds, num_threads=threads)
        elif self.kind == "rf":
            raw = _forest_proba(self.model, X, threads=threads)
        else:
            raw = self.model.predict_proba(X)
        return _full_proba(raw, self.n_classes, getattr(self.model, "classes_", None))

    def save(self, directory: Path) -> list[str]:
        """Write the native model file and ``model_meta.json`` into ``directory``; return their names.

        ``model_meta.json`` follows the run directory's one schema (``track`` ``catalog``, ``model`` =
        :attr:`kind`, then the catalog keys), written atomically by
        :func:`agnbench.contracts.run_dir.write_model_meta`; it also keeps ``kind``, the key that
        catalog models written before that schema were read by.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        name = MODEL_FILES[self.kind]
        if self.kind in ("xgboost", "lightgbm"):
            self.model.save_model(str(directory / name))
        else:
            import skops.io as sio

            sio.dump(self.model, directory / name)
        meta = {"track": TRACK, "model": self.kind, "kind": self.kind, "n_classes": self.n_classes,
                "feature_names": list(self.feature_names), "best_iteration": self.best_iteration,
                "imputation": self.imputation, "params": self.params, "model_file": name}
        write_model_meta(directory, meta)
        return [name, files.MODEL_META]


def load_model(directory: Path) -> FitResult:
    """Inverse of :meth:`FitResult.save` (``history`` comes back empty).

    skops files are loaded trusting the types :func:`skops.io.get_untrusted_types` lists only if all
    belong to scikit-learn or NumPy; otherwise, as for missing files, :class:`AgnbenchError`.
    ``model_meta.json`` is read by :func:`agnbench.contracts.run_dir.read_model_meta` (models saved
    before the one schema, with ``kind`` only, are read too).
    """
    meta_path = Path(directory) / files.MODEL_META
    if not has_model_meta(directory):
        raise AgnbenchError(f"{meta_path} not found: not a saved agnbench model directory")
    meta = read_model_meta(directory)
    kind = meta["model"]
    if kind not in MODEL_KINDS:
        raise AgnbenchError(f"{meta_path}: unknown model kind {kind!r}; valid: {', '.join(MODEL_KINDS)}")
    path = meta_path.parent / MODEL_FILES[kind]
    if not path.is_file():
        raise AgnbenchError(f"model file {path} not found (listed in {meta_path})")
    try:
        model = _read_model_file(kind, path, threads=usable_threads(int(meta["params"].get("threads", 2))))
    except AgnbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 -- each library raises its own types for a damaged file
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise AgnbenchError(f"{path}: the {kind} model file is unreadable ({reason}); it may be truncated or "
                            "corrupt: re-train the run into a new directory") from None
    return FitResult(kind=kind, n_classes=int(meta["n_classes"]), feature_names=list(meta["feature_names"]),
                     model=model, best_iteration=meta["best_iteration"],
                     history=pd.DataFrame({c: [] for c in HISTORY_COLUMNS}), imputation=meta["imputation"],
                     params=meta["params"])


def _read_model_file(kind: str, path: Path, *, threads: int) -> Any:
    """The fitted model in ``path`` (XGBoost JSON, LightGBM text, or skops with an allow-list)."""
    if kind == "xgboost":
        xgb = import_xgboost(purpose=f"reading {path}")
        return xgb.Booster(params={"nthread": threads}, model_file=str(path))
    if kind == "lightgbm":
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    if bad := [t for t in untrusted if not (t.startswith("sklearn.") or t in _TRUSTED_NUMPY)]:
        raise AgnbenchError(f"{path} contains types outside the scikit-learn/NumPy allow-list: {bad}; "
                            "refusing to load it (re-train the model or inspect the file)")
    return sio.load(path, trusted=untrusted)


def resolve_params(kind: str, params: Mapping[str, Any] | None = None) -> dict:
    """:data:`DEFAULT_PARAMS` of ``kind`` overridden by ``params``; unknown keys are errors."""
    if kind not in MODEL_KINDS:
        raise AgnbenchError(f"unknown model kind {kind!r}; valid kinds: {', '.join(MODEL_KINDS)}")
    resolved = dict(DEFAULT_PARAMS[kind])
    for key, value in dict(params or {}).items():
        if key not in resolved:
            raise AgnbenchError(f"unknown {kind} parameter {key!r}; valid parameters: {', '.join(resolved)}")
        resolved[key] = value
    return resolved


def class_weights(y: np.ndarray, n_classes: int, mode: str) -> np.ndarray:
    """Per-class weights, shape (n_classes,): ``n / (K * n_k)`` for "balanced" (absent classes 1), ones for "none"."""
    if mode == "none":
        return np.ones(n_classes)
    if mode != "balanced":
        raise AgnbenchError(f"unknown class_weight {mode!r}; valid: 'balanced', 'none'")
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, y.size / (np.count_nonzero(counts) * np.maximum(counts, 1.0)), 1.0)


def fit_model(kind: str, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
              n_classes: int, feature_names: list[str], seed: int, class_weight: str = "balanced",
              params: Mapping[str, Any] | None = None, early_stopping_rounds: int = 50,
              threads: int = 2) -> FitResult:
    """Train one catalog model; trees stop early on val log-loss.

    Parameters
    ----------
    kind : str
        One of :data:`MODEL_KINDS`.
    X_train, X_val : numpy.ndarray, shape (n_train, d), (n_val, d)
        Features, float64, NaN allowed.
    y_train, y_val : numpy.ndarray, shape (n_train,), (n_val,)
        Integer labels in ``0 .. n_classes-1``.
    n_classes : int
        Number of classes ``K >= 2``.
    feature_names : list of str
        ``d`` names, recorded with the model.
    seed : int
        Seed of every random choice of the model (row/column subsampling, bootstrap).
    class_weight : {"balanced", "none"}
        See the module docstring (val rows share the train class weights).
    params : mapping, optional
        Overrides of :data:`DEFAULT_PARAMS` ``[kind]``.
    early_stopping_rounds : int
        Stop after this many rounds without a val log-loss improvement (trees only).
    threads : int
        CPU threads for training and prediction.

    Raises
    ------
    AgnbenchError
        Unknown kind / parameter / class_weight, malformed inputs, or one class only in train.
    """
    resolved = resolve_params(kind, params)
    d = len(feature_names)
    X_train, X_val = _as_features(X_train, d, "X_train"), _as_features(X_val, d, "X_val")
    y_train, y_val = _as_labels(y_train, X_train, n_classes, "y_train"), _as_labels(y_val, X_val, n_classes, "y_val")
    present = np.unique(y_train)
    if present.size < 2:
        raise AgnbenchError(f"label has one class in train: {int(present[0]) if present.size else 'none'} "
                            f"({y_train.size} rows); a classifier needs at least two classes")
    if early_stopping_rounds < 1 or threads < 1:
        raise AgnbenchError(f"early_stopping_rounds and threads must be >= 1, got {early_stopping_rounds}, {threads}")
    cw = class_weights(y_train, n_classes, class_weight)
    data = (X_train, y_train, cw[y_train], X_val, y_val, cw[y_val])
    opts = {"n_classes": n_classes, "seed": int(seed), "threads": usable_threads(threads)}
    fit = {"xgboost": _fit_xgboost, "lightgbm": _fit_lightgbm, "logreg": _fit_logreg, "rf": _fit_rf}[kind]
    model, best, history = fit(*data, resolved, esr=early_stopping_rounds, **opts)
    used = {**resolved, "seed": int(seed), "threads": int(threads), "class_weight": class_weight,
            "class_weights": [float(w) for w in cw]}
    if kind in ("xgboost", "lightgbm"):
        used["early_stopping_rounds"] = int(early_stopping_rounds)
    imputation = None if kind != "logreg" else {
        name: float(m) for name, m in zip(feature_names, model.named_steps["simpleimputer"].statistics_)}
    result = FitResult(kind=kind, n_classes=n_classes, feature_names=list(feature_names), model=model,
                       best_iteration=best, history=history, imputation=imputation, params=used)
    if kind in ("logreg", "rf"):  # one-row history, from the fitted model itself
        history.loc[0, "train_logloss"] = _logloss(result.predict_proba(X_train), y_train, cw[y_train])
        history.loc[0, "val_logloss"] = _logloss(result.predict_proba(X_val), y_val, cw[y_val])
    logger.info("fitted %s: %d classes, %d train rows, best_iteration=%s, val_logloss=%.5f", kind, n_classes,
                y_train.size, best, float(history["val_logloss"].iloc[best or 0]))
    return result


# ----------------------------------------------------------------------------- one family per function
# Each takes (X, y, w) of train and val, the resolved params and keyword options (``esr`` is the
# early-stopping patience, unused by logreg/rf) and returns (model, best_iteration, history).
def _fit_xgboost(X, y, w, Xv, yv, wv, p: dict, *, n_classes: int, seed: int, threads: int, esr: int):
    """XGBoost native training; returns (booster truncated to best round, best_iteration, history)."""
    xgb = import_xgboost(purpose="catalog.model=xgboost")

    binary = n_classes == 2
    metric = "logloss" if binary else "mlogloss"
    native = {"objective": "binary:logistic" if binary else "multi:softprob", "eval_metric": metric,
              "tree_method": p["tree_method"], "device": "cpu", "eta": p["learning_rate"],
              "max_depth": p["max_depth"], "subsample": p["subsample"], "colsample_bytree": p["colsample_bytree"],
              "min_child_weight": p["min_child_weight"], "lambda": p["reg_lambda"], "alpha": p["reg_alpha"],
              "gamma": p["gamma"], "max_bin": p["max_bin"], "nthread": threads, "seed": seed, "verbosity": 0}
    if not binary:
        native["num_class"] = n_classes
    dtrain = xgb.DMatrix(X, label=y, weight=w, missing=np.nan, nthread=threads)
    dval = xgb.DMatrix(Xv, label=yv, weight=wv, missing=np.nan, nthread=threads)
    evals: dict = {}
    booster = xgb.train(native, dtrain, num_boost_round=int(p["n_estimators"]), evals=[(dtrain, "train"), (dval, "val")],
                        early_stopping_rounds=esr, evals_result=evals, verbose_eval=False)
    best = int(booster.best_iteration)
    truncated = booster[: best + 1]
    truncated.set_param({"nthread": threads})
    return truncated, best, _history(evals["train"][metric], evals["val"][metric])


def _fit_lightgbm(X, y, w, Xv, yv, wv, p: dict, *, n_classes: int, seed: int, threads: int, esr: int):
    """LightGBM native training; returns (booster truncated to best round, best_iteration, history)."""
    import lightgbm as lgb

    binary = n_classes == 2
    metric = "binary_logloss" if binary else "multi_logloss"
    native = {"objective": "binary" if binary else "multiclass", "metric": metric,
              "learning_rate": p["learning_rate"], "num_leaves": p["num_leaves"], "max_depth": p["max_depth"],
              "min_child_samples": p["min_child_samples"], "bagging_fraction": p["subsample"],
              "bagging_freq": p["subsample_freq"], "feature_fraction": p["colsample_bytree"],
              "lambda_l2": p["reg_lambda"], "lambda_l1": p["reg_alpha"], "max_bin": p["max_bin"],
              "num_threads": threads, "seed": seed, "deterministic": True, "force_row_wise": True,
              "verbosity": -1}
    if not binary:
        native["num_class"] = n_classes
    dtrain = lgb.Dataset(X, label=y, weight=w, params={"max_bin": p["max_bin"], "verbosity": -1})
    dval = lgb.Dataset(Xv, label=yv, weight=wv, reference=dtrain)
    evals: dict = {}
    stop = [lgb.early_stopping(esr, verbose=False), lgb.record_evaluation(evals)]
    booster = lgb.train(native, dtrain, num_boost_round=int(p["n_estimators"]), valid_sets=[dtrain, dval],
                        valid_names=["train", "val"], callbacks=stop)
    best = int(booster.best_iteration) - 1  # LightGBM counts rounds from 1
    truncated = lgb.Booster(model_str=booster.model_to_string(num_iteration=best + 1))
    return truncated, best, _history(evals["train"][metric], evals["val"][metric])


def _fit_logreg(X, y, w, Xv, yv, wv, p: dict, *, n_classes: int, seed: int, threads: int, esr: int):
    """Median imputation + standardisation + L2 logistic regression (lbfgs, multinomial)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                          LogisticRegression(C=p["C"], max_iter=int(p["max_iter"]), tol=p["tol"], random_state=seed))
    model.fit(X, y, logisticregression__sample_weight=w)
    return model, None, _history([np.nan], [np.nan])


def _fit_rf(X, y, w, Xv, yv, wv, p: dict, *, n_classes: int, seed: int, threads: int, esr: int):
    """Random forest with native NaN support (scikit-learn >= 1.4)."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=int(p["n_estimators"]), min_samples_leaf=p["min_samples_leaf"],
                                   max_features=p["max_features"], max_depth=p["max_depth"], n_jobs=threads,
                                   random_state=seed)
    model.fit(X, y, sample_weight=w)
    return model, None, _history([np.nan], [np.nan])


# ----------------------------------------------------------------------------- helpers
def _forest_proba(model: Any, X: np.ndarray, *, threads: int, chunk: int = 20_000) -> np.ndarray:
    """Mean of the trees' probabilities, summed in tree order (bit-reproducible), rows chunked over threads."""
    def one(start: int) -> np.ndarray:
        part = X[start : start + chunk]
        out = np.zeros((part.shape[0], len(model.classes_)))
        for tree in model.estimators_:
            out += tree.predict_proba(part, check_input=False)
        return out / len(model.estimators_)

    X = np.ascontiguousarray(X, dtype=np.float32)  # the trees' own input dtype
    with ThreadPoolExecutor(max_workers=threads) as pool:  # rows are independent: order-free
        parts = list(pool.map(one, range(0, X.shape[0], chunk)))
    return np.concatenate(parts) if parts else np.zeros((0, len(model.classes_)))


def _full_proba(raw: np.ndarray, n_classes: int, classes: np.ndarray | None) -> np.ndarray:
    """Raw model output -> (n, n_classes) float64 rows summing to 1."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:  # binary boosters return P(class 1)
        return np.column_stack([1.0 - raw, raw])
    if classes is not None and (len(classes) != n_classes or np.any(classes != np.arange(n_classes))):
        full = np.zeros((raw.shape[0], n_classes))
        full[:, np.asarray(classes, dtype=int)] = raw
        raw = full
    return raw / raw.sum(axis=1, keepdims=True)


def _history(train: list[float], val: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"round": np.arange(len(train)), "train_logloss": np.asarray(train, dtype=np.float64),
                         "val_logloss": np.asarray(val, dtype=np.float64)})


def _logloss(proba: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(proba[np.arange(y.size), y], 1e-15, 1.0)
    return float(-np.sum(w * np.log(p)) / np.sum(w))


def _as_features(X: np.ndarray, d: int, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != d:
        raise AgnbenchError(f"{name} must have shape (n, {d}) to match feature_names, got {X.shape}")
    if np.isinf(X).any():
        raise AgnbenchError(f"{name} contains +/-inf; replace it with NaN (missing) or a finite value")
    return np.ascontiguousarray(X)


def _as_labels(y: np.ndarray, X: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if n_classes < 2:
        raise AgnbenchError(f"n_classes must be >= 2, got {n_classes}")
    if y.ndim != 1 or y.size != X.shape[0] or y.size == 0:
        raise AgnbenchError(f"{name} must have shape ({X.shape[0]},) with n > 0, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise AgnbenchError(f"{name} must hold integer labels 0..{n_classes - 1}, got {np.unique(y)[:10]}")
    return y.astype(np.int64)
