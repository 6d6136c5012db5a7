"""A minimal, fast FITS reader (numpy only) for binary tables and images.

astropy.io.fits builds an object model of every HDU (a Column per each of the 126-236 SPECOBJ/SPALL
columns): a few tens of files/s. This module walks the headers only up to the wanted HDU, builds a
big-endian structured dtype for the requested columns (cached per layout) and reads their bytes.
Binary tables: TFORM L, B, I, J, K, E, D, C, M, A (rA), repeat counts and TDIM, TSCAL/TZERO (as
astropy: unsigned offsets -> unsigned dtypes, other scalings -> float64); not P/Q heap or X bit
columns. Images: BITPIX 8/16/32/64/-32/-64 with BSCALE/BZERO/BLANK. Gzipped files (``.fits.gz``, found by
their magic bytes) are decompressed into memory as a stream, and refused once the output passes
:func:`gunzip_limit` (``GUNZIP_MAX_RATIO`` x max(compressed size, 1 MiB)): a gzip bomb costs a bounded
amount of memory and time, never the whole expansion. Malformed input raises
:class:`~agnbench.data_prep.formats.sdss_files.SurveyFileError` naming the file.
"""

from __future__ import annotations

import functools
import io
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

import numpy as np

from agnbench.data_prep.formats.sdss_files import SurveyFileError

BLOCK, CARD = 2880, 80  # bytes per FITS block and header card
_IGNORED_KEYS = frozenset({"", "COMMENT", "HISTORY", "CONTINUE", "END"})
_TFORM = re.compile(r"^\s*(\d*)\s*([A-Z])(.*)$")
#: TFORM letter -> (bytes per element, big-endian numpy dtype); None = not readable here
_TFORM_TYPES: dict[str, tuple[int, str | None]] = {
    "L": (1, "u1"), "B": (1, "u1"), "I": (2, ">i2"), "J": (4, ">i4"), "K": (8, ">i8"), "A": (1, "S"),
    "E": (4, ">f4"), "D": (8, ">f8"), "C": (8, ">c8"), "M": (16, ">c16"), "P": (8, None), "Q": (16, None),
    "X": (1, None),
}
_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_UNSIGNED = {"i1": "u1", "i2": "u2", "i4": "u4", "i8": "u8", "u1": "i1"}
#: Decompressed / compressed size above which a gzip stream is refused (real FITS and catalogs: 1.5-5x;
#: a gzip bomb: ~1000x). ``fetch.max_gunzip_ratio`` has the same default for downloads.
GUNZIP_MAX_RATIO = 50.0
_GUNZIP_BASE = 1 << 20  # small files may expand to GUNZIP_MAX_RATIO MiB whatever their own size
_GZIP_MAGIC = b"\x1f\x8b"


def gunzip_limit(compressed_bytes: int, *, max_ratio: float = GUNZIP_MAX_RATIO) -> int:
    """Most bytes a gzip file of ``compressed_bytes`` may decompress to: ``max_ratio`` x max(size, 1 MiB)."""
    return int(max_ratio * max(int(compressed_bytes), _GUNZIP_BASE))


