"""Shards of ``agnbench prep``: run a pure per-item function over shards of items, save each result, resume.

A shard's result (:class:`~agnbench.data_prep.ingest.spectra.SpectraShard` or
:class:`~agnbench.data_prep.ingest.images.ImageShard`) is saved as an ``.npz`` in the work directory
with the shard's object ids, quarantine rows and a stamp: its items (object id, file, redshift,
catalog plate/mjd/fiber) and each input file's size and mtime_ns, taken before the files are read.
On resume a saved shard is reused only when its stamp equals the current one; a shard whose inputs
changed, vanished or were made by an older agnbench (no stamp) is redone, and the log says how many.
The settings are guarded by the plan hash of the work directory (:mod:`.store`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from agnbench.cluster import run_bounded, work_executor

log = logging.getLogger(__name__)


def _shard_call(func: Callable, items: list, kwargs: dict) -> Any:
    return func(items, **kwargs)


def run_shards(kind: str, items: list, func: Callable, kwargs: dict, work: Path, *, shard_size: int, workers: int,
               progress: bool, budget: list[int | None], cluster: tuple[Executor, int] | None = None) -> list[Path]:
    """Run ``func(shard, **kwargs)`` over shards of ``shard_size`` items; return the shard result files in order.

    Shard ``k`` is saved as ``work/<kind>/shard-<k>.npz`` with its object ids, quarantine rows and stamp
    (:func:`_stamp`); a saved shard whose stamp matches is reused, any other is (re)done. Shards run in this
    process (``workers`` <= 1), in ``workers`` local processes, or on ``cluster`` (the executor and its slot
    count from :func:`agnbench.cluster.work_executor`: a Dask cluster); results come back here and are saved by
    this process, so the store is the same bytes wherever the shards ran. ``budget[0]``,
    if not None, counts down the shards still allowed (the testing hook ``stop_after_shards``).
    """
    if not items:
        return []
    size = shard_size
    shards = [items[i : i + size] for i in range(0, len(items), size)]
    paths = [work / kind / f"shard-{k:05d}.npz" for k in range(len(shards))]
    paths[0].parent.mkdir(exist_ok=True)
    stamps = [_stamp(shard) for shard in shards]
    todo = _stale_shards(kind, paths, stamps)
    bar = tqdm(total=len(items), initial=len(items) - sum(len(shards[k]) for k in todo), desc=f"prep {kind}",
               unit="file", disable=not progress, leave=False)
    try:
        if cluster is None and (workers <= 1 or len(todo) <= 1):
            for k in todo:
                _save_shard(paths[k], _shard_call(func, shards[k], kwargs), [it[0] for it in shards[k]], stamps[k],
                            budget)
                bar.update(len(shards[k]))
        elif todo:
            # at most 2 shards per worker in flight, and each result is dropped once saved, so
            # memory stays flat however many shards there are
            def what(j: int) -> str:
                return f"prep {kind} shard {todo[j]} (first file {shards[todo[j]][0][1]})"

            with contextlib.ExitStack() as stack:
                pool, slots = cluster or stack.enter_context(
                    work_executor("", workers=min(workers, len(todo)), key="prep.workers"))
                jobs = [(func, shards[k], kwargs) for k in todo]
                for j, result, error in run_bounded(pool, slots, _shard_call, jobs, what=what):
                    if error is not None:
                        raise error
                    k = todo[j]
                    _save_shard(paths[k], result, [it[0] for it in shards[k]], stamps[k], budget)
                    bar.update(len(shards[k]))
                    del result
    finally:
        bar.close()
    return paths


def _stamp(shard: list[tuple]) -> str:
    """What a shard's result depends on besides the settings: its items and each input file's size and mtime_ns
    (taken before the files are read, so a file changed while being read makes the shard stale)."""
    inputs = []
    for item in shard:
        try:
            st = os.stat(item[1])
            inputs.append([str(item[1]), st.st_size, st.st_mtime_ns])
        except OSError:
            inputs.append([str(item[1]), None, None])
    items = [[str(v) if not isinstance(v, (list, tuple)) else [int(x) for x in v] for v in item] for item in shard]
    return json.dumps({"items": items, "inputs": inputs}, sort_keys=True)


def _stale_shards(kind: str, paths: list[Path], stamps: list[str]) -> list[int]:
    """Indices of the shards to (re)do: not saved yet, or saved from other items or input files."""
    todo, redone, example = [], 0, ""
    for k, (path, stamp) in enumerate(zip(paths, stamps)):
        if not path.exists():
            todo.append(k)
            continue
        try:
            with np.load(path) as npz:
                saved = str(npz["stamp"]) if "stamp" in npz.files else ""
        except (OSError, ValueError, KeyError):
            saved = ""
        if saved != stamp:
            todo.append(k)
            redone += 1
            if not example:
                example = _what_changed(saved, stamp)
    n_done = sum(p.exists() for p in paths)
    if n_done:
        log.info("resuming prep %s: %d of %d finished shards reused, %d redone because their inputs changed since "
                 "they were made%s", kind, n_done - redone, n_done, redone, f" (e.g. {example})" if example else "")
    return todo


def _what_changed(saved: str, stamp: str) -> str:
    """One example of what differs between a saved shard stamp and the current one."""
    if not saved:
        return "the shard records no inputs (made by an older agnbench or unreadable)"
    old = {path: was for path, *was in json.loads(saved)["inputs"]}
    for path, *now in json.loads(stamp)["inputs"]:
        was = old.get(path)
        if was is not None and was != now:
            return f"{path}: " + ("vanished" if now[0] is None else f"size {was[0]} -> {now[0]}, mtime_ns {was[1]} -> "
                                  f"{now[1]}")
    return "its objects, redshifts or files differ (a changed catalog, or a file added or removed)"


def _save_shard(path: Path, result: Any, ids: list[str], stamp: str, budget: list[int | None]) -> None:
    arrays = {k: v for k, v in vars(result).items() if isinstance(v, np.ndarray)}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, quarantine=np.array(json.dumps(result.quarantine)), object_ids=np.array(ids),
             stamp=np.array(stamp), **arrays)
    tmp.replace(path)
    if budget[0] is not None:
        budget[0] -= 1
        if budget[0] <= 0:
            raise KeyboardInterrupt("stopped after the requested number of shards (test hook)")


def load_shard(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Arrays of a shard file (only ``keys`` if given: npz members are read lazily)."""
    with np.load(path) as npz:
        out = {k: npz[k] for k in (keys or npz.files)}
    if "quarantine" in out:
        out["quarantine"] = json.loads(str(out["quarantine"]))
    return out
