"""``agnbench predict RUN --data PARTS/ --out DIR``: a catalog run over a table larger than memory, by partition.

``PARTS/`` is a directory of Parquet files (a partitioned dataset as Dask, Spark or pyarrow write it: every
``*.parquet`` below it, in natural order, names starting with ``.`` or ``_`` skipped). Each partition is one
unit of work (:func:`predict_partition`): read, the run's features resolved as for a table
(:func:`~agnbench.transfer.new_data.load_new_data`), the run's model, calibrator and decision rule applied,
the Contract 2 rows returned. Units run in local processes or on a Dask cluster (``--scheduler ADDRESS``,
:mod:`agnbench.cluster`); only one partition per worker slot (two in flight) is in memory at a time, here and
on the workers.

Nothing half-written looks complete: each finished part is written atomically into the work directory
``.<DIR>.partial/`` (with a sidecar recording its input's size and mtime, so running the same command again
redoes only missing or changed partitions); a partition that fails is reported (``failed.csv`` there, and one
error line naming the first), and ``DIR`` is not written. When every part is done, ``DIR`` appears in one
rename: ``predictions/part-00000.parquet`` ... (one per input partition, in order; concatenated they are the
in-memory prediction of the concatenated table), ``predictions/_SUCCESS``, ``data.json`` and ``predict.json``
(with ``parts``: every part's input, rows and sha256). Prior adaptation and re-thresholding need all posteriors
at once and are not offered here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from agnbench.cluster import CONNECT_TIMEOUT_S, run_bounded, work_executor
from agnbench.config.core import config_to_dict, load_config
from agnbench.contracts import files
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import config_path, read_data_record
from agnbench.contracts.schema import UNLABELLED_SPLIT, class_names
from agnbench.contracts.store import store_paths
from agnbench.errors import AgnbenchError
from agnbench.fileio import (atomic_directory, atomic_write_json, atomic_write_parquet, atomic_write_text, capture_env,
                             default_workers, read_json, sha256_file)
from agnbench.outputs import claiming
from agnbench.protocol.calibration import Calibrator
from agnbench.protocol.thresholds import apply_threshold
from agnbench.transfer.apply_run import _read_run
from agnbench.transfer.new_data import load_new_data

log = logging.getLogger(__name__)

__all__ = ["find_partitions", "predict_partition", "predict_partitioned", "predict_store_chunk"]

#: The work directory's list of failed partitions (partition, error).
FAILED = "failed.csv"


def find_partitions(path: str | Path) -> list[Path]:
    """The Parquet partitions of a directory: every ``*.parquet`` below it in natural order (``part.2`` before
    ``part.10``), skipping names that start with ``.`` or ``_`` (markers, metadata, hidden files) as Dask,
    Spark and pyarrow do. Empty for anything else, and for a dataset store (which holds ``objects.parquet``)."""
    path = Path(path)
    if not path.is_dir() or store_paths(path).objects.exists():
        return []

    def natural(p: Path) -> list:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.relative_to(path).as_posix())]

    found = [p for p in path.rglob("*.parquet")
             if p.is_file() and not any(s.startswith((".", "_")) for s in p.relative_to(path).parts)]
    return sorted(found, key=natural)


@functools.lru_cache(maxsize=2)
def _loaded_run(run: str, plan: str):
    """The run's predictor, calibrator and rule, loaded once per worker process (``plan`` keys the cache)."""
    from agnbench.baselines.apply_catalog import catalog_predictor

    calibration = read_json(Path(run) / files.CALIBRATION, fix="re-train the run")
    return catalog_predictor(run), Calibrator.from_dict(calibration["calibrator"]), calibration["threshold"]


