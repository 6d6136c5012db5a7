"""Column names, dtypes and validators for the data contracts of docs/contracts.md.

:func:`validate_objects` checks a dataset store's ``objects.parquet`` (Contract 1) and
:func:`validate_predictions` a run's ``predictions.parquet`` (Contract 2). Both raise
:class:`~agnbench.errors.SchemaError` with one line that names the file and the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from agnbench.errors import SchemaError

#: Values of the ``split`` column of ``objects.parquet``.
SPLITS: tuple[str, ...] = ("train", "val", "test", "ood", "excluded")
#: Store splits that a training run scores (its predictions file holds these objects).
PREDICTION_SPLITS: tuple[str, ...] = ("val", "test", "ood")
#: ``split`` of objects predicted by ``agnbench predict`` that carry no label (a table without labels,
#: or store objects with label -1 outside ``ood``).
UNLABELLED_SPLIT = "unlabelled"
#: Every value the ``split`` column of a predictions file may take.
PREDICTION_SPLIT_VALUES: tuple[str, ...] = (*PREDICTION_SPLITS, UNLABELLED_SPLIT)
#: Prediction splits whose objects may have ``y_true = -1``.
UNLABELLED_SPLITS: tuple[str, ...] = ("ood", UNLABELLED_SPLIT)
#: MPA-JHU BPT codes (``bpt_class``).
BPT_CODES: Mapping[int, str] = MappingProxyType({
    -1: "unclassifiable",
    1: "star-forming",
    2: "low-S/N star-forming",
    3: "composite",
    4: "AGN",
    5: "low-S/N LINER",
})
#: Required columns of ``objects.parquet``: name -> kind (``str``, ``float`` or ``int``).
OBJECT_COLUMNS: Mapping[str, str] = MappingProxyType({
    "object_id": "str",
    "ra": "float",
    "dec": "float",
    "z": "float",
    "label": "int",
    "label_name": "str",
    "bpt_class": "int",
    "split": "str",
    "spec_row": "int",
    "image_row": "int",
})
#: Object columns that may hold NaN, meaning "unknown" (a user's own table may lack positions or
#: redshifts); the columns themselves are still required.
OBJECT_NULLABLE: frozenset[str] = frozenset({"ra", "dec", "z"})
#: Required columns of ``predictions.parquet`` (plus one ``p_<class>`` column per class).
PREDICTION_COLUMNS: Mapping[str, str] = MappingProxyType({
    "object_id": "str",
    "split": "str",
    "track": "str",
    "model": "str",
    "run_id": "str",
    "seed": "int",
    "y_true": "int",
    "y_pred": "int",
})
FEATURE_PREFIX = "feat_"
QUALITY_PREFIX = "q_"
PROB_PREFIX = "p_"
#: Tolerance on the per-row sum of class probabilities.
PROB_SUM_TOL = 1e-4

_MAX_EXAMPLES = 5


def prob_columns(df: pd.DataFrame) -> list[str]:
    """Return the ``p_<class>`` probability columns of a predictions table, in column order."""
    names = [str(c) for c in df.columns]
    return [c for c in names if c.startswith(PROB_PREFIX) and len(c) > len(PROB_PREFIX)]


def class_names(df: pd.DataFrame) -> list[str]:
    """Return the class names encoded by the ``p_<class>`` columns, in column order."""
    return [c[len(PROB_PREFIX):] for c in prob_columns(df)]


# --------------------------------------------------------------------------- helpers


def _examples(values: object) -> str:
    items = list(dict.fromkeys(pd.Series(values).tolist()))  # unique, order kept
    shown = ", ".join(repr(v) for v in items[:_MAX_EXAMPLES])
    return shown + (f" (+{len(items) - _MAX_EXAMPLES} more)" if len(items) > _MAX_EXAMPLES else "")


def _dtype_kind(series: pd.Series) -> str | None:
    """Classify a column as ``str``, ``float``, ``int``, ``bool`` or None (anything else)."""
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        return "str"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if dtype == object:
        non_null = series.dropna()
        if all(isinstance(v, str) for v in non_null):
            return "str"
    return None


def _check_columns(
    df: pd.DataFrame, spec: Mapping[str, str], *, source: str, fix: str, nullable: frozenset[str] = frozenset()
) -> None:
    """Check presence, dtype kind and absence of missing values (except ``nullable``) for ``spec``."""
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [name for name in spec if name not in df.columns]
    if missing:
        raise SchemaError(
            f"{source}: missing required column(s) {', '.join(repr(m) for m in missing)}; {fix}"
        )
    for name, kind in spec.items():
        column = df[name]
        if isinstance(column, pd.DataFrame):
            raise SchemaError(f"{source}: column {name!r} appears more than once; {fix}")
        actual = _dtype_kind(column)
        if actual != kind:
            raise SchemaError(
                f"{source}: column {name!r} has dtype {column.dtype}, expected {kind}; {fix}"
            )
        n_missing = int(column.isna().sum())
        if n_missing and name not in nullable:
            raise SchemaError(
                f"{source}: column {name!r} has {n_missing} missing (NaN/null) value(s); {fix}"
            )


def _check_duplicates(df: pd.DataFrame, *, source: str, fix: str) -> None:
    dup = df["object_id"][df["object_id"].duplicated(keep=False)]
    if len(dup):
        raise SchemaError(
            f"{source}: column 'object_id' has {dup.nunique()} duplicated value(s), "
            f"e.g. {_examples(dup)}; {fix}"
        )


def _check_allowed(df: pd.DataFrame, column: str, allowed: tuple, *, source: str, fix: str) -> None:
    bad = df[column][~df[column].isin(list(allowed))]
    if len(bad):
        raise SchemaError(
            f"{source}: column {column!r} has value(s) {_examples(bad)} outside "
            f"{{{', '.join(str(a) for a in allowed)}}}; {fix}"
        )


def _check_bijection(df: pd.DataFrame, *, source: str, fix: str) -> None:
    """Each training label (>= 0) must map to exactly one label_name and vice versa."""
    labelled = df.loc[df["label"] >= 0, ["label", "label_name"]]
    for key, other in (("label", "label_name"), ("label_name", "label")):
        counts = labelled.groupby(key, sort=True)[other].nunique()
        bad = counts[counts > 1]
        if len(bad):
            value = bad.index[0]
            value = value.item() if isinstance(value, np.generic) else value
            names = _examples(labelled.loc[labelled[key] == value, other])
            raise SchemaError(
                f"{source}: columns 'label'/'label_name' are inconsistent: {key} {value!r} "
                f"goes with {other} {names}; {fix}"
            )


# --------------------------------------------------------------------------- validators


def validate_objects(df: pd.DataFrame, *, source: str = "objects.parquet") -> None:
    """Check a table against the ``objects.parquet`` contract (docs/contracts.md, Contract 1).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per galaxy with at least the :data:`OBJECT_COLUMNS`.
    source : str, optional
        File name used in error messages.

    Raises
    ------
    SchemaError
        On the first violation: missing column, wrong dtype kind, missing values in a
        required column, duplicated ``object_id``, unknown ``split`` or ``bpt_class``,
        ``spec_row``/``image_row`` < -1, ``label``/``label_name`` not one-to-one (for
        labels >= 0), or a non-numeric ``feat_`` column or one holding +-inf (NaN is allowed).
    """
    fix = "re-run agnbench prep or fix the table"
    _check_columns(df, OBJECT_COLUMNS, source=source, fix=fix, nullable=OBJECT_NULLABLE)
    _check_duplicates(df, source=source, fix=fix)
    _check_allowed(df, "split", SPLITS, source=source, fix=fix)
    _check_allowed(df, "bpt_class", tuple(BPT_CODES), source=source, fix=fix)
    for column in ("spec_row", "image_row"):
        bad = df[column][df[column] < -1]
        if len(bad):
            raise SchemaError(
                f"{source}: column {column!r} has value(s) {_examples(bad)} below -1 "
                f"(use -1 for a missing row); {fix}"
            )
    _check_bijection(df, source=source, fix=fix)
    for column in df.columns:
        name = str(column)
        numeric = _dtype_kind(df[column]) in ("int", "float", "bool")
        if name.startswith(FEATURE_PREFIX) and not numeric:
            raise SchemaError(
                f"{source}: feature column {name!r} has dtype {df[column].dtype}, "
                f"expected numeric; {fix}"
            )
        if name.startswith(FEATURE_PREFIX):
            values = df[column].to_numpy(dtype=np.float64, na_value=np.nan)
            infinite = np.isinf(values)
            if infinite.any():
                raise SchemaError(
                    f"{source}: feature column {name!r} has {int(infinite.sum())} infinite value(s) (object_id "
                    f"{_examples(df['object_id'][infinite])}); features are finite or NaN; {fix}"
                )


def validate_predictions(df: pd.DataFrame, *, source: str = "predictions.parquet") -> None:
    """Check a table against the ``predictions.parquet`` contract (docs/contracts.md, Contract 2).

    Parameters
    ----------
    df : pandas.DataFrame
        Long-form predictions: :data:`PREDICTION_COLUMNS` plus one ``p_<class>`` column per
        class, one row per object in val/test/ood (or ``unlabelled``, written by ``agnbench predict``).
    source : str, optional
        File name used in error messages.

    Raises
    ------
    SchemaError
        On the first violation: missing column, wrong dtype kind, missing values, no
        ``p_`` column, probabilities not finite in [0, 1] or not summing to 1 within
        :data:`PROB_SUM_TOL`, split outside val/test/ood/unlabelled, ``y_pred`` outside
        0..n_classes-1, ``y_true`` outside 0..n_classes-1 (or -1, allowed for ood and
        unlabelled rows only), duplicated ``object_id``, or more than one run_id/track/model/seed value.
    """
    fix = "fix the writer of this file (see docs/contracts.md, Contract 2)"
    _check_columns(df, PREDICTION_COLUMNS, source=source, fix=fix)
    if len(df) == 0:
        raise SchemaError(
            f"{source}: has no rows; predictions need at least one val/test/ood object"
        )
    probs = prob_columns(df)
    if not probs:
        raise SchemaError(
            f"{source}: no probability column; add one '{PROB_PREFIX}<class name>' column per class"
        )
    for column in probs:
        if _dtype_kind(df[column]) not in ("float", "int"):
            raise SchemaError(
                f"{source}: column {column!r} has dtype {df[column].dtype}, expected float; {fix}"
            )
    matrix = df[probs].to_numpy(dtype=np.float64, na_value=np.nan)
    for j, column in enumerate(probs):
        values = matrix[:, j]
        bad = ~np.isfinite(values) | (values < 0) | (values > 1)
        if bad.any():
            raise SchemaError(
                f"{source}: column {column!r} has {int(bad.sum())} value(s) that are not finite in "
                f"[0, 1], e.g. object_id {_examples(df['object_id'][bad])}; {fix}"
            )
    off = np.abs(matrix.sum(axis=1) - 1.0) > PROB_SUM_TOL
    if off.any():
        raise SchemaError(
            f"{source}: columns {', '.join(probs)} do not sum to 1 (within {PROB_SUM_TOL:g}) in "
            f"{int(off.sum())} row(s), e.g. object_id {_examples(df['object_id'][off])}; {fix}"
        )
    _check_allowed(df, "split", PREDICTION_SPLIT_VALUES, source=source, fix=fix)
    n_classes = len(probs)
    bad = df["y_pred"][(df["y_pred"] < 0) | (df["y_pred"] >= n_classes)]
    if len(bad):
        raise SchemaError(
            f"{source}: column 'y_pred' has value(s) {_examples(bad)} outside 0..{n_classes - 1} "
            f"({n_classes} probability columns); {fix}"
        )
    y_true = df["y_true"]
    bad = y_true[(y_true < -1) | (y_true >= n_classes)]
    if len(bad):
        raise SchemaError(
            f"{source}: column 'y_true' has value(s) {_examples(bad)} outside 0..{n_classes - 1} "
            f"(or -1 for ood and unlabelled objects); {fix}"
        )
    unlabelled = df["object_id"][(y_true == -1) & ~df["split"].isin(list(UNLABELLED_SPLITS))]
    if len(unlabelled):
        raise SchemaError(
            f"{source}: column 'y_true' is -1 outside splits 'ood'/'unlabelled', e.g. object_id "
            f"{_examples(unlabelled)}; val/test objects need a label; {fix}"
        )
    _check_duplicates(df, source=source, fix="keep one row per object_id")
    for column in ("run_id", "track", "model", "seed"):
        values = df[column].unique()
        if len(values) > 1:
            raise SchemaError(
                f"{source}: column {column!r} holds {len(values)} different values "
                f"({_examples(values)}); write one predictions file per run"
            )
