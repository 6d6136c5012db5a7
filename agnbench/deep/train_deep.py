"""``agnbench train spectra|images``: one deep-track run, written as docs/contracts.md Contract 3.

Steps: open the store -> the track's objects (those with a spectrum / cutout) -> create the run
directory and write the resolved config, environment, data fingerprint and model description
BEFORE training -> train with early stopping on val (checkpoint every epoch) -> best weights ->
predict val, test and ood -> the shared post-training protocol
(:func:`agnbench.protocol.post_training.finish_run`: temperature and decision threshold fitted on
val, predictions, metrics, model card, status). The test split is used only for the final predictions.
``resume=RUN_DIR`` continues an interrupted run from its last checkpoint with its saved config.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.config.choices import DEEP_MODEL_NAMES
from agnbench.config.core import Config, dump_config, load_config
from agnbench.config.tracking import TrackingConfig
from agnbench.contracts import files
from agnbench.contracts.run_dir import (
    COMPLETE, FAILED, RUNNING, config_path, create_run_dir, has_model_meta, is_run_dir, read_data_record,
    read_model_meta, read_status, write_data_record, write_model_meta, write_status,
)
from agnbench.contracts.schema import PREDICTION_SPLITS
from agnbench.contracts.store import check_store, open_store
from agnbench.deep.apply_deep import input_signature
from agnbench.deep.data import TRACKS, TrackData
from agnbench.deep.deep_card import deep_model_card
from agnbench.deep.device import resolve_device, resolve_precision, set_threads
from agnbench.deep.distributed import Distributed, distributed_session
from agnbench.deep.init_weights import load_init_weights
from agnbench.deep.networks import architecture, build_model, load_init
from agnbench.deep.optim import class_weights
from agnbench.deep.trainer import BEST, LAST, LoopState, Runtime, load_torch, predict_proba, save_torch, train_loop
from agnbench.errors import AgnbenchError
from agnbench.outputs import output_lock
from agnbench.fileio import atomic_write_json, capture_env
from agnbench.protocol.calibration import Calibrator
from agnbench.protocol.post_training import ModelSummary, check_decision_rule, check_splits, finish_run
from agnbench.tracking import Tracker, open_tracker

log = logging.getLogger(__name__)
MODEL_NAMES = DEEP_MODEL_NAMES
#: The best epoch's weights (torch state_dict), beside ``BEST`` and ``LAST`` of :mod:`agnbench.deep.trainer`.
WEIGHTS = "model.pt"
#: ``status.json`` of a run stopped by Ctrl-C (resumable with ``--resume``).
INTERRUPTED = "interrupted"


def train_deep_seeds(cfg: Config, *, track: str, data: Path | None, runs_dir: Path, seeds: list[int],
                     name: str | None = None, **kwargs) -> list[Path]:
    """One run per seed (``--seeds 0,1,2``); names get a ``-s<seed>`` suffix when ``name`` is given.

    Under torchrun the process group is joined once for all the seeds.
    """
    if track not in TRACKS:
        raise AgnbenchError(f"unknown deep track {track!r}: use spectra or images")
    runs = []
    with distributed_session(resolve_device(getattr(cfg, track).device)):
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
        with ``resume`` (the run's saved config is used, so the result is the same), except for a
        ``tracking`` section other than the default, which replaces the run's own.
    track : {"spectra", "images"}
    data : Path or None
        Dataset store; with ``resume`` it may be omitted (the run's ``data.json`` names it).
    init_from : Path, optional
        Run directory or state_dict to fine-tune from (matching tensors are copied; see
        ``freeze_epochs``).
    on_epoch_end : callable, optional
        Called with the loop state after each epoch's checkpoint (tests interrupt runs with it).

    Notes
    -----
    Under ``torchrun`` (several processes) every process trains its share and rank 0 alone writes the
    run directory (:mod:`agnbench.deep.distributed`); every process returns its path.
    """
    if track not in TRACKS:
        raise AgnbenchError(f"unknown deep track {track!r}: use spectra or images")
    if resume is not None:
        run_dir, saved, data = _resume_target(Path(resume), track, data)
        # tracking is no science setting: this command's (--track), else the run's own
        cfg = saved if cfg.tracking == TrackingConfig() else replace(saved, tracking=cfg.tracking)
    else:
        if data is None:
            raise AgnbenchError("give the dataset store with --data")
        run_dir = None
    tc = getattr(cfg, track)
    with distributed_session(resolve_device(tc.device)) as ddp:
        return _train_deep(cfg, tc, ddp, track=track, data=data, runs_dir=runs_dir, name=name, run_dir=run_dir,
                           init_from=init_from, progress=progress, on_epoch_end=on_epoch_end)


