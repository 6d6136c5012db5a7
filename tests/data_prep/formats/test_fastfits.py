"""fastfits: the numpy-only FITS reader gives astropy's values, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from agnbench.config.core import load_config
from agnbench.data_prep.formats import fastfits as ff
from agnbench.data_prep.formats.sdss_files import SurveyFileError
from agnbench.data_prep.mock.simulate import simulate

from tests.conftest import REAL

REAL_SPECTRA = sorted((REAL / "speclite").glob("*.fits")) + sorted((REAL / "eboss").glob("*.fits"))
OBJECT_FIELDS = ("Z", "PLATE", "MJD", "FIBERID", "CLASS", "SUBCLASS", "SPECOBJID")


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-galaxy mock survey (spec-lite files, cutouts, catalogs) written by agnbench itself."""
    cfg = load_config(overrides=["simulate.n=30", "simulate.image_size=16"])
    return simulate(cfg, tmp_path_factory.mktemp("ffmock") / "s", progress=False)


def _astropy_column(data: fits.FITS_rec, name: str) -> np.ndarray:
    values = np.asarray(data[name])
    if values.dtype.kind == "S":
        values = np.char.decode(values, "latin-1")
    return np.char.rstrip(values) if values.dtype.kind == "U" else values


def _assert_same(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, what
    assert ours.dtype.kind == ref.dtype.kind, f"{what}: {ours.dtype} vs {ref.dtype}"
    if ref.dtype.kind == "f":
        np.testing.assert_array_equal(ours, ref, err_msg=what)  # NaNs compare equal here
    else:
        assert (ours == ref).all(), what


def _assert_table_equal(path: Path, hdu: int | str, names: tuple[str, ...] | None = None) -> None:
    with fits.open(path) as hdul:
        data = hdul[hdu].data
        wanted = names or tuple(data.names)
        ours = ff.read_bintable(path, hdu, None if names is None else list(wanted))
        assert set(ours) == set(wanted)
        for name in wanted:
            _assert_same(ours[name], _astropy_column(data, name), f"{path.name}[{hdu}].{name}")


def _mock_spectra(mock: Path) -> list[Path]:
    return sorted((mock / "spectra").rglob("*.fits"))[:8]


def test_real_spectra_tables_equal_astropy() -> None:
    assert len(REAL_SPECTRA) == 6
    for path in REAL_SPECTRA:
        _assert_table_equal(path, "COADD")
        _assert_table_equal(path, 1)
        obj = "SPECOBJ" if "speclite" in str(path) else "SPALL"
        _assert_table_equal(path, obj, OBJECT_FIELDS)
        _assert_table_equal(path, obj)  # every column: 5E/10J vectors, TDIM (15, 5) matrices, uint64 ids
        _assert_table_equal(path, "SPZLINE")


def test_spall_specifics() -> None:
    path = REAL / "eboss" / "spec-10000-58462-0010.fits"
    cols = ff.read_bintable(path, "spall", ["specobjid", "Z", "class"])
    assert set(cols) == {"specobjid", "Z", "class"}  # keys as requested, lookup case-insensitive
    assert cols["specobjid"].dtype == np.uint64 and cols["specobjid"][0] > 2**63  # K with TZERO = 2**63
    assert cols["class"][0] == "QSO"
    with fits.open(path) as hdul:
        tdim = [c.name for c in hdul["SPALL"].columns if c.dim]
        assert tdim and ff.read_bintable(path, "SPALL", tdim[:1])[tdim[0]].shape == hdul["SPALL"].data[tdim[0]].shape


def test_mock_files_equal_astropy(mock: Path) -> None:
    for path in _mock_spectra(mock):
        _assert_table_equal(path, "COADD")
        _assert_table_equal(path, "SPECOBJ", OBJECT_FIELDS)
        _assert_table_equal(path, "SPECOBJ")
        _assert_table_equal(path, "SPZLINE")
    for catalog in sorted((mock / "catalog").glob("*.fits")):
        _assert_table_equal(catalog, 1)


def test_headers_equal_astropy(mock: Path) -> None:
    for path in REAL_SPECTRA + _mock_spectra(mock)[:2]:
        infos = list(ff.iter_hdus(path))
        with fits.open(path) as hdul:
            assert [i.name for i in infos] == [h.name for h in hdul]
            for info, hdu in zip(infos, hdul):
                where = hdu.fileinfo()
                assert (info.header_offset, info.data_offset) == (where["hdrLoc"], where["datLoc"])
                assert info.padded_size == where["datSpan"]
                for key, value in hdu.header.items():
                    if key in ("COMMENT", "HISTORY", ""):
                        continue
                    assert info.header[key] == value, (path.name, info.index, key)
                    assert type(info.header[key]) is type(value), (path.name, key)
            assert infos[-1].data_offset + infos[-1].padded_size == path.stat().st_size


def test_header_value_parsing(tmp_path: Path) -> None:
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0",
             "DEXP    =              1.5D+03 / a 'D' exponent", "QUOTE   = 'it''s / here  '   / comment",
             "LEAD    = '  lead'", "FLAG    =                    F", "NEG     =                  -42",
             "UNDEF   =", "COMMENT a comment", "HISTORY history", "NEG     =                    7", "END"]
    path = tmp_path / "h.fits"
    text = "".join(c.ljust(80) for c in cards)
    path.write_bytes(text.ljust(2880).encode())
    with open(path, "rb") as fh:
        header, length = ff.read_header(fh)
    assert length == 2880
    assert header["DEXP"] == 1500.0 and header["QUOTE"] == "it's / here" and header["LEAD"] == "  lead"
    assert header["FLAG"] is False and header["SIMPLE"] is True and header["NEG"] == -42  # first wins
    assert header["UNDEF"] is None and "COMMENT" not in header and "HISTORY" not in header


