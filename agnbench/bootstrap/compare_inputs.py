"""Runs to compare: read their predictions (Contract 2), check they are comparable, align shared objects.

Only ``predictions.parquet`` is required, so a user's own model written in that schema plugs in;
``data.json`` (a training run's data fingerprint) is used when present to refuse runs on
different stores or label schemes, and ``status.json`` to refuse unfinished runs.

Transfer mode (``agnbench compare --transfer``, asked for explicitly): prediction sets on different
stores, or made by models trained on different stores (``agnbench predict`` records the training
store as ``data.json`` ``trained_on``), may be compared; objects are matched by ``object_id`` (the
intersection, counts reported; an empty one is refused) and must carry the same labels. The label
scheme and classes must still agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.contracts.predictions import predictions_path, read_predictions
from agnbench.contracts.run_dir import COMPLETE, read_data_record, read_status, seed_free_config_hash
from agnbench.contracts.schema import class_names, prob_columns
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPredictions:
    """One run's predictions and provenance.

    Attributes
    ----------
    path : Path
        Run directory.
    name : str
        Label used in every output table (the run directory's name, made unique).
    track, model : str
    seed : int
    classes : tuple of str
    data : dict
        ``data.json`` (empty for a bare predictions file).
    preds : pandas.DataFrame
        ``predictions.parquet``.
    """

    path: Path
    name: str
    track: str
    model: str
    seed: int
    classes: tuple[str, ...]
    data: dict
    preds: pd.DataFrame

    @property
    def trained_on(self) -> str | None:
        """sha256 of the store the model was trained on (``data.json`` ``trained_on``, else its own store)."""
        return (self.data.get("trained_on") or {}).get("objects_sha256") or self.data.get("objects_sha256")

    @property
    def group(self) -> str:
        """Runs differing only by seed share a group: ``track-model-<config hash>`` (the first 8 hex digits of
        :func:`~agnbench.contracts.run_dir.seed_free_config_hash`); a run without a readable config.yaml is a
        group of its own (``track-model-<run name>``); a model applied to another store by ``agnbench predict``
        gets ``-from-<training store sha256[:8]>`` as well."""
        applied = self.data.get("trained_on")
        suffix = f"-from-{self.trained_on[:8]}" if applied and self.trained_on else ""
        return seed_group(self.path, track=self.track, model=self.model, name=self.name) + suffix


def seed_group(path: Path, *, track: str, model: str, name: str) -> str:
    """The seed group of the run at ``path``: runs with the same group differ by seed alone (see
    :attr:`RunPredictions.group`)."""
    digest = seed_free_config_hash(path)
    return f"{track}-{model}-{digest[:8]}" if digest is not None else f"{track}-{model}-{name}"


@dataclass(frozen=True)
class Aligned:
    """The objects every run scored on one split, in one order.

    Attributes
    ----------
    object_id : numpy.ndarray of str, shape (n,)
    y_true : numpy.ndarray of int, shape (n,)
    proba : dict of str -> numpy.ndarray, shape (n, K)
    y_pred : dict of str -> numpy.ndarray, shape (n,)
    counts : dict
        Objects per run on the split, shared, and dropped per run.
    """

    object_id: np.ndarray
    y_true: np.ndarray
    proba: dict[str, np.ndarray]
    y_pred: dict[str, np.ndarray]
    counts: dict


def load_runs(paths: list[Path], *, transfer: bool = False) -> list[RunPredictions]:
    """Read and check the runs; raise :class:`AgnbenchError` naming the run and what to do.

    ``transfer`` allows runs on different stores or trained on different stores (see the module docstring).
    """
    if len(paths) < 1:
        raise AgnbenchError("give at least one run directory to compare")
    seen: dict[Path, Path] = {}
    for path in map(Path, paths):
        if (first_given := seen.setdefault(path.resolve(), path)) is not path:
            raise AgnbenchError(f"{path}: given twice (also as {first_given}); a run compared with itself has "
                                "differences of exactly 0 and would distort the multiple-testing correction")
    runs, names = [], set()
    for path in map(Path, paths):
        if not predictions_path(path).exists():
            raise AgnbenchError(f"{path}: no predictions.parquet (not a run directory, or the run did not finish)")
        status = read_status(path)
        if status is not None and status != COMPLETE:
            raise AgnbenchError(f"{path}: the run is not complete (status.json: {status}); finish or resume it first")
        preds = read_predictions(predictions_path(path))
        data = read_data_record(path)
        name = path.name
        while name in names:
            name = f"{name}'"
        names.add(name)
        first = preds.iloc[0]
        runs.append(RunPredictions(path=path, name=name, track=str(first["track"]), model=str(first["model"]),
                                   seed=int(first["seed"]), classes=tuple(class_names(preds)), data=data, preds=preds))
    _check_comparable(runs, transfer=transfer)
    return runs


def _check_comparable(runs: list[RunPredictions], *, transfer: bool = False) -> None:
    ref = runs[0]
    for run in runs[1:]:
        if run.classes != ref.classes:
            raise AgnbenchError(f"{run.path} has classes {', '.join(run.classes)} but {ref.path} has "
                                f"{', '.join(ref.classes)}: runs on different label schemes cannot be compared")
        a, b = ref.data.get("label_scheme"), run.data.get("label_scheme")
        if a is not None and b is not None and a != b:
            raise AgnbenchError(f"{run.path} and {ref.path} were made on a different label scheme ({b} vs {a}); "
                                "runs on different label schemes cannot be compared")
        if transfer:
            continue
        for sha_a, sha_b, what in ((ref.data.get("objects_sha256"), run.data.get("objects_sha256"),
                                    "were made on a different store (objects.parquet sha256"),
                                   (ref.trained_on, run.trained_on, "come from models trained on different stores "
                                    "(objects.parquet sha256")):
            if sha_a is not None and sha_b is not None and sha_a != sha_b:
                raise AgnbenchError(f"{run.path} and {ref.path} {what} {sha_b[:12]} vs {sha_a[:12]}); compare runs "
                                    "made on the same dataset store, or pass --transfer to compare them on the "
                                    "objects they share (matched by object_id)")


def align(runs: list[RunPredictions], split: str) -> Aligned:
    """The objects of ``split`` present in every run, sorted by object_id, with counts asserted."""
    per_run = {}
    for run in runs:
        part = run.preds[run.preds["split"] == split]
        if part["object_id"].duplicated().any():
            raise AgnbenchError(f"{run.path}: object_id repeated within split {split}")
        per_run[run.name] = part.set_index("object_id")
    shared = sorted(set.intersection(*(set(p.index) for p in per_run.values())))
    counts = {"split": split, "per_run": {k: int(len(v)) for k, v in per_run.items()}, "shared": len(shared),
              "dropped": {k: int(len(v) - len(shared)) for k, v in per_run.items()}}
    if not shared:
        if all(n == 0 for n in counts["per_run"].values()):
            raise AgnbenchError(f"no run has objects in split {split!r}")
        raise AgnbenchError(f"the runs share no object in split {split!r} ({counts['per_run']}): were they made on "
                            "the same store?")
    ids = np.array(shared, dtype=object)
    y_ref = None
    proba, y_pred = {}, {}
    for run in runs:
        part = per_run[run.name].loc[ids]
        assert len(part) == len(ids), "alignment lost objects"
        y = part["y_true"].to_numpy(np.int64)
        if y_ref is None:
            y_ref = y
        elif not np.array_equal(y, y_ref):
            bad = ids[np.flatnonzero(y != y_ref)[0]]
            raise AgnbenchError(f"{run.path}: y_true of object {bad} differs from {runs[0].path}; the runs disagree "
                                "on labels (different label scheme or store)")
        proba[run.name] = part[prob_columns(part.reset_index())].to_numpy(np.float64)
        y_pred[run.name] = part["y_pred"].to_numpy(np.int64)
    dropped = {k: v for k, v in counts["dropped"].items() if v}
    if dropped:
        log.warning("split %s: %d objects shared by all runs; not in every run (dropped): %s", split, len(ids), dropped)
    return Aligned(object_id=ids.astype(str), y_true=y_ref, proba=proba, y_pred=y_pred, counts=counts)


def train_majority(runs: list[RunPredictions]) -> tuple[int, np.ndarray] | None:
    """The training split's majority class and class frequencies, from the first run's data.json (None if absent)."""
    for run in runs:
        counts = run.data.get("counts", {})
        freq = np.array([counts.get(f"train/{c}", 0) for c in run.classes], dtype=np.float64)
        if freq.sum() > 0:
            return int(freq.argmax()), freq / freq.sum()
    return None
