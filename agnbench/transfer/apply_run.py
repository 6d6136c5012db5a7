"""``agnbench predict RUN --data STORE_OR_TABLE --out DIR``: apply a finished run to new objects.

Steps (docs/contracts.md, "Applying a run to new data"):

1. check the run (complete, with ``model_meta.json`` and ``calibration.json``) and open the new
   data (:func:`~agnbench.transfer.new_data.load_new_data`: a store keeps its val/test/ood splits,
   objects without a label are ``unlabelled``, a table is all ``unlabelled``);
2. the run's track predicts uncalibrated probabilities with the RUN's preprocessing
   (:func:`agnbench.baselines.apply_catalog.catalog_predictor`,
   :func:`agnbench.deep.apply_deep.deep_predictor`); objects without the track's input are counted
   and skipped;
3. the run's own calibrator and decision rule (``calibration.json``) are applied;
4. optional, each recorded: ``adapt_prior`` re-estimates the class prior by EM
   (:mod:`agnbench.protocol.prior_shift`) on the new store's ``val`` objects, without their labels
   (``unlabelled`` objects only when there is no val split: a store's unlabelled objects are those its
   label scheme left out, another population), and adjusts every posterior; ``rethreshold="val"``
   refits the run's decision rule on the new store's labelled val split. The new test split is
   never used for any choice;
5. ``DIR`` is written atomically (never overwritten): ``predictions.parquet`` (Contract 2,
   ``run_id`` = ``DIR``'s name), ``data.json`` (the new data's fingerprint, with ``trained_on``: the
   run's) and ``predict.json`` (what was applied, counts, metrics on the labelled splits).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np

from agnbench.cluster import CONNECT_TIMEOUT_S, work_executor
from agnbench.config.choices import FUSION_TRACK, RETHRESHOLD_SPLITS
from agnbench.config.core import config_to_dict, load_config
from agnbench.contracts import files
from agnbench.contracts.predictions import prediction_frame, read_predictions, write_predictions
from agnbench.contracts.run_dir import config_path, is_complete, read_data_record, read_model_meta, read_status
from agnbench.contracts.schema import UNLABELLED_SPLIT, class_names
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_directory, atomic_write_json, capture_env, read_json
from agnbench.outputs import claiming
from agnbench.protocol.calibration import Calibrator
from agnbench.protocol.metrics import METRIC_SPLITS, split_metrics
from agnbench.protocol.prior_shift import adjust_posteriors, em_prior_shift, implied_prior
from agnbench.protocol.thresholds import apply_threshold, fit_threshold
from agnbench.seeding import rng
from agnbench.transfer.new_data import KIND_STORE, NewData, load_new_data

log = logging.getLogger(__name__)

__all__ = ["predict"]

#: Prediction splits in the order rows are written (a training run's order, then unlabelled objects).
_ORDER = ("val", "test", "ood", UNLABELLED_SPLIT)
#: Splits whose posteriors (never their labels) the prior EM uses, the first present: never test, never ood.
_PRIOR_SPLITS = ("val", UNLABELLED_SPLIT)
#: Bootstrap resamples for the interval of the estimated prior, and the interval width that earns a warning.
_N_PRIOR_BOOT, _WIDE_INTERVAL = 200, 0.2


@claiming("predictions", inputs=("run", "data"))
def predict(*, run: str | Path, data: str | Path, out: str | Path, adapt_prior: bool = False,
            rethreshold: str | None = None, id_col: str | None = None, progress: bool = True,
            scheduler: str = "", timeout: float = CONNECT_TIMEOUT_S) -> Path:
    """Apply a finished run to the objects of ``data``; write ``out`` and return it.

    Parameters
    ----------
    run : path
        A complete run directory made by ``agnbench train`` (any track).
    data : path
        Another dataset store (Contract 1), or for a catalog run a table (CSV, Parquet, FITS) holding
        the run's features.
    out : path
        The output directory; must not exist.
    adapt_prior : bool
        Re-estimate the class prior on the new objects (EM, Saerens et al. 2002) and adjust the
        posteriors before the decision rule.
    rethreshold : {"val"}, optional
        Refit the run's decision rule on the new store's labelled val split.
    id_col : str, optional
        A table's object id column.
    progress : bool
        Progress bars (deep tracks).
    scheduler : str
        A Dask scheduler address (``tcp://host:port``): a spectra/images run predicts the store in shards of
        8 eval batches on the cluster's workers (:func:`~agnbench.transfer.partitioned.sharded_predictor`);
        everything else is as in one process. ``""``: in this process.
    timeout : float
        Seconds to wait for the scheduler, and for its first worker.

    Raises
    ------
    AgnbenchError
        Unfinished or unknown run, unreadable or incompatible data, missing features, ``rethreshold``
        without a labelled val split, an existing ``out``.
    """
    run, out = Path(run), Path(out)
    if out.exists():
        raise AgnbenchError(f"--out {out} already exists; predictions are never overwritten, choose another --out")
    if rethreshold is not None and rethreshold not in RETHRESHOLD_SPLITS:
        raise AgnbenchError(f"--rethreshold {rethreshold!r}: only 'val' (the new store's val split) may choose a "
                            "threshold; the test split is never used for any choice")
    meta, calibration, run_preds = _read_run(run)
    classes = tuple(class_names(run_preds))
    trained_on = read_data_record(run)
    new = load_new_data(data, classes=classes, id_col=id_col)
    scheme, run_scheme = new.fingerprint.get("label_scheme"), trained_on.get("label_scheme")
    if scheme and run_scheme and scheme != run_scheme:
        log.warning("%s uses label scheme %s but the run was trained on %s: the classes have the same names, "
                    "check that they mean the same", new.path, scheme, run_scheme)
    with contextlib.ExitStack() as stack:
        cluster = None
        if scheduler:
            if meta["track"] == "catalog":
                raise AgnbenchError(f"--scheduler: a catalog run predicts {new.path} in memory; for a table larger "
                                    "than memory give --data a directory of Parquet partitions")
            cluster = stack.enter_context(work_executor(scheduler, workers=1, key="--scheduler", timeout=timeout))
        pos, split, predict_at, no_input = _positions(new, meta, run, progress, cluster=cluster,
                                                      n_classes=len(classes))
        raw = (np.concatenate([predict_at(pos[split == s]) for s in _ORDER]) if pos.size
               else np.zeros((0, len(classes))))
    order = np.concatenate([np.flatnonzero(split == s) for s in _ORDER])
    pos, split = pos[order], split[order]
    labels = new.labels[pos]
    calibrator = Calibrator.from_dict(calibration["calibrator"])
    proba = calibrator.transform(raw)
    applied: dict = {"calibrator": calibrator.method, "threshold": calibration["threshold"]}
    if adapt_prior:
        proba, applied["prior_shift"] = _adapt_prior(proba, split, labels, run_preds, classes,
                                                     seed=int(run_preds["seed"].iloc[0]))
    rule = calibration["threshold"]
    if rethreshold is not None:
        rule, applied["rethreshold"] = _rethreshold(proba, split, labels, rule, classes)
    first = run_preds.iloc[0]
    preds = prediction_frame(object_id=new.object_id[pos], split=split, y_true=labels, proba=proba,
                             y_pred=apply_threshold(proba, rule), classes=classes, track=str(first["track"]),
                             model=str(first["model"]), run_id=out.name, seed=int(first["seed"]))
    record = _record(run, new, meta, applied, preds, classes, trained_on, no_input,
                     adapt_prior=adapt_prior, rethreshold=rethreshold)
    with atomic_directory(out, kind="predictions", inputs=[run, data]) as tmp:
        write_predictions(tmp, preds)
        atomic_write_json(tmp / files.DATA_RECORD, {**new.fingerprint, "trained_on": trained_on})
        atomic_write_json(tmp / files.PREDICT_RECORD, record)
    log.info("predicted %d objects of %s with %s (%s)", len(preds), new.path, run.name,
             ", ".join(f"{k} {v}" for k, v in record["counts"]["predicted"].items()))
    return out


def _read_run(run: Path):
    """The run's model metadata, calibration and predictions; refuse unfinished or foreign runs."""
    if not run.is_dir():
        raise AgnbenchError(f"{run}: not a run directory")
    if not is_complete(run):
        raise AgnbenchError(f"{run}: the run is not complete (status.json: {read_status(run)}); finish or resume it")
    meta = read_model_meta(run)
    if meta["track"] == FUSION_TRACK:
        raise AgnbenchError(f"{run}: a fusion run is not applied to new data (its stacker was fitted on its members' "
                            "val predictions); apply each member with agnbench predict instead")
    cal_path = run / files.CALIBRATION
    if not cal_path.exists():
        raise AgnbenchError(f"{cal_path} not found: the run has no saved calibration and decision rule")
    try:
        run_preds = read_predictions(run)
    except FileNotFoundError:
        raise AgnbenchError(f"{run}: no predictions.parquet; the run did not finish") from None
    return meta, read_json(cal_path, fix="re-train the run"), run_preds


def _positions(new: NewData, meta: dict, run: Path, progress: bool, *, cluster: tuple | None = None,
               n_classes: int = 2):
    """Rows to predict, their split, the track's ``predict(positions)`` and the count without the track's input."""
    track = meta["track"]
    pos = np.flatnonzero(new.split != "")
    if track == "catalog":
        from agnbench.baselines.apply_catalog import catalog_predictor

        predictor = catalog_predictor(run)
        frame = new.frame
        predictor.predict(frame.iloc[:0])  # every feature present, or one error naming the missing ones
        return pos, new.split[pos], lambda p: predictor.predict(frame.iloc[p]), 0
    if track not in ("spectra", "images"):
        raise AgnbenchError(f"{run}: unknown track {track!r} in model_meta.json")
    if new.kind != KIND_STORE:
        raise AgnbenchError(f"--data {new.path}: a {track} run needs a dataset store with {track} (agnbench prep), "
                            "not a table")
    from agnbench.deep.apply_deep import deep_predictor

    predictor = deep_predictor(run, new.store, progress=progress)
    keep = predictor.usable[pos]
    no_input = int((~keep).sum())
    if no_input:
        log.warning("%s: %d of %d objects have no %s; they are skipped", new.path, no_input, pos.size, track)
    if not keep.any():
        raise AgnbenchError(f"{new.path}: no object to predict has {track}; see the store's quarantine.csv")
    pos = pos[keep]
    if cluster is None:
        return pos, new.split[pos], predictor.predict, no_input
    from agnbench.transfer.partitioned import sharded_predictor

    shard = 8 * getattr(load_config(config_path(run)), track).eval_batch_size
    return pos, new.split[pos], sharded_predictor(run, new.path, cluster, shard=shard, n_classes=n_classes), no_input


def _train_prior(run_preds, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The prior the run's calibrated posteriors encode, and the class fractions, on its own val split.

    The run's val split is its calibration set (labels known); the encoded prior differs from the class
    fractions when the model was trained with class weights or calibrated by temperature
    (:func:`~agnbench.protocol.prior_shift.implied_prior`).
    """
    val = run_preds[(run_preds["split"] == "val") & (run_preds["y_true"] >= 0)]
    y = val["y_true"].to_numpy(np.int64)
    counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
    if (counts == 0).any():
        raise AgnbenchError("--adapt-prior needs every class in the run's val split (its calibration set)")
    return implied_prior(val[[f"p_{c}" for c in classes]].to_numpy(np.float64), y), counts / counts.sum()


def _adapt_prior(proba, split, labels, run_preds, classes, *, seed: int):
    """EM prior on the new val posteriors (labels unused), or the unlabelled ones without a val split."""
    fitted_on = next((s for s in _PRIOR_SPLITS if np.any(split == s)), None)
    use = split == fitted_on
    if fitted_on is None:
        raise AgnbenchError("--adapt-prior needs new objects in a val split or unlabelled ones to estimate the prior "
                            "from; the test split is never used for any choice")
    train, fractions = _train_prior(run_preds, classes)
    est = em_prior_shift(proba[use], train)
    if not est.converged:
        log.warning("prior EM did not converge in %d iterations", est.n_iter)
    lo, hi = _prior_interval(proba[use], train, seed=seed)
    if np.max(hi - lo) > _WIDE_INTERVAL:
        log.warning("the estimated prior is poorly determined (bootstrap 95%% intervals: %s): the posteriors carry "
                    "little information about the class mix; treat the adjusted decisions with care",
                    ", ".join(f"{c} {a:.3f}-{b:.3f}" for c, a, b in zip(classes, lo, hi)))
    record = {**est.as_dict(classes), "fitted_on": {fitted_on: int(use.sum())},
              "bootstrap_95": {c: [float(a), float(b)] for c, a, b in zip(classes, lo, hi)},
              "n_bootstrap": _N_PRIOR_BOOT,
              "train_prior_from": "implied by the run's calibrated val posteriors and labels (its calibration set)",
              "run_val_label_fractions": dict(zip(classes, map(float, fractions)))}
    val_labels = labels[(split == "val") & (labels >= 0)]
    if val_labels.size:
        freq = np.bincount(val_labels, minlength=len(classes)) / val_labels.size
        record["new_val_label_fractions"] = dict(zip(classes, map(float, freq)))
    log.info("prior shift: %s -> %s", np.round(train, 3).tolist(), np.round(est.prior, 3).tolist())
    return adjust_posteriors(proba, train, est.prior), record


def _prior_interval(proba: np.ndarray, train: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Percentile 95 % interval of the EM prior over bootstrap resamples of the objects it was fitted on."""
    gen = rng(seed, "predict", "prior-bootstrap")
    n = proba.shape[0]
    draws = np.array([em_prior_shift(proba[gen.integers(0, n, n)], train, tol=1e-6, max_iter=2_000).prior
                      for _ in range(_N_PRIOR_BOOT)])
    return np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)


def _rethreshold(proba, split, labels, rule: dict, classes):
    """Refit the run's decision rule on the new labelled val split."""
    val = (split == "val") & (labels >= 0)
    if np.unique(labels[val]).size < 2:
        raise AgnbenchError("--rethreshold val needs a labelled val split with at least two classes in the new data "
                            "(a store made by agnbench prep)")
    new_rule = fit_threshold(proba[val], labels[val], rule=rule["rule"],
                             target_precision=float(rule.get("target_precision", 0.9)),
                             positive=int(rule.get("positive", 1)))
    if rule["rule"] == "argmax":
        log.info("--rethreshold val: the run's rule is argmax, which has no threshold to refit")
    return new_rule, {"split": "val", "n": int(val.sum()), "rule": new_rule, "run_rule": rule}


def _record(run: Path, new: NewData, meta: dict, applied: dict, preds, classes, trained_on: dict, no_input: int, *,
            adapt_prior: bool, rethreshold: str | None) -> dict:
    """``predict.json``: the source run, the new data, what was applied, counts and metrics."""
    counts = trained_on.get("counts", {})
    freq = np.array([counts.get(f"train/{c}", 0) for c in classes], dtype=np.int64)
    majority = int(freq.argmax())  # the training split's majority class (ties: the lowest), as in metrics.json
    metrics: dict = {}
    for s in METRIC_SPLITS:
        part = preds[(preds["split"] == s) & (preds["y_true"] >= 0)]
        if len(part):
            metrics[s] = split_metrics(part["y_true"].to_numpy(), part[[f"p_{c}" for c in classes]].to_numpy(),
                                       part["y_pred"].to_numpy(), majority_class=majority)
    for s in ("ood", UNLABELLED_SPLIT):
        part = preds[preds["split"] == s]
        if len(part):
            metrics[s] = {"n": int(len(part)), "fraction_predicted": {
                c: float(np.mean(part["y_pred"] == k)) for k, c in enumerate(classes)}}
    cfg = load_config(config_path(run))
    return {
        "source_run": {"path": str(run.resolve()), "run_id": run.name, "track": meta["track"], "model": meta["model"],
                       "seed": int(preds["seed"].iloc[0]), "store": trained_on},
        "data": {"kind": new.kind, "path": str(Path(new.path).resolve()), "fingerprint": new.fingerprint},
        "options": {"adapt_prior": adapt_prior, "rethreshold": rethreshold},
        "config": {"seed": cfg.seed, meta["track"]: config_to_dict(getattr(cfg, meta["track"]))},
        "applied": applied,
        "counts": {"predicted": {s: int(n) for s, n in preds["split"].value_counts().sort_index().items()},
                   "skipped": {**new.skipped, f"no_{meta['track']}_input": int(no_input)}},
        "metrics": metrics,
        "majority_class": classes[majority] if freq.sum() else None,
        "env": {k: v for k, v in capture_env().items() if k in ("agnbench", "git", "timestamp_utc")},
    }