def _add_cards(path: Path, hdu: int, cards: list[str]) -> None:
    """Insert header cards before END of one HDU (there must be room in its last header block)."""
    raw = bytearray(path.read_bytes())
    with fits.open(path) as hdul:
        start, stop = hdul[hdu].fileinfo()["hdrLoc"], hdul[hdu].fileinfo()["datLoc"]
    end = next(i for i in range(start, stop, 80) if raw[i : i + 80].rstrip() == b"END")
    assert end + 80 * (len(cards) + 1) <= stop
    raw[end : end + 80 * (len(cards) + 1)] = "".join(c.ljust(80) for c in [*cards, "END"]).encode()
    path.write_bytes(bytes(raw))


def test_column_types_and_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng()
    n = 7
    arrays = {
        "L": (rng.random(n) > 0.5, "L"), "B": (rng.integers(0, 255, n).astype(np.uint8), "B"),
        "I": (rng.integers(-999, 999, n).astype(np.int16), "I"), "J": (rng.integers(-9, 9, n).astype(np.int32), "J"),
        "K": (rng.integers(-2**62, 2**62, n), "K"), "E": (rng.normal(size=n).astype(np.float32), "E"),
        "D": (rng.normal(size=n), "D"), "S": (np.array(["a", "bb ", "", "c c", "dddd", "e", "ff"]), "4A"),
        "V5": (rng.normal(size=(n, 5)).astype(np.float32), "5E"),
        "V10": (rng.integers(0, 9, (n, 10)).astype(np.int32), "10J"),
        "U16": (rng.integers(0, 2**16, n).astype(np.uint16), "I"),
        "U32": (rng.integers(0, 2**32, n).astype(np.uint32), "J"),
        "U64": (rng.integers(0, 2**63, n).astype(np.uint64) + np.uint64(2**63 - 1), "K"),
    }
    zero = {"U16": 2**15, "U32": 2**31, "U64": 2**63}  # astropy writes TZERO for unsigned data only when asked
    cols = [fits.Column(name=k, format=f, array=v, bzero=zero.get(k)) for k, (v, f) in arrays.items()]
    cols.append(fits.Column(name="SCALED", format="J", array=rng.integers(-99, 99, n).astype(np.int32)))
    cols.append(fits.Column(name="FSCALED", format="E", array=rng.normal(size=n), bscale=0.25, bzero=-1.5))
    path = tmp_path / "types.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="T")]).writeto(path)
    # astropy cannot write a scaled integer column here, so add its TSCAL/TZERO cards to the header bytes
    k = len(cols) - 1
    _add_cards(path, 1, [f"TSCAL{k} =                  0.5", f"TZERO{k} =                  3.0"])
    var = fits.Column(name="VAR", format="PE()", array=np.array([np.arange(k, dtype=np.float32) for k in range(n)],
                                                              dtype=object))
    heap = tmp_path / "heap.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols[:2] + [var])]).writeto(heap)
    assert set(ff.read_bintable(heap, 1)) == {"L", "B"}  # heap columns are skipped unless requested
    with pytest.raises(SurveyFileError, match=r"heap\.fits.*'VAR' has unsupported TFORM"):
        ff.read_bintable(heap, 1, ["L", "VAR"])
    ours = ff.read_bintable(path, "t")
    with fits.open(path) as hdul:
        for name in ours:
            _assert_same(ours[name], _astropy_column(hdul[1].data, name), name)
    assert ours["V5"].shape == (n, 5) and ours["L"].dtype == bool and ours["SCALED"].dtype == np.float64
    assert [ours[k].dtype for k in ("U16", "U32", "U64")] == [np.uint16, np.uint32, np.uint64]
    np.testing.assert_array_equal(ours["U64"], arrays["U64"][0])
    for rows in (slice(2, 5), slice(None, None, -2), slice(6, 0, -3), slice(3, 3), slice(-2, None)):
        part = ff.read_bintable(path, 1, ["d", "S", "V5"], rows=rows)
        np.testing.assert_array_equal(part["d"], ours["D"][rows])
        np.testing.assert_array_equal(part["V5"], ours["V5"][rows])
        assert list(part["S"]) == list(ours["S"][rows])


