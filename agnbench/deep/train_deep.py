"""``agnbench train spectra|images``: one deep-track run, written as DESIGN Contract 3.

Steps: open the store -> the track's objects (those with a spectrum / cutout) -> create the run
directory and write the resolved config, environment, data fingerprint and model description
BEFORE training -> train with early stopping on val (checkpoint every epoch) -> best weights ->
temperature and decision threshold fitted on val -> predict val, test and ood -> predictions,
metrics, model card, status. The test split is used only for the final predictions.
``resume=RUN_DIR`` continues an interrupted run from its last checkpoint with its saved config.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.protocol.calibration import fit_calibrator
from agnbench.protocol.thresholds import apply_threshold, fit_threshold
from agnbench.config.core import Config, dump_config, load_config
from agnbench.contracts.store import open_store
from agnbench.deep.data import TRACKS, TrackData
from agnbench.deep.device import resolve_device, resolve_precision, set_threads
from agnbench.deep.deep_card import deep_model_card
from agnbench.deep.networks import architecture, build_model, load_init
from agnbench.deep.optim import class_weights
from agnbench.deep.trainer import BEST, LAST, LoopState, Runtime, load_torch, predict_proba, save_torch, train_loop
from agnbench.errors import AgnbenchError
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import create_run_dir, write_status
from agnbench.protocol.metrics import split_metrics
from agnbench.fileio import atomic_write_json, atomic_write_parquet, atomic_write_text, capture_env

log = logging.getLogger(__name__)
MODEL_NAMES = {"spectra": "resnet1d", "images": "resnet18"}


def train_deep_seeds(cfg: Config, *, track: str, data: Path | None, runs_dir: Path, seeds: list[int],
                     name: str | None = None, **kwargs) -> list[Path]:
    """One run per seed (``--seeds 0,1,2``); names get a ``-s<seed>`` suffix when ``name`` is given."""
    runs = []
    for seed in seeds:
        run_name = f"{name}-s{seed}" if name and len(seeds) > 1 else name
        runs.append(train_deep(replace(cfg, seed=seed), track=track, data=data, runs_dir=runs_dir, name=run_name,
                               **kwargs))
    return runs


def train_deep(cfg: Config, *, track: str, data: Path | None, runs_dir: Path, name: str | None = None,
               resume: Path | None = None, init_from: Path | None = None, progress: bool = True,
               on_epoch_end: Callable[[LoopState], None] | None = None) -> Path:
    """Train (or resume) one deep-track run; return the run directory.

    Parameters
    ----------
    cfg : Config
        Resolved config; the track's section (``cfg.spectra`` or ``cfg.images``) is used. Ignored
        with ``resume`` (the run's saved config is used, so the result is the same).
    track : {"spectra", "images"}
    data : Path or None
        Dataset store; with ``resume`` it may be omitted (the run's ``data.json`` names it).
    init_from : Path, optional
        Run directory or state_dict to fine-tune from (matching tensors are copied; see
        ``freeze_epochs``).
    on_epoch_end : callable, optional
        Called with the loop state after each epoch's checkpoint (tests interrupt runs with it).
    """
    if track not in TRACKS:
        raise AgnbenchError(f"unknown deep track {track!r}: use spectra or images")
    if resume is not None:
        run_dir, cfg, data = _resume_target(Path(resume), track, data)
    else:
        if data is None:
            raise AgnbenchError("give the dataset store with --data")
        run_dir = None
    tc = getattr(cfg, track)
    store = open_store(data)
    tdata = TrackData(track, store, tc, cfg.seed)
    n_classes = len(store.classes)
    _check_splits(tdata, store.classes, track)
    if n_classes > 2 and tc.threshold != "argmax":
        raise AgnbenchError(f"{track}.threshold={tc.threshold} needs a binary label scheme; use argmax for multi-class")
    device = resolve_device(tc.device)
    rt = Runtime(device=device, amp_dtype=resolve_precision(tc.precision, device),
                 channels_last=bool(getattr(tc, "channels_last", False)) and device.type in ("cuda", "cpu"),
                 workers=tc.workers, progress=progress)
    set_threads(tc.threads)
    model = build_model(track, tc, in_channels=tdata.n_channels, n_classes=n_classes, n_scalars=tdata.n_scalars,
                        seed=cfg.seed)
    checkpoint = None
    if run_dir is None:
        run_dir = create_run_dir(runs_dir, track=track, model=MODEL_NAMES[track], seed=cfg.seed, name=name)
        write_status(run_dir, "running")
        dump_config(cfg, run_dir / "config.yaml")
        atomic_write_json(run_dir / "data.json", store.fingerprint())
        init = load_init(model, init_from) if init_from is not None else None
        meta = _model_meta(track, tc, tdata, n_classes, init, model)
        atomic_write_json(run_dir / "model_meta.json", meta)
    else:
        meta = _read_json(run_dir / "model_meta.json")
        if (run_dir / LAST).exists():
            checkpoint = load_torch(run_dir / LAST)
            model.load_state_dict(checkpoint["model"])
            log.info("resuming %s after epoch %d", run_dir.name, checkpoint["loop"]["epoch"])
        elif meta.get("init"):
            load_init(model, Path(meta["init"]["path"]))
        write_status(run_dir, "running")
    atomic_write_json(run_dir / "env.json", capture_env(device=str(device)))
    log.info("run %s: %s on %d train / %d val objects (%s, %s)", run_dir.name, MODEL_NAMES[track],
             tdata.indices("train").size, tdata.indices("val").size, device, rt.amp_dtype or "fp32")
    try:
        y_train = tdata.labels(tdata.indices("train"))
        weights = class_weights(y_train, n_classes, mode=tc.class_weight)
        state = train_loop(model, tdata, tc, run_dir=run_dir, rt=rt, weights=weights,
                           freeze_epochs=tc.freeze_epochs if meta.get("init") else 0, checkpoint=checkpoint,
                           on_epoch_end=on_epoch_end)
        model.load_state_dict(load_torch(run_dir / BEST, device))
        save_torch(model.state_dict(), run_dir / "model.pt")
        metrics = _predict_and_score(model, tdata, tc, rt, run_dir, cfg.seed, y_train, state, meta)
    except KeyboardInterrupt:
        write_status(run_dir, "interrupted", error=f"interrupted; resume with --resume {run_dir}")
        raise
    except BaseException as exc:
        write_status(run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    write_status(run_dir, "complete")
    log.info("run %s complete: test accuracy %.3f (majority %.3f)", run_dir.name, metrics["test"]["accuracy"],
             metrics["test"]["majority_baseline_accuracy"])
    return run_dir


def _predict_and_score(model, tdata: TrackData, tc, rt: Runtime, run_dir: Path, seed: int, y_train: np.ndarray,
                       state: LoopState, meta: dict) -> dict:
    """Calibrate and choose the threshold on val; write predictions, metrics, model_meta and the model card."""
    store = tdata.store
    val = tdata.indices("val")
    proba_val = predict_proba(model, tdata, val, rt=rt, batch_size=tc.eval_batch_size, tta=tc.tta)
    calibrator = fit_calibrator(proba_val, tdata.labels(val), method=tc.calibration)
    rule = fit_threshold(calibrator.transform(proba_val), tdata.labels(val), rule=tc.threshold,
                         target_precision=tc.target_precision)
    atomic_write_json(run_dir / "calibration.json", {"calibrator": calibrator.to_dict(), "threshold": rule})
    parts = [val, tdata.indices("test"), tdata.indices("ood")]
    probas = [proba_val] + [predict_proba(model, tdata, p, rt=rt, batch_size=tc.eval_batch_size, tta=tc.tta)
                            for p in parts[1:]]
    pos = np.concatenate(parts)
    proba = calibrator.transform(np.concatenate(probas))
    objects = store.objects
    split = objects["split"].to_numpy()[pos]
    preds = prediction_frame(object_id=objects["object_id"].to_numpy()[pos], split=split,
                             y_true=np.where(split == "ood", -1, tdata.labels(pos)), proba=proba,
                             y_pred=apply_threshold(proba, rule), classes=store.classes, track=tdata.track,
                             model=MODEL_NAMES[tdata.track], run_id=run_dir.name, seed=seed)
    atomic_write_parquet(run_dir / "predictions.parquet", preds)
    n_classes = len(store.classes)
    majority = int(np.bincount(y_train, minlength=n_classes).argmax())
    metrics: dict = {}
    for name in ("val", "test"):
        part = preds[preds["split"] == name]
        metrics[name] = split_metrics(part["y_true"].to_numpy(), part[[f"p_{c}" for c in store.classes]].to_numpy(),
                                      part["y_pred"].to_numpy(), majority_class=majority)
    ood = preds[preds["split"] == "ood"]
    metrics["ood"] = {"n": int(len(ood)), "fraction_predicted": {
        c: float(np.mean(ood["y_pred"] == k)) for k, c in enumerate(store.classes)} if len(ood) else {}}
    history = pd.DataFrame(state.history)
    metrics["model"] = {
        "best_epoch": state.best_epoch + 1, "epochs_run": state.epoch, "stopped_early": state.stopped_early,
        "best_val_score": state.best_score, "val_score": "roc_auc" if n_classes == 2 else "macro_f1",
        "calibration": calibrator.to_dict(), "threshold": rule, "tta": tc.tta,
        "train_samples_per_s_median": float(history["train_samples_per_s"].median()),
        "missing_inputs": tdata.missing(), "n_parameters": meta["n_parameters"]}
    atomic_write_json(run_dir / "metrics.json", metrics)
    meta = {**meta, "best_epoch": state.best_epoch + 1, "files": {"model": "model.pt", "best": BEST, "last": LAST}}
    atomic_write_json(run_dir / "model_meta.json", meta)
    atomic_write_text(run_dir / "MODEL_CARD.md", deep_model_card(
        run_id=run_dir.name, track=tdata.track, cfg=tc, seed=seed, store=store, meta=meta, metrics=metrics,
        train_counts=pd.Series(y_train).value_counts().sort_index().to_dict()))
    return metrics


def _model_meta(track: str, tc, tdata: TrackData, n_classes: int, init: dict | None, model) -> dict:
    return {"track": track, "model": MODEL_NAMES[track],
            "architecture": architecture(track, tc, in_channels=tdata.n_channels, n_classes=n_classes,
                                         n_scalars=tdata.n_scalars),
            "input_shape": list(tdata.input_shape), "classes": list(tdata.store.classes),
            "inputs": _input_description(tdata), "n_parameters": int(sum(p.numel() for p in model.parameters())),
            "init": init}


def _input_description(tdata: TrackData) -> dict:
    if tdata.track == "images":
        return {"channels": "store cutouts (images/meta.json stretch)", "bands": tdata.n_channels}
    channels = ["flux (store-normalised)"] + (["weight = clip(sqrt(ivar) / weight_scale, 0, 5)"]
                                              if tdata.cfg.use_ivar else [])
    out = {"channels": channels, "weight_scale": tdata.weight_scale}
    if tdata.n_scalars:
        out["redshift"] = {"used": True, "mean": tdata.z_mean, "std": tdata.z_std,
                           "note": "redshift is a catalog quantity: this run is not spectra-only"}
    return out


def _check_splits(tdata: TrackData, classes: tuple[str, ...], track: str) -> None:
    for name in ("train", "val"):
        present = np.unique(tdata.labels(tdata.indices(name)))
        if present.size < 2:
            have = ", ".join(classes[k] for k in present) or "none"
            raise AgnbenchError(f"the {name} split has {present.size} class(es) with {track} ({have}); training needs "
                                "at least two: check the store's label scheme, cuts and quarantine.csv")


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise AgnbenchError(f"{path} is missing: {path.parent} is not a deep-track run that can be resumed")
    return json.loads(path.read_text())


def _resume_target(run_dir: Path, track: str, data: Path | None) -> tuple[Path, Config, Path]:
    """The run to continue, its saved config and its store (checked against ``data`` when given)."""
    if not (run_dir / "config.yaml").exists():
        raise AgnbenchError(f"--resume {run_dir}: not a run directory (no config.yaml)")
    meta = _read_json(run_dir / "model_meta.json")
    if meta.get("track") != track:
        raise AgnbenchError(f"--resume {run_dir}: that run is a {meta.get('track')} run, not {track}")
    status = _read_json(run_dir / "status.json").get("status") if (run_dir / "status.json").exists() else None
    if status == "complete":
        raise AgnbenchError(f"--resume {run_dir}: the run is already complete; start a new run instead")
    recorded = _read_json(run_dir / "data.json")
    data = Path(data) if data is not None else Path(recorded["store"])
    store = open_store(data)
    if store.fingerprint()["objects_sha256"] != recorded["objects_sha256"]:
        raise AgnbenchError(f"--resume {run_dir}: the store {data} is not the one the run started on "
                            f"(objects.parquet sha256 differs from data.json); resume with the original --data")
    return run_dir, load_config(run_dir / "config.yaml"), data
