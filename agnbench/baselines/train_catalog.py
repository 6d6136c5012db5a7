"""``agnbench train catalog``: one catalog-track run per seed, written as DESIGN Contract 3.

Steps: open the store -> choose features -> leakage guard on the training split -> create the run
directory and write the resolved config, environment and data fingerprint BEFORE training -> fit
(early stopping on val) -> calibrate and choose the decision threshold on val -> predict val, test
and ood -> write model, history, predictions, metrics, model card, status. The test split is used
for nothing but the final predictions.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.protocol.calibration import fit_calibrator
from agnbench.baselines.features import select_features
from agnbench.baselines.catalog_card import model_card
from agnbench.baselines.catalog_models import fit_model
from agnbench.baselines.search import random_search
from agnbench.protocol.thresholds import apply_threshold, fit_threshold
from agnbench.config.core import Config, dump_config
from agnbench.protocol.leakage import check_leakage
from agnbench.contracts.store import open_store
from agnbench.errors import AgnbenchError
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import create_run_dir, write_status
from agnbench.protocol.metrics import split_metrics
from agnbench.fileio import atomic_write_json, atomic_write_parquet, atomic_write_text, capture_env

log = logging.getLogger(__name__)
TRACK = "catalog"


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
    """Train one catalog-track model on the store at ``data``; return the run directory."""
    cc = cfg.catalog
    store = open_store(data)
    objects = store.objects
    features = select_features(objects, cc.features)
    labelled = objects["label"].to_numpy() >= 0
    split = objects["split"].to_numpy()
    train, val = (split == "train") & labelled, (split == "val") & labelled
    y = objects["label"].to_numpy(np.int64)
    n_classes = len(store.classes)
    _check_splits(y, train, val, store.classes)
    if n_classes > 2 and cc.threshold != "argmax":
        raise AgnbenchError(f"catalog.threshold={cc.threshold} needs a binary label scheme; use argmax for multi-class")
    leakage = check_leakage(objects, features, label=y, train=train, allow_leaky=allow_leaky,
                            source=f"{data} (catalog.features={cc.features})")
    X = objects[features].to_numpy(dtype=np.float64, na_value=np.nan)

    run_dir = create_run_dir(runs_dir, track=TRACK, model=cc.model, seed=cfg.seed, name=name)
    run_id = run_dir.name
    log.info("run %s: %s on %d features, %d train / %d val objects", run_id, cc.model, len(features),
             int(train.sum()), int(val.sum()))
    write_status(run_dir, "running")
    dump_config(cfg, run_dir / "config.yaml")
    atomic_write_json(run_dir / "env.json", capture_env(device="cpu"))
    atomic_write_json(run_dir / "data.json", store.fingerprint())
    try:
        params = None
        if cc.search == "random":
            params, trials = random_search(
                cc.model, X[train], y[train], n_classes=n_classes, feature_names=features, seed=cfg.seed,
                n_trials=cc.n_trials, cv_folds=cc.cv_folds, class_weight=cc.class_weight,
                early_stopping_rounds=cc.early_stopping_rounds, threads=cc.threads)
            atomic_write_text(run_dir / "search.csv", trials.to_csv(index=False))
        fit = fit_model(cc.model, X[train], y[train], X[val], y[val], n_classes=n_classes, feature_names=features,
                        seed=cfg.seed, class_weight=cc.class_weight, params=params,
                        early_stopping_rounds=cc.early_stopping_rounds, threads=cc.threads)
        model_files = fit.save(run_dir)
        atomic_write_text(run_dir / "history.csv", fit.history.to_csv(index=False))
        proba_val = fit.predict_proba(X[val])
        calibrator = fit_calibrator(proba_val, y[val], method=cc.calibration)
        rule = fit_threshold(calibrator.transform(proba_val), y[val], rule=cc.threshold,
                             target_precision=cc.target_precision)
        atomic_write_json(run_dir / "calibration.json", {"calibrator": calibrator.to_dict(), "threshold": rule})
        scored = np.isin(split, ("val", "test", "ood"))
        proba = calibrator.transform(fit.predict_proba(X[scored]))
        y_pred = apply_threshold(proba, rule)
        preds = prediction_frame(object_id=objects["object_id"].to_numpy()[scored], split=split[scored],
                                 y_true=np.where(split[scored] == "ood", -1, y[scored]), proba=proba, y_pred=y_pred,
                                 classes=store.classes, track=TRACK, model=cc.model, run_id=run_id, seed=cfg.seed)
        atomic_write_parquet(run_dir / "predictions.parquet", preds)
        metrics = _metrics(preds, y[train], n_classes, fit, calibrator.method, rule, features, leakage)
        atomic_write_json(run_dir / "metrics.json", metrics)
        atomic_write_text(run_dir / "MODEL_CARD.md", model_card(
            run_id=run_id, cfg=cfg, store=store, features=features, leakage=leakage, metrics=metrics,
            model_files=model_files, train_counts=pd.Series(y[train]).value_counts().sort_index().to_dict()))
    except BaseException as exc:
        write_status(run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    write_status(run_dir, "complete")
    log.info("run %s complete: test accuracy %.3f (majority %.3f)", run_id, metrics["test"]["accuracy"],
             metrics["test"]["majority_baseline_accuracy"])
    return run_dir


def _check_splits(y: np.ndarray, train: np.ndarray, val: np.ndarray, classes: tuple[str, ...]) -> None:
    for name, mask in (("train", train), ("val", val)):
        present = np.unique(y[mask])
        if present.size < 2:
            have = ", ".join(classes[k] for k in present) or "none"
            raise AgnbenchError(f"the {name} split has {present.size} class(es) ({have}); the catalog track needs "
                                "at least two: check the store's label scheme and cuts")


def _metrics(preds: pd.DataFrame, y_train: np.ndarray, n_classes: int, fit, calibration: str, rule: dict,
             features: list[str], leakage) -> dict:
    majority = int(np.bincount(y_train, minlength=n_classes).argmax())
    probs = [c for c in preds.columns if c.startswith("p_")]
    out: dict = {}
    for split in ("val", "test"):
        part = preds[preds["split"] == split]
        out[split] = split_metrics(part["y_true"].to_numpy(), part[probs].to_numpy(), part["y_pred"].to_numpy(),
                                   majority_class=majority)
    ood = preds[preds["split"] == "ood"]
    out["ood"] = {"n": int(len(ood)),
                  "fraction_predicted": {p[2:]: float(np.mean(ood["y_pred"] == k)) for k, p in enumerate(probs)}
                  if len(ood) else {}}
    out["model"] = {"best_iteration": fit.best_iteration, "params": fit.params, "calibration": calibration,
                    "threshold": rule,
                    "n_features": len(features), "leaky_features_allowed": leakage.allow_leaky and bool(leakage.leaky)}
    return out
