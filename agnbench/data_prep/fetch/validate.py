"""Checks of downloaded bytes before they are renamed into place (``agnbench fetch``).

Each validator takes the temporary file and returns ``None`` when it holds what was asked for, or
an :class:`Invalid` naming what is wrong. Nothing here trusts the HTTP status: error pages served
with status 200 (HTML, JSON, text) are recognised by their first bytes. FITS files are checked with
the numpy-only reader :mod:`~agnbench.data_prep.formats.fastfits`, which reads headers only (every HDU's
data must fit in the file, so truncation is caught); gzip files (DR7 catalogs) are decompressed
as a stream, which checks their CRC and length, in constant memory, and are refused once the output
passes ``max_gunzip_ratio`` x max(compressed size, 1 MiB) (a gzip bomb).

- catalog (``galSpec*``/``gal_*``): HDU 1 is a binary table with the columns prep needs;
- spectrum (spec-lite): a ``COADD`` table with flux/loglam/ivar and at least one row, and a
  ``SPECOBJ`` or ``SPALL`` HDU; the primary header's PLATEID/MJD/FIBERID, when present, match;
- cutout (Legacy Survey ``fits-cutout``): a primary image of shape (n_band, size, size); all zeros
  means no survey coverage and counts as *missing*;
- jpeg: decodes fully with Pillow as an RGB image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agnbench.data_prep.formats.fastfits import (BLOCK, GUNZIP_MAX_RATIO, FitsFile, gunzip_limit, iter_gunzip,
                                                 read_header, read_image)
from agnbench.data_prep.formats.sdss_files import SurveyFileError, identity_mismatches

#: Columns (upper case) that HDU 1 of each MPA-JHU table must hold, by file stem.
CATALOG_COLUMNS: dict[str, tuple[str, ...]] = {
    "galSpecInfo": ("RA", "DEC", "Z"), "gal_info": ("RA", "DEC", "Z"),
    "galSpecExtra": ("BPTCLASS",), "gal_extra": ("BPTCLASS",),
    "galSpecLine": ("H_ALPHA_FLUX", "H_BETA_FLUX", "OIII_5007_FLUX", "NII_6584_FLUX"),
    "gal_line": ("H_ALPHA_FLUX", "H_BETA_FLUX", "OIII_5007_FLUX", "NII_6584_FLUX"),
    "galSpecIndx": ("D4000_N",), "gal_indx": ("D4000_N",),
}
_ID_SETS = (("SPECOBJID",), ("PLATEID", "MJD", "FIBERID"))
_ERROR_PAGE_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"{", b"[")


@dataclass(frozen=True)
class Invalid:
    """Why downloaded bytes are not kept; ``missing`` marks "the survey has no data here"."""

    reason: str
    missing: bool = False


def error_page(head: bytes) -> str | None:
    """If ``head`` (the first bytes of a body) looks like an HTML/JSON/text error page, say so."""
    start = head.lstrip()[:64].lower()
    if any(start.startswith(s) for s in _ERROR_PAGE_STARTS) or b"<html" in head[:1024].lower():
        kind = "JSON" if start[:1] in (b"{", b"[") else "HTML"
        text = head[:120].decode("utf-8", "replace").replace("\n", " ").strip()
        return f"the server sent a {kind} page instead of data ({text!r})"
    return None


def _head(path: Path, n: int = 1024) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def validate_catalog(path: Path, *, stem: str, max_gunzip_ratio: float = GUNZIP_MAX_RATIO) -> Invalid | None:
    """HDU 1 of an MPA-JHU table (FITS, or gzip-compressed FITS) has the expected columns.

    Parameters
    ----------
    path : Path
        The downloaded file.
    stem : str
        Table kind, a key of :data:`CATALOG_COLUMNS` (``galSpecInfo``, ``gal_line``, ...).
    max_gunzip_ratio : float
        A gzip file may decompress to at most this x max(its size, 1 MiB) bytes (``fetch.max_gunzip_ratio``).
    """
    head = _head(path)
    if (why := error_page(head)) is not None:
        return Invalid(why)
    try:
        if head[:2] == b"\x1f\x8b":
            header, n_rows = _gzip_table_header(path, max_ratio=max_gunzip_ratio)
        else:
            with FitsFile(path) as f:
                hdus = f.hdus()  # every HDU's data must fit in the file
                if len(hdus) < 2:
                    return Invalid(f"{path.name}: no table HDU (only the primary HDU)")
                header, n_rows = hdus[1].header, int(hdus[1].header.get("NAXIS2", 0))
    except SurveyFileError as exc:
        return Invalid(str(exc))
    if header.get("XTENSION") != "BINTABLE":
        return Invalid(f"{path.name}: HDU 1 is not a binary table (XTENSION={header.get('XTENSION')!r})")
    names = {str(header.get(f"TTYPE{i}", "")).strip().upper() for i in range(1, int(header.get("TFIELDS", 0)) + 1)}
    wanted = CATALOG_COLUMNS.get(stem, ())
    missing = [c for c in wanted if c not in names]
    if stem in ("galSpecInfo", "gal_info") and not any(all(c in names for c in s) for s in _ID_SETS):
        missing.append("SPECOBJID (or PLATEID/MJD/FIBERID)")
    if missing:
        return Invalid(f"{path.name}: HDU 1 lacks column(s) {', '.join(missing)}; not an MPA-JHU {stem} table")
    if n_rows <= 0:
        return Invalid(f"{path.name}: HDU 1 has no rows")
    return None


def _gzip_table_header(path: Path, *, max_ratio: float) -> tuple[dict, int]:
    """HDU 1 header of a gzip-compressed FITS file, after streaming the whole file (CRC check, size cap)."""
    first, total = bytearray(), 0
    with open(path, "rb") as fh:
        for chunk in iter_gunzip(fh, name=path.name, limit=gunzip_limit(path.stat().st_size, max_ratio=max_ratio)):
            if len(first) < 64 * BLOCK:
                first += chunk[: 64 * BLOCK - len(first)]
            total += len(chunk)
    buf = io.BytesIO(bytes(first))
    buf.name = path.name
    primary, length = read_header(buf)
    if primary.get("SIMPLE") is not True:
        raise SurveyFileError(f"{path.name}: the gzip stream does not hold a FITS file")
    dims = [int(primary.get(f"NAXIS{i}", 0)) for i in range(1, int(primary.get("NAXIS", 0)) + 1)]
    data = abs(int(primary.get("BITPIX", 8))) // 8 * int(np.prod(dims)) if dims else 0
    buf.seek(length + -(-data // BLOCK) * BLOCK)
    header, hlen = read_header(buf)
    start = length + -(-data // BLOCK) * BLOCK + hlen
    rows, width = int(header.get("NAXIS2", 0)), int(header.get("NAXIS1", 0))
    if start + rows * width > total:
        raise SurveyFileError(f"{path.name}: truncated (HDU 1 needs {rows * width} data bytes, the stream has "
                              f"{total - start}); re-download it")
    return header, rows


def validate_spectrum(path: Path, *, plate: int, mjd: int, fiber: int) -> Invalid | None:
    """An SDSS spec-lite (or full spec) file for this plate/mjd/fiber."""
    if (why := error_page(_head(path))) is not None:
        return Invalid(why)
    try:
        with FitsFile(path) as f:
            hdus = f.hdus()
            names = {h.name for h in hdus}
            primary = hdus[0].header
            if "COADD" not in names:
                return Invalid(f"{path.name}: no COADD HDU (found {sorted(names)}); not an SDSS spec-lite file")
            cols = {c.lower() for c in f.columns("COADD")}
            coadd_rows = int(f.hdu("COADD").header.get("NAXIS2", 0))
    except SurveyFileError as exc:
        return Invalid(str(exc))
    lacking = [c for c in ("flux", "loglam", "ivar") if c not in cols]
    if lacking:
        return Invalid(f"{path.name}: COADD lacks column(s) {', '.join(lacking)}")
    if coadd_rows <= 0:
        return Invalid(f"{path.name}: COADD has no pixels")
    if not names & {"SPECOBJ", "SPALL"}:
        return Invalid(f"{path.name}: neither a SPECOBJ nor a SPALL HDU")
    wrong = identity_mismatches(primary, plate=plate, mjd=mjd, fiber=fiber, where="primary header")
    if wrong:
        return Invalid(f"{path.name}: {wrong[0]}; the server sent another object's spectrum (check fetch.spectra_url)")
    return None


def validate_cutout(path: Path, *, size: int, bands: str) -> Invalid | None:
    """A Legacy Survey ``fits-cutout``: primary image (len(bands), size, size); all-zero = no coverage."""
    if (why := error_page(_head(path))) is not None:
        return Invalid(why)
    try:
        data, header = read_image(path, 0)
    except SurveyFileError as exc:
        return Invalid(str(exc))
    want = (len(bands), size, size)
    if data.shape != want:
        return Invalid(f"{path.name}: image shape {data.shape}, expected {want} (bands {bands!r}, size {size}); "
                       "check fetch.size and fetch.bands")
    got_bands = str(header.get("BANDS", "")).strip()
    if got_bands and got_bands != bands:
        return Invalid(f"{path.name}: BANDS={got_bands!r}, expected {bands!r}")
    finite = np.isfinite(data)
    if not finite.any() or not np.any(data[finite] != 0):
        return Invalid(f"{path.name}: every pixel is 0 or NaN: no survey coverage at this position", missing=True)
    return None


def validate_jpeg(path: Path, *, size: int) -> Invalid | None:
    """A JPEG that decodes fully (Pillow) as an RGB image of ``size`` x ``size`` pixels."""
    from PIL import Image, UnidentifiedImageError

    head = _head(path)
    if (why := error_page(head)) is not None:
        return Invalid(why)
    if head[:3] != b"\xff\xd8\xff":
        return Invalid(f"{path.name}: not a JPEG (first bytes {head[:8]!r})")
    try:
        with Image.open(path) as img:
            img.load()  # a truncated stream raises here
            mode, shape = img.mode, img.size
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        return Invalid(f"{path.name}: JPEG does not decode ({exc}); re-download it")
    if mode != "RGB":
        return Invalid(f"{path.name}: JPEG mode {mode}, expected RGB")
    if shape != (size, size):
        return Invalid(f"{path.name}: JPEG is {shape[0]}x{shape[1]} pixels, expected {size}x{size}")
    return None
