"""The generic 1-D spectrum reader on files written by astropy in each layout, and on real SDSS/BOSS files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from agnbench.config.prep import ReaderConfig
from agnbench.data_prep.formats.sdss_files import SurveyFileError, read_spectrum
from agnbench.data_prep.formats.spectrum1d import air_to_vacuum, mask_bits, read_spectrum_1d
from tests.conftest import REAL

SPEC = sorted((REAL / "speclite").glob("*.fits")) + sorted((REAL / "eboss").glob("*.fits"))


def write_image_spectrum(path: Path, wave: np.ndarray, rows: list[np.ndarray], **header: object) -> Path:
    """A 6dF/IRAF-style image spectrum: rows (flux, variance, sky, ...) on a linear WCS from ``wave``."""
    hdu = fits.PrimaryHDU(np.vstack(rows).astype(np.float32) if len(rows) > 1 else rows[0].astype(np.float32))
    hdu.header["CRVAL1"], hdu.header["CDELT1"], hdu.header["CRPIX1"] = float(wave[0]), float(wave[1] - wave[0]), 1.0
    hdu.header["CTYPE1"] = "LINEAR"
    for key, value in header.items():
        hdu.header[key.replace("_", "-") if key == "DC_FLAG" else key] = value
    hdu.writeto(path)
    return path


def test_air_to_vacuum_matches_the_standard_line_list() -> None:
    # vacuum wavelengths of [OIII] 5006.843 (air), Halpha 6562.80 (air), Hbeta 4861.33 (air): SDSS line list
    np.testing.assert_allclose(air_to_vacuum(np.array([5006.843, 6562.80, 4861.33])),
                               [5008.240, 6564.61, 4862.68], atol=0.02)
    assert air_to_vacuum(np.array([1500.0]))[0] == 1500.0


def test_mask_bits() -> None:
    assert mask_bits("BRIGHTSKY") == 1 << 23
    assert mask_bits("brightsky, 16") == (1 << 23) | (1 << 16)
    assert mask_bits("") == 0
    with pytest.raises(ValueError, match="unknown and_mask bit 'SHINY'.*BRIGHTSKY"):
        mask_bits("SHINY")


def test_image_layout_6df_style_linear_air_wcs(tmp_path: Path) -> None:
    wave = 3900.0 + 1.6 * np.arange(2000)  # linear air wavelengths, as 6dF/IRAF write them
    flux = 10 + np.sin(wave / 50.0)
    var = np.full(wave.size, 0.25)
    var[5] = 0.0  # no noise estimate: not usable
    sky = np.full(wave.size, 99.0)
    path = write_image_spectrum(tmp_path / "g1.fits", wave, [flux, var, sky], CTYPE1="AWAV", Z=0.0312,
                                OBJNAME="g0001")
    spec = read_spectrum_1d(path)
    assert spec.meta["layout"] == "image" and spec.meta["medium"] == "air"
    assert spec.meta["z"] == pytest.approx(0.0312) and spec.meta["name"] == "g0001"
    np.testing.assert_allclose(10**spec.loglam, air_to_vacuum(wave), rtol=1e-9)
    np.testing.assert_allclose(spec.flux, flux, rtol=1e-6)
    np.testing.assert_allclose(spec.ivar[spec.good], 4.0, rtol=1e-6)
    assert not spec.good[5] and spec.good.sum() == wave.size - 1
    # the rows are chosen by config: sky as "flux", no noise row
    sky_only = read_spectrum_1d(path, ReaderConfig(flux_row=2, noise_row=-1))
    np.testing.assert_allclose(sky_only.flux, 99.0)
    assert sky_only.meta["noise"].startswith("none")
    with pytest.raises(SurveyFileError, match="3 row.*flux_row 7"):
        read_spectrum_1d(path, ReaderConfig(flux_row=7))


@pytest.mark.parametrize("variant", ["dcflag", "ctype_log", "cd_nm", "wave_log", "coeff"])
def test_image_layout_wcs_variants(tmp_path: Path, variant: str) -> None:
    n = 500
    pix = np.arange(n, dtype=np.float64)
    hdu = fits.PrimaryHDU(np.ones(n, dtype=np.float32))
    h = hdu.header
    if variant in ("dcflag", "ctype_log"):  # IRAF log-linear: CRVAL1/CDELT1 in log10(A)
        h["CRVAL1"], h["CDELT1"], h["CRPIX1"] = 3.6, 1e-4, 1.0
        if variant == "dcflag":
            h["DC-FLAG"] = 1
        else:
            h["CTYPE1"] = "WAVE-LOG"
        expected = 3.6 + 1e-4 * pix
    elif variant == "cd_nm":  # CD1_1 instead of CDELT1, nm units, reference pixel in the middle
        h["CRVAL1"], h["CD1_1"], h["CRPIX1"], h["CUNIT1"], h["CTYPE1"] = 500.0, 0.2, 251.0, "nm", "WAVE"
        expected = np.log10(10 * (500.0 + (pix + 1 - 251.0) * 0.2))
    elif variant == "wave_log":  # FITS WCS paper III logarithmic algorithm
        h["CRVAL1"], h["CDELT1"], h["CRPIX1"], h["CTYPE1"] = 4000.0, 2.0, 1.0, "WAVE-LOG"
        expected = np.log10(4000.0 * np.exp(pix * 2.0 / 4000.0))
    else:  # old SDSS spSpec-style COEFF0/COEFF1
        h["COEFF0"], h["COEFF1"] = 3.5797, 1e-4
        expected = 3.5797 + 1e-4 * pix
    hdu.writeto(tmp_path / "s.fits")
    spec = read_spectrum_1d(tmp_path / "s.fits")
    np.testing.assert_allclose(spec.loglam, expected, rtol=0, atol=1e-9)
    assert spec.meta["medium"].startswith("vacuum")


@pytest.mark.parametrize("shape", ["one_row_arrays", "row_per_pixel"])
def test_table_layouts(tmp_path: Path, shape: str) -> None:
    wave = np.linspace(3600.0, 9800.0, 3000)[::-1]  # stored red to blue: the reader sorts
    flux = 1 + wave / 1e4
    err = np.full(wave.size, 0.5)
    mask = np.zeros(wave.size, dtype=np.int32)
    mask[10] = 1 << 23  # BRIGHTSKY alone: kept by default
    mask[11] = 1 << 2  # BADFLAT: rejected
    if shape == "one_row_arrays":  # DESI/LAMOST-like: one row holding the arrays, redshift beside them
        cols = [fits.Column(name="WAVELENGTH", format=f"{wave.size}D", array=wave[None], unit="Angstrom"),
                fits.Column(name="FLUX", format=f"{wave.size}E", array=flux[None]),
                fits.Column(name="FLUX_ERR", format=f"{wave.size}E", array=err[None]),
                fits.Column(name="AND_MASK", format=f"{wave.size}J", array=mask[None]),
                fits.Column(name="Z", format="D", array=[0.4]), fits.Column(name="SPECTYPE", format="6A", array=["QSO"])]
    else:
        cols = [fits.Column(name="lambda", format="D", array=wave / 10.0, unit="nm"),
                fits.Column(name="flux", format="E", array=flux), fits.Column(name="error", format="E", array=err),
                fits.Column(name="mask", format="J", array=mask)]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(tmp_path / "t.fits")
    spec = read_spectrum_1d(tmp_path / "t.fits")
    assert spec.meta["layout"] == "table"
    np.testing.assert_allclose(10**spec.loglam, wave[::-1], rtol=1e-9)
    np.testing.assert_allclose(spec.flux, flux[::-1], rtol=1e-6)
    np.testing.assert_allclose(spec.ivar, 4.0, rtol=1e-6)
    rev = wave.size - 1
    assert spec.good[rev - 10] and not spec.good[rev - 11] and spec.good.sum() == wave.size - 1
    assert not read_spectrum_1d(tmp_path / "t.fits", ReaderConfig(and_mask_ignore="")).good[rev - 10]
    if shape == "one_row_arrays":
        assert spec.meta["z"] == pytest.approx(0.4) and spec.meta["spec_class"] == "QSO"
    # explicit column names
    named = read_spectrum_1d(tmp_path / "t.fits", ReaderConfig(columns="flux=" + ("FLUX" if shape == "one_row_arrays"
                                                                                   else "flux")))
    np.testing.assert_allclose(named.flux, spec.flux)
    with pytest.raises(SurveyFileError, match="no column 'NOPE'"):
        read_spectrum_1d(tmp_path / "t.fits", ReaderConfig(layout="table", columns="flux=NOPE"))


def test_unknown_layouts_and_broken_files_say_what_was_expected(tmp_path: Path) -> None:
    fits.HDUList([fits.PrimaryHDU(np.ones((4, 4), dtype=np.float32))]).writeto(tmp_path / "img.fits")
    with pytest.raises(SurveyFileError, match="not a spectrum layout.*COADD.*wavelength WCS.*prep.reader"):
        read_spectrum_1d(tmp_path / "img.fits")
    (tmp_path / "html.fits").write_text("<html>404</html>")
    with pytest.raises(SurveyFileError, match="html.fits"):
        read_spectrum_1d(tmp_path / "html.fits")
    wave = 4000.0 + np.arange(100.0)
    write_image_spectrum(tmp_path / "bad_unit.fits", wave, [np.ones(100)], CUNIT1="furlong")
    with pytest.raises(SurveyFileError, match="CUNIT1 = 'furlong'"):
        read_spectrum_1d(tmp_path / "bad_unit.fits")


@pytest.mark.parametrize("path", SPEC, ids=[p.name for p in SPEC])
def test_real_sdss_and_boss_files_agree_with_the_astropy_reader(path: Path) -> None:
    ref = read_spectrum(path)
    spec = read_spectrum_1d(path)
    assert spec.meta["layout"] == "sdss" and spec.meta["medium"] == "vacuum"
    np.testing.assert_array_equal(spec.loglam, ref.loglam)
    np.testing.assert_array_equal(spec.flux, ref.flux)
    assert spec.meta["z"] == pytest.approx(ref.z) and spec.meta["spec_class"] == ref.spec_class
    assert (spec.meta["plate"], spec.meta["mjd"], spec.meta["fiber"]) == (ref.plate, ref.mjd, ref.fiber)
    bright_only = ref.and_mask == (1 << 23)
    other = (ref.and_mask & ~(1 << 23)) != 0
    assert spec.good[bright_only & (ref.ivar > 0)].all()  # BRIGHTSKY alone does not reject a pixel
    assert not spec.good[other].any()
    assert read_spectrum_1d(path, arrays=False).meta == spec.meta


def test_gzipped_lamost_like_file_is_read_and_a_corrupt_one_is_named(tmp_path: Path) -> None:
    wave = np.linspace(3700.0, 9100.0, 2000)
    cols = [fits.Column(name="WAVELENGTH", format="2000D", array=wave[None]),
            fits.Column(name="FLUX", format="2000E", array=(1 + wave / 1e4)[None]),
            fits.Column(name="IVAR", format="2000E", array=np.full((1, 2000), 9.0)),
            fits.Column(name="ANDMASK", format="2000J", array=np.zeros((1, 2000), dtype=np.int32))]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(tmp_path / "l.fits.gz")
    assert (tmp_path / "l.fits.gz").read_bytes()[:2] == b"\x1f\x8b"  # really gzipped
    spec = read_spectrum_1d(tmp_path / "l.fits.gz")
    np.testing.assert_allclose(10**spec.loglam, wave, rtol=1e-9)
    assert spec.good.all() and spec.meta["layout"] == "table"
    data = (tmp_path / "l.fits.gz").read_bytes()
    (tmp_path / "cut.fits.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SurveyFileError, match="cut.fits.gz: corrupt or truncated gzip"):
        read_spectrum_1d(tmp_path / "cut.fits.gz")
