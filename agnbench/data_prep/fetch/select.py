"""Which objects ``agnbench fetch spectra|images`` downloads, and the photometry import.

Targets are the rows of the fetched MPA-JHU catalog (``RAW/catalog``) that pass prep's quality
cuts that need no photometry (RELIABLE == 1, SPECTROTYPE == GALAXY, Z_WARNING == 0, prep.z_min <=
z <= prep.z_max), so every object ``agnbench prep`` keeps has its files; the r-magnitude cut is
left to prep. Each target gets a stratum from ``labels.scheme`` and MPA-JHU BPTCLASS (galSpecExtra,
or measured from the galSpecLine fluxes): the class names, ``ood`` (composites) or ``excluded``.

With a limit N, N objects are drawn among the labelled and ood strata: equal numbers per stratum
(a stratum with too few objects gives its share to the others) when ``fetch.stratify``, else
uniformly. The draw is a seeded random permutation of each stratum (ids sorted first), so it does
not depend on row order, and a larger N selects a superset of a smaller one. Never the first N rows.
The choice is written once to ``RAW/selection.csv`` so that spectra and images fetch the same
objects; a hand-written ``selection.csv`` with the same columns is used as given.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench import seeding
from agnbench.config.core import Config
from agnbench.data_prep.bpt import bpt_class as measure_bpt
from agnbench.data_prep.formats.catalog import MPAJHU_FILES, read_table
from agnbench.data_prep.formats.fastfits import FitsFile
from agnbench.data_prep.ingest.labels import assign_labels
from agnbench.data_prep.formats.sdss_files import SurveyFileError, specobjid
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_bytes, atomic_write_text
from agnbench.data_prep.formats.table_values import id_text

log = logging.getLogger(__name__)

SELECTION = "selection.csv"
SELECTION_COLUMNS = ("object_id", "plate", "mjd", "fiber", "run2d", "ra", "dec", "z", "bpt_class", "stratum")
_SAFE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_+-]{0,99}$")
SAFE_RUN2D = re.compile(r"^(\d{1,4}|v\d+_\d+_\d+)$")
_INFO_COLS = ("SPECOBJID", "PLATEID", "MJD", "FIBERID", "RA", "DEC", "Z", "Z_WARNING", "RELIABLE", "SPECTROTYPE")
_LINES = [f"{n}_FLUX{e}" for n in ("NII_6584", "H_ALPHA", "OIII_5007", "H_BETA") for e in ("", "_ERR")]
_PLAIN_RUN2D = (26, 103, 104)


def unsafe_id(value: object) -> str | None:
    """Why ``value`` may not become a file name (None if it is safe).

    Safe ids are 1-100 characters of letters, digits, ``_``, ``+`` and ``-``, starting with a letter
    or digit (SDSS specObjIDs are digits): no path separators, dots, spaces or control characters.
    """
    text = str(value)
    if _SAFE_ID.match(text):
        return None
    return f"object id {text[:80]!r} is not safe as a file name (only letters, digits, _ + - are allowed)"


def decode_run2d(object_id: str, plate: int, *, default: str) -> str:
    """The spectro reduction (run2d) encoded in a DR8+ specObjID, or ``default``.

    Bits 10-23 hold N for reductions named N (26, 103, 104) and (N-5)*10000 + M*100 + P for vN_M_P;
    the id must also carry ``plate`` in bits 50-63, otherwise ``default`` is returned.
    """
    try:
        value = int(object_id)
    except (TypeError, ValueError):
        return default
    if value <= 0 or value >> 50 != plate:
        return default
    code = (value >> 10) & 0x3FFF
    if code in _PLAIN_RUN2D:
        return str(code)
    return f"v{code // 10000 + 5}_{code // 100 % 100}_{code % 100}"


def _find(cat_dir: Path, key: str) -> Path | None:
    for stem in MPAJHU_FILES[key]:
        hits = sorted(p for p in cat_dir.glob(f"{stem}*") if p.suffix.lower() in (".fits", ".fit", ".gz"))
        if hits:
            return hits[0]
    return None


def read_columns(path: Path, wanted: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The ``wanted`` columns present in HDU 1 of a table (upper-case names); fast path for plain FITS."""
    if path.suffix.lower() in (".fits", ".fit"):
        try:
            with FitsFile(path) as f:
                lower = {c.lower(): c for c in f.columns(1)}
                present = [lower[w.lower()] for w in wanted if w.lower() in lower]
                return pd.DataFrame({k.upper(): v for k, v in f.bintable(1, present).items()})
        except SurveyFileError as exc:
            log.debug("%s: fast reader declined (%s); using astropy", path, exc)
    df = read_table(path)
    df = df.rename(columns={c: str(c).upper() for c in df.columns})
    return df[[c for c in df.columns if c in {w.upper() for w in wanted}]]