def predict_partition(run: str, plan: str, path: str, *, id_col: str | None, run_id: str, classes: tuple[str, ...],
                      track: str, model: str, seed: int) -> tuple[pd.DataFrame, dict]:
    """Predict one partition with a catalog run: its Contract 2 rows (split ``unlabelled``) and a summary.

    Parameters
    ----------
    run : str
        The run directory; ``plan`` identifies its model and calibration (a cache key).
    path : str
        One Parquet partition holding the run's features (by ``feat_*`` name or prep's input name) and an id.
    id_col, run_id, classes, track, model, seed
        The id column (None: guessed), and the prediction table's constant columns.

    Returns
    -------
    frame : pandas.DataFrame
        Contract 2 rows in the partition's row order.
    info : dict
        ``input``, ``input_sha256``, ``n_rows``, ``id_col`` and ``predicted`` (rows per predicted class).
    """
    predictor, calibrator, rule = _loaded_run(run, plan)
    new = load_new_data(path, classes=classes, id_col=id_col)
    n = len(new.object_id)
    proba = calibrator.transform(predictor.predict(new.frame)) if n else np.zeros((0, len(classes)))
    y_pred = apply_threshold(proba, rule) if n else np.zeros(0, dtype=np.int64)
    frame = prediction_frame(object_id=new.object_id, split=np.full(n, UNLABELLED_SPLIT), y_true=np.full(n, -1),
                             proba=proba, y_pred=y_pred, classes=classes, track=track, model=model, run_id=run_id,
                             seed=seed)
    counts = np.bincount(y_pred, minlength=len(classes)) if n else np.zeros(len(classes), dtype=np.int64)
    return frame, {"input": path, "input_sha256": new.fingerprint["sha256"], "n_rows": n,
                   "id_col": new.fingerprint["id_col"], "predicted": [int(c) for c in counts]}


@functools.lru_cache(maxsize=2)
def _deep_loaded(run: str, store: str):
    """A deep run loaded for ``store``, once per worker process."""
    from agnbench.contracts.store import open_store
    from agnbench.deep.apply_deep import deep_predictor

    return deep_predictor(run, open_store(store))


def predict_store_chunk(run: str, store: str, positions: np.ndarray) -> np.ndarray:
    """Uncalibrated probabilities, shape (n, K), of a spectra/images run for the objects at ``positions`` of
    ``store`` (one shard of a store, on a worker; calibration and the rule are applied by the caller)."""
    return _deep_loaded(run, store).predict(positions)


def sharded_predictor(run: Path, store: Path, cluster: tuple, *, shard: int, n_classes: int):
    """``predict(positions) -> (n, K)``: :func:`predict_store_chunk` over shards of ``shard`` positions on
    ``cluster`` (executor, slots), the results in the order of ``positions``. With ``shard`` a multiple of the
    run's eval batch size, every batch holds the same objects as in one process."""
    run_s, store_s = str(Path(run).resolve()), str(Path(store).resolve())

    def predict(positions: np.ndarray) -> np.ndarray:
        chunks = [positions[i : i + shard] for i in range(0, positions.size, shard)]
        out: list = [None] * len(chunks)

        def what(j: int) -> str:
            return f"{store}: objects at positions {chunks[j][0]}-{chunks[j][-1]}"

        for j, result, error in run_bounded(*cluster, predict_store_chunk, [(run_s, store_s, c) for c in chunks],
                                            what=what):
            if error is not None:
                raise error
            out[j] = result
        return np.concatenate(out) if out else np.zeros((0, n_classes))

    return predict


@claiming("predictions", inputs=("run", "data"))
def predict_partitioned(*, run: str | Path, data: str | Path, out: str | Path, id_col: str | None = None,
                        scheduler: str = "", workers: int = 0, timeout: float = CONNECT_TIMEOUT_S,
                        progress: bool = True) -> Path:
    """Apply a finished catalog run to every partition of ``data``; write ``out`` (see module docstring).

    Parameters
    ----------
    run : path
        A complete catalog run directory.
    data : path
        A directory of Parquet partitions (:func:`find_partitions`).
    out : path
        The output directory; must not exist.
    id_col : str, optional
        The partitions' object id column (default: object_id, objid, specobjid or id).
    scheduler : str
        A Dask scheduler address (``tcp://host:port``); ``""`` runs ``workers`` local processes (0: all cores).
    timeout : float
        Seconds to wait for the scheduler, and for its first worker.
    progress : bool

    Raises
    ------
    AgnbenchError
        An existing ``out``, an unfinished or non-catalog run, no partitions, a scheduler that does not answer,
        failed partitions (listed; ``out`` not written), object ids repeated across partitions.
    """
    run, data, out = Path(run), Path(data), Path(out)
    if out.exists():
        raise AgnbenchError(f"--out {out} already exists; predictions are never overwritten, choose another --out")
    meta, calibration, run_preds = _read_run(run)
    if meta["track"] != "catalog":
        raise AgnbenchError(f"--data {data}: Parquet partitions are predicted by a catalog run, and {run} is a "
                            f"{meta['track']} run; give it a dataset store (agnbench prep) instead")
    parts = find_partitions(data)
    if not parts:
        raise AgnbenchError(f"--data {data}: no Parquet partitions (*.parquet files) in this directory")
    classes, first = tuple(class_names(run_preds)), run_preds.iloc[0]
    with work_executor(scheduler, workers=min(default_workers(workers), len(parts)), key="--scheduler",
                       timeout=timeout, start_method="spawn") as cluster:
        return _predict(run, data, out, parts, cluster, meta, calibration, classes, first, id_col=id_col,
                        scheduler=scheduler, workers=workers, progress=progress)


