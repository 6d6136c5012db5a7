"""The new objects ``agnbench predict`` applies a run to: another dataset store, or a table.

:func:`load_new_data` opens ``--data`` and decides, per object, the ``split`` its prediction gets
(docs/contracts.md, Contract 2):

- a dataset store (Contract 1): labelled ``val`` and ``test`` objects keep their split and label,
  ``ood`` objects stay ``ood`` (label -1), every other object without a label (``excluded``, or a
  store with no labels) becomes ``unlabelled``; the store's ``train`` split is not predicted (it is
  counted as skipped). A labelled store must use the run's classes in the same order;
- a table (CSV, Parquet or FITS; catalog runs only): every row is ``unlabelled``. A feature is
  found by its ``feat_*`` name or by the table column that ``agnbench prep --source table`` turns
  into it (``petroR50_r`` -> ``feat_petror50_r``). To score a labelled table, prep it into a store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.contracts.schema import FEATURE_PREFIX, PREDICTION_SPLITS, UNLABELLED_SPLIT
from agnbench.contracts.store import Store, open_store, store_paths
from agnbench.data_prep.formats.catalog import find_position_columns, read_table
from agnbench.data_prep.formats.table_values import describe_text, finite_features, id_text, numbers_from_text
from agnbench.data_prep.ingest.objects import IDENTIFIER, table_features
from agnbench.errors import AgnbenchError
from agnbench.fileio import sha256_file

log = logging.getLogger(__name__)

__all__ = ["NewData", "load_new_data"]

#: Columns tried, in order, as a table's object id when ``--id-col`` is not given.
ID_GUESSES = ("object_id", "objid", "specobjid", "id")
KIND_STORE, KIND_TABLE = "store", "table"


@dataclass
class NewData:
    """New objects to predict.

    Attributes
    ----------
    kind : {"store", "table"}
    path : Path
    frame : pandas.DataFrame
        One row per object: the store's ``objects.parquet`` (validated), or the table with its feature
        columns also under their ``feat_*`` names.
    object_id : numpy.ndarray of str, shape (n,)
    split : numpy.ndarray of str, shape (n,)
        The prediction split of each row (``val``, ``test``, ``ood``, ``unlabelled``), or ``""`` for rows
        that are not predicted (a store's ``train`` split).
    labels : numpy.ndarray of int, shape (n,)
        Class index, -1 where unlabelled.
    store : Store or None
    fingerprint : dict
        A store's :meth:`~agnbench.contracts.store.Store.fingerprint`, or a table's path and sha256.
    skipped : dict
        Rows not predicted, by reason.
    """

    kind: str
    path: Path
    frame: pd.DataFrame
    object_id: np.ndarray
    split: np.ndarray
    labels: np.ndarray
    store: Store | None
    fingerprint: dict
    skipped: dict = field(default_factory=dict)


def load_new_data(path: str | Path, *, classes: tuple[str, ...], id_col: str | None = None) -> NewData:
    """Open ``--data``: a dataset store (a directory with ``objects.parquet``) or a table file.

    Parameters
    ----------
    path : path
    classes : tuple of str
        The run's classes, in label order (a labelled store must have the same).
    id_col : str, optional
        A table's object id column (default: the first of :data:`ID_GUESSES` present).

    Raises
    ------
    AgnbenchError
        Not a store or a readable table, a store labelled with other classes, a missing or repeated id.
    """
    path = Path(path)
    if path.is_dir():
        if not store_paths(path).objects.exists():
            raise AgnbenchError(f"--data {path}: a directory but not a dataset store (no objects.parquet); give a "
                                "store made by agnbench prep, a table file (CSV, Parquet, FITS), or to agnbench "
                                "predict a directory of Parquet partitions")
        return _from_store(open_store(path), classes)
    return _from_table(path, id_col)


def _from_store(store: Store, classes: tuple[str, ...]) -> NewData:
    objects = store.objects
    labels = objects["label"].to_numpy(np.int64)
    labelled = labels >= 0
    if labelled.any() and tuple(store.classes) != tuple(classes):
        raise AgnbenchError(f"{store.path}: its labels are {', '.join(store.classes)} but the run predicts "
                            f"{', '.join(classes)}; prep the new data with the run's label scheme (labels.scheme)")
    split = objects["split"].to_numpy(str)
    out = np.full(split.shape, "", dtype=object)
    scored = np.isin(split, [s for s in PREDICTION_SPLITS if s != "ood"]) & labelled
    out[scored] = split[scored]
    out[split == "ood"] = "ood"
    out[(split != "ood") & ~labelled] = UNLABELLED_SPLIT
    skipped = {"train_split": int(np.sum(out == ""))}
    if skipped["train_split"]:
        log.info("%s: %d objects of the train split are not predicted (Contract 2 has no train split)", store.path,
                 skipped["train_split"])
    return NewData(kind=KIND_STORE, path=store.path, frame=objects,
                   object_id=id_text(objects["object_id"], column="object_id", source=str(store.path)),
                   split=out.astype(str), labels=np.where(out == "ood", -1, labels), store=store,
                   fingerprint=store.fingerprint(), skipped=skipped)


def _from_table(path: Path, id_col: str | None) -> NewData:
    frame = read_table(path, text_columns=(id_col,) if id_col else ID_GUESSES)
    columns = [str(c) for c in frame.columns]
    if id_col is None:
        lower = {c.lower(): c for c in columns}
        id_col = next((lower[g] for g in ID_GUESSES if g in lower), None)
        if id_col is None:
            raise AgnbenchError(f"{path}: no object id column ({', '.join(ID_GUESSES)}); name it with --id-col "
                                f"(columns: {', '.join(columns[:30])}{' ...' if len(columns) > 30 else ''})")
    elif id_col not in frame.columns:
        raise AgnbenchError(f"{path}: no column {id_col!r} (--id-col); columns: {', '.join(columns[:30])}")
    ids = pd.Series(id_text(frame[id_col], column=id_col, source=str(path)), dtype=object)
    if (ids == "").any():
        raise AgnbenchError(f"{path}: {int((ids == '').sum())} row(s) have no id in column {id_col!r} (e.g. row "
                            f"{int(np.flatnonzero(ids == '')[0]) + 1}); every object to predict needs an id")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise AgnbenchError(f"{path}: column {id_col!r} repeats {dup.nunique()} id(s), e.g. {dup.iloc[0]!r}; "
                            "object ids must be unique")
    # the features prep would make of this table (canonical colours, sizes ... and renamed raw columns);
    # columns already named feat_* are taken as they are and win
    found = find_position_columns(columns, {}, source=str(path))
    frame = _numbers(frame, path, skip={id_col} | {c for c in columns if IDENTIFIER.search(c)})
    z = frame[found["z"]] if found.get("z") is not None else None
    skip = {id_col} | {c for c in found.values() if c is not None} | {c for c in columns if c.startswith(FEATURE_PREFIX)}
    derived = table_features(frame, column_map=None, z=None if z is None else pd.to_numeric(z, errors="coerce").to_numpy(
        np.float64), skip=skip, source=str(path))
    given = {c: frame[c] for c in columns if c.startswith(FEATURE_PREFIX)}
    resolved = pd.concat([derived.drop(columns=[c for c in given if c in derived.columns]),
                          pd.DataFrame(given, index=frame.index)], axis=1)
    resolved, n_inf = finite_features(resolved, source=str(path), names=derived.attrs.get("source_names"))
    n = len(frame)
    fingerprint = {"table": str(path.resolve()), "sha256": sha256_file(path), "n_rows": n, "id_col": id_col}
    if n_inf:
        fingerprint["infinite_features_set_to_nan"] = n_inf
    return NewData(kind=KIND_TABLE, path=path, frame=resolved, object_id=ids.to_numpy(object),
                   split=np.full(n, UNLABELLED_SPLIT), labels=np.full(n, -1, dtype=np.int64), store=None,
                   fingerprint=fingerprint)


def _numbers(frame: pd.DataFrame, path: Path, *, skip: set) -> pd.DataFrame:
    """Numbers stored as text read as numbers, as prep does; a value that is not a number is refused
    (prep the table to quarantine such rows instead)."""
    conv = numbers_from_text(frame, skip=skip, source=str(path))
    if conv.bad:
        col, bad = next(iter(conv.bad.items()))
        raise AgnbenchError(f"{path}: column {col!r} holds numbers and {int(bad.sum())} value(s) that are not: "
                            f"{describe_text(frame[col], bad)}; fix or blank them (or drop the column)")
    return conv.frame