def _ids(df: pd.DataFrame, path: Path) -> pd.Series:
    if "SPECOBJID" in df:
        return df["SPECOBJID"].astype(str).str.strip()
    if all(c in df for c in ("PLATEID", "MJD", "FIBERID")):
        return pd.Series(specobjid(df["PLATEID"].to_numpy(np.int64), df["MJD"].to_numpy(np.int64),
                                   df["FIBERID"].to_numpy(np.int64)), index=df.index)
    raise AgnbenchError(f"{path}: neither SPECOBJID nor PLATEID/MJD/FIBERID; cannot identify the objects")


def targets(raw: Path, cfg: Config) -> pd.DataFrame:
    """Every catalog object passing prep's photometry-free quality cuts, with its stratum.

    Returns
    -------
    DataFrame
        Columns :data:`SELECTION_COLUMNS` (ra, dec in deg), one row per object, in catalog order.
    """
    cat_dir = Path(raw) / "catalog"
    info_path = _find(cat_dir, "info") if cat_dir.is_dir() else None
    if info_path is None:
        raise AgnbenchError(f"{cat_dir}: no galSpecInfo (or DR7 gal_info) file; run `agnbench fetch catalog "
                            f"--raw {raw}` first")
    info = read_columns(info_path, _INFO_COLS)
    missing = [c for c in ("PLATEID", "MJD", "FIBERID", "RA", "DEC", "Z") if c not in info]
    if missing:
        raise AgnbenchError(f"{info_path}: missing column(s) {', '.join(missing)} needed to locate the files")
    info["OBJECT_ID"] = _ids(info, info_path)
    info = info.drop_duplicates("OBJECT_ID", keep="first").reset_index(drop=True)
    p, keep = cfg.prep, np.ones(len(info), dtype=bool)
    if p.require_reliable and "RELIABLE" in info:
        keep &= info["RELIABLE"].to_numpy() == 1
    if p.require_galaxy and "SPECTROTYPE" in info:
        keep &= info["SPECTROTYPE"].astype(str).str.strip().str.upper().to_numpy() == "GALAXY"
    if p.require_zwarning_zero and "Z_WARNING" in info:
        keep &= info["Z_WARNING"].to_numpy() == 0
    z = info["Z"].to_numpy(np.float64)
    keep &= (z >= p.z_min) & (z <= p.z_max)
    if not keep.any():
        raise AgnbenchError(f"{info_path}: none of its {len(info)} objects passes prep's quality cuts (RELIABLE, "
                            f"SPECTROTYPE, Z_WARNING, {p.z_min} <= z <= {p.z_max}); check the file and the prep "
                            "settings")
    info = info.loc[keep].reset_index(drop=True)
    bpt = _bpt(cat_dir, info)
    sdss_class = info["SPECTROTYPE"].astype(str).to_numpy() if "SPECTROTYPE" in info else None
    out = pd.DataFrame({
        "object_id": id_text(info["OBJECT_ID"], column="OBJECT_ID", source="galSpecInfo").astype(str),
        "plate": info["PLATEID"].to_numpy(np.int64),
        "mjd": info["MJD"].to_numpy(np.int64), "fiber": info["FIBERID"].to_numpy(np.int64),
        "ra": info["RA"].to_numpy(np.float64), "dec": info["DEC"].to_numpy(np.float64), "z": z[keep],
        "bpt_class": bpt,
    })
    out.insert(4, "run2d", [decode_run2d(i, int(pl), default=cfg.fetch.run2d)
                            for i, pl in zip(out["object_id"], out["plate"])])
    out["stratum"] = _strata(bpt, cfg.labels.scheme, sdss_class)
    return out


