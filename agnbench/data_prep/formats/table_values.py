"""Values of a catalog or user table read safely: ids as their full text, numbers that are really numbers.

Three rules, shared by ``prep --source table``, the MPA-JHU path and ``agnbench predict``:

- **ids** (:func:`id_text`) keep their full text whatever the column's dtype (pandas ``str``,
  ``object``, bytes from FITS, integers, nullable integers). Integral floating-point ids are written
  without ``.0``; floating-point ids above 2**53 have lost digits in the file and are refused.
  Missing ids (empty, NaN, None) come back as ``""`` for the caller to quarantine.
- **numbers stored as text** (:func:`numbers_from_text`): a text column whose non-empty values are at
  least half numbers is converted; its non-empty values that are not numbers are reported per row
  (the caller quarantines those rows, naming the value). A column with fewer numbers stays text and
  cannot be a numeric input (the caller refuses it where one is needed, :func:`describe_text`).
- **non-finite features** (:func:`finite_features`): ``inf`` / ``-inf`` become NaN (a missing
  measurement, which the models handle), counted per column for the manifest and a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

#: Text read as a missing value (besides the empty string), case-insensitive: pandas' CSV defaults.
MISSING_TEXT = frozenset({"nan", "-nan", "na", "n/a", "nat", "null", "none", "<na>", "#n/a", "#na", "--"})
_EXACT_FLOAT_INT = 2**53


def _scalar_text(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)) and np.isnan(value):
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


def id_text(values: pd.Series, *, column: str, source: str) -> np.ndarray:
    """Every id of a column as its full text (``""`` where missing).

    Parameters
    ----------
    values : Series, shape (n,)
    column, source : str
        For messages.

    Returns
    -------
    numpy.ndarray of object (Python str), shape (n,)

    Raises
    ------
    AgnbenchError
        Floating-point ids beyond 2**53 (their last digits are lost in the file).
    """
    if pd.api.types.is_float_dtype(values.dtype):
        v = values.to_numpy(np.float64, na_value=np.nan)
        finite = np.isfinite(v)
        big = finite & (np.abs(np.where(finite, v, 0.0)) > _EXACT_FLOAT_INT)
        if big.any():
            raise AgnbenchError(
                f"{source}: id column {column!r} is stored as floating point and holds {int(big.sum())} value(s) "
                f"above 2**53 (e.g. {v[big][0]:.17g}) whose last digits are lost; store the ids as integers or text")
        return np.array(["" if not f else (str(int(x)) if float(x).is_integer() else repr(float(x)))
                         for x, f in zip(v, finite)], dtype=object)
    return np.array([_scalar_text(v) for v in values.astype(object)], dtype=object)


def _parse(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values, empty mask, not-a-number mask) of a column of any dtype."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        v = values.astype(np.float64).to_numpy(np.float64, na_value=np.nan) if len(values) else np.zeros(0)
        return v, np.isnan(v), np.zeros(len(v), dtype=bool)
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)  # parse each distinct value once
    text = pd.Series([_scalar_text(v) for v in uniques], dtype=object)
    blank = ((text == "") | text.str.lower().isin(MISSING_TEXT)).to_numpy()
    parsed = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    missing = codes < 0
    safe = np.where(missing, 0, codes)
    empty = missing | (blank[safe] if len(uniques) else missing)
    num = np.where(empty, np.nan, parsed[safe] if len(uniques) else np.nan)
    return num, empty, ~empty & np.isnan(num)


def describe_text(values: pd.Series, mask: np.ndarray | None = None, *, n: int = 3) -> str:
    """Up to ``n`` examples ``'abc' (row 5)`` of a column's values (rows counted from 1 in the file)."""
    idx = np.flatnonzero(np.ones(len(values), dtype=bool) if mask is None else mask)[:n]
    return ", ".join(f"{_scalar_text(values.iloc[i])!r} (row {i + 1})" for i in idx)


@dataclass
class TextNumbers:
    """The result of :func:`numbers_from_text`.

    Attributes
    ----------
    frame : DataFrame
        The table with its numbers-stored-as-text columns converted to float64 (NaN where empty or bad).
    bad : dict
        Column -> bool mask, shape (n,), of rows whose non-empty value is not a number (converted columns).
    examples : dict
        Column -> the raw text of each bad row (same order as ``np.flatnonzero(bad[column])``).
    text : list of str
        Text columns left as text (fewer than half of their non-empty values are numbers).
    """

    frame: pd.DataFrame
    bad: dict[str, np.ndarray] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)