def test_read_image_equals_astropy(mock: Path, tmp_path: Path) -> None:
    cutout = sorted((mock / "images").glob("*.fits"))[0]
    data, header = ff.read_image(cutout)
    ref = fits.getdata(cutout)
    assert data.dtype == np.float32 and data.dtype.isnative and data.shape == ref.shape == (3, 16, 16)
    np.testing.assert_array_equal(data, ref)
    assert header["BANDS"] == "grz" and header["NAXIS1"] == 16
    rng = np.random.default_rng()
    scaled = tmp_path / "scaled.fits"
    hdu = fits.PrimaryHDU((rng.normal(size=(5, 6)) * 100).astype(np.float32))
    hdu.scale("int16", bscale=0.037, bzero=11.5)
    ext = fits.ImageHDU(rng.integers(-2**31, 2**31 - 1, (3, 4)).astype(np.int32), name="RAW")
    ext.header["BZERO"], ext.header["BSCALE"] = 2.0**31, 1.0  # pseudo-unsigned int32
    f64 = fits.ImageHDU(rng.normal(size=(2, 3, 4)), name="F64")
    fits.HDUList([hdu, ext, f64]).writeto(scaled)
    with fits.open(scaled) as hdul:
        assert hdul[0].header["BITPIX"] == 16 and hdul[0].header["BSCALE"] == pytest.approx(0.037)
        for key, dtype in ((0, np.float32), ("raw", np.float64), ("F64", np.float64)):
            ours, _ = ff.read_image(scaled, key)
            ref = hdul[key.upper() if isinstance(key, str) else key].data
            assert ours.dtype == dtype and ours.shape == ref.shape
            np.testing.assert_array_equal(ours, ref)


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(SurveyFileError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    good = REAL / "speclite" / "spec-0266-51630-0168.fits"
    raw = good.read_bytes()
    html = tmp_path / "page.fits"
    html.write_text("<html><body>502 Bad Gateway</body></html>")
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    half = tmp_path / "half.fits"
    half.write_bytes(raw[: len(raw) // 2])
    head = tmp_path / "head.fits"
    head.write_bytes(raw[:4000])  # ends inside the primary header
    last = tmp_path / "last.fits"
    last.write_bytes(raw[:-2000])  # the SPZLINE data is cut short
    bad_form = tmp_path / "badform.fits"
    bad_form.write_bytes(raw.replace(b"TFORM1  = 'E", b"TFORM1  = 'Z", 1))
    cases = [
        (html, lambda p: ff.read_bintable(p, 1), ["not a FITS file", "SIMPLE"]),
        (empty, lambda p: ff.read_image(p), ["not a FITS file", "empty"]),
        (half, lambda p: ff.read_bintable(p, "COADD"), ["truncated"]),
        (head, lambda p: list(ff.iter_hdus(p)), ["truncated"]),
        (last, lambda p: ff.read_bintable(p, "SPZLINE", ["LINEZ"]), ["truncated", "HDU 3 (SPZLINE)"]),
        (good, lambda p: ff.read_bintable(p, "SPALL"), ["no HDU 'SPALL'", "COADD", "SPECOBJ", "SPZLINE"]),
        (good, lambda p: ff.read_bintable(p, 7), ["no HDU 7", "HDU 3 (SPZLINE)"]),
        (good, lambda p: ff.read_bintable(p, "COADD", ["flux", "lambda"]),
         ["no column 'lambda'", "loglam", "and_mask"]),
        (bad_form, lambda p: ff.read_bintable(p, "COADD", ["ivar"]), ["unsupported TFORM1='Z'"]),
        (good, lambda p: ff.read_image(p, 1), ["HDU 1 (COADD) is not an image"]),
        (good, lambda p: ff.read_image(p, 0), ["holds no image data"]),
        (tmp_path / "missing.fits", lambda p: ff.read_bintable(p, 1), ["cannot open"]),
    ]
    for path, fn, words in cases:
        message = _error(fn, path)
        assert str(path) in message, message
        for word in words:
            assert word in message, (word, message)
    assert ff.read_bintable(last, "COADD", ["flux"])["flux"].size == 3808  # earlier HDUs are still readable
