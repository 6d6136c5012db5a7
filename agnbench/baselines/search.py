"""Random hyper-parameter search with cross-validation on the training split only.

Each trial draws parameters from :data:`SEARCH_SPACES`, fits on k-1 folds of the *training* split
and scores the held-out fold by log-loss (trees stop early on that held-out fold, so the scores are
slightly optimistic, the same for every trial). Val and test are never seen: the caller refits the
best parameters on train with early stopping on val. Every trial is returned (raw draws) so the run
can save them all.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from agnbench import seeding
from agnbench.baselines.catalog_models import fit_model

log = logging.getLogger(__name__)

#: name -> (kind of draw, arguments): "log" (log-uniform float), "uniform", "int" (inclusive), "choice".
SEARCH_SPACES: dict[str, dict[str, tuple[str, tuple]]] = {
    "xgboost": {"learning_rate": ("log", (0.02, 0.2)), "max_depth": ("int", (3, 10)),
                "subsample": ("uniform", (0.6, 1.0)), "colsample_bytree": ("uniform", (0.5, 1.0)),
                "min_child_weight": ("log", (0.5, 20.0)), "reg_lambda": ("log", (0.1, 10.0))},
    "lightgbm": {"learning_rate": ("log", (0.03, 0.2)), "num_leaves": ("int", (8, 128)),
                 "min_child_samples": ("int", (5, 100)), "subsample": ("uniform", (0.6, 1.0)),
                 "colsample_bytree": ("uniform", (0.5, 1.0)), "reg_lambda": ("log", (1e-3, 10.0))},
    "logreg": {"C": ("log", (1e-3, 100.0))},
    "rf": {"min_samples_leaf": ("int", (1, 20)), "max_features": ("choice", ("sqrt", 0.3, 0.5, 0.8)),
           "max_depth": ("choice", (None, 8, 16))},
}


def draw_params(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    """One random draw from the search space of ``kind``."""
    out: dict[str, Any] = {}
    for name, (how, args) in SEARCH_SPACES[kind].items():
        if how == "log":
            out[name] = float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
        elif how == "uniform":
            out[name] = float(rng.uniform(*args))
        elif how == "int":
            out[name] = int(rng.integers(args[0], args[1] + 1))
        else:
            out[name] = args[int(rng.integers(len(args)))]
    return out


def random_search(
    kind: str, X_train: np.ndarray, y_train: np.ndarray, *, n_classes: int, feature_names: list[str], seed: int,
    n_trials: int, cv_folds: int, class_weight: str, early_stopping_rounds: int, threads: int,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Search ``n_trials`` random parameter sets by ``cv_folds``-fold CV on the training split.

    Parameters
    ----------
    X_train : numpy.ndarray, shape (n, d)
    y_train : numpy.ndarray of int, shape (n,)

    Returns
    -------
    best : dict
        Parameters of the trial with the lowest mean held-out log-loss (the defaults' trial 0 included).
    trials : pandas.DataFrame
        One row per trial: ``trial, params`` (JSON), ``fold_<k>`` log-losses, ``mean_logloss``, ``std_logloss``.
    """
    rng = seeding.rng(seed, "search", kind)
    folds = list(StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seeding.derive_seed(seed, "cv") % 2**31)
                 .split(X_train, y_train))
    candidates = [{}] + [draw_params(kind, rng) for _ in range(n_trials - 1)]  # trial 0: the defaults
    rows = []
    for trial, params in enumerate(candidates):
        scores = []
        for tr, ho in folds:
            fit = fit_model(kind, X_train[tr], y_train[tr], X_train[ho], y_train[ho], n_classes=n_classes,
                            feature_names=feature_names, seed=seed, class_weight=class_weight, params=params,
                            early_stopping_rounds=early_stopping_rounds, threads=threads)
            scores.append(log_loss(y_train[ho], np.clip(fit.predict_proba(X_train[ho]), 1e-15, 1),
                                   labels=np.arange(n_classes)))
        rows.append({"trial": trial, "params": json.dumps(params, sort_keys=True),
                     **{f"fold_{k}": s for k, s in enumerate(scores)},
                     "mean_logloss": float(np.mean(scores)), "std_logloss": float(np.std(scores))})
        log.info("search %s trial %d/%d: CV log-loss %.4f", kind, trial + 1, len(candidates), rows[-1]["mean_logloss"])
    trials = pd.DataFrame(rows)
    best = candidates[int(trials["mean_logloss"].to_numpy().argmin())]
    return best, trials
