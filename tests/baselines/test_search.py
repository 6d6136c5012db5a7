"""Random hyper-parameter search: CV on train only, deterministic, every trial saved."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.baselines.search import SEARCH_SPACES, draw_params, random_search


@pytest.mark.parametrize("kind", list(SEARCH_SPACES))
def test_draws_stay_in_the_space(kind: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        params = draw_params(kind, rng)
        for name, (how, args) in SEARCH_SPACES[kind].items():
            if how == "choice":
                assert params[name] in args
            else:
                assert args[0] <= params[name] <= args[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_search_is_deterministic_and_keeps_every_trial(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.7, n) > 0.8).astype(int)
    kw = dict(n_classes=2, feature_names=[f"f{i}" for i in range(5)], seed=seed, n_trials=4, cv_folds=3,
              class_weight="balanced", early_stopping_rounds=10, threads=1)
    best, trials = random_search("lightgbm", X, y, **kw)
    best2, trials2 = random_search("lightgbm", X, y, **kw)
    assert best == best2
    pd.testing.assert_frame_equal(trials, trials2)
    assert list(trials["trial"]) == [0, 1, 2, 3] and json.loads(trials.loc[0, "params"]) == {}
    assert best == json.loads(trials.loc[trials["mean_logloss"].idxmin(), "params"])
    assert np.allclose(trials[["fold_0", "fold_1", "fold_2"]].mean(axis=1), trials["mean_logloss"])


def test_train_catalog_with_search_saves_trials(mock_store: Path, tmp_path: Path) -> None:
    from agnbench.baselines.train_catalog import train_catalog
    from agnbench.config.core import load_config

    cfg = load_config(overrides=["catalog.model=logreg", "catalog.search=random", "catalog.n_trials=3"])
    run = train_catalog(cfg, data=mock_store, runs_dir=tmp_path / "runs")
    trials = pd.read_csv(run / "search.csv")
    assert len(trials) == 3
    metrics = json.loads((run / "metrics.json").read_text())
    best = json.loads(trials.loc[trials["mean_logloss"].idxmin(), "params"])
    for key, value in best.items():
        assert metrics["model"]["params"][key] == pytest.approx(value)
