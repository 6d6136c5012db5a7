"""Catalog inputs: MPA-JHU galSpec files + SDSS photometry, or a user's own table.

MPA-JHU files are found by name in ``RAW/catalog/`` (DR8 ``galSpecInfo*.fits`` ... or DR7
``gal_info*``, ``gal_line*``, ``gal_indx*``); column names are matched case-insensitively, byte
strings are decoded and stripped, and multidimensional columns (e.g. DR7 PHOTOID) are skipped.
Tables are joined on SPECOBJID, or on PLATEID/MJD/FIBERID where a file lacks it, and every join
is checked to keep the row count. The photometry table (FITS/CSV/Parquet, a CasJobs export) is
joined on specObjID or plate/mjd/fiberID.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from agnbench.data_prep.formats.fastfits import gunzip_size
from agnbench.data_prep.formats.sdss_files import specobjid
from agnbench.data_prep.formats.table_values import describe_text, duplicate_rows, id_text, numbers_from_text
from agnbench.errors import AgnbenchError
from agnbench.fileio import read_parquet

log = logging.getLogger(__name__)

MPAJHU_FILES = {
    "info": ("galSpecInfo", "gal_info"),
    "extra": ("galSpecExtra", "gal_extra"),
    "line": ("galSpecLine", "gal_line"),
    "indx": ("galSpecIndx", "gal_indx"),
}
REQUIRED = {"info": ("RA", "DEC", "Z"), "extra": ("BPTCLASS",), "line": (), "indx": ()}
_ID_COLS = ("PLATEID", "MJD", "FIBERID")
#: Catalog id columns that are never read as numbers (64-bit ids would lose digits as floats).
_OBJECT_IDS = re.compile(r"^(spec_?obj_?id|obj_?id|photo_?id|best_?obj_?id|thing_?id)$", re.IGNORECASE)


@dataclass
class Cleaning:
    """What reading the catalog set aside: quarantined rows (with reasons) and collapsed exact duplicates.

    Attributes
    ----------
    quarantine : list of dict
        ``object_id, file, stage, reason`` rows (docs/contracts.md ``quarantine.csv``).
    collapsed : dict
        File name -> number of exact duplicate rows collapsed into one.
    """

    quarantine: list[dict] = field(default_factory=list)
    collapsed: dict[str, int] = field(default_factory=dict)

    def add(self, object_id: str, file: str | Path, reason: str) -> None:
        """Quarantine one object at the catalog stage."""
        self.quarantine.append({"object_id": object_id, "file": str(file), "stage": "catalog", "reason": reason})


def read_table(path: Path, *, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A FITS (HDU 1), CSV or Parquet table as a DataFrame; FITS strings decoded and stripped.

    Multidimensional FITS columns are skipped (logged). ``text_columns`` of a CSV are read as text
    (ids keep every digit, e.g. a 19-digit specObjID in a column with an empty cell). A ``.gz`` file is
    first streamed once in constant memory and refused if it decompresses to more than
    :func:`~agnbench.data_prep.formats.fastfits.gunzip_limit` allows (a gzip bomb), before any reader
    holds it in memory.
    """
    suffix = "".join(path.suffixes).lower()
    if not path.exists():
        raise AgnbenchError(f"{path}: file not found")
    try:
        if suffix.endswith(".gz"):
            gunzip_size(path)
        if suffix.endswith((".csv", ".csv.gz")):
            head = pd.read_csv(path, nrows=0).columns
            wanted = {str(t).lower() for t in text_columns}
            return pd.read_csv(path, dtype={c: str for c in head if str(c).lower() in wanted})
        if suffix.endswith(".parquet"):
            return read_parquet(path, fix="check the file (a download may have saved an error page)")
        if suffix.endswith((".fits", ".fit", ".fits.gz", ".fit.gz")):
            table = Table.read(path, hdu=1)
        else:
            raise AgnbenchError(f"{path}: unknown table format {suffix!r}; use FITS, CSV or Parquet")
    except AgnbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear message
        raise AgnbenchError(f"{path}: cannot read table ({type(exc).__name__}: {exc})") from None
    multi = [c for c in table.colnames if len(table[c].shape) > 1]
    if multi:
        log.info("%s: skipping multidimensional column(s) %s", path.name, ", ".join(multi))
        table.remove_columns(multi)
    df = table.to_pandas()
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: v.decode("ascii", "replace") if isinstance(v, bytes) else v).str.strip()
    return df


