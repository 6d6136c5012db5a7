"""Survey file formats: real SDSS files read correctly; the fast writers equal astropy's bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from agnbench.data_prep.formats import sdss_files as sf

from tests.conftest import REAL


@pytest.mark.parametrize(
    ("path", "layout", "plate", "mjd", "fiber", "spec_class"),
    [
        (REAL / "speclite" / "spec-0266-51630-0168.fits", "sdss", 266, 51630, 168, "GALAXY"),
        (REAL / "speclite" / "spec-0267-51608-0413.fits", "sdss", 267, 51608, 413, "GALAXY"),
        (REAL / "eboss" / "spec-10000-58462-0010.fits", "boss", 10000, 58462, 10, None),
        (REAL / "eboss" / "spec-10000-58514-0050.fits", "boss", 10000, 58514, 50, None),
    ],
)
def test_read_real_spectra(path: Path, layout: str, plate: int, mjd: int, fiber: int, spec_class: str | None) -> None:
    spec = sf.read_spectrum(path)
    assert (spec.layout, spec.plate, spec.mjd, spec.fiber) == (layout, plate, mjd, fiber)
    assert spec.flux.shape == spec.ivar.shape == spec.loglam.shape == spec.and_mask.shape
    np.testing.assert_allclose(np.diff(spec.loglam), 1e-4, atol=1e-6)  # float32 loglam near 4: ulp ~5e-7
    assert spec.spec_class in ("GALAXY", "QSO", "STAR")
    if spec_class:
        assert spec.spec_class == spec_class
    # the ids agree with an independent astropy read of the object HDU
    with fits.open(path) as hdul:
        obj = hdul[2].data
        assert spec.z == pytest.approx(float(obj["Z"][0]))
        assert spec.specobjid == str(obj["SPECOBJID"][0]).strip()
    if layout == "sdss":  # DR8 bit-packed specObjID (the mock uses the same formula)
        assert int(spec.specobjid) == (plate << 50) | (fiber << 38) | ((mjd - 50000) << 24) | (26 << 10)
    n_pix = len(spec.flux)
    assert (3800 < n_pix < 3900) if layout == "sdss" else (4500 < n_pix < 4700)


def test_unreadable_spectra_fail_with_the_file_name(tmp_path: Path) -> None:
    good = (REAL / "speclite" / "spec-0266-51630-0168.fits").read_bytes()
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(good[: len(good) // 3])
    html = tmp_path / "error-page.fits"
    html.write_text("<html><body>502 Bad Gateway</body></html>")
    no_coadd = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((4, 4), dtype=np.float32)).writeto(no_coadd)
    for path, words in ((truncated, "truncated"), (html, "cannot read"), (no_coadd, "no COADD HDU")):
        with pytest.raises(sf.SurveyFileError) as err:
            sf.read_spectrum(path)
        assert str(path) in str(err.value) and words in str(err.value)


def _parts(rng: np.random.Generator, n_pix: int, plate: int) -> dict:
    coadd = {name: (rng.normal(size=n_pix).astype(np.float32) if fmt == "E" else rng.integers(0, 2**20, n_pix).astype(np.int32))
             for name, fmt in sf.COADD_COLUMNS}
    header = {"PLATEID": plate, "MJD": 51600 + plate, "FIBERID": 7, "COEFF0": 3.5791, "COEFF1": 1e-4,
              "SPEC_ID": f"{plate * 12345:>22}", "MOCK": (True, "a comment")}
    specobj = {"PLATE": (plate, "J"), "SPECOBJID": (f"{plate * 999:>22}", "22A"), "Z": (float(rng.random()), "E"),
               "CLASS": ("GALAXY", "6A"), "SUBCLASS": ("", "21A"), "SPECPRIMARY": (1, "B"), "PLUG_RA": (12.5, "D")}
    spz = {"LINENAME": (np.array(["H_alpha", "[N_II] 6583"]), "13A"), "LINEWAVE": (np.array([6564.61, 6585.27]), "D"),
           "LINEAREA": (rng.normal(size=2).astype(np.float32), "E")}
    return {"header": header, "coadd": coadd, "specobj": specobj, "spzline": spz}


def test_fast_spec_writer_is_byte_identical_to_astropy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    writer = sf.SpecliteWriter()
    for k, n_pix in enumerate((3851, 3849, 3850)):  # the template is reused with other lengths and values
        parts = _parts(rng, n_pix, 300 + k)
        fast = writer.to_bytes(**parts)
        ref = tmp_path / f"ref{k}.fits"
        sf.write_speclite(ref, **parts)
        assert fast == ref.read_bytes()
        path = tmp_path / f"fast{k}.fits"
        path.write_bytes(fast)
        with fits.open(path) as hdul:
            hdul.verify("exception")
            np.testing.assert_array_equal(hdul["COADD"].data["flux"], parts["coadd"]["flux"])
            assert hdul[0].header["PLATEID"] == 300 + k


def test_fast_cutout_writer_is_byte_identical_to_astropy(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    writer = sf.CutoutWriter()
    for k in range(3):
        image = rng.normal(size=(3, 20, 20)).astype(np.float32)
        fast = writer.to_bytes(image, ra=10.0 + k, dec=-3.0 * k, pixel_scale=0.262)
        ref = tmp_path / f"c{k}.fits"
        sf.write_cutout(ref, image, ra=10.0 + k, dec=-3.0 * k, pixel_scale=0.262)
        assert fast == ref.read_bytes()
        data, bands, scale = sf.read_cutout(ref)
        np.testing.assert_array_equal(data, image)
        assert bands == "grz" and scale == pytest.approx(0.262)


def test_truncated_cutout_fails_with_the_file_name(tmp_path: Path) -> None:
    good = tmp_path / "good.fits"
    sf.write_cutout(good, np.ones((3, 32, 32), dtype=np.float32), ra=1.0, dec=2.0, pixel_scale=0.262)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(sf.SurveyFileError, match="cut.fits: file is truncated"):
        sf.read_cutout(cut)


def test_cutout_reader_rejects_shape_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "bad.fits"
    hdu = fits.PrimaryHDU(np.zeros((2, 8, 8), dtype=np.float32))
    hdu.header["BANDS"] = "grz"
    hdu.writeto(path)
    with pytest.raises(sf.SurveyFileError, match="BANDS='grz'"):
        sf.read_cutout(path)


def test_table_round_trip(tmp_path: Path) -> None:
    df = pd.DataFrame({"SPECOBJID": ["299535582055393280", "1"], "Z": [0.1, 0.2], "N": np.array([1, 2], dtype=np.int32),
                       "FLAG": [True, False], "BIG": np.array([2**40, 3], dtype=np.int64)})
    path = tmp_path / "t.fits"
    sf.write_table_fits(path, df, extname="GALSPECINFO")
    back = Table.read(path, hdu="GALSPECINFO")
    assert list(back["SPECOBJID"]) == ["299535582055393280", "1"]
    np.testing.assert_array_equal(back["BIG"], df["BIG"])
    np.testing.assert_array_equal(back["FLAG"], df["FLAG"])