def numbers_from_text(frame: pd.DataFrame, *, skip: set, source: str) -> TextNumbers:
    """Convert the columns of ``frame`` that are numbers stored as text (module docstring).

    Parameters
    ----------
    frame : DataFrame
    skip : set
        Columns never converted (ids, labels, identifiers).
    source : str
        The file, for messages.
    """
    out = TextNumbers(frame=frame)
    converted: dict[str, np.ndarray] = {}
    for col in frame.columns:
        series = frame[col]
        if col in skip or pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            continue
        num, empty, bad = _parse(series)
        n_values = int((~empty).sum())
        n_numbers = n_values - int(bad.sum())
        if n_values == 0 or 2 * n_numbers < n_values:
            out.text.append(col)
            continue
        converted[col] = num
        if bad.any():
            out.bad[col] = bad
            out.examples[col] = [_scalar_text(v) for v in series.to_numpy(object)[bad]]
            log.warning("%s: column %r holds %d value(s) that are not numbers among %d numbers (e.g. %s); "
                        "their rows are quarantined", source, col, int(bad.sum()), n_numbers,
                        describe_text(series, bad))
        else:
            log.info("%s: column %r holds numbers stored as text; read as numbers", source, col)
    if converted:
        out.frame = frame.copy()
        for col, values in converted.items():
            out.frame[col] = values
    return out


def duplicate_rows(frame: pd.DataFrame, ids: np.ndarray, *, id_name: str, file: str) -> tuple[np.ndarray, dict[str, str], int]:
    """Rows sharing an id: exact duplicates collapse to the first, conflicting ones are all set aside.

    Parameters
    ----------
    frame : DataFrame, shape (n, ...)
        The rows to compare (without the id column itself).
    ids : numpy.ndarray of str, shape (n,)
        Each row's id (``""`` ids are not compared).
    id_name, file : str
        For the reasons, e.g. ``"duplicate SPECOBJID 123 in galSpecExtra.fits with BPTCLASS 1 and 4"``.

    Returns
    -------
    keep : numpy.ndarray of bool, shape (n,)
        False for the later copies of exact duplicates and for every row of a conflicting id.
    conflicts : dict
        Conflicting id -> the reason, naming up to three differing columns and their values.
    n_collapsed : int
        Rows dropped as exact copies of an earlier row.
    """
    key = pd.Series(ids, dtype=object)
    shared = (key.duplicated(keep=False) & (key != "")).to_numpy()
    keep = np.ones(len(ids), dtype=bool)
    if not shared.any():
        return keep, {}, 0
    conflicts: dict[str, str] = {}
    sub = frame.iloc[np.flatnonzero(shared)].astype(object)
    for value, rows in sub.groupby(key[shared].to_numpy(), sort=False):
        differ = [c for c in rows.columns if rows[c].nunique(dropna=False) > 1]
        if differ:
            what = "; ".join(f"{c} {' and '.join(dict.fromkeys(_scalar_text(v) or 'empty' for v in rows[c]))}"
                             for c in differ[:3])
            more = f" (and {len(differ) - 3} more column(s))" if len(differ) > 3 else ""
            conflicts[str(value)] = f"duplicate {id_name} {value} in {file} with {what}{more}"
    later = (key.duplicated(keep="first") & (key != "")).to_numpy()
    conflicting = key.isin(set(conflicts)).to_numpy()
    n_collapsed = int((later & ~conflicting).sum())
    keep &= ~later & ~conflicting
    if n_collapsed:
        log.info("%s: %d exact duplicate row(s) (same %s, same values) collapsed", file, n_collapsed, id_name)
    if conflicts:
        log.warning("%s: %d %s(s) appear in rows with different values and are quarantined, e.g. %s", file,
                    len(conflicts), id_name, next(iter(conflicts.values())))
    return keep, conflicts, n_collapsed


def numeric_values(values: pd.Series, *, column: str, source: str, what: str) -> np.ndarray:
    """A column that must be numeric as float64, or one clear refusal naming bad values.

    Raises
    ------
    AgnbenchError
        Any non-empty value that is not a number (``what`` says what the column is for).
    """
    num, _, bad = _parse(values)
    if bad.any():
        raise AgnbenchError(f"{source}: column {column!r} ({what}) holds {int(bad.sum())} value(s) that are not "
                            f"numbers: {describe_text(values, bad)}; fix or blank them")
    return num


def finite_features(feats: pd.DataFrame, *, source: str, names: dict | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """``feats`` with ``inf`` / ``-inf`` set to NaN, and the count set per column (warned, by source column).

    Parameters
    ----------
    feats : DataFrame of float
    source : str
        For the warning.
    names : dict, optional
        ``feat_*`` name -> the source column it came from, for the warning.

    Returns
    -------
    feats : DataFrame
    counts : dict
        Column -> number of values set to NaN (columns with none are left out).
    """
    counts: dict[str, int] = {}
    out = feats.copy()
    for col in feats.columns:
        if not pd.api.types.is_float_dtype(feats[col].dtype):
            continue
        v = feats[col].to_numpy(np.float64, na_value=np.nan)
        inf = np.isinf(v)
        if inf.any():
            counts[str(col)] = int(inf.sum())
            out[col] = np.where(inf, np.nan, v)
    if counts:
        names = names or {}
        log.warning("%s: infinite feature values set to NaN (a missing measurement): %s", source,
                    ", ".join(f"{names.get(c, c)}: {k}" for c, k in counts.items()))
    return out, counts
