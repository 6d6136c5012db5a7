"""Readers and writers for the survey file formats the suite consumes.

- SDSS spec-lite ``spec-PLATE-MJD-FIBER.fits``: HDU1 ``COADD`` (flux, loglam, ivar, and_mask,
  or_mask, wdisp, sky, model), HDU2 ``SPECOBJ`` (SDSS-I/II) or ``SPALL`` (BOSS/eBOSS), HDU3
  ``SPZLINE``. The reader accepts both layouts and any column-name case.
- Legacy Survey viewer ``fits-cutout``: one primary HDU, data ``(n_band, H, W)``, ``BANDS``,
  ``BAND0..`` and a TAN WCS.
- FITS binary tables from pandas DataFrames (strings as fixed-width ASCII, as in MPA-JHU files).

The mock survey writes with these functions and data prep reads with them, so the code path is
the same for real and simulated files.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from astropy.io import fits

from agnbench.errors import AgnbenchError

COADD_COLUMNS = (("flux", "E"), ("loglam", "E"), ("ivar", "E"), ("and_mask", "J"), ("or_mask", "J"),
                 ("wdisp", "E"), ("sky", "E"), ("model", "E"))


class SurveyFileError(AgnbenchError):
    """A survey file that cannot be read as the expected format (corrupt, truncated, wrong layout)."""


def specobjid(plate: np.ndarray, mjd: np.ndarray, fiber: np.ndarray, *, run2d: int = 26) -> np.ndarray:
    """DR8 bit-packed specObjID as decimal strings.

    ``plate << 50 | fiber << 38 | (mjd - 50000) << 24 | run2d << 10``; run2d = 26 for the SDSS-I/II
    (DR7) plates, as checked against a real spec-lite file.
    """
    ids = (plate.astype(np.uint64) << np.uint64(50)) | (fiber.astype(np.uint64) << np.uint64(38)) \
        | ((mjd.astype(np.uint64) - np.uint64(50000)) << np.uint64(24)) | (np.uint64(run2d) << np.uint64(10))
    return np.array([str(int(v)) for v in ids])


def spec_filename(plate: int, mjd: int, fiber: int) -> str:
    """SDSS spec-lite file name, e.g. ``spec-0266-51630-0168.fits``."""
    return f"spec-{plate:04d}-{mjd:05d}-{fiber:04d}.fits"


def identity_mismatches(values: Mapping[str, Any], *, plate: int, mjd: int, fiber: int, where: str,
                        table: bool = False) -> list[str]:
    """The identity a spectrum file states that disagrees with the expected plate, MJD and fiber.

    The one identity check of spectrum files, used by ``agnbench fetch`` (downloads) and ``agnbench prep``
    (files on disk). Keys absent from ``values`` or not integers are not checked: a file that states no
    identity is accepted.

    Parameters
    ----------
    values : mapping
        What the file says: primary-header keywords ``PLATEID``, ``MJD``, ``FIBERID``, or (``table=True``)
        the ``SPECOBJ``/``SPALL`` columns ``PLATE``, ``MJD``, ``FIBERID``.
    plate, mjd, fiber : int
        The expected identity (the catalog row's, or the one asked for).
    where : str
        Where ``values`` come from, for the message (``"primary header"``, ``"SPECOBJ HDU"``).

    Returns
    -------
    list of str
        One ``"{where} {key}={found}, expected {wanted}"`` per disagreeing key; empty if none.
    """
    keys = ("PLATE", "MJD", "FIBERID") if table else ("PLATEID", "MJD", "FIBERID")
    out = []
    for key, want in zip(keys, (plate, mjd, fiber)):
        got = values.get(key)
        if isinstance(got, (int, np.integer)) and not isinstance(got, bool) and int(got) != int(want):
            out.append(f"{where} {key}={int(got)}, expected {int(want)}")
    return out


def _atomic_bytes_write(data: bytes, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _hdul_bytes(hdul: fits.HDUList) -> bytes:
    buf = io.BytesIO()
    hdul.writeto(buf, output_verify="silentfix")
    return buf.getvalue()


def _table_hdu(columns: Mapping[str, np.ndarray], formats: Mapping[str, str], name: str) -> fits.BinTableHDU:
    cols = [fits.Column(name=k, format=formats[k], array=v) for k, v in columns.items()]
    return fits.BinTableHDU.from_columns(cols, name=name)


def _pad(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % _BLOCK)


class _HeaderTemplate:
    """A FITS header formatted once by astropy; single cards are re-formatted per file."""

    def __init__(self, header: fits.Header) -> None:
        text = header.tostring()
        self._cards = [text[i : i + 80] for i in range(0, len(text), 80)]
        self._index = {c[:8].strip(): i for i, c in enumerate(self._cards) if c[:8].strip() not in ("", "END")}
        self._template = header

    def render(self, values: Mapping[str, Any]) -> bytes:
        cards = list(self._cards)
        for key, value in values.items():
            if isinstance(value, tuple):
                value, comment = value
            else:
                comment = self._template.comments[key]
            cards[self._index[key]] = fits.Card(key, value, comment).image
        return "".join(cards).encode("ascii")


_BLOCK = 2880


class _TableTemplate:
    """Binary-table layout (header + big-endian row dtype) for writing many tables of one layout."""

    def __init__(self, hdu: fits.BinTableHDU) -> None:
        self.header = _HeaderTemplate(hdu.header)
        self.dtype = hdu.data.dtype.newbyteorder(">")
        self.names = hdu.data.dtype.names

    def render(self, columns: Mapping[str, Any], n_rows: int) -> bytes:
        rows = np.zeros(n_rows, dtype=self.dtype)
        for name in self.names:
            rows[name] = columns[name]
        return self.header.render({"NAXIS2": n_rows}) + _pad(rows.tobytes(), b"\0")


class SpecliteWriter:
    """Write SDSS-I/II spec-lite files of one layout quickly.

    The headers and row layouts are built once by astropy from the first file's content; each
    later file only re-formats the cards that change and packs its rows as big-endian bytes,
    which gives byte-identical output to :func:`write_speclite` (tested) at a fraction of the
    cost. Keys and column formats must be the same for every file written by one writer.
    """

    def __init__(self) -> None:
        self._templates: tuple[_HeaderTemplate, _TableTemplate, _TableTemplate, _TableTemplate] | None = None

    def to_bytes(
        self,
        *,
        header: Mapping[str, Any],
        coadd: Mapping[str, np.ndarray],
        specobj: Mapping[str, tuple[Any, str]],
        spzline: Mapping[str, tuple[np.ndarray, str]],
    ) -> bytes:
        """The FITS file's bytes; arguments as in :func:`write_speclite`."""
        if self._templates is None:
            hdul = fits.HDUList(_speclite_hdus(header=header, coadd=coadd, specobj=specobj, spzline=spzline))
            fits.HDUList(hdul).writeto(io.BytesIO(), output_verify="silentfix")  # let astropy finalise headers
            self._templates = (_HeaderTemplate(hdul[0].header), _TableTemplate(hdul[1]), _TableTemplate(hdul[2]),
                               _TableTemplate(hdul[3]))
        primary, t_coadd, t_obj, t_spz = self._templates
        n_lines = len(next(iter(spzline.values()))[0])
        return b"".join([
            _pad(primary.render(header), b" "),
            t_coadd.render(coadd, len(coadd["flux"])),
            t_obj.render({k: v for k, (v, _) in specobj.items()}, 1),
            t_spz.render({k: v for k, (v, _) in spzline.items()}, n_lines),
        ])


def _speclite_hdus(*, header, coadd, specobj, spzline) -> list:
    primary = fits.PrimaryHDU()
    for key, value in header.items():
        primary.header[key] = value
    fmt = dict(COADD_COLUMNS)
    return [
        primary,
        _table_hdu({k: np.asarray(coadd[k]) for k, _ in COADD_COLUMNS}, fmt, "COADD"),
        _table_hdu({k: np.array([v]) for k, (v, _) in specobj.items()}, {k: f for k, (_, f) in specobj.items()}, "SPECOBJ"),
        _table_hdu({k: v for k, (v, _) in spzline.items()}, {k: f for k, (_, f) in spzline.items()}, "SPZLINE"),
    ]


def write_speclite(
    path: Path,
    *,
    header: Mapping[str, Any],
    coadd: Mapping[str, np.ndarray],
    specobj: Mapping[str, tuple[Any, str]],
    spzline: Mapping[str, tuple[np.ndarray, str]],
) -> None:
    """Write an SDSS-I/II spec-lite file with astropy (reference writer; see :class:`SpecliteWriter`).

    Parameters
    ----------
    path : Path
    header : mapping
        Primary-header keywords (PLATEID, MJD, FIBERID, COEFF0, COEFF1, ...); a value may be a
        ``(value, comment)`` tuple.
    coadd : mapping
        Arrays of shape (n_pix,) for every name in :data:`COADD_COLUMNS`.
    specobj : mapping
        name -> (value, FITS TFORM) for the one-row SPECOBJ table.
    spzline : mapping
        name -> (array of shape (n_lines,), TFORM) for the SPZLINE table.
    """
    hdus = _speclite_hdus(header=header, coadd=coadd, specobj=specobj, spzline=spzline)
    _atomic_bytes_write(_hdul_bytes(fits.HDUList(hdus)), path)


@dataclass(frozen=True)
class Spectrum:
    """One spectrum as read from a spec / spec-lite file.

    Attributes
    ----------
    loglam, flux, ivar : numpy.ndarray of float64, shape (n_pix,)
        log10 vacuum wavelength (A), flux (1e-17 erg/s/cm^2/A), inverse variance.
    and_mask : numpy.ndarray of int64, shape (n_pix,)
    z : float
    plate, mjd, fiber : int
    specobjid : str
    spec_class, subclass : str
    layout : str
        ``"sdss"`` (SPECOBJ HDU) or ``"boss"`` (SPALL HDU).
    """

    loglam: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    and_mask: np.ndarray
    z: float
    plate: int
    mjd: int
    fiber: int
    specobjid: str
    spec_class: str
    subclass: str
    layout: str


def _field(rec: fits.FITS_rec, *names: str) -> Any:
    lower = {n.lower(): n for n in rec.names}
    for name in names:
        if name.lower() in lower:
            return rec[lower[name.lower()]][0]
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip()


def _open_fits(path: Path, what: str) -> fits.HDUList:
    """Open a FITS file fully (no lazy HDUs); truncated or non-FITS files raise SurveyFileError."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*truncated.*")
            return fits.open(path, memmap=False, lazy_load_hdus=False)
    except Warning as exc:
        raise SurveyFileError(f"{path}: file is truncated ({exc}); re-download it") from None
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise SurveyFileError(f"{path}: cannot read as {what} ({type(exc).__name__}: {exc})") from exc


def read_spectrum(path: str | Path) -> Spectrum:
    """Read an SDSS spec-lite or full spec file (SDSS-I/II or BOSS/eBOSS layout).

    Raises
    ------
    SurveyFileError
        If the file is not readable FITS or lacks the COADD table or the object HDU.
    """
    path = Path(path)
    hdul = _open_fits(path, "an SDSS spec file")
    try:
        with hdul:
            names = [h.name.upper() for h in hdul]
            if "COADD" not in names:
                raise SurveyFileError(f"{path}: no COADD HDU (found {names}); not an SDSS spec file")
            coadd = hdul["COADD"].data
            cols = {c.lower(): c for c in coadd.names}
            missing = [c for c in ("loglam", "flux", "ivar") if c not in cols]
            if missing:
                raise SurveyFileError(f"{path}: COADD HDU lacks column(s) {missing}")
            layout = "sdss" if "SPECOBJ" in names else "boss" if "SPALL" in names else None
            if layout is None:
                raise SurveyFileError(f"{path}: neither a SPECOBJ nor a SPALL HDU; cannot read redshift and ids")
            obj = hdul["SPECOBJ" if layout == "sdss" else "SPALL"].data
            mask = coadd[cols["and_mask"]] if "and_mask" in cols else np.zeros(len(coadd), dtype=np.int64)
            spec = Spectrum(
                loglam=np.asarray(coadd[cols["loglam"]], dtype=np.float64),
                flux=np.asarray(coadd[cols["flux"]], dtype=np.float64),
                ivar=np.asarray(coadd[cols["ivar"]], dtype=np.float64),
                and_mask=np.asarray(mask, dtype=np.int64),
                z=float(_field(obj, "Z")),
                plate=int(_field(obj, "PLATE")),
                mjd=int(_field(obj, "MJD")),
                fiber=int(_field(obj, "FIBERID")),
                specobjid=_text(_field(obj, "SPECOBJID", "SPECOBJ_ID")),
                spec_class=_text(_field(obj, "CLASS")),
                subclass=_text(_field(obj, "SUBCLASS")),
                layout=layout,
            )
    except SurveyFileError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise SurveyFileError(f"{path}: cannot read as an SDSS spec file ({type(exc).__name__}: {exc})") from exc
    return spec


def cutout_hdu(image: np.ndarray, *, ra: float, dec: float, pixel_scale: float, bands: str = "grz") -> fits.PrimaryHDU:
    """Legacy Survey viewer-style ``fits-cutout`` HDU: data (n_band, H, W) float32 in nanomaggies."""
    n_band, height, width = image.shape
    hdu = fits.PrimaryHDU(np.asarray(image, dtype=np.float32))
    h = hdu.header
    h["BANDS"] = bands
    for i, b in enumerate(bands):
        h[f"BAND{i}"] = b
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = float(ra), float(dec)
    h["CRPIX1"], h["CRPIX2"] = (width + 1) / 2.0, (height + 1) / 2.0
    h["CD1_1"], h["CD1_2"] = -pixel_scale / 3600.0, 0.0
    h["CD2_1"], h["CD2_2"] = 0.0, pixel_scale / 3600.0
    h["BUNIT"] = "nanomaggy"
    return hdu


def write_cutout(path: Path, image: np.ndarray, *, ra: float, dec: float, pixel_scale: float, bands: str = "grz") -> None:
    """Write a ``fits-cutout`` file with astropy (reference writer; see :class:`CutoutWriter`)."""
    hdu = cutout_hdu(image, ra=ra, dec=dec, pixel_scale=pixel_scale, bands=bands)
    _atomic_bytes_write(_hdul_bytes(fits.HDUList([hdu])), path)


class CutoutWriter:
    """Write many cutouts of one shape quickly (byte-identical to :func:`write_cutout`, tested)."""

    def __init__(self) -> None:
        self._header: _HeaderTemplate | None = None

    def to_bytes(self, image: np.ndarray, *, ra: float, dec: float, pixel_scale: float, bands: str = "grz") -> bytes:
        """The FITS file's bytes for one cutout (n_band, H, W)."""
        if self._header is None:
            hdu = cutout_hdu(image, ra=ra, dec=dec, pixel_scale=pixel_scale, bands=bands)
            fits.HDUList([hdu]).writeto(io.BytesIO())
            self._header = _HeaderTemplate(hdu.header)
        head = self._header.render({"CRVAL1": float(ra), "CRVAL2": float(dec)})
        return _pad(head, b" ") + _pad(np.asarray(image, dtype=">f4").tobytes(), b"\0")


def read_cutout(path: str | Path) -> tuple[np.ndarray, str, float]:
    """Read a ``fits-cutout`` file: (data (n_band, H, W) float32, band string, arcsec/pixel)."""
    path = Path(path)
    try:
        with _open_fits(path, "a FITS cutout") as hdul:
            data = np.asarray(hdul[0].data, dtype=np.float32)
            h = hdul[0].header
            bands = str(h.get("BANDS", "")).strip() or "".join(str(h.get(f"BAND{i}", "?")) for i in range(data.shape[0]))
            scale = abs(float(h.get("CD2_2", h.get("CDELT2", np.nan)))) * 3600.0
    except SurveyFileError:
        raise
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise SurveyFileError(f"{path}: cannot read as a FITS cutout ({type(exc).__name__}: {exc})") from exc
    if data.ndim != 3 or data.shape[0] != len(bands):
        raise SurveyFileError(f"{path}: expected data (n_band, H, W) matching BANDS={bands!r}, got shape {data.shape}")
    return data, bands, scale


def write_table_fits(path: Path, df: pd.DataFrame, *, extname: str) -> None:
    """Write a DataFrame as a FITS binary table (HDU1); str columns become fixed-width ASCII."""
    cols = []
    for name in df.columns:
        values = df[name].to_numpy()
        if values.dtype.kind in "OUS" or pd.api.types.is_string_dtype(df[name].dtype):
            arr = np.array([str(v) for v in values], dtype="U")
            width = max(1, int(np.char.str_len(arr).max(initial=1)))
            cols.append(fits.Column(name=name, format=f"{width}A", array=arr.astype(f"S{width}")))
        elif values.dtype.kind == "b":
            cols.append(fits.Column(name=name, format="L", array=values))
        elif values.dtype.kind in "iu":
            fmt = "K" if values.dtype.itemsize == 8 else "J" if values.dtype.itemsize == 4 else "I"
            cols.append(fits.Column(name=name, format=fmt, array=values))
        else:
            fmt = "D" if values.dtype.itemsize == 8 else "E"
            cols.append(fits.Column(name=name, format=fmt, array=values))
    hdu = fits.BinTableHDU.from_columns(cols, name=extname)
    _atomic_bytes_write(_hdul_bytes(fits.HDUList([fits.PrimaryHDU(), hdu])), path)