def _bpt(cat_dir: Path, info: pd.DataFrame) -> np.ndarray:
    """BPTCLASS per row of ``info`` (galSpecExtra, else measured from galSpecLine; -1 if neither)."""
    for key, cols in (("extra", ("SPECOBJID", "PLATEID", "MJD", "FIBERID", "BPTCLASS")),
                      ("line", ("SPECOBJID", "PLATEID", "MJD", "FIBERID", *_LINES))):
        path = _find(cat_dir, key)
        if path is None:
            continue
        df = read_columns(path, cols)
        if key == "extra" and "BPTCLASS" not in df:
            continue
        if key == "line" and not all(c in df for c in _LINES):
            continue
        df = df.assign(OBJECT_ID=_ids(df, path)).drop_duplicates("OBJECT_ID").set_index("OBJECT_ID")
        if key == "extra":
            codes = pd.to_numeric(df["BPTCLASS"], errors="coerce")
        else:
            codes = pd.Series(measure_bpt(*(df[c].to_numpy(np.float64) for c in _LINES)), index=df.index)
        return codes.reindex(info["OBJECT_ID"]).fillna(-1).to_numpy(np.int64)
    log.warning("%s: no BPTCLASS (galSpecExtra) and no BPT line fluxes (galSpecLine): objects cannot be "
                "stratified by label", cat_dir)
    return np.full(len(info), -1, dtype=np.int64)


def _strata(bpt: np.ndarray, scheme: str, sdss_class: np.ndarray | None) -> np.ndarray:
    if scheme == "bpt4":  # Seyfert vs LINER needs the line ratios: one stratum for BPT class 4 here
        names = {1: "sf", 3: "composite", 4: "agn_or_liner"}
        return np.array([names.get(int(b), "excluded") for b in bpt], dtype=object).astype(str)
    if scheme == "sdss_class" and sdss_class is None:
        return np.full(len(bpt), "excluded")
    _, label_name, _ = assign_labels(bpt, scheme=scheme, sdss_class=sdss_class)
    return label_name