def _predict(run: Path, data: Path, out: Path, parts: list[Path], cluster: tuple, meta: dict, calibration: dict,
             classes: tuple[str, ...], first: pd.Series, *, id_col: str | None, scheduler: str, workers: int,
             progress: bool) -> Path:
    work = out.parent / f".{out.name}.partial"
    plan = _plan(run, id_col)
    _prepare_work_dir(work, plan)
    keys = [hashlib.sha256(p.relative_to(data).as_posix().encode()).hexdigest()[:20] for p in parts]
    stamps = [_input_stamp(p) for p in parts]
    todo = [k for k in range(len(parts)) if _saved_stamp(work, keys[k]) != stamps[k]]
    if len(todo) < len(parts):
        log.info("resuming from %s: %d of %d partitions already predicted", work, len(parts) - len(todo), len(parts))
    options = {"id_col": id_col, "run_id": out.name, "classes": classes, "track": str(first["track"]),
               "model": str(first["model"]), "seed": int(first["seed"])}
    failed = _run_partitions(run, plan, parts, todo, keys, stamps, work, options, cluster=cluster, progress=progress)
    if failed:
        atomic_write_text(work / FAILED, pd.DataFrame(failed, columns=["partition", "error"]).to_csv(index=False))
        raise AgnbenchError(
            f"{len(failed)} of {len(parts)} partitions failed, e.g. {failed[0][0]}: {failed[0][1]}; {out} was not "
            f"written. The {len(parts) - len(failed)} finished parts are kept in {work} (every failure: "
            f"{work / FAILED}): fix or remove the failed files and run the same command again")
    infos = [read_json(work / f"{key}.json") for key in keys]
    _check_unique_ids(work, keys, parts, data)
    record = _record(run, data, meta, calibration, classes, infos, seed=options["seed"], scheduler=scheduler,
                     workers=workers)
    fingerprint = {"partitions": str(data.resolve()), "n_parts": len(parts), "n_rows": record["counts"]["predicted"]
                   .get(UNLABELLED_SPLIT, 0), "sha256": hashlib.sha256("".join(i["input_sha256"] for i in infos)
                                                                     .encode()).hexdigest()}
    with atomic_directory(out, kind="predictions", inputs=[run, data]) as tmp:
        folder = tmp / files.PREDICTION_PARTS_DIR
        folder.mkdir()
        for k, (key, info) in enumerate(zip(keys, infos)):
            dest = folder / files.PREDICTION_PART.format(k)
            _link_or_copy(work / f"{key}.parquet", dest)
            record["parts"].append({"file": f"{files.PREDICTION_PARTS_DIR}/{dest.name}", "input": info["input"],
                                    "input_sha256": info["input_sha256"], "n_rows": info["n_rows"],
                                    "sha256": info["sha256"]})
        atomic_write_text(folder / files.PARTS_COMPLETE, "")
        atomic_write_json(tmp / files.DATA_RECORD, {**fingerprint, "trained_on": read_data_record(run)})
        atomic_write_json(tmp / files.PREDICT_RECORD, record)
    shutil.rmtree(work, ignore_errors=True)
    log.info("predicted %d objects in %d partitions of %s with %s", fingerprint["n_rows"], len(parts), data, run.name)
    return out


def _run_partitions(run: Path, plan: str, parts: list[Path], todo: list[int], keys: list[str], stamps: list[str],
                    work: Path, options: dict, *, cluster: tuple, progress: bool) -> list[tuple[str, str]]:
    """Predict the ``todo`` partitions, saving each part and its sidecar atomically; return the failures."""
    failed: list[tuple[str, str]] = []
    if not todo:
        return failed
    jobs = [(str(run.resolve()), plan, str(parts[k])) for k in todo]
    call = functools.partial(predict_partition, **options)
    bar = tqdm(total=len(todo), desc="predict partitions", unit="part", disable=not progress, leave=False)
    try:
        for j, result, error in run_bounded(*cluster, call, jobs, what=lambda j: f"partition {jobs[j][2]}"):
            k = todo[j]
            if error is not None:
                why = str(error) if isinstance(error, AgnbenchError) else f"{type(error).__name__}: {error}"
                log.warning("partition %s failed: %s", parts[k], why)
                failed.append((str(parts[k]), why))
                continue
            frame, info = result
            part = atomic_write_parquet(work / f"{keys[k]}.parquet", frame)
            atomic_write_json(work / f"{keys[k]}.json", {**info, "stamp": stamps[k], "sha256": sha256_file(part)})
            bar.update()
            del result, frame
    finally:
        bar.close()
    return failed


