"""The mock survey: formats, labels as MPA-JHU makes them, planted physics, realism vs real SDSS."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from agnbench.data_prep import photometry as ph
from agnbench.data_prep.bpt import AGN, SF, bpt_class
from agnbench.data_prep.mock.profiles import enclosed_fraction, profile_components
from agnbench.data_prep.formats.sdss_files import read_cutout, read_spectrum, spec_filename

from tests.conftest import REAL, read_catalog

LINES = ("H_BETA", "OIII_5007", "H_ALPHA", "NII_6584")


def test_layout_and_formats(mock_survey: Path) -> None:
    manifest = json.loads((mock_survey / "manifest.json").read_text())
    assert manifest["n_galaxies"] == 2000
    for name in ("galSpecInfo", "galSpecExtra", "galSpecLine", "galSpecIndx", "photometry"):
        with fits.open(mock_survey / "catalog" / f"{name}.fits") as hdul:
            assert len(hdul[1].data) == 2000
    info = read_catalog(mock_survey, "galSpecInfo")
    for col in ("SPECOBJID", "PLATEID", "MJD", "FIBERID", "RA", "DEC", "Z", "Z_WARNING", "RELIABLE", "SPECTROTYPE"):
        assert col in info.columns
    assert "BPTCLASS" in read_catalog(mock_survey, "galSpecExtra").columns
    assert {"D4000_N", "LICK_HD_A"} <= set(read_catalog(mock_survey, "galSpecIndx").columns)
    phot = read_catalog(mock_survey, "photometry")
    for col in [f"modelMag_{b}" for b in "ugriz"] + [f"extinction_{b}" for b in "ugriz"] + ["petroR50_r", "petroR90_r", "fracDeV_r"]:
        assert col in phot.columns
    assert info["SPECOBJID"].is_unique
    # every catalog row has its spectrum and cutout, under the real naming conventions
    row = info.iloc[7]
    spec_path = mock_survey / "spectra" / f"{row.PLATEID:04d}" / spec_filename(row.PLATEID, row.MJD, row.FIBERID)
    with fits.open(spec_path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "COADD", "SPECOBJ", "SPZLINE"]
        assert hdul["COADD"].columns.names == ["flux", "loglam", "ivar", "and_mask", "or_mask", "wdisp", "sky", "model"]
        assert {"Z", "CLASS", "SUBCLASS", "PLATE", "MJD", "FIBERID"} <= set(hdul["SPECOBJ"].columns.names)
    spec = read_spectrum(spec_path)
    assert spec.specobjid == row.SPECOBJID and spec.z == pytest.approx(row.Z, rel=1e-6)
    assert 3790 < 10 ** spec.loglam[0] < 3800 and 9180 < 10 ** spec.loglam[-1] < 9210
    np.testing.assert_allclose(np.diff(spec.loglam), 1e-4, atol=2e-7)
    data, bands, scale = read_cutout(mock_survey / "images" / f"{row.SPECOBJID}.fits")
    assert bands == "grz" and data.shape == (3, 48, 48) and scale == pytest.approx(0.262)
    n_spec = len(list((mock_survey / "spectra").glob("*/spec-*.fits")))
    assert n_spec == 2000 and len(list((mock_survey / "images").glob("*.fits"))) == 2000
    # the manifest hashes every file written
    assert len(manifest["files"]) == 2000 * 2 + 5 + 1


def test_bptclass_recomputed_from_line_fluxes_matches(mock_survey: Path) -> None:
    line = read_catalog(mock_survey, "galSpecLine")
    extra = read_catalog(mock_survey, "galSpecExtra")
    args = []
    for name in ("NII_6584", "H_ALPHA", "OIII_5007", "H_BETA"):
        args += [line[f"{name}_FLUX"], line[f"{name}_FLUX_ERR"]]
    np.testing.assert_array_equal(bpt_class(*args), extra["BPTCLASS"])
    counts = extra["BPTCLASS"].value_counts()
    # every MPA-JHU class occurs, so labels carry realistic noise
    assert set(counts.index) >= {-1, 1, 2, 3, 4, 5}
    agn_frac = counts[AGN] / (counts[AGN] + counts[SF])
    assert 0.10 <= agn_frac <= 0.25


def test_labels_follow_truth_with_noise(mock_survey: Path) -> None:
    truth = pd.read_parquet(mock_survey / "truth.parquet")
    ct = pd.crosstab(truth["true_class"], truth["bpt_class"], normalize="index")
    assert ct.loc["sf", SF] > 0.9
    assert ct.loc["seyfert", AGN] > 0.8
    assert ct.loc["composite", 3] > 0.6
    # LINERs are weak-lined: many fall to the low-S/N LINER class, as in SDSS
    assert ct.loc["liner", 5] > 0.2


def _direct_line_flux(spec, rest: float, sigma_kms: float, wdisp: np.ndarray) -> tuple[float, float]:
    """Flux by direct integration over +-3 sigma after a linear sideband continuum (independent method)."""
    wave = 10.0**spec.loglam
    centre = rest * (1 + spec.z)
    sig = centre * np.sqrt(sigma_kms**2 + (69.0 * np.interp(centre, wave, wdisp)) ** 2) / 2.99792458e5
    core = np.abs(wave - centre) < 3 * sig
    side = (np.abs(wave - centre) > 4 * sig) & (np.abs(wave - centre) < 4 * sig + 25.0) & (spec.ivar > 0)
    coef = np.polyfit(wave[side] - centre, spec.flux[side], 1, w=np.sqrt(spec.ivar[side]))
    cont = np.polyval(coef, wave - centre)
    dlam = wave * np.log(10) * 1e-4
    good = core & (spec.ivar > 0)
    flux = np.sum((spec.flux - cont)[good] * dlam[good]) / 0.9973
    err = np.sqrt(np.sum(dlam[good] ** 2 / spec.ivar[good]))
    return flux, err


def test_line_fluxes_remeasured_from_spec_files_agree_within_errors(mock_survey: Path) -> None:
    line = read_catalog(mock_survey, "galSpecLine")
    pulls = []
    for i in range(0, 2000, 10):
        row = line.iloc[i]
        path = mock_survey / "spectra" / f"{row.PLATEID:04d}" / spec_filename(row.PLATEID, row.MJD, row.FIBERID)
        spec = read_spectrum(path)
        with fits.open(path) as hdul:
            wdisp = np.asarray(hdul["COADD"].data["wdisp"], dtype=float)
        for name, rest in (("OIII_5007", 5008.24),):
            f, e = _direct_line_flux(spec, rest, float(row.SIGMA_FORBIDDEN), wdisp)
            pulls.append((f - row[f"{name}_FLUX"]) / np.hypot(e, row[f"{name}_FLUX_ERR"]))
    pulls = np.asarray(pulls)
    assert abs(np.median(pulls)) < 0.25
    assert np.mean(np.abs(pulls) < 3) > 0.95


def test_cutout_photometry_matches_catalog(mock_survey: Path) -> None:
    phot = read_catalog(mock_survey, "photometry")
    truth = pd.read_parquet(mock_survey / "truth.parquet")
    # objects whose model light is >= 98% inside the aperture (compact enough for a 48-px cutout)
    radius = 21.0 * 0.262
    w, v = profile_components(flux_bulge=truth["bt"], re_bulge=truth["re_bulge"], q_bulge=truth["q_bulge"],
                              flux_disk=1 - truth["bt"], re_disk=truth["re_disk"], q_disk=truth["q_disk"],
                              flux_point=np.zeros(len(truth)), psf_fwhm=truth["psf_fwhm"])
    inside = enclosed_fraction(np.array([radius]), w / w.sum(axis=1, keepdims=True), v)[:, 0]
    yy, xx = np.mgrid[0:48, 0:48]
    aperture = (xx - 23.5) ** 2 + (yy - 23.5) ** 2 < 21.0**2
    bright = np.flatnonzero((phot["modelMag_r"] < 17.0).to_numpy() & (inside > 0.98))
    assert bright.size > 50
    for j, band in enumerate("grz"):
        dmag = []
        for i in bright:
            data, _, _ = read_cutout(mock_survey / "images" / f"{phot['specObjID'].iloc[i]}.fits")
            dmag.append(ph.nanomaggies_to_mag(data[j][aperture].sum()) - phot[f"modelMag_{band}"].iloc[i])
        dmag = np.asarray(dmag)
        # DECam vs SDSS bandpasses: colour terms of a few hundredths
        assert abs(np.median(dmag)) < 0.1, band
        assert np.percentile(np.abs(dmag), 90) < 0.15, band


def test_planted_host_differences(mock_survey: Path) -> None:
    """AGN hosts are more massive, older, redder and more bulge-dominated than SF galaxies."""
    truth = pd.read_parquet(mock_survey / "truth.parquet")
    med = truth.groupby("true_class")[["logmass", "age_bulge", "age_disk", "bt", "gr_rest"]].median()
    for col in ("logmass", "age_disk", "bt", "gr_rest"):
        assert med.loc["seyfert", col] > med.loc["sf", col], col
        assert med.loc["liner", col] > med.loc["sf", col], col
    assert (truth.loc[truth.true_class != "seyfert", "ps_frac"] == 0).all()
    assert (truth.loc[truth.true_class == "seyfert", "ps_frac"] > 0).mean() > 0.3


def test_spectra_carry_masks_noise_and_sky(mock_survey: Path) -> None:
    paths = sorted((mock_survey / "spectra").glob("*/spec-*.fits"))[:60]
    n_rejected = 0
    for path in paths:
        with fits.open(path) as hdul:
            d = hdul["COADD"].data
            ivar, and_mask = np.asarray(d["ivar"]), np.asarray(d["and_mask"])
            assert ivar[0] == 0 and ivar[-1] == 0  # NODATA ends
            assert np.all((ivar == 0) | np.isfinite(ivar))
            n_rejected += int(np.any(and_mask & (1 << 18)))
            sky = np.asarray(d["sky"])
            wave = 10 ** np.asarray(d["loglam"], dtype=float)
            assert sky[np.argmin(np.abs(wave - 5578.9))] > 5 * np.median(sky)
    assert n_rejected > 5


def test_realism_against_real_sdss_table(mock_survey: Path) -> None:
    """Per-class medians at 0.05 < z < 0.075 agree with 1,590 real SDSS galaxies (tests/data)."""
    real = pd.read_csv(REAL / "uv_optical_sdss_reduced.csv")
    real = real.assign(gr=real.dered_g - real.dered_r, d4000=real["Dn4000(obs)"], r90=real.petroR90_r)

    info = read_catalog(mock_survey, "galSpecInfo")
    phot = read_catalog(mock_survey, "photometry")
    mock = pd.DataFrame({
        "z": info["Z"], "bpt": read_catalog(mock_survey, "galSpecExtra")["BPTCLASS"],
        "gr": (phot.modelMag_g - phot.extinction_g) - (phot.modelMag_r - phot.extinction_r),
        "d4000": read_catalog(mock_survey, "galSpecIndx")["D4000_N"], "r90": phot.petroR90_r,
    })
    mock = mock[(mock.z > 0.05) & (mock.z < 0.075)]
    assert (mock.bpt == AGN).sum() >= 25
    rng = np.random.default_rng(0)
    # allowed |mock - real| = model systematics + 3 x the bootstrap s.e. of the difference of medians
    systematic = {"gr": 0.05, "d4000": 0.05, "r90": 0.3}
    for code, name in ((SF, "SF"), (AGN, "AGN")):
        m, r = mock[mock.bpt == code], real[real.BPT_class == name]
        for col in ("gr", "d4000", "r90"):
            se = np.hypot(_median_se(m[col].to_numpy(), rng), _median_se(r[col].to_numpy(), rng))
            diff = m[col].median() - r[col].median()
            assert abs(diff) < systematic[col] + 3 * se, (name, col, diff, se)
    # and the class contrast itself is reproduced
    med = mock.groupby("bpt")[["gr", "d4000"]].median()
    assert med.loc[AGN, "gr"] - med.loc[SF, "gr"] > 0.12
    assert med.loc[AGN, "d4000"] - med.loc[SF, "d4000"] > 0.15


def _median_se(values: np.ndarray, rng: np.random.Generator, n_boot: int = 500) -> float:
    """Bootstrap standard error of the median."""
    idx = rng.integers(0, values.size, (n_boot, values.size))
    return float(np.median(values[idx], axis=1).std())