def _find(catalog_dir: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        hits = sorted(p for p in catalog_dir.glob(f"{stem}*") if p.suffix.lower() in (".fits", ".fit", ".gz"))
        if hits:
            return hits[0]
    return None


def _upper(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: c.upper() for c in df.columns})


def _ensure_specobjid(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "SPECOBJID" in df.columns:
        df["SPECOBJID"] = id_text(df["SPECOBJID"], column="SPECOBJID", source=str(path))
        return df
    missing = [c for c in _ID_COLS if c not in df.columns]
    if missing:
        raise AgnbenchError(f"{path}: no SPECOBJID and missing {', '.join(missing)} to build it; "
                            "provide a DR8 galSpec file or the plate/mjd/fiber columns")
    blank = df[list(_ID_COLS)].isna().any(axis=1).to_numpy()
    if blank.any():
        raise AgnbenchError(f"{path}: {int(blank.sum())} row(s) lack a plate, mjd or fiberid (e.g. row "
                            f"{int(np.flatnonzero(blank)[0]) + 1}) to build their SPECOBJID; fix or remove them")
    df["SPECOBJID"] = specobjid(df["PLATEID"].to_numpy(np.int64), df["MJD"].to_numpy(np.int64),
                                df["FIBERID"].to_numpy(np.int64))
    return df


def _clean(df: pd.DataFrame, path: Path, *, required: tuple[str, ...], make_ids, cleaning: Cleaning | None,
           problems: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """One catalog file: numbers stored as text converted, ids as text, one row per SPECOBJID.

    Rows whose numbers are not numbers, rows without an id and ids whose rows conflict are
    recorded in ``problems`` (SPECOBJID -> (file, reason)) or ``cleaning`` (rows without an id);
    exact duplicates collapse. Without ``cleaning`` any such problem is an error.
    """
    conv = numbers_from_text(df, skip={c for c in df.columns if _OBJECT_IDS.match(str(c))}, source=str(path))
    for col in required:
        if col in conv.text:
            raise AgnbenchError(f"{path}: column {col!r} holds text, not numbers (e.g. "
                                f"{describe_text(df[col], df[col].notna().to_numpy())}); it must be numeric")
    df = make_ids(conv.frame)
    for col in df.columns:  # other survey ids as text: a left join must not turn them into floats
        if col != "SPECOBJID" and _OBJECT_IDS.match(str(col)):
            df[col] = id_text(df[col], column=str(col), source=str(path))
    ids = df["SPECOBJID"].to_numpy(object)
    found: dict[str, str] = {}
    for col, bad in conv.bad.items():
        for i, text in zip(np.flatnonzero(bad), conv.examples[col]):
            if ids[i]:
                found.setdefault(ids[i], f"{col} {text!r} in {path.name} is not a number")
    empty = ids == ""
    keep, conflicts, n_collapsed = duplicate_rows(df.drop(columns=["SPECOBJID"]), ids, id_name="SPECOBJID",
                                                  file=path.name)
    for key, reason in conflicts.items():
        found[key] = f"{found[key]}; {reason}" if key in found else reason
    if cleaning is None:
        first = next(iter(found.values()), None) or (f"row {int(np.flatnonzero(empty)[0]) + 1} has no SPECOBJID"
                                                      if empty.any() else None)
        if first is not None:
            raise AgnbenchError(f"{path}: {first}")
    else:
        for i in np.flatnonzero(empty):
            cleaning.add("", path, f"row {i + 1} of {path.name} has no SPECOBJID")
        if n_collapsed:
            cleaning.collapsed[path.name] = cleaning.collapsed.get(path.name, 0) + n_collapsed
    problems.update({k: (str(path), r) for k, r in found.items() if k not in problems})
    return df.loc[keep & ~empty].reset_index(drop=True)


def _set_aside(frame: pd.DataFrame, problems: dict[str, tuple[str, str]], cleaning: Cleaning | None) -> pd.DataFrame:
    """Remove the objects with a recorded problem, quarantining each once."""
    hit = frame["SPECOBJID"].isin(set(problems)).to_numpy()
    if cleaning is not None:
        for key in dict.fromkeys(frame["SPECOBJID"].to_numpy(object)[hit]):
            cleaning.add(key, problems[key][0], problems[key][1])
    return frame.loc[~hit].reset_index(drop=True)


def read_mpajhu(raw: Path, *, cleaning: Cleaning | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Join the MPA-JHU galSpec tables of ``raw/catalog`` into one frame (upper-case columns).

    Parameters
    ----------
    raw : Path
    cleaning : Cleaning, optional
        Receives the objects set aside (a value that is not a number, a row without SPECOBJID, an id
        whose rows in one file differ: "duplicate SPECOBJID 123 in galSpecExtra.fits with BPTCLASS 1
        and 4") and the count of exact duplicate rows collapsed. Without it these are errors.

    Returns
    -------
    frame : DataFrame
        One row per galSpecInfo object, with every column of every table (later tables' duplicate
        id columns dropped).
    inputs : dict
        Which file was used for each table.
    """
    cat_dir = Path(raw) / "catalog"
    if not cat_dir.is_dir():
        raise AgnbenchError(f"{cat_dir}: no catalog directory; expected MPA-JHU galSpec*.fits files there")
    frames, inputs = {}, {}
    problems: dict[str, tuple[str, str]] = {}
    for key, stems in MPAJHU_FILES.items():
        path = _find(cat_dir, stems)
        if path is None:
            if key == "info":
                raise AgnbenchError(f"{cat_dir}: no galSpecInfo (or DR7 gal_info) file found")
            log.warning("%s: no %s file; its columns will be missing", cat_dir, stems[0])
            continue
        df = _upper(read_table(path))
        missing = [c for c in REQUIRED[key] if c not in df.columns]
        if missing:
            raise AgnbenchError(f"{path}: missing required column(s) {', '.join(missing)}")
        frames[key] = _clean(df, path, required=REQUIRED[key] + tuple(c for c in _ID_COLS if c in df.columns),
                             make_ids=lambda d, p=path: _ensure_specobjid(d, p), cleaning=cleaning, problems=problems)
        inputs[key] = str(path)
    merged = frames["info"]
    n = len(merged)
    for key in ("extra", "line", "indx"):
        if key not in frames:
            continue
        other = frames[key]
        other = other.drop(columns=[c for c in other.columns if c in merged.columns and c != "SPECOBJID"])
        merged = merged.merge(other, on="SPECOBJID", how="left", validate="one_to_one")
        assert len(merged) == n, f"joining {key} changed the row count ({n} -> {len(merged)})"
    return _set_aside(merged, problems, cleaning), inputs


def find_photometry(raw: Path) -> Path | None:
    """The photometry table in ``raw/catalog`` (photometry.fits|csv|parquet), if any."""
    for suffix in (".fits", ".parquet", ".csv", ".fit", ".csv.gz"):
        path = Path(raw) / "catalog" / f"photometry{suffix}"
        if path.exists():
            return path
    return None


def join_photometry(objects: pd.DataFrame, phot_path: Path, *, cleaning: Cleaning | None = None) -> pd.DataFrame:
    """Left-join a CasJobs-style photometry table on specObjID (or plate/mjd/fiberID).

    Objects whose photometry rows conflict (or hold a value that is not a number) are set aside
    into ``cleaning`` (an error without it); exact duplicate rows collapse.
    """
    phot = read_table(phot_path, text_columns=("specObjID", "specobjid", "SPECOBJID"))
    lower = {c.lower(): c for c in phot.columns}
    if "specobjid" in lower:
        phot = phot.rename(columns={lower["specobjid"]: "SPECOBJID"})

        def make_ids(d: pd.DataFrame) -> pd.DataFrame:
            return d.assign(SPECOBJID=id_text(d["SPECOBJID"], column="specObjID", source=str(phot_path)))
        needed: tuple[str, ...] = ()
    elif all(k in lower for k in ("plate", "mjd", "fiberid")):
        needed = (lower["plate"], lower["mjd"], lower["fiberid"])

        def make_ids(d: pd.DataFrame) -> pd.DataFrame:
            if d[list(needed)].isna().any(axis=None):
                raise AgnbenchError(f"{phot_path}: rows without plate, mjd or fiberID cannot be joined; fix or remove them")
            return d.assign(SPECOBJID=specobjid(*(d[c].to_numpy(np.int64) for c in needed)))
    else:
        raise AgnbenchError(f"{phot_path}: needs a specObjID column or plate/mjd/fiberID to join with the catalog")
    problems: dict[str, tuple[str, str]] = {}
    phot = _clean(phot, phot_path, required=needed, make_ids=make_ids, cleaning=cleaning, problems=problems)
    phot = phot.drop(columns=[c for c in phot.columns if c.upper() in objects.columns and c != "SPECOBJID"])
    out = objects.merge(phot, on="SPECOBJID", how="left", validate="many_to_one")
    assert len(out) == len(objects), "photometry join changed the row count"
    out = _set_aside(out, problems, cleaning)
    n_matched = out[phot.columns.drop("SPECOBJID")[0]].notna().sum() if len(phot.columns) > 1 else 0
    log.info("photometry: matched %d of %d objects from %s", n_matched, len(objects), phot_path.name)
    return out


def column(df: pd.DataFrame, *names: str) -> pd.Series | None:
    """First column of ``df`` whose name matches one of ``names`` case-insensitively."""
    lower = {c.lower(): c for c in df.columns}
    for name in names:
        if name.lower() in lower:
            return df[lower[name.lower()]]
    return None


#: Common spellings of a table's position and spectrum-id columns, matched case-insensitively: the one
#: list that ``prep --source table`` recognises (``--ra-col`` etc. name a column explicitly). These
#: columns are never features; a redshift column enters the catalog features only as ``feat_z``.
POSITION_SPELLINGS: dict[str, tuple[str, ...]] = {
    "ra": ("ra", "raj2000", "ra_j2000", "ra_deg", "radeg", "ra_icrs", "alpha_j2000", "plug_ra"),
    "dec": ("dec", "decl", "dej2000", "decj2000", "de_j2000", "dec_j2000", "dec_deg", "decdeg", "dedeg",
            "dec_icrs", "de_icrs", "delta_j2000", "plug_dec"),
    "z": ("z", "redshift", "zspec", "z_spec", "specz", "spec_z", "zbest", "z_best", "z_helio", "zhelio"),
    "plate": ("plate", "plateid", "plate_id"),
    "mjd": ("mjd", "mjd_spec"),
    "fiberid": ("fiberid", "fiber", "fiber_id", "fibreid", "fibre", "fibre_id"),
}
#: The command-line option naming each column explicitly.
POSITION_OPTIONS = {"ra": "--ra-col", "dec": "--dec-col", "z": "--z-col", "plate": "--plate-col",
                    "mjd": "--mjd-col", "fiberid": "--fiber-col"}
_BAND_COLUMNS = ("u", "g", "r", "i")


def find_position_columns(columns: list[str], given: dict[str, str | None], *, source: str) -> dict[str, str | None]:
    """Which column of a table is RA, Dec, redshift, plate, MJD and fiber (:data:`POSITION_SPELLINGS`).

    Parameters
    ----------
    columns : list of str
        The table's column names.
    given : dict
        Explicit choices (``--ra-col`` ...) by key of :data:`POSITION_SPELLINGS`; None = recognise.
    source : str
        The table's path, for messages.

    Returns
    -------
    dict
        Key -> column name, or None when the table has none. A column named ``z`` beside columns
        ``u``, ``g``, ``r``, ``i`` is the z-band magnitude, not a redshift.

    Raises
    ------
    AgnbenchError
        An explicit column that does not exist, or two columns matching one key (asks for the option).
    """
    lower: dict[str, list[str]] = {}
    for col in columns:
        lower.setdefault(str(col).strip().lower(), []).append(col)
    found: dict[str, str | None] = {}
    for key, spellings in POSITION_SPELLINGS.items():
        option = POSITION_OPTIONS[key]
        if given.get(key) is not None:
            if given[key] not in columns:
                raise AgnbenchError(f"{source}: no column {given[key]!r} ({option}); columns are: "
                                    f"{', '.join(map(str, columns))}")
            found[key] = given[key]
            continue
        hits = [c for s in spellings for c in lower.get(s, [])]
        if key == "z" and all(b in columns for b in _BAND_COLUMNS):
            hits = [c for c in hits if c != "z"]  # ugriz magnitudes: 'z' is the band
        if len(hits) > 1:
            raise AgnbenchError(f"{source}: columns {', '.join(map(repr, hits))} could each be the {key} column; "
                                f"name the one to use with {option}")
        found[key] = hits[0] if hits else None
    return found