def iter_gunzip(fh: IO[bytes], *, name: str, limit: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Decompress a gzip stream (one or more members) chunk by chunk, checking CRCs and lengths.

    Parameters
    ----------
    fh : binary file
        Positioned at the first gzip member.
    name : str
        File name used in messages.
    limit : int
        Most decompressed bytes allowed (:func:`gunzip_limit`); the stream is abandoned as soon as
        the output passes it, so memory and time stay bounded whatever the stream claims.
    chunk : int
        Bytes read, and at most bytes yielded, per step.

    Yields
    ------
    bytes
        Consecutive pieces of the decompressed data, each at most ``chunk`` bytes.

    Raises
    ------
    SurveyFileError
        Corrupt or truncated gzip, or more than ``limit`` decompressed bytes.
    """
    inflater, total, started, pending = zlib.decompressobj(31), 0, False, b""
    while True:
        if not pending:
            pending = fh.read(chunk)
        if not pending and not started:
            break
        try:
            # at the end of the input, what the consumed input still holds (at most one match)
            out = inflater.decompress(pending, chunk) if pending else inflater.flush()
        except zlib.error as exc:
            raise SurveyFileError(f"{name}: corrupt or truncated gzip file ({exc}); re-download it") from None
        if not pending and not inflater.eof:
            raise SurveyFileError(f"{name}: corrupt or truncated gzip file (the stream ends inside a member); "
                                  "re-download it")
        started, pending = True, inflater.unconsumed_tail
        if inflater.eof:  # end of one member: another may follow (the rest of the input is in unused_data;
            pending = inflater.unused_data  # CPython may leave a copy of it in unconsumed_tail too)
            inflater, started = zlib.decompressobj(31), False
        total += len(out)
        if total > limit:
            raise SurveyFileError(f"{name}: decompresses to more than {limit:,} bytes, the most allowed for its "
                                  "compressed size; refusing a possible gzip bomb. If the file is genuine, gunzip "
                                  "it yourself and use the uncompressed file")
        if out:
            yield out


def gunzip_size(path: str | Path, *, max_ratio: float = GUNZIP_MAX_RATIO) -> int:
    """Decompressed size of a gzip file, streamed in constant memory (the file's own size if it is not gzip).

    Raises
    ------
    SurveyFileError
        Unreadable, corrupt or truncated, or past :func:`gunzip_limit` (a gzip bomb).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = path.stat().st_size
            if fh.read(2) != _GZIP_MAGIC:
                return size
            fh.seek(0)
            return sum(len(piece) for piece in iter_gunzip(fh, name=str(path), limit=gunzip_limit(size,
                                                                                                 max_ratio=max_ratio)))
    except OSError as exc:
        raise SurveyFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _value(text: str) -> object:
    """Parse the value field (columns 11-80) of a header card."""
    t = text.lstrip()
    if t[:1] == "'":
        end = t.find("'", 1)
        while end != -1 and t[end + 1 : end + 2] == "'":  # '' is an escaped quote
            end = t.find("'", end + 2)
        if end != -1:
            return t[1:end].replace("''", "'").rstrip()
    raw = t.split("/", 1)[0].rstrip()
    if raw in ("T", "F", ""):
        return None if not raw else raw == "T"
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw.replace("D", "E").replace("d", "e"))
        except ValueError:
            return raw  # complex or non-standard values stay as text


def read_header(fh: IO[bytes]) -> tuple[dict[str, Any], int]:
    """Read one FITS header from the current position (a 2880-byte block boundary) of a binary file.

    Returns
    -------
    cards : dict
        Keyword -> int, float ('D' exponents too), bool, str (``''`` unescaped, trailing blanks
        stripped) or None (undefined); the first occurrence wins; COMMENT/HISTORY/CONTINUE ignored.
    length : int
        Header length in bytes (a multiple of 2880).

    Raises
    ------
    SurveyFileError
        The file ends before the END card ("truncated"), or the header is not ASCII.
    """
    cards: dict[str, Any] = {}
    length, name = 0, getattr(fh, "name", "<stream>")
    while True:
        block = fh.read(BLOCK)
        length += len(block)
        if len(block) < BLOCK:
            raise SurveyFileError(f"{name}: file is truncated (header ends after {length} bytes without an END "
                                  "card); re-download it")
        try:
            text = block.decode("ascii")
        except UnicodeDecodeError:
            raise SurveyFileError(f"{name}: not a FITS header (non-ASCII bytes near offset "
                                  f"{fh.tell() - BLOCK})") from None
        for start in range(0, BLOCK, CARD):
            key = text[start : start + 8].rstrip()
            if key == "END":
                return cards, length
            if key in _IGNORED_KEYS or key in cards or text[start + 8 : start + 10] != "= ":
                continue
            cards[key] = _value(text[start + 10 : start + CARD])


@dataclass(frozen=True)
class HDUInfo:
    """One HDU: ``index`` (0 = primary), ``name`` (upper-case EXTNAME; "PRIMARY" for HDU 0 without one),
    ``header``, byte offsets, ``data_size`` without padding (``|BITPIX|/8 * GCOUNT * (PCOUNT + prod(NAXISn))``)."""

    index: int
    name: str
    header: dict[str, Any]
    header_offset: int
    data_offset: int
    data_size: int

    @property
    def padded_size(self) -> int:
        """Data bytes including the padding to a whole number of 2880-byte blocks."""
        return -(-self.data_size // BLOCK) * BLOCK

    def describe(self) -> str:
        return f"HDU {self.index}" + (f" ({self.name})" if self.name else "")


def _data_size(h: dict[str, Any], where: str) -> int:
    try:
        dims = [int(h[f"NAXIS{i}"]) for i in range(1, int(h["NAXIS"]) + 1)]
        bitpix, gcount, pcount = int(h["BITPIX"]), int(h.get("GCOUNT", 1)), int(h.get("PCOUNT", 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise SurveyFileError(f"{where}: header lacks or has a bad BITPIX/NAXISn keyword ({exc})") from None
    return abs(bitpix) // 8 * gcount * (pcount + math.prod(dims)) if dims else 0


class FitsFile:
    """An open FITS file whose HDU headers are read lazily, in order, as they are needed.

    Use as a context manager: ``with FitsFile(path) as f: f.bintable("COADD", ["flux"])``.
    """

    def __init__(self, path: str | Path, *, max_gunzip_ratio: float = GUNZIP_MAX_RATIO) -> None:
        self.path = Path(path)
        try:
            self._fh: IO[bytes] = open(self.path, "rb")
            self._size = self.path.stat().st_size
        except OSError as exc:
            raise SurveyFileError(f"{self.path}: cannot open ({exc.strerror or exc})") from None
        if self._fh.read(2) == _GZIP_MAGIC:  # gzip (``.fits.gz``): decompressed into memory, size-capped
            self._fh.seek(0)
            try:
                limit = gunzip_limit(self._size, max_ratio=max_gunzip_ratio)
                data = b"".join(iter_gunzip(self._fh, name=str(self.path), limit=limit))
            except OSError as exc:
                raise SurveyFileError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
            finally:
                self._fh.close()
            self._fh, self._size = io.BytesIO(data), len(data)
        self._fh.seek(0)
        self._hdus: list[HDUInfo] = []

    def __enter__(self) -> FitsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

    def _next(self) -> HDUInfo | None:
        """Read the next HDU's header; None at the end of the file."""
        offset = self._hdus[-1].data_offset + self._hdus[-1].padded_size if self._hdus else 0
        self._fh.seek(offset)
        first = self._fh.read(CARD)
        if not self._hdus and not first.startswith(b"SIMPLE  ="):
            what = "an empty file" if not first else f"first bytes {first[:30]!r}"
            raise SurveyFileError(f"{self.path}: not a FITS file (no SIMPLE card; {what})")
        if self._hdus and not first.startswith(b"XTENSION="):
            return None  # end of file, or trailing bytes that are not an extension
        self._fh.seek(offset)
        header, length = read_header(self._fh)
        index = len(self._hdus)
        name = str(header.get("EXTNAME", "PRIMARY" if index == 0 else "")).strip().upper()
        size = _data_size(header, f"{self.path}: HDU {index}")
        hdu = HDUInfo(index, name, header, offset, offset + length, size)
        if hdu.data_offset + size > self._size:
            raise SurveyFileError(f"{self.path}: file is truncated ({hdu.describe()} needs {size} data bytes at "
                                  f"offset {hdu.data_offset}, file has {self._size} bytes); re-download it")
        self._hdus.append(hdu)
        return hdu

    def hdus(self) -> list[HDUInfo]:
        """All HDUs of the file (reads every header)."""
        while self._next() is not None:
            pass
        return list(self._hdus)

    def hdu(self, key: int | str) -> HDUInfo:
        """One HDU by index or (case-insensitive) EXTNAME, reading headers only up to it."""
        attr, want = ("name", key.upper()) if isinstance(key, str) else ("index", key)
        for h in self._hdus:
            if getattr(h, attr) == want:
                return h
        while (h := self._next()) is not None:  # type: ignore[assignment]
            if getattr(h, attr) == want:
                return h
        found = ", ".join(h.describe() for h in self._hdus)
        raise SurveyFileError(f"{self.path}: no HDU {key!r} (found {found})")

    def _read(self, offset: int, size: int) -> bytes:
        self._fh.seek(offset)
        buf = self._fh.read(size)
        if len(buf) < size:
            raise SurveyFileError(f"{self.path}: file is truncated ({size} bytes at {offset} wanted, {len(buf)} read)")
        return buf

    def _table(self, hdu: int | str) -> tuple[HDUInfo, _Layout, int, int]:
        """(HDU, row layout, bytes per row, number of rows) of a binary table."""
        info = self.hdu(hdu)
        h = info.header
        if h.get("XTENSION") != "BINTABLE":
            raise SurveyFileError(f"{self.path}: {info.describe()} is not a binary table "
                                  f"(XTENSION={h.get('XTENSION')!r})")
        try:
            row_bytes, n_rows, n_fields = int(h["NAXIS1"]), int(h["NAXIS2"]), int(h["TFIELDS"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SurveyFileError(f"{self.path}: {info.describe()} lacks NAXIS1/NAXIS2/TFIELDS ({exc})") from None
        layout = _Layout.of(tuple([h.get(k) for k in _column_keys(n_fields)]), row_bytes)
        if isinstance(layout, str):
            raise SurveyFileError(f"{self.path}: {info.describe()}: {layout}")
        return info, layout, row_bytes, n_rows

    def columns(self, hdu: int | str) -> list[str]:
        """The column names (TTYPEn) of a binary-table HDU, in order."""
        return list(self._table(hdu)[1].names)

    def bintable(self, hdu: int | str, columns: Sequence[str] | None = None, *,
                 rows: slice | None = None) -> dict[str, np.ndarray]:
        """Columns of a binary table; see :func:`read_bintable`."""
        info, layout, row_bytes, n_rows = self._table(hdu)
        wanted = layout.names if columns is None else list(columns)
        dtype, fields, problem = layout.plan(tuple(wanted), skip_unreadable=columns is None)
        if problem:
            raise SurveyFileError(f"{self.path}: {info.describe()}: {problem}")
        want = range(*(rows or slice(None)).indices(n_rows))
        lo, count = (min(want), max(want) + 1 - min(want)) if want else (0, 0)
        buf = self._read(info.data_offset + lo * row_bytes, count * row_bytes)
        table = np.frombuffer(buf, dtype=dtype, count=count)[want.start - lo :: want.step][: len(want)]
        return {out: _convert(table[field], col) for out, field, col in fields}


_COLUMN_KEYS = ("TTYPE", "TFORM", "TSCAL", "TZERO", "TDIM")


@functools.lru_cache(maxsize=16)
def _column_keys(n_fields: int) -> tuple[str, ...]:
    """TTYPE1, TFORM1, TSCAL1, TZERO1, TDIM1, TTYPE2, ... for ``n_fields`` columns."""
    return tuple(f"{k}{i}" for i in range(1, n_fields + 1) for k in _COLUMN_KEYS)


@dataclass(frozen=True)
class _Column:
    name: str
    offset: int  # bytes into the row
    letter: str
    repeat: int
    dtype: str | None  # big-endian element dtype; None = not readable here (P, Q, X)
    shape: tuple[int, ...]  # per-row shape
    scale: float
    zero: float


class _Layout:
    """The row layout of one binary-table header, parsed once per distinct header (cached)."""

    def __init__(self, columns: list[_Column], row_bytes: int) -> None:
        self.columns, self.row_bytes = columns, row_bytes
        self.names = [c.name for c in columns]
        self.lookup = {c.name.lower(): c for c in reversed(columns)}  # the first of duplicate names wins

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def of(cards: tuple[object, ...], row_bytes: int) -> _Layout | str:
        """Parse the flat TTYPEn/TFORMn/TSCALn/TZEROn/TDIMn values; return the layout or what is wrong."""
        cols, offset, n = [], 0, len(_COLUMN_KEYS)
        for i in range(1, len(cards) // n + 1):
            ttype, tform, tscal, tzero, tdim = cards[(i - 1) * n : i * n]
            m = _TFORM.match(str(tform or ""))
            if m is None or m.group(2) not in _TFORM_TYPES:
                return f"unsupported TFORM{i}={tform!r} for column {ttype!r}"
            repeat, letter = int(m.group(1) or 1), m.group(2)
            width, dtype = _TFORM_TYPES[letter]
            shape: tuple[int, ...] = () if repeat == 1 or letter == "A" else (repeat,)
            try:
                if tdim and letter != "A":
                    dims = tuple(int(d) for d in reversed(re.findall(r"\d+", str(tdim))))
                    shape = dims if math.prod(dims) == repeat else shape
                scale, zero = float(1.0 if tscal is None else tscal), float(0.0 if tzero is None else tzero)
            except (TypeError, ValueError):
                return f"bad TSCAL{i}/TZERO{i}/TDIM{i} ({tscal!r}, {tzero!r}, {tdim!r}) for column {ttype!r}"
            cols.append(_Column(str(ttype if ttype is not None else f"col{i}"), offset, letter, repeat, dtype, shape,
                                scale, zero))
            offset += -(-repeat // 8) if letter == "X" else width if letter in "PQ" else width * repeat
        if offset != row_bytes:
            return f"column widths sum to {offset} bytes but NAXIS1={row_bytes}"
        return _Layout(cols, row_bytes)

    @functools.lru_cache(maxsize=64)
    def plan(self, wanted: tuple[str, ...], *, skip_unreadable: bool) -> tuple[np.dtype | None, list[tuple], str]:
        """(structured dtype of the wanted fields, [(output key, field, _Column)], what is wrong or "")."""
        names, formats, offsets, out = [], [], [], []
        for want in wanted:
            col = self.lookup.get(want.lower())
            if col is None:
                return None, [], f"no column {want!r} (found {', '.join(self.names)})"
            if col.dtype is None and not skip_unreadable:
                return None, [], f"column {col.name!r} has unsupported TFORM {col.repeat}{col.letter} (heap/bit)"
            if col.dtype is None or col.repeat == 0:
                continue
            names.append(f"f{len(names)}")
            base = f"S{col.repeat}" if col.letter == "A" else col.dtype
            formats.append((base, col.shape) if col.shape else base)
            offsets.append(col.offset)
            out.append((want, names[-1], col))
        dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": self.row_bytes})
        return dtype, out, ""


def _convert(values: np.ndarray, col: _Column) -> np.ndarray:
    """Native-endian output with astropy's conventions for L, A and TSCAL/TZERO columns."""
    if col.letter == "A":
        return np.char.rstrip(np.char.decode(values, "latin-1"), " \x00")
    if col.letter == "L":
        return values == ord("T")
    native = values.dtype.newbyteorder("=")
    if col.scale == 1.0 and col.zero == 0.0:
        return values.astype(native)
    kind = values.dtype.base.str[1:]
    if col.scale == 1.0 and kind in _UNSIGNED:
        bits = values.dtype.base.itemsize * 8
        if col.zero == (-(2 ** 7) if kind == "u1" else 2 ** (bits - 1)):
            bits_view = values.astype(native).view(f"u{bits // 8}")  # flip the sign bit: adds TZERO exactly
            return (bits_view ^ np.array(1 << (bits - 1), dtype=bits_view.dtype)).view(_UNSIGNED[kind])
    return values.astype(np.float64) * col.scale + col.zero


def iter_hdus(path: str | Path) -> Iterator[HDUInfo]:
    """Yield every HDU's :class:`HDUInfo` in file order; SurveyFileError if not FITS or truncated."""
    with FitsFile(path) as f:
        while (hdu := f._next()) is not None:
            yield hdu


def read_bintable(path: str | Path, hdu: int | str, columns: Sequence[str] | None = None, *,
                  rows: slice | None = None) -> dict[str, np.ndarray]:
    """Read columns of a FITS binary table.

    Parameters
    ----------
    hdu : int or str
        HDU index or EXTNAME (case-insensitive).
    columns : sequence of str, optional
        Names (case-insensitive), output keys spelled as given; default every column but P/Q/X.
    rows : slice, optional
        Rows to read (only their bytes are read); default all.

    Returns
    -------
    dict of str -> numpy.ndarray, shape (n_rows,) or (n_rows, *per_row_shape)
        Native-endian numbers (per-row shape from the repeat count or reversed TDIM), bool for L,
        str (trailing blanks/NULs stripped) for A, unsigned ints for TZERO offsets (K with TZERO =
        2**63), float64 for other TSCAL/TZERO.

    Raises
    ------
    SurveyFileError
        Not FITS, truncated, no such HDU or column (naming those found), not a binary table, or
        an unsupported TFORM.
    """
    with FitsFile(path) as f:
        return f.bintable(hdu, columns, rows=rows)


def read_image(path: str | Path, hdu: int | str = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a primary or IMAGE-extension array.

    Returns
    -------
    data : numpy.ndarray, shape (NAXISn, ..., NAXIS1)
        Native-endian float32 for BITPIX 8/16/-32, float64 for 32/64/-64; BSCALE/BZERO applied,
        BLANK integers as NaN.
    header : dict
        The HDU's header cards (:func:`read_header`).

    Raises
    ------
    SurveyFileError
        Not FITS, truncated, no such HDU, a table HDU, no data, or an unknown BITPIX.
    """
    with FitsFile(path) as f:
        info = f.hdu(hdu)
        h = info.header
        if info.index > 0 and h.get("XTENSION") != "IMAGE":
            raise SurveyFileError(f"{path}: {info.describe()} is not an image (XTENSION={h.get('XTENSION')!r})")
        bitpix = h.get("BITPIX")
        if bitpix not in _BITPIX:
            raise SurveyFileError(f"{path}: {info.describe()} has unsupported BITPIX={bitpix!r}")
        shape = tuple(int(h[f"NAXIS{i}"]) for i in range(int(h.get("NAXIS", 0)), 0, -1))
        if not shape or info.data_size == 0:
            raise SurveyFileError(f"{path}: {info.describe()} holds no image data (shape {shape})")
        raw = np.frombuffer(f._read(info.data_offset, math.prod(shape) * abs(bitpix) // 8), dtype=_BITPIX[bitpix])
    out_dtype = np.float32 if bitpix in (8, 16, -32) else np.float64
    data = raw.astype(out_dtype).reshape(shape)
    scale, zero, blank = h.get("BSCALE", 1.0), h.get("BZERO", 0.0), h.get("BLANK")
    if not all(isinstance(v, t) for v, t in ((scale, (int, float)), (zero, (int, float)), (blank, (int, type(None))))):
        raise SurveyFileError(f"{path}: {info.describe()}: non-numeric BSCALE/BZERO/BLANK {scale!r}/{zero!r}/{blank!r}")
    if scale != 1.0 or zero != 0.0:  # in the output precision, as astropy does
        data = (data * out_dtype(scale) + out_dtype(zero)).astype(out_dtype)
    if bitpix > 0 and blank is not None:
        data[raw.reshape(shape) == blank] = np.nan
    return data, h
