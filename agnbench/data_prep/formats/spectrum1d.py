"""One reader for 1-D spectrum files of any survey: SDSS/BOSS spec files, image rows, binary tables.

Layouts (``prep.reader.layout``; ``auto`` tries them in this order):

``sdss``
    An HDU named ``COADD`` (loglam, flux, ivar, and_mask) and ``SPECOBJ`` (SDSS-I/II spec-lite) or
    ``SPALL`` (BOSS/eBOSS) for the redshift, class and ids (vacuum wavelengths).
``table``
    A binary table with a wavelength and a flux column (DESI/LAMOST-like), either one row of arrays or
    one row per pixel. Names are found case-insensitively among :data:`COLUMN_NAMES` or given by
    ``prep.reader.columns`` (``wave=LAMBDA,flux=FLUX,ivar=IVAR``); the noise is an inverse variance,
    a sigma or a variance column; ``TUNITn`` of the wavelength column sets its unit.
``image``
    A 1-D spectrum or a 2-D image whose rows are flux, noise, sky, ... (6dF, IRAF ``onedspec``):
    ``prep.reader.flux_row`` / ``noise_row`` / ``noise`` pick the rows. The wavelength axis is the
    FITS WCS of axis 1: ``CRVAL1``, ``CDELT1`` or ``CD1_1``, ``CRPIX1`` (default 1), linear, or
    log10-linear when ``DC-FLAG = 1`` (IRAF) or ``CTYPE1`` contains ``LOG`` with ``CRVAL1 < 10``,
    or the FITS ``WAVE-LOG`` algorithm otherwise; SDSS ``COEFF0``/``COEFF1`` (log10) also work;
    ``CUNIT1`` Angstrom (default), nm, um or m.

Wavelengths are returned in vacuum: air wavelengths (``CTYPE1 = AWAV``, ``AIRORVAC = air``,
``VACUUM = F``, or ``prep.reader.medium = air``) are converted with :func:`air_to_vacuum`. Headers
that say nothing are taken as vacuum unless ``prep.reader.medium`` says otherwise, and the
spectrum's ``meta["medium"]`` records that it was assumed.

Every failure is a :class:`~agnbench.data_prep.formats.sdss_files.SurveyFileError` naming the file
and what was expected; the callers quarantine the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agnbench.config.choices import SPPIXMASK_BITS
from agnbench.config.prep import ReaderConfig
from agnbench.data_prep.formats.fastfits import FitsFile, HDUInfo, read_image
from agnbench.data_prep.formats.sdss_files import SurveyFileError

#: Column names tried (case-insensitively, in order) for each role in the ``table`` layout.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "wave": ("wave", "wavelength", "lambda", "lam", "wavelength_air", "wave_air"),
    "loglam": ("loglam", "log_lambda", "log_wave"),
    "flux": ("flux", "flux_density", "spec", "spectrum"),
    "ivar": ("ivar", "invvar", "inv_var", "ivariance", "flux_ivar"),
    "sigma": ("sigma", "error", "err", "flux_err", "flux_error", "noise", "uncertainty"),
    "variance": ("variance", "var", "flux_var"),
    "mask": ("and_mask", "andmask", "mask", "pixmask", "pixel_mask"),
}
#: Header keywords (then one-row table columns) giving the object's redshift, class and name.
META_KEYS: dict[str, tuple[str, ...]] = {
    "z": ("Z", "REDSHIFT", "Z_HELIO", "ZBEST", "Z_SPEC", "ZSPEC"),
    "spec_class": ("CLASS", "SPECTYPE", "OBJTYPE"),
    "subclass": ("SUBCLASS", "SUBTYPE"),
    "zwarning": ("ZWARNING", "ZWARN", "Z_WARNING"),
    "name": ("TARGETID", "OBJID", "OBJNAME", "TARGNAME", "TARGETNAME", "OBJECT"),
    "ra": ("PLUG_RA", "RA", "TARGET_RA", "RA_OBJ", "OBJRA"),
    "dec": ("PLUG_DEC", "DEC", "TARGET_DEC", "DEC_OBJ", "OBJDEC"),
}
_SDSS_FIELDS = {"z": ("Z",), "plate": ("PLATE",), "mjd": ("MJD",), "fiber": ("FIBERID",),
                "specobjid": ("SPECOBJID", "SPECOBJ_ID"), "spec_class": ("CLASS",), "subclass": ("SUBCLASS",),
                "zwarning": ("ZWARNING", "Z_WARNING"), "ra": ("PLUG_RA", "RA"), "dec": ("PLUG_DEC", "DEC")}
_UNITS = {"angstrom": 1.0, "angstroms": 1.0, "a": 1.0, "aa": 1.0, "0.1 nm": 1.0, "nm": 10.0, "nanometer": 10.0,
          "um": 1e4, "micron": 1e4, "microns": 1e4, "m": 1e10}


def mask_bits(names: str) -> int:
    """Bitmask of comma-separated SPPIXMASK bit names or bit numbers (``"BRIGHTSKY,16"``); ``""`` -> 0.

    Raises
    ------
    ValueError
        Naming an unknown bit name and the known ones.
    """
    out = 0
    for part in filter(None, (p.strip() for p in names.split(","))):
        if part.isdigit() and int(part) < 63:
            out |= 1 << int(part)
        elif part.upper() in SPPIXMASK_BITS:
            out |= 1 << SPPIXMASK_BITS[part.upper()]
        else:
            raise ValueError(f"unknown and_mask bit {part!r}; use bit numbers or SDSS SPPIXMASK names: "
                             f"{', '.join(SPPIXMASK_BITS)}")
    return out


def air_to_vacuum(wave_air: np.ndarray) -> np.ndarray:
    """Vacuum wavelengths (A) from air wavelengths (A), Morton (2000, ApJS 130, 403) eq. 3.

    ``n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s^2) + 1.5998e-4 / (38.9 - s^2)`` with ``s = 1e4 /
    lambda_air`` (um^-1) evaluated at the air wavelength (accurate to ~0.01 A in the optical); the
    formula only holds above 2000 A, so shorter wavelengths are returned unchanged.
    """
    wave_air = np.asarray(wave_air, dtype=np.float64)
    s2 = (1e4 / np.where(wave_air > 0, wave_air, 1.0)) ** 2
    n = 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)
    return np.where(wave_air >= 2000.0, wave_air * n, wave_air)


@dataclass(frozen=True)
class Spectrum1D:
    """One spectrum, whatever the file layout.

    Attributes
    ----------
    loglam : numpy.ndarray of float64, shape (n_pix,)
        log10 vacuum wavelength (A), strictly increasing.
    flux : numpy.ndarray of float64, shape (n_pix,)
        Flux density in the file's units (SDSS: 1e-17 erg/s/cm^2/A).
    ivar : numpy.ndarray of float64, shape (n_pix,)
        Inverse variance of ``flux``; 0 where unknown.
    good : numpy.ndarray of bool, shape (n_pix,)
        Finite flux and ivar, ivar > 0, and no rejecting mask bit.
    meta : dict
        What the file says about the object: ``layout``, ``medium`` and, where present, ``z``,
        ``spec_class``, ``subclass``, ``zwarning``, ``name``, ``ra``, ``dec`` (SDSS: also ``plate``,
        ``mjd``, ``fiber``, ``specobjid`` from the SPECOBJ/SPALL row, ``sdss_hdu`` naming that HDU, and
        ``header_ids``: the primary header's PLATEID/MJD/FIBERID keywords that are present).
    """

    loglam: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    good: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def read_spectrum_1d(path: str | Path, reader: ReaderConfig | None = None, *, arrays: bool = True) -> Spectrum1D:
    """Read one spectrum file in any supported layout (module docstring).

    Parameters
    ----------
    path : str or Path
    reader : ReaderConfig, optional
        ``prep.reader`` (layout, HDU, rows, columns, medium, ignored mask bits); defaults if None.
    arrays : bool
        False reads only the metadata (the arrays are then empty): the cheap first pass of prep.

    Raises
    ------
    SurveyFileError
        Not FITS, truncated, no HDU of the layout, missing columns or WCS, shapes that disagree.
    """
    reader = reader or ReaderConfig()
    path = Path(path)
    with FitsFile(path) as f:
        hdus = f.hdus()
        layout = reader.layout if reader.layout != "auto" else _detect(f, hdus, reader)
        if layout == "sdss":
            spec = _read_sdss(f, hdus, reader, arrays)
        elif layout == "table":
            spec = _read_table(f, _pick_hdu(f, hdus, reader, "table"), reader, arrays)
        elif layout == "image":
            spec = _read_image(f, _pick_hdu(f, hdus, reader, "image"), reader, arrays)
        else:  # pragma: no cover - config validation rejects other layouts
            raise SurveyFileError(f"{path}: unknown spectrum layout {layout!r}")
    if arrays:
        _check_arrays(path, spec)
    return spec


def _detect(f: FitsFile, hdus: list[HDUInfo], reader: ReaderConfig) -> str:
    names = [h.name for h in hdus]
    if "COADD" in names:
        return "sdss"
    for h in hdus:
        if h.header.get("XTENSION") == "BINTABLE" and _table_roles(f, h, reader, strict=False) is not None:
            return "table"
    for h in hdus:
        if _is_image(h) and _has_wcs(h.header):
            return "image"
    raise SurveyFileError(
        f"{f.path}: not a spectrum layout agnbench knows: no COADD HDU (SDSS/BOSS), no binary table with "
        f"wavelength and flux columns ({'/'.join(COLUMN_NAMES['wave'] + COLUMN_NAMES['loglam'])} and "
        f"{'/'.join(COLUMN_NAMES['flux'])}), no image with a wavelength WCS (CRVAL1 + CDELT1/CD1_1); "
        f"HDUs: {', '.join(h.describe() for h in hdus)}. Set prep.reader.layout/columns/hdu to say where "
        "the spectrum is")


def _is_image(h: HDUInfo) -> bool:
    return (h.index == 0 or h.header.get("XTENSION") == "IMAGE") and h.data_size > 0


def _has_wcs(header: dict[str, Any]) -> bool:
    return ("CRVAL1" in header and ("CDELT1" in header or "CD1_1" in header)) or \
        ("COEFF0" in header and "COEFF1" in header)


def _pick_hdu(f: FitsFile, hdus: list[HDUInfo], reader: ReaderConfig, layout: str) -> HDUInfo:
    if reader.hdu:
        key: int | str = int(reader.hdu) if reader.hdu.isdigit() else reader.hdu.upper()
        return f.hdu(key)
    for h in hdus:
        if layout == "table" and h.header.get("XTENSION") == "BINTABLE" and \
                _table_roles(f, h, reader, strict=False) is not None:
            return h
        if layout == "image" and _is_image(h) and _has_wcs(h.header):
            return h
    tables = [h for h in hdus if h.header.get("XTENSION") == "BINTABLE"]
    if layout == "table" and tables:
        _table_roles(f, tables[0], reader, strict=True)  # raises naming the missing column
    raise SurveyFileError(f"{f.path}: no {layout} HDU holding a spectrum (HDUs: "
                          f"{', '.join(h.describe() for h in hdus)}); set prep.reader.hdu")


def _header_meta(*headers: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, names in META_KEYS.items():
        for h in headers:
            value = next((h[n] for n in names if n in h and h[n] not in (None, "")), None)
            if value is not None:
                meta[key] = value.strip() if isinstance(value, str) else value
                break
    return meta


def _medium(header: dict[str, Any], reader: ReaderConfig, *, default: str = "vacuum") -> tuple[str, bool]:
    """(medium, assumed): the reader setting wins, then CTYPE1/AIRORVAC/VACUUM, then ``default``."""
    if reader.medium != "auto":
        return reader.medium, False
    ctype = str(header.get("CTYPE1", "")).upper()
    said = str(header.get("AIRORVAC", header.get("AIRVAC", ""))).strip().lower()
    if ctype.startswith("AWAV") or said.startswith("air"):
        return "air", False
    if ctype.startswith("WAVE") or said.startswith("vac"):
        return "vacuum", False
    if isinstance(header.get("VACUUM"), bool):
        return ("vacuum" if header["VACUUM"] else "air"), False
    return default, True


def _to_loglam(wave: np.ndarray, medium: str) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float64)
    if medium == "air":
        wave = air_to_vacuum(wave)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(wave > 0, np.log10(np.where(wave > 0, wave, 1.0)), np.nan)


def _good(flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray | None, reject: int) -> np.ndarray:
    good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    if mask is not None:
        good &= (np.asarray(mask).astype(np.int64) & reject) == 0
    return good


def _reject_bits(reader: ReaderConfig) -> int:
    return ~mask_bits(reader.and_mask_ignore)


# ---------------------------------------------------------------------------------------------- sdss
def _read_sdss(f: FitsFile, hdus: list[HDUInfo], reader: ReaderConfig, arrays: bool) -> Spectrum1D:
    names = [h.name for h in hdus]
    if "COADD" not in names:
        raise SurveyFileError(f"{f.path}: no COADD HDU (found {names}); not an SDSS spec file")
    obj = "SPECOBJ" if "SPECOBJ" in names else "SPALL" if "SPALL" in names else None
    if obj is None:
        raise SurveyFileError(f"{f.path}: neither a SPECOBJ nor a SPALL HDU (found {names}); "
                              "cannot read redshift and ids")
    present = {c.lower(): c for c in f.columns(obj)}
    pick = {k: next((present[n.lower()] for n in alts if n.lower() in present), None)
            for k, alts in _SDSS_FIELDS.items()}
    if pick["z"] is None:
        raise SurveyFileError(f"{f.path}: {obj} HDU lacks column Z")
    wanted = [c for c in dict.fromkeys(pick.values()) if c]
    row = f.bintable(obj, wanted, rows=slice(0, 1))
    if any(len(v) == 0 for v in row.values()):
        raise SurveyFileError(f"{f.path}: {obj} HDU has no rows")
    meta: dict[str, Any] = {"layout": "sdss", "medium": "vacuum", "sdss_hdu": obj,
                            "header_ids": {k: hdus[0].header[k] for k in ("PLATEID", "MJD", "FIBERID")
                                           if k in hdus[0].header}}
    for key, col in pick.items():
        if col is None or col not in row:
            continue
        value = row[col][0]
        if isinstance(value, (bytes, np.bytes_)):
            value = value.decode("ascii", "replace")
        if isinstance(value, np.ndarray):  # multi-element columns (e.g. BOSS OBJID) are not metadata
            continue
        meta[key] = value.strip() if isinstance(value, str) else value.item() if hasattr(value, "item") else value
    if not arrays:
        return Spectrum1D(np.empty(0), np.empty(0), np.empty(0), np.empty(0, bool), meta)
    cols = read_coadd(f)
    flux, ivar = cols["flux"].astype(np.float64), cols["ivar"].astype(np.float64)
    mask = cols["and_mask"]
    return Spectrum1D(cols["loglam"].astype(np.float64), flux, ivar, _good(flux, ivar, mask, _reject_bits(reader)),
                      meta)


def read_coadd(f: FitsFile) -> dict[str, np.ndarray]:
    """loglam, flux, ivar and and_mask (zeros when absent) of an SDSS ``COADD`` HDU, each (n_pix,).

    Raises
    ------
    SurveyFileError
        If the COADD HDU lacks loglam, flux or ivar.
    """
    present = {c.lower(): c for c in f.columns("COADD")}
    missing = [c for c in ("loglam", "flux", "ivar") if c not in present]
    if missing:
        raise SurveyFileError(f"{f.path}: COADD HDU lacks column(s) {missing} (found {sorted(present)})")
    want = [present[c] for c in ("loglam", "flux", "ivar", "and_mask") if c in present]
    cols = {k.lower(): v for k, v in f.bintable("COADD", want).items()}
    cols.setdefault("and_mask", np.zeros(len(cols["flux"]), dtype=np.int64))
    return cols


# ---------------------------------------------------------------------------------------------- table
def _user_columns(reader: ReaderConfig) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in reader.columns.split(","))):
        role, _, name = part.partition("=")
        out[role.strip().lower()] = name.strip()
    return out


def _table_roles(f: FitsFile, h: HDUInfo, reader: ReaderConfig, *, strict: bool) -> dict[str, str] | None:
    """Role -> column name in table HDU ``h`` (None if it has no wavelength+flux, unless ``strict``)."""
    present = {c.lower(): c for c in f.columns(h.index)}
    given = _user_columns(reader)
    roles: dict[str, str] = {}
    for role, names in COLUMN_NAMES.items():
        if role in given:
            if given[role].lower() not in present:
                if strict:
                    raise SurveyFileError(f"{f.path}: {h.describe()} has no column {given[role]!r} "
                                          f"(prep.reader.columns {role}=); columns: {', '.join(present.values())}")
                return None
            roles[role] = present[given[role].lower()]
            continue
        found = next((present[n] for n in names if n in present), None)
        if found is not None:
            roles[role] = found
    if "flux" not in roles or not ({"wave", "loglam"} & set(roles)):
        if strict:
            raise SurveyFileError(f"{f.path}: {h.describe()} lacks a wavelength or flux column "
                                  f"(columns: {', '.join(present.values())}); set prep.reader.columns, "
                                  "e.g. wave=LAMBDA,flux=FLUX,ivar=IVAR")
        return None
    return roles


def _read_table(f: FitsFile, h: HDUInfo, reader: ReaderConfig, arrays: bool) -> Spectrum1D:
    roles = _table_roles(f, h, reader, strict=True)
    assert roles is not None
    present = {c.lower(): c for c in f.columns(h.index)}
    meta_cols = {k: next((present[n.lower()] for n in names if n.lower() in present), None)
                 for k, names in META_KEYS.items()}
    wave_role = "wave" if "wave" in roles else "loglam"
    medium, assumed = _medium(_column_header(h, roles[wave_role]), reader)
    meta = {"layout": "table", "medium": medium + (" (assumed)" if assumed else ""), "hdu": h.describe()}
    meta.update(_header_meta(f.hdus()[0].header, h.header))
    n_rows = int(h.header.get("NAXIS2", 0))
    one_row = n_rows == 1
    scalar_meta = [c for c in dict.fromkeys(meta_cols.values()) if c and c not in roles.values()]
    if one_row and scalar_meta:
        row = f.bintable(h.index, scalar_meta)
        for key, col in meta_cols.items():
            if col in row and np.ndim(row[col][0]) == 0:
                value = row[col][0]
                value = value.decode("ascii", "replace").strip() if isinstance(value, (bytes, np.bytes_)) else value
                meta[key] = value.item() if hasattr(value, "item") else value
    if not arrays:
        return Spectrum1D(np.empty(0), np.empty(0), np.empty(0), np.empty(0, bool), meta)
    cols = f.bintable(h.index, list(dict.fromkeys(roles.values())))
    flat = {role: np.asarray(cols[name], dtype=np.float64).reshape(-1) for role, name in roles.items()
            if role != "mask"}
    if "wave" in flat:
        unit = str(h.header.get(f"TUNIT{_column_index(f, h, roles['wave'])}", "angstrom")).strip().lower()
        if unit and unit not in _UNITS:
            raise SurveyFileError(f"{f.path}: wavelength column {roles['wave']} has unit {unit!r}; "
                                  f"agnbench reads {', '.join(sorted(_UNITS))}")
        loglam = _to_loglam(flat["wave"] * _UNITS.get(unit or "angstrom", 1.0), medium)
    else:
        loglam = flat["loglam"] if medium == "vacuum" else _to_loglam(10.0 ** flat["loglam"], medium)
    flux = flat["flux"]
    ivar = _ivar_from(flat, n=flux.size)
    mask = np.asarray(cols[roles["mask"]]).reshape(-1) if "mask" in roles else None
    return Spectrum1D(loglam, flux, ivar, _good(flux, ivar, mask, _reject_bits(reader)), meta)


def _column_index(f: FitsFile, h: HDUInfo, name: str) -> int:
    return [c.lower() for c in f.columns(h.index)].index(name.lower()) + 1


def _column_header(h: HDUInfo, name: str) -> dict[str, Any]:
    """Header cards that describe the wavelength medium of a table column (TTYPE names, AIRORVAC)."""
    out = {k: v for k, v in h.header.items() if k in ("AIRORVAC", "AIRVAC", "VACUUM")}
    if "air" in name.lower():
        out["AIRORVAC"] = "air"
    return out


def _ivar_from(flat: dict[str, np.ndarray], *, n: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if "ivar" in flat:
            return flat["ivar"]
        if "sigma" in flat:
            s = flat["sigma"]
            return np.where(np.isfinite(s) & (s > 0), 1.0 / (s * s), 0.0)
        if "variance" in flat:
            v = flat["variance"]
            return np.where(np.isfinite(v) & (v > 0), 1.0 / v, 0.0)
    return np.ones(n)  # no noise column: equal weights (recorded in the store's quarantine-free spectra)


# ---------------------------------------------------------------------------------------------- image
def _read_image(f: FitsFile, h: HDUInfo, reader: ReaderConfig, arrays: bool) -> Spectrum1D:
    header = h.header
    medium, assumed = _medium(header, reader)
    meta = {"layout": "image", "medium": medium + (" (assumed)" if assumed else ""), "hdu": h.describe()}
    meta.update(_header_meta(header, f.hdus()[0].header))
    if not arrays:
        return Spectrum1D(np.empty(0), np.empty(0), np.empty(0), np.empty(0, bool), meta)
    data, _ = read_image(f.path, h.index)
    data = np.asarray(data, dtype=np.float64)
    data = data.reshape(-1, data.shape[-1]) if data.ndim > 1 else data[None, :]
    n_rows, n_pix = data.shape
    if not 0 <= reader.flux_row < n_rows:
        raise SurveyFileError(f"{f.path}: {h.describe()} has {n_rows} row(s); prep.reader.flux_row "
                              f"{reader.flux_row} is not one of them")
    flux = data[reader.flux_row]
    if reader.noise_row >= 0 and n_rows > 1:
        if reader.noise_row >= n_rows:
            raise SurveyFileError(f"{f.path}: {h.describe()} has {n_rows} row(s); prep.reader.noise_row "
                                  f"{reader.noise_row} is not one of them (use -1 for no noise row)")
        ivar = _ivar_from({reader.noise: data[reader.noise_row]}, n=n_pix)
    else:
        ivar = np.ones(n_pix)
        meta["noise"] = "none (equal weights)"
    loglam = _to_loglam(_wcs_wave(f.path, header, n_pix), medium) if medium == "air" else \
        _wcs_loglam(f.path, header, n_pix)
    return Spectrum1D(loglam, flux, ivar, _good(flux, ivar, None, 0), meta)


def _wcs_wave(path: Path, header: dict[str, Any], n_pix: int) -> np.ndarray:
    return 10.0 ** _wcs_loglam(path, header, n_pix)


def _wcs_loglam(path: Path, header: dict[str, Any], n_pix: int) -> np.ndarray:
    """log10 wavelength (A, as written: air or vacuum) of the pixels of axis 1 (module docstring)."""
    pix = np.arange(n_pix, dtype=np.float64)
    if "COEFF0" in header and "COEFF1" in header and "CRVAL1" not in header:
        return float(header["COEFF0"]) + float(header["COEFF1"]) * pix
    try:
        crval = float(header["CRVAL1"])
        cdelt = float(header["CDELT1"] if "CDELT1" in header else header["CD1_1"])
        crpix = float(header.get("CRPIX1", 1.0))
    except (KeyError, TypeError, ValueError):
        raise SurveyFileError(f"{path}: no usable wavelength WCS (need numeric CRVAL1 and CDELT1 or CD1_1, "
                              "optional CRPIX1)") from None
    if cdelt == 0 or not (math.isfinite(crval) and math.isfinite(cdelt)):
        raise SurveyFileError(f"{path}: wavelength WCS has CDELT1/CD1_1 = {cdelt} and CRVAL1 = {crval}")
    unit = str(header.get("CUNIT1", "angstrom")).strip().lower() or "angstrom"
    if unit not in _UNITS:
        raise SurveyFileError(f"{path}: CUNIT1 = {unit!r}; agnbench reads {', '.join(sorted(_UNITS))}")
    scale = _UNITS[unit]
    x = crval + (pix + 1.0 - crpix) * cdelt
    ctype = str(header.get("CTYPE1", "")).upper()
    if int(header.get("DC-FLAG", 0) or 0) == 1 or ("LOG" in ctype and abs(crval) < 10):
        return x + math.log10(scale)
    if "LOG" in ctype:  # FITS WCS paper III WAVE-LOG: lambda = CRVAL1 * exp(w / CRVAL1)
        wave = crval * np.exp((pix + 1.0 - crpix) * cdelt / crval)
    else:
        wave = x
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(wave > 0, np.log10(np.where(wave > 0, wave * scale, 1.0)), np.nan)


def _check_arrays(path: Path, spec: Spectrum1D) -> None:
    n = spec.flux.size
    if not (spec.loglam.size == n == spec.ivar.size == spec.good.size) or n < 2:
        raise SurveyFileError(f"{path}: wavelength, flux and noise have {spec.loglam.size}, {n} and "
                              f"{spec.ivar.size} pixels; they must agree (>= 2)")
    ll = spec.loglam
    if not np.all(np.isfinite(ll)):
        raise SurveyFileError(f"{path}: {int(np.sum(~np.isfinite(ll)))} wavelength(s) are not finite or not > 0")
    d = np.diff(ll)
    if np.all(d < 0):  # stored red to blue: flip everything
        object.__setattr__(spec, "loglam", ll[::-1].copy())
        for name in ("flux", "ivar", "good"):
            object.__setattr__(spec, name, getattr(spec, name)[::-1].copy())
    elif np.any(d <= 0):
        raise SurveyFileError(f"{path}: wavelengths are not strictly monotonic ({n} pixels)")
