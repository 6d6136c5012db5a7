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
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from agnbench.data_prep.formats.fastfits import gunzip_size
from agnbench.data_prep.formats.sdss_files import specobjid
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

MPAJHU_FILES = {
    "info": ("galSpecInfo", "gal_info"),
    "extra": ("galSpecExtra", "gal_extra"),
    "line": ("galSpecLine", "gal_line"),
    "indx": ("galSpecIndx", "gal_indx"),
}
REQUIRED = {"info": ("RA", "DEC", "Z"), "extra": ("BPTCLASS",), "line": (), "indx": ()}
_ID_COLS = ("PLATEID", "MJD", "FIBERID")


def read_table(path: Path) -> pd.DataFrame:
    """A FITS (HDU 1), CSV or Parquet table as a DataFrame; FITS strings decoded and stripped.

    Multidimensional FITS columns are skipped (logged). A ``.gz`` file is first streamed once in
    constant memory and refused if it decompresses to more than
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
            return pd.read_csv(path)
        if suffix.endswith(".parquet"):
            return pd.read_parquet(path)
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
        df["SPECOBJID"] = df["SPECOBJID"].astype(str).str.strip()
        return df
    missing = [c for c in _ID_COLS if c not in df.columns]
    if missing:
        raise AgnbenchError(f"{path}: no SPECOBJID and missing {', '.join(missing)} to build it; "
                            "provide a DR8 galSpec file or the plate/mjd/fiber columns")
    df["SPECOBJID"] = specobjid(df["PLATEID"].to_numpy(np.int64), df["MJD"].to_numpy(np.int64),
                                df["FIBERID"].to_numpy(np.int64))
    return df


def read_mpajhu(raw: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Join the MPA-JHU galSpec tables of ``raw/catalog`` into one frame (upper-case columns).

    Returns
    -------
    frame : DataFrame
        One row per galSpecInfo row, with every column of every table (later tables' duplicate
        id columns dropped).
    inputs : dict
        Which file was used for each table.
    """
    cat_dir = Path(raw) / "catalog"
    if not cat_dir.is_dir():
        raise AgnbenchError(f"{cat_dir}: no catalog directory; expected MPA-JHU galSpec*.fits files there")
    frames, inputs = {}, {}
    for key, stems in MPAJHU_FILES.items():
        path = _find(cat_dir, stems)
        if path is None:
            if key == "info":
                raise AgnbenchError(f"{cat_dir}: no galSpecInfo (or DR7 gal_info) file found")
            log.warning("%s: no %s file; its columns will be missing", cat_dir, stems[0])
            continue
        df = _ensure_specobjid(_upper(read_table(path)), path)
        missing = [c for c in REQUIRED[key] if c not in df.columns]
        if missing:
            raise AgnbenchError(f"{path}: missing required column(s) {', '.join(missing)}")
        frames[key], inputs[key] = df, str(path)
    merged = frames["info"]
    n = len(merged)
    for key in ("extra", "line", "indx"):
        if key not in frames:
            continue
        other = frames[key]
        other = other.drop(columns=[c for c in other.columns if c in merged.columns and c != "SPECOBJID"])
        other = other.drop_duplicates("SPECOBJID")
        merged = merged.merge(other, on="SPECOBJID", how="left", validate="many_to_one")
        assert len(merged) == n, f"joining {key} changed the row count ({n} -> {len(merged)})"
    return merged, inputs


def find_photometry(raw: Path) -> Path | None:
    """The photometry table in ``raw/catalog`` (photometry.fits|csv|parquet), if any."""
    for suffix in (".fits", ".parquet", ".csv", ".fit", ".csv.gz"):
        path = Path(raw) / "catalog" / f"photometry{suffix}"
        if path.exists():
            return path
    return None


def join_photometry(objects: pd.DataFrame, phot_path: Path) -> pd.DataFrame:
    """Left-join a CasJobs-style photometry table on specObjID (or plate/mjd/fiberID)."""
    phot = read_table(phot_path)
    lower = {c.lower(): c for c in phot.columns}
    if "specobjid" in lower:
        phot = phot.rename(columns={lower["specobjid"]: "SPECOBJID"})
        phot["SPECOBJID"] = phot["SPECOBJID"].astype(str).str.strip()
    elif all(k in lower for k in ("plate", "mjd", "fiberid")):
        phot["SPECOBJID"] = specobjid(phot[lower["plate"]].to_numpy(np.int64), phot[lower["mjd"]].to_numpy(np.int64),
                                      phot[lower["fiberid"]].to_numpy(np.int64))
    else:
        raise AgnbenchError(f"{phot_path}: needs a specObjID column or plate/mjd/fiberID to join with the catalog")
    phot = phot.drop(columns=[c for c in phot.columns if c.upper() in objects.columns and c != "SPECOBJID"])
    phot = phot.drop_duplicates("SPECOBJID")
    out = objects.merge(phot, on="SPECOBJID", how="left", validate="many_to_one")
    assert len(out) == len(objects), "photometry join changed the row count"
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