def equal_quota(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Split ``n`` as evenly as possible over groups of the given sizes (water-filling, sorted names)."""
    quota = {g: 0 for g in sizes}
    remaining = min(n, sum(sizes.values()))
    open_ = sorted(g for g, s in sizes.items() if s > 0)
    while remaining > 0 and open_:
        share = remaining // len(open_)
        if share == 0:
            for g in open_[:remaining]:
                quota[g] += 1
            break
        for g in open_:
            take = min(share, sizes[g] - quota[g])
            quota[g] += take
            remaining -= take
        open_ = [g for g in open_ if quota[g] < sizes[g]]
    return quota


def choose(frame: pd.DataFrame, *, limit: int, stratify: bool, seed: int) -> pd.DataFrame:
    """Rows of ``frame`` to fetch: all if ``limit`` is 0, else a seeded (stratified) random subset.

    Parameters
    ----------
    frame : DataFrame
        :func:`targets` output.
    limit : int
        Number of objects; 0 = every row (every stratum, excluded ones too).
    stratify : bool
        Equal numbers per stratum (labelled classes and ``ood``) instead of a uniform draw.
    seed : int
        Root seed; each stratum's permutation is ``seeding.rng(seed, "fetch", "selection", stratum)``.
    """
    if limit <= 0:
        return frame.reset_index(drop=True)
    strata = frame["stratum"].to_numpy(str)
    eligible = strata != "excluded"
    if not eligible.any():
        raise AgnbenchError("no object has a label or the ood role (no BPTCLASS?): cannot draw a labelled subset; "
                            "fetch galSpecExtra or use --limit 0")
    groups = np.where(eligible, strata, "") if stratify else np.where(eligible, "all", "")
    ids = frame["object_id"].to_numpy(dtype=object).astype(str)  # never .to_numpy(str): pandas truncates str+NA
    order: dict[str, np.ndarray] = {}
    for g in sorted(set(groups) - {""}):
        idx = np.flatnonzero(groups == g)
        idx = idx[np.argsort(ids[idx], kind="stable")]
        order[g] = idx[seeding.rng(seed, "fetch", "selection", g).permutation(idx.size)]
    quota = equal_quota({g: v.size for g, v in order.items()}, limit)
    picked = np.sort(np.concatenate([order[g][: quota[g]] for g in order]))
    if picked.size < limit:
        log.warning("--limit %d: only %d eligible objects; taking them all", limit, picked.size)
    return frame.iloc[picked].reset_index(drop=True)


def read_selection(path: Path) -> pd.DataFrame:
    """A ``selection.csv`` (ids and run2d kept as text)."""
    try:
        df = pd.read_csv(path, dtype={"object_id": str, "run2d": str, "stratum": str})
    except (OSError, ValueError) as exc:
        raise AgnbenchError(f"{path}: unreadable selection ({exc}); delete it to make a new one") from None
    missing = [c for c in SELECTION_COLUMNS if c not in df.columns and c not in ("bpt_class", "stratum", "z")]
    if missing:
        raise AgnbenchError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(SELECTION_COLUMNS)}")
    return df


def write_selection(path: Path, df: pd.DataFrame) -> str:
    """Write ``selection.csv`` atomically; return its sha256."""
    text = df.loc[:, list(SELECTION_COLUMNS)].to_csv(index=False)
    atomic_write_text(path, text)
    return hashlib.sha256(text.encode()).hexdigest()


def import_photometry(src: Path, raw: Path) -> Path:
    """Check a CasJobs/SkyServer photometry export and store it as ``RAW/catalog/photometry.<ext>``.

    CSV (a SkyServer ``#Table1`` first line is dropped), FITS or Parquet are accepted. The table
    must have specObjID (integers, not floats that lost digits) or plate/mjd/fiberID, and at least
    one magnitude column (modelMag_r or dered_r); if the catalog is there, some ids must match it.

    Returns
    -------
    Path
        The stored file, which ``agnbench prep`` joins on specObjID.
    """
    src = Path(src)
    if not src.is_file():
        raise AgnbenchError(f"{src}: photometry file not found (--photometry)")
    suffix = "".join(src.suffixes).lower()
    data = src.read_bytes()
    if suffix.endswith(".csv"):
        if data.lstrip().startswith(b"#Table"):
            data = data.split(b"\n", 1)[1] if b"\n" in data else b""
        ext = ".csv"
    elif suffix.endswith((".fits", ".fit")):
        ext = ".fits"
    elif suffix.endswith(".parquet"):
        ext = ".parquet"
    else:
        raise AgnbenchError(f"{src}: photometry must be CSV, FITS or Parquet (got {suffix or 'no suffix'})")
    cat_dir = Path(raw) / "catalog"
    cat_dir.mkdir(parents=True, exist_ok=True)
    dest = cat_dir / f"photometry{ext}"
    tmp = cat_dir / f".photometry-check{ext}"
    atomic_write_bytes(tmp, data)
    try:
        try:
            table = read_table(tmp)
        except AgnbenchError as exc:
            raise AgnbenchError(str(exc).replace(str(tmp), str(src))) from None
        _check_photometry(table, src, cat_dir)
        others = [p for p in cat_dir.glob("photometry.*") if p.name != dest.name]
        if others:
            raise AgnbenchError(f"{others[0]}: another photometry table is already there and prep would pick one "
                                "of them; remove it first")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("photometry: %d rows from %s stored as %s", len(table), src, dest)
    return dest


def _check_photometry(table: pd.DataFrame, src: Path, cat_dir: Path) -> None:
    lower = {str(c).lower(): c for c in table.columns}
    if table.empty:
        raise AgnbenchError(f"{src}: the photometry table has no rows")
    if "specobjid" in lower:
        col = table[lower["specobjid"]]
        if pd.api.types.is_float_dtype(col):
            raise AgnbenchError(f"{src}: specObjID is stored as floating point and has lost digits; export it as "
                                "an integer (CasJobs CSV or FITS), or cast with CAST(specObjID AS VARCHAR(20))")
        ids = col.astype(str).str.strip()
        bad = ids[~ids.str.fullmatch(r"\d{1,20}")]
        if len(bad):
            raise AgnbenchError(f"{src}: specObjID has {len(bad)} non-integer value(s), e.g. {bad.iloc[0]!r}; "
                                "export the ids as integers")
    elif all(k in lower for k in ("plate", "mjd", "fiberid")):
        cols = (pd.to_numeric(table[lower[k]]).to_numpy(np.int64) for k in ("plate", "mjd", "fiberid"))
        ids = pd.Series(specobjid(*cols))
    else:
        raise AgnbenchError(f"{src}: needs a specObjID column or plate/mjd/fiberID to join with the catalog "
                            "(see the SQL in the README)")
    if not any(k in lower for k in ("modelmag_r", "dered_r")):
        raise AgnbenchError(f"{src}: no modelMag_r or dered_r column; it is not the photometry of the README's query")
    info = _find(cat_dir, "info")
    if info is not None:
        cat_ids = set(_ids(read_columns(info, ("SPECOBJID", "PLATEID", "MJD", "FIBERID")), info))
        matched = int(ids.isin(cat_ids).sum())
        if matched == 0:
            raise AgnbenchError(f"{src}: none of its {len(ids)} specObjIDs is in {info.name}; query the same data "
                                "release (DR8 or later ids for galSpec*-dr8 files)")
        log.info("photometry: %d of %d rows match %s", matched, len(ids), info.name)