def _train_deep(cfg: Config, tc, ddp: Distributed, *, track: str, data: Path, runs_dir: Path, name: str | None,
                run_dir: Path | None, init_from: Path | None, progress: bool,
                on_epoch_end: Callable[[LoopState], None] | None) -> Path:
    """:func:`train_deep` once the store, config and (under torchrun) this process's place are known."""
    store = open_store(data)
    tdata = TrackData(track, store, tc, cfg.seed)
    n_classes = len(store.classes)
    check_splits(tdata.labels(tdata.indices("train")), tdata.labels(tdata.indices("val")), classes=store.classes,
                 track=track, inputs_required=True)
    check_decision_rule(tc.threshold, n_classes=n_classes, section=track)
    ddp.check_batch_size(tc.batch_size, section=track)
    device = ddp.device(resolve_device(tc.device))
    rt = Runtime(device=device, amp_dtype=resolve_precision(tc.precision, device),
                 channels_last=bool(getattr(tc, "channels_last", False)) and device.type in ("cuda", "cpu"),
                 workers=tc.workers, progress=progress and ddp.is_main)
    set_threads(tc.threads)
    model = build_model(track, tc, in_channels=tdata.n_channels, n_classes=n_classes, n_scalars=tdata.n_scalars,
                        seed=cfg.seed)
    fresh = run_dir is None
    # a bad --init-weights file is refused before the tracker opens and the run directory exists
    pretrained = _load_init_weights(model, tc, init_from=init_from) if fresh else None
    opened: list[Tracker] = []  # rank 0 alone tracks; an unusable tracking store stops every rank here
    ddp.on_main(lambda: opened.append(open_tracker(cfg.tracking)), "opening the experiment tracker")
    with opened[0] if opened else Tracker([]) as tracker:
        if fresh:
            run_dir = ddp.on_main(lambda: create_run_dir(runs_dir, track=track, model=MODEL_NAMES[track],
                                                         seed=cfg.seed, name=name), "creating the run directory")
        # no second command resumes (or moves aside) this run while it trains; rank 0 holds the lock for the group
        with output_lock(run_dir) if ddp.is_main else contextlib.nullcontext():
            return _train_in(run_dir, fresh=fresh, cfg=cfg, track=track, store=store, tdata=tdata, model=model,
                             n_classes=n_classes, device=device, rt=rt, init_from=init_from,
                             on_epoch_end=on_epoch_end, ddp=ddp, tracker=tracker, pretrained=pretrained)


