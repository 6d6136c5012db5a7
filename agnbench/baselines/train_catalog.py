"""``agnbench train catalog``: one catalog-track run per seed, written as docs/contracts.md Contract 3.

Steps: open the store -> choose features -> leakage guard on the training split -> create the run
directory and write the resolved config, environment and data fingerprint BEFORE training -> fit
(early stopping on val) -> write model and history -> predict val, test and ood -> the shared
post-training protocol (:func:`agnbench.protocol.post_training.finish_run`: calibrate and choose the
decision threshold on val, predictions, metrics, model card, status). The test split is used for
nothing but the final predictions.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.baselines.catalog_card import catalog_model_card
from agnbench.baselines.catalog_models import TRACK, FitResult, fit_model
from agnbench.baselines.features import select_features
from agnbench.baselines.search import random_search
from agnbench.config.core import Config, dump_config
from agnbench.contracts import files
from agnbench.contracts.run_dir import FAILED, RUNNING, config_path, create_run_dir, write_data_record, write_status
from agnbench.contracts.schema import PREDICTION_SPLITS
from agnbench.contracts.store import open_store
from agnbench.outputs import output_lock
from agnbench.fileio import atomic_write_json, atomic_write_text, capture_env
from agnbench.protocol.calibration import Calibrator
from agnbench.protocol.leakage import LeakageReport, check_leakage
from agnbench.protocol.post_training import ModelSummary, check_decision_rule, check_splits, finish_run
from agnbench.tracking import Tracker, open_tracker

log = logging.getLogger(__name__)
#: The random search's trials (``catalog.search=random``), beside the contract files of the run.
SEARCH_FILE = "search.csv"


def train_catalog_seeds(cfg: Config, *, data: Path, runs_dir: Path, seeds: list[int], name: str | None = None,
                        allow_leaky: bool = False) -> list[Path]:
    """One run per seed (``--seeds 0,1,2``); names get a ``-s<seed>`` suffix when ``name`` is given."""
    runs = []
    for seed in seeds:
        run_name = f"{name}-s{seed}" if name and len(seeds) > 1 else name
        runs.append(train_catalog(replace(cfg, seed=seed), data=data, runs_dir=runs_dir, name=run_name,
                                  allow_leaky=allow_leaky))
    return runs


def train_catalog(cfg: Config, *, data: Path, runs_dir: Path, name: str | None = None,
                  allow_leaky: bool = False) -> Path:
    """Train one catalog-track model on the store at ``data``; return the run directory.

    Parameters
    ----------
    cfg : Config
        Resolved config; its ``catalog`` section and ``seed`` are used.
    data : Path
        Dataset store.
    runs_dir : Path
        Where the run directory is created (never overwritten).
    name : str, optional
        Run directory name (default: ``<timestamp>-catalog-<model>-s<seed>``).
    allow_leaky : bool
        Keep label-defining features (``--allow-leaky``); the model card says so.

    Raises
    ------
    AgnbenchError
        Bad features, a split with fewer than two classes, a binary decision rule on a multi-class
        store, leaky features or a tracking store (``tracking.uri``) that cannot be used: all before any
        run directory is made.
    """
    cc = cfg.catalog
    store = open_store(data)
    objects = store.objects
    features = select_features(objects, cc.features)
    labelled = objects["label"].to_numpy() >= 0
    split = objects["split"].to_numpy()
    train, val = (split == "train") & labelled, (split == "val") & labelled
    y = objects["label"].to_numpy(np.int64)
    n_classes = len(store.classes)
    check_splits(y[train], y[val], classes=store.classes, track=TRACK)
    check_decision_rule(cc.threshold, n_classes=n_classes, section=TRACK)
    leakage = check_leakage(objects, features, label=y, train=train, allow_leaky=allow_leaky,
                            source=f"{data} (catalog.features={cc.features})")
    X = objects[features].to_numpy(dtype=np.float64, na_value=np.nan)

    with open_tracker(cfg.tracking) as tracker:  # an unusable tracking store stops here, before any run directory
        run_dir = create_run_dir(runs_dir, track=TRACK, model=cc.model, seed=cfg.seed, name=name)
        with output_lock(run_dir):  # held while training: no other command moves this run aside
            _train_in(run_dir, cfg=cfg, store=store, features=features, X=X, y=y, split=split, train=train, val=val,
                      leakage=leakage, tracker=tracker)
    return run_dir


def _train_in(run_dir: Path, *, cfg: Config, store, features: list[str], X: np.ndarray, y: np.ndarray,
              split: np.ndarray, train: np.ndarray, val: np.ndarray, leakage: LeakageReport, tracker: Tracker) -> None:
    """Fit, predict and finish the run in ``run_dir`` (whose lock the caller holds), logging to ``tracker``."""
    cc = cfg.catalog
    objects = store.objects
    n_classes = len(store.classes)
    run_id = run_dir.name
    log.info("run %s: %s on %d features, %d train / %d val objects", run_id, cc.model, len(features),
             int(train.sum()), int(val.sum()))
    write_status(run_dir, RUNNING)
    dump_config(cfg, config_path(run_dir))
    atomic_write_json(run_dir / files.ENV, capture_env(device="cpu"))
    write_data_record(run_dir, store.fingerprint())
    try:
        tracker.start(run_dir, cfg, track=TRACK, model=cc.model, seed=cfg.seed)
        params = None
        if cc.search == "random":
            params, trials = random_search(
                cc.model, X[train], y[train], n_classes=n_classes, feature_names=features, seed=cfg.seed,
                n_trials=cc.n_trials, cv_folds=cc.cv_folds, class_weight=cc.class_weight,
                early_stopping_rounds=cc.early_stopping_rounds, threads=cc.threads)
            atomic_write_text(run_dir / SEARCH_FILE, trials.to_csv(index=False))
        fit = fit_model(cc.model, X[train], y[train], X[val], y[val], n_classes=n_classes, feature_names=features,
                        seed=cfg.seed, class_weight=cc.class_weight, params=params,
                        early_stopping_rounds=cc.early_stopping_rounds, threads=cc.threads)
        model_files = fit.save(run_dir)
        atomic_write_text(run_dir / files.HISTORY, fit.history.to_csv(index=False))
        tracker.log_history(fit.history)
        scored = np.isin(split, PREDICTION_SPLITS)
        train_counts = pd.Series(y[train]).value_counts().sort_index().to_dict()
        finish_run(
            run_dir, object_id=objects["object_id"].to_numpy()[scored], split=split[scored], labels=y[scored],
            proba=fit.predict_proba(X[scored]), classes=store.classes, y_train=y[train], track=TRACK,
            model=cc.model, seed=cfg.seed, calibration=cc.calibration, threshold=cc.threshold,
            target_precision=cc.target_precision,
            model_summary=_model_summary(fit, features, leakage),
            model_card=lambda metrics: catalog_model_card(
                run_id=run_id, cfg=cfg, store=store, features=features, leakage=leakage, metrics=metrics,
                model_files=model_files, train_counts=train_counts))
    except BaseException as exc:
        write_status(run_dir, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    tracker.finish(run_dir)


def _model_summary(fit: FitResult, features: list[str], leakage: LeakageReport) -> ModelSummary:
    """The catalog track's ``model`` section of ``metrics.json`` (the calibration shown by its method)."""
    def summary(calibrator: Calibrator, rule: dict) -> dict:
        return {"best_iteration": fit.best_iteration, "params": fit.params, "calibration": calibrator.method,
                "threshold": rule, "n_features": len(features),
                "leaky_features_allowed": leakage.allow_leaky and bool(leakage.leaky)}
    return summary
