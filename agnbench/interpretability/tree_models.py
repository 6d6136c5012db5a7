"""TreeSHAP of a user's own fitted XGBoost or LightGBM classifier (:func:`explain_trees`).

:func:`as_fit` wraps the model in the catalog track's :class:`~agnbench.baselines.catalog_models.FitResult`
so that :func:`~agnbench.interpretability.tree_shap.tree_shap` explains it exactly as it explains
agnbench's own models (fast numba TreeSHAP, native fallback, additivity checked). Accepted:
``xgboost.XGBClassifier`` and ``xgboost.Booster`` (objectives ``binary:logistic``,
``binary:logitraw``, ``multi:softprob``, ``multi:softmax``), ``lightgbm.LGBMClassifier`` and
``lightgbm.Booster`` (objectives ``binary``, ``multiclass``). The rounds explained are those the
library's own prediction uses: a scikit-learn wrapper's best iteration after early stopping, all
rounds of a raw ``xgboost.Booster``, a ``lightgbm.Booster``'s ``best_iteration`` if set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from agnbench.baselines.catalog_models import FitResult
from agnbench.errors import AgnbenchError
from agnbench.interpretability.tree_shap import ShapResult, tree_shap

XGBOOST_OBJECTIVES = ("binary:logistic", "binary:logitraw", "multi:softprob", "multi:softmax")
LIGHTGBM_OBJECTIVES = ("binary", "multiclass")
_SUPPORTED = ("xgboost.XGBClassifier, xgboost.Booster, lightgbm.LGBMClassifier or lightgbm.Booster (or an agnbench "
              "FitResult)")


def explain_trees(model: Any, X: np.ndarray | pd.DataFrame, *, feature_names: Sequence[str] | None = None,
                  method: str = "auto", check_additivity: bool = True, atol: float = 1e-4,
                  threads: int = 2, native_below: int | None = None) -> ShapResult:
    """Exact TreeSHAP values of every row of ``X`` for a fitted XGBoost or LightGBM classifier.

    Parameters
    ----------
    model : XGBClassifier, xgboost.Booster, LGBMClassifier, lightgbm.Booster or FitResult
        The fitted classifier (see the module docstring for the objectives accepted).
    X : numpy.ndarray or pandas.DataFrame, shape (n, d)
        Features, NaN allowed. A DataFrame is reordered to the model's feature names (an error if
        it lacks one, unless ``feature_names`` is given); an array's columns are in the model's order.
    feature_names : sequence of str, optional
        ``d`` names for the result; default the model's own names, else the DataFrame's columns,
        else ``x0 .. x{d-1}``.
    method : {"auto", "fast", "native"}
        ``"fast"`` agnbench's numba TreeSHAP, ``"native"`` the library's own kernel
        (``pred_contribs`` / ``pred_contrib``), ``"auto"`` native below ``native_below`` rows x
        trees, else fast where supported (:func:`~agnbench.interpretability.treeshap_kernel.choose_kernel`).
    check_additivity : bool
        Verify ``base + values.sum(-1)`` against the model's own raw margin (XGBoost
        ``output_margin``, LightGBM ``raw_score``).
    atol : float
        Tolerance of that check, relative to ``max(1, max |margin|)``.
    threads : int
        CPU threads.
    native_below : int, optional
        Threshold of ``"auto"`` in rows x trees (default ``explain.treeshap_native_below``'s, 100,000).

    Returns
    -------
    ShapResult
        ``values`` (n, K_out, d) and ``base`` (K_out,) in the model's margin: binary ``K_out = 1``,
        the log-odds of class 1; multi-class ``K_out = K``, the softmax inputs.

    Raises
    ------
    AgnbenchError
        An unsupported model type or objective, ``X`` of the wrong width or without the model's
        feature columns, or failed additivity.
    """
    frame_columns = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    fit = as_fit(model, feature_names=feature_names, columns=frame_columns, threads=threads)
    if frame_columns is not None and set(fit.feature_names) <= set(frame_columns):
        X = X[list(fit.feature_names)]
    elif frame_columns is not None and feature_names is None:
        missing = sorted(set(fit.feature_names) - set(frame_columns))
        raise AgnbenchError(f"X lacks the model's feature(s) {missing[:5]}; pass a DataFrame with the columns the "
                            "model was trained on, or X.to_numpy() with the columns in the model's order")
    return tree_shap(fit, np.asarray(X, dtype=np.float64), check_additivity=check_additivity, atol=atol,
                     method=method, native_below=native_below)


def as_fit(model: Any, *, feature_names: Sequence[str] | None = None, columns: Sequence[str] | None = None,
           threads: int = 2) -> FitResult:
    """A :class:`FitResult` around a fitted XGBoost / LightGBM classifier (a FitResult is returned as is).

    Parameters
    ----------
    model : XGBClassifier, xgboost.Booster, LGBMClassifier, lightgbm.Booster or FitResult
    feature_names : sequence of str, optional
        Names of the ``d`` features (checked against the model's feature count).
    columns : sequence of str, optional
        Fallback names (a DataFrame's columns) when neither ``feature_names`` nor the model has any.
    threads : int
        CPU threads for prediction and SHAP.

    Raises
    ------
    AgnbenchError
        Any other model type, a non-classification objective, categorical features, or names
        that do not match the model's feature count.
    """
    if isinstance(model, FitResult):
        return model
    if threads < 1:
        raise AgnbenchError(f"threads must be >= 1, got {threads}")
    kind = _library(model)
    if kind == "xgboost":
        booster, n_classes, best, d, own_names = _xgboost(model)
    else:
        booster, n_classes, best, d, own_names = _lightgbm(model)
    names = _names(feature_names, own_names, columns, d)
    return FitResult(kind=kind, n_classes=n_classes, feature_names=names, model=booster, best_iteration=best,
                     history=pd.DataFrame({"round": [], "train_logloss": [], "val_logloss": []}), imputation=None,
                     params={"threads": int(threads)})


def _library(model: Any) -> str:
    """``"xgboost"`` or ``"lightgbm"`` from the model's class (without importing either library)."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".")[0]
        if root in ("xgboost", "lightgbm") and cls.__name__ in ("Booster", "XGBModel", "LGBMModel"):
            return root
    raise AgnbenchError(f"explain_trees explains an {_SUPPORTED}; got {type(model).__module__}."
                        f"{type(model).__name__}")


def _xgboost(model: Any) -> tuple[Any, int, int | None, int, list[str] | None]:
    """(booster without feature names, K, best iteration of a scikit-learn wrapper, d, the model's names)."""
    import xgboost as xgb

    best = None
    if isinstance(model, xgb.XGBModel):
        if not isinstance(model, xgb.XGBClassifier):
            raise AgnbenchError(f"explain_trees explains classifiers; got a {type(model).__name__}")
        booster = model.get_booster()  # raises NotFittedError (a ValueError) if unfitted
        try:
            best = int(model.best_iteration)  # what XGBClassifier.predict uses after early stopping
        except AttributeError:
            best = None
    else:
        booster = model
    config = json.loads(booster.save_config())["learner"]
    objective = config["objective"]["name"]
    if objective not in XGBOOST_OBJECTIVES:
        raise AgnbenchError(f"explain_trees explains classifiers; this xgboost model has objective {objective!r} "
                            f"(supported: {', '.join(XGBOOST_OBJECTIVES)})")
    if booster.feature_types and any(t == "c" for t in booster.feature_types):
        raise AgnbenchError("this xgboost model has categorical features; explain_trees takes numerical features "
                            "only (encode the categories as numbers)")
    n_classes = max(2, int(config["learner_model_param"].get("num_class", 0)))
    names = None if booster.feature_names is None else [str(n) for n in booster.feature_names]
    if names is not None:  # explained with plain arrays: drop the names a DMatrix would be checked against
        booster = booster.copy()
        booster.feature_names = None
        booster.feature_types = None
    return booster, n_classes, best, booster.num_features(), names


def _lightgbm(model: Any) -> tuple[Any, int, None, int, list[str] | None]:
    """(booster, K, None: LightGBM's own best-iteration rule applies, d, the model's names)."""
    import lightgbm as lgb

    if isinstance(model, lgb.LGBMModel):
        if not isinstance(model, lgb.LGBMClassifier):
            raise AgnbenchError(f"explain_trees explains classifiers; got a {type(model).__name__}")
        booster = model.booster_  # raises NotFittedError (a ValueError) if unfitted
    else:
        booster = model
    dump = booster.dump_model(num_iteration=1)
    objective = str(dump.get("objective", "")).split(" ")[0]
    if objective not in LIGHTGBM_OBJECTIVES:
        raise AgnbenchError(f"explain_trees explains classifiers; this lightgbm model has objective {objective!r} "
                            f"(supported: {', '.join(LIGHTGBM_OBJECTIVES)})")
    n_classes = 2 if objective == "binary" else int(dump["num_class"])
    names = [str(n) for n in booster.feature_name()]
    placeholders = names == [f"Column_{j}" for j in range(len(names))]  # LightGBM's names for unnamed columns
    return booster, n_classes, None, booster.num_feature(), None if placeholders else names


def _names(given: Sequence[str] | None, own: list[str] | None, columns: Sequence[str] | None, d: int) -> list[str]:
    """Explicit names, else the model's own, else ``columns`` (of the right length), else ``x0 .. x{d-1}``."""
    if given is not None:
        names = [str(n) for n in given]
    elif own is not None:
        names = own
    elif columns is not None and len(columns) == d:
        names = list(columns)
    else:
        names = [f"x{j}" for j in range(d)]
    if len(names) != d:
        raise AgnbenchError(f"feature_names has {len(names)} names but the model has {d} features")
    return names