def _train_in(run_dir: Path, *, fresh: bool, cfg: Config, track: str, store, tdata: TrackData, model, n_classes: int,
              device, rt: Runtime, init_from: Path | None, on_epoch_end: Callable[[LoopState], None] | None,
              ddp: Distributed, tracker: Tracker, pretrained: dict | None = None) -> Path:
    """Train (or resume) in ``run_dir``, whose lock the caller holds; only rank 0 writes (under torchrun) and
    logs to ``tracker`` (every epoch's history row, then the final metrics and the run directory).

    ``pretrained``: the record of the ``images.init_weights`` file already loaded into ``model`` (fresh runs).
    """
    tc = getattr(cfg, track)
    checkpoint = None
    main = ddp.is_main
    if fresh:
        if main:
            write_status(run_dir, RUNNING)
            dump_config(cfg, config_path(run_dir))
            write_data_record(run_dir, store.fingerprint())
        init = load_init(model, init_from) if init_from is not None else None
        meta = _model_meta(track, tc, tdata, n_classes, init, model)
        if pretrained is not None:
            meta["init_weights"] = {k: pretrained[k] for k in ("path", "sha256", "layout")} | {
                "loaded": len(pretrained["loaded"]), "file": files.INIT_WEIGHTS}
        if main:
            write_model_meta(run_dir, meta)
            if pretrained is not None:
                atomic_write_json(run_dir / files.INIT_WEIGHTS, pretrained)
    else:
        meta = _read_resume_meta(run_dir)
        if (run_dir / LAST).exists():
            checkpoint = load_torch(run_dir / LAST, fix="delete it to restart this run from epoch 0")
            model.load_state_dict(checkpoint["model"])
            log.info("resuming %s after epoch %d", run_dir.name, checkpoint["loop"]["epoch"])
        elif meta.get("init"):
            load_init(model, Path(meta["init"]["path"]))
        elif meta.get("init_weights"):
            _reload_init_weights(model, meta["init_weights"])
        if main:
            write_status(run_dir, RUNNING)
    if main:
        env = capture_env(device=str(device))
        atomic_write_json(run_dir / files.ENV, {**env, "distributed": ddp.describe()} if ddp.enabled else env)
    log.info("run %s: %s on %d train / %d val objects (%s, %s)", run_dir.name, MODEL_NAMES[track],
             tdata.indices("train").size, tdata.indices("val").size, device, rt.amp_dtype or "fp32")
    done = pd.DataFrame(checkpoint["loop"]["history"]) if checkpoint is not None else None
    tracker.start(run_dir, cfg, track=track, model=MODEL_NAMES[track], seed=cfg.seed, history=done)

    def epoch_end(state: LoopState) -> None:
        tracker.log_history(state.history[-1])
        if on_epoch_end is not None:
            on_epoch_end(state)
    try:
        y_train = tdata.labels(tdata.indices("train"))
        weights = class_weights(y_train, n_classes, mode=tc.class_weight)
        state = train_loop(model, tdata, tc, run_dir=run_dir, rt=rt, weights=weights,
                           freeze_epochs=tc.freeze_epochs if meta.get("init") or meta.get("init_weights") else 0,
                           checkpoint=checkpoint, on_epoch_end=epoch_end, ddp=ddp)
        if main:
            model.load_state_dict(load_torch(run_dir / BEST, device))
            save_torch(model.state_dict(), run_dir / WEIGHTS)
        ddp.sync_state(model)
        _predict_and_finish(model, tdata, tc, rt, run_dir, cfg.seed, y_train, state, meta, ddp=ddp)
        ddp.barrier("waiting for rank 0 to finish the run directory")
    except KeyboardInterrupt:
        if main:
            write_status(run_dir, INTERRUPTED, error=f"interrupted; resume with --resume {run_dir}")
        raise
    except BaseException as exc:
        if main:
            write_status(run_dir, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    tracker.finish(run_dir)
    return run_dir


def _predict_and_finish(model, tdata: TrackData, tc, rt: Runtime, run_dir: Path, seed: int, y_train: np.ndarray,
                        state: LoopState, meta: dict, *, ddp: Distributed) -> dict | None:
    """Predict val, test and ood with the best weights; the shared protocol calibrates, scores and finishes the run.

    ``model_meta.json`` gains the best epoch and the weight files first; :func:`finish_run` then writes
    calibration, predictions, metrics, the model card and the ``complete`` status. Returns the metrics.
    Under torchrun every process predicts its share; rank 0 alone finishes the run (the others get None).
    """
    store = tdata.store
    parts = [tdata.indices(s) for s in PREDICTION_SPLITS]
    pos = np.concatenate(parts)
    proba = np.concatenate([
        ddp.map_positions(lambda q: predict_proba(model, tdata, q, rt=rt, batch_size=tc.eval_batch_size, tta=tc.tta), p)
        for p in parts])
    if not ddp.is_main:
        return None
    meta = {**meta, "best_epoch": state.best_epoch + 1, "files": {"model": WEIGHTS, "best": BEST, "last": LAST}}
    write_model_meta(run_dir, meta)
    objects = store.objects
    train_counts = pd.Series(y_train).value_counts().sort_index().to_dict()
    return finish_run(
        run_dir, object_id=objects["object_id"].to_numpy()[pos], split=objects["split"].to_numpy()[pos],
        labels=tdata.labels(pos), proba=proba, classes=store.classes, y_train=y_train, track=tdata.track,
        model=MODEL_NAMES[tdata.track], seed=seed, calibration=tc.calibration, threshold=tc.threshold,
        target_precision=tc.target_precision, model_summary=_model_summary(tc, tdata, state, meta),
        model_card=lambda metrics: deep_model_card(
            run_id=run_dir.name, track=tdata.track, cfg=tc, seed=seed, store=store, meta=meta, metrics=metrics,
            train_counts=train_counts))


def _model_summary(tc, tdata: TrackData, state: LoopState, meta: dict) -> ModelSummary:
    """The deep tracks' ``model`` section of ``metrics.json`` (the calibrator in full)."""
    history = pd.DataFrame(state.history)

    def summary(calibrator: Calibrator, rule: dict) -> dict:
        return {
            "best_epoch": state.best_epoch + 1, "epochs_run": state.epoch, "stopped_early": state.stopped_early,
            "best_val_score": state.best_score, "val_score": "roc_auc" if len(tdata.store.classes) == 2 else "macro_f1",
            "calibration": calibrator.to_dict(), "threshold": rule, "tta": tc.tta,
            "train_samples_per_s_median": float(history["train_samples_per_s"].median()),
            "missing_inputs": tdata.missing(), "n_parameters": meta["n_parameters"]}
    return summary


def _load_init_weights(model, tc, *, init_from: Path | None) -> dict | None:
    """``images.init_weights``: load the pretrained file into ``model``; its record (None without one)."""
    path = getattr(tc, "init_weights", None)
    if not path:
        return None
    if init_from is not None:
        raise AgnbenchError(f"--init-from {init_from} and --init-weights/images.init_weights {path}: give one "
                            "starting point")
    return load_init_weights(model, path)


def _reload_init_weights(model, recorded: dict) -> None:
    """Resume before the first checkpoint: the same pretrained file again, refused if it changed."""
    record = load_init_weights(model, recorded["path"])
    if record["sha256"] != recorded["sha256"]:
        raise AgnbenchError(f"--resume: the init weights {recorded['path']} changed since the run started (sha256 "
                            f"{record['sha256'][:12]}..., recorded {recorded['sha256'][:12]}...); start a new run")


def _model_meta(track: str, tc, tdata: TrackData, n_classes: int, init: dict | None, model) -> dict:
    return {"track": track, "model": MODEL_NAMES[track],
            "architecture": architecture(track, tc, in_channels=tdata.n_channels, n_classes=n_classes,
                                         n_scalars=tdata.n_scalars),
            "input_shape": list(tdata.input_shape), "classes": list(tdata.store.classes),
            "inputs": _input_description(tdata), "n_parameters": int(sum(p.numel() for p in model.parameters())),
            "init": init}


def _input_description(tdata: TrackData) -> dict:
    """``model_meta.json`` ``inputs``: what the channels are, and what ``agnbench predict`` needs to feed new
    stores the same way (``preprocessing`` fitted on this store, ``store_inputs``: its grid or cutout format)."""
    saved = {"preprocessing": tdata.preprocessing(), "store_inputs": input_signature(tdata.store, tdata.track)}
    if tdata.track == "images":
        return {"channels": "store cutouts (images/meta.json stretch)", "bands": tdata.n_channels, **saved}
    channels = ["flux (store-normalised)"] + (["weight = clip(sqrt(ivar) / weight_scale, 0, 5)"]
                                              if tdata.cfg.use_ivar else [])
    out = {"channels": channels, "weight_scale": tdata.weight_scale}
    if tdata.n_scalars:
        out["redshift"] = {"used": True, "mean": tdata.z_mean, "std": tdata.z_std,
                           "note": "redshift is a catalog quantity: this run is not spectra-only"}
    return {**out, **saved}


def _read_resume_meta(run_dir: Path) -> dict:
    """``model_meta.json`` of a run to resume; refused when missing (not a deep-track run)."""
    if not has_model_meta(run_dir):
        raise AgnbenchError(f"{run_dir / files.MODEL_META} is missing: {run_dir} is not a deep-track run that can be "
                            "resumed")
    return read_model_meta(run_dir)


def _resume_target(run_dir: Path, track: str, data: Path | None) -> tuple[Path, Config, Path]:
    """The run to continue, its saved config and its store (checked against ``data`` when given)."""
    if not is_run_dir(run_dir):
        raise AgnbenchError(f"--resume {run_dir}: not a run directory (no config.yaml)")
    meta = _read_resume_meta(run_dir)
    if meta.get("track") != track:
        raise AgnbenchError(f"--resume {run_dir}: that run is a {meta.get('track')} run, not {track}")
    if read_status(run_dir) == COMPLETE:
        raise AgnbenchError(f"--resume {run_dir}: the run is already complete; start a new run instead")
    recorded = read_data_record(run_dir)
    if not recorded:
        raise AgnbenchError(f"{run_dir / files.DATA_RECORD} is missing: {run_dir} is not a deep-track run that can "
                            "be resumed")
    data = Path(data) if data is not None else Path(recorded["store"])
    open_store(data)  # a clear error if it is not a store
    if not check_store(data, recorded["objects_sha256"]):
        raise AgnbenchError(f"--resume {run_dir}: the store {data} is not the one the run started on "
                            f"(objects.parquet sha256 differs from data.json); resume with the original --data")
    return run_dir, load_config(config_path(run_dir)), data