def _plan(run: Path, id_col: str | None) -> str:
    """What every part depends on besides its input: the run (model metadata, calibration) and the id column."""
    h = hashlib.sha256()
    for name in (files.MODEL_META, files.CALIBRATION):
        h.update((run / name).read_bytes())
    h.update(json.dumps({"run": str(run.resolve()), "id_col": id_col}).encode())
    return h.hexdigest()


def _prepare_work_dir(work: Path, plan: str) -> None:
    stamp = work / "plan.txt"
    if work.exists() and (not stamp.exists() or stamp.read_text() != plan):
        log.info("discarding %s: it was made with another run or id column", work)
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stamp, plan)


def _input_stamp(path: Path) -> str:
    st = path.stat()
    return json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns])


def _saved_stamp(work: Path, key: str) -> str | None:
    """The input stamp of a finished part in ``work`` (None if the part or its sidecar is missing or unreadable)."""
    if not (work / f"{key}.parquet").exists():
        return None
    try:
        return json.loads((work / f"{key}.json").read_text())["stamp"]
    except (OSError, ValueError, KeyError):
        return None


def _check_unique_ids(work: Path, keys: list[str], parts: list[Path], data: Path) -> None:
    """Object ids must be unique across partitions (within one, :func:`load_new_data` checks)."""
    ids = pd.concat([pd.read_parquet(work / f"{key}.parquet", columns=["object_id"]).assign(part=k)
                     for k, key in enumerate(keys)], ignore_index=True)
    dup = ids[ids["object_id"].duplicated(keep=False)]
    if len(dup):
        oid = dup["object_id"].iloc[0]
        where = sorted({parts[k].name for k in dup.loc[dup["object_id"] == oid, "part"]})
        raise AgnbenchError(f"--data {data}: {dup['object_id'].nunique()} object id(s) appear in more than one "
                            f"partition, e.g. {oid!r} in {', '.join(where)}; object ids must be unique")


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _record(run: Path, data: Path, meta: dict, calibration: dict, classes: tuple[str, ...], infos: list[dict], *,
            seed: int, scheduler: str, workers: int) -> dict:
    """``predict.json`` of a partitioned prediction (``parts`` is filled in by the caller)."""
    trained_on = read_data_record(run)
    counts = np.sum([i["predicted"] for i in infos], axis=0) if infos else np.zeros(len(classes))
    n = int(sum(i["n_rows"] for i in infos))
    train = np.array([trained_on.get("counts", {}).get(f"train/{c}", 0) for c in classes])
    cfg = load_config(config_path(run))
    return {
        "source_run": {"path": str(run.resolve()), "run_id": run.name, "track": meta["track"], "model": meta["model"],
                       "seed": seed, "store": trained_on},
        "data": {"kind": "partitions", "path": str(data.resolve()), "n_parts": len(infos)},
        "options": {"adapt_prior": False, "rethreshold": None},
        "execution": {"scheduler": scheduler or "local processes", "workers": None if scheduler else workers},
        "config": {"seed": cfg.seed, meta["track"]: config_to_dict(getattr(cfg, meta["track"]))},
        "applied": {"calibrator": Calibrator.from_dict(calibration["calibrator"]).method,
                    "threshold": calibration["threshold"]},
        "counts": {"predicted": {UNLABELLED_SPLIT: n} if n else {}, "skipped": {}},
        "metrics": {UNLABELLED_SPLIT: {"n": n, "fraction_predicted": {
            c: float(counts[k] / n) if n else 0.0 for k, c in enumerate(classes)}}} if n else {},
        "majority_class": classes[int(train.argmax())] if train.sum() else None,
        "parts": [],
        "env": {k: v for k, v in capture_env().items() if k in ("agnbench", "git", "timestamp_utc")},
    }
