"""Tests for agnbench.data_prep.photometry: AB magnitudes, dust curves and distances."""

from __future__ import annotations

import numpy as np
import pytest

from agnbench.data_prep.photometry import (
    C_ANGSTROM_PER_S,
    DECAM_BANDS,
    PHOT_WAVE,
    SDSS_BANDS,
    Band,
    ab_mag,
    angular_scale_kpc_per_arcsec,
    calzetti00,
    ccm89,
    distance_modulus,
    luminosity_distance_mpc,
    mag_to_nanomaggies,
    nanomaggies_to_mag,
)

ALL_BANDS = [pytest.param(b, id=f"sdss-{k}") for k, b in SDSS_BANDS.items()] + [
    pytest.param(b, id=f"decam-{k}") for k, b in DECAM_BANDS.items()
]
#: f_nu of AB magnitude 0 (erg/s/cm^2/Hz), by the definition m_AB = -2.5 log10 f_nu - 48.60.
FNU_AB0 = 10.0 ** (-0.4 * 48.60)


def _flat_fnu_flambda(fnu: float) -> np.ndarray:
    return fnu * C_ANGSTROM_PER_S / PHOT_WAVE**2


# --------------------------------------------------------------------------- AB magnitudes
@pytest.mark.parametrize("band", ALL_BANDS)
def test_ab_mag_flat_fnu_zero_point(band):
    # the AB zero point is 10^(-0.4*48.60) erg/s/cm^2/Hz = 3630.78 Jy
    assert float(ab_mag(_flat_fnu_flambda(FNU_AB0), band)) == pytest.approx(0.0, abs=1e-6)
    # 3631 Jy (the rounded zero point) gives -2.5 log10(3631e-23) - 48.60 = -6.6e-5 mag
    expected = -2.5 * np.log10(3631e-23) - 48.60
    assert float(ab_mag(_flat_fnu_flambda(3631e-23), band)) == pytest.approx(expected, abs=1e-6)
    assert abs(expected) < 1e-4


@pytest.mark.parametrize("band", ALL_BANDS)
def test_ab_mag_scaling(band):
    flam = _flat_fnu_flambda(FNU_AB0 * 10.0 ** (-0.4 * 20.0))
    m = float(ab_mag(flam, band))
    assert m == pytest.approx(20.0, abs=1e-9)
    assert float(ab_mag(10.0 * flam, band)) - m == pytest.approx(-2.5, abs=1e-10)


@pytest.mark.parametrize("band", ALL_BANDS)
def test_ab_mag_power_law_vs_fine_integral(band):
    # f_nu ~ lambda^-alpha: compare with the photon-weighted mean f_nu,
    # <f_nu> = int f_nu T dlam/lam / int T dlam/lam, integrated independently on a 200k-point grid
    alpha = np.array([-2.0, 0.0, 1.0, 3.0])
    fnu_of = lambda w: FNU_AB0 * (w[None, :] / 6200.0) ** (-alpha[:, None])  # noqa: E731
    flam = fnu_of(PHOT_WAVE) * C_ANGSTROM_PER_S / PHOT_WAVE**2
    mags = ab_mag(flam, band)
    assert mags.shape == (4,)
    fine = np.geomspace(2000.0, 14000.0, 200_000)
    t = band.transmission(fine)
    ref = np.trapezoid(fnu_of(fine) * t / fine, fine, axis=1) / np.trapezoid(t / fine, fine)
    np.testing.assert_allclose(mags, -2.5 * np.log10(ref) - 48.60, rtol=0, atol=1e-4)


def test_ab_mag_colours_of_power_laws():
    # bluer spectrum (f_nu rising to the blue) is brighter in g relative to r; a flat f_nu has colour 0
    alpha = np.array([-2.0, 0.0, 1.0])
    fnu = FNU_AB0 * (PHOT_WAVE[None, :] / 6200.0) ** (-alpha[:, None])
    flam = fnu * C_ANGSTROM_PER_S / PHOT_WAVE**2
    colours = ab_mag(flam, SDSS_BANDS["g"]) - ab_mag(flam, SDSS_BANDS["r"])
    assert colours[1] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.diff(colours) < 0)
    # narrow-band estimate: g - r ~ 2.5 alpha log10(lambda_g / lambda_r) -> within 10%
    approx = 2.5 * alpha * np.log10(4680.0 / 6180.0)
    np.testing.assert_allclose(colours[[0, 2]], approx[[0, 2]], rtol=0.1)


def test_band_transmission_peak_and_width():
    b = Band("x", 5000.0, 400.0)
    assert float(b.transmission(np.array([5000.0]))[0]) == 1.0
    assert float(b.transmission(np.array([5400.0]))[0]) == pytest.approx(np.exp(-0.5))


# --------------------------------------------------------------------------- nanomaggies
def test_nanomaggies_reference_points():
    assert float(mag_to_nanomaggies(22.5)) == pytest.approx(1.0, rel=1e-15)
    assert float(mag_to_nanomaggies(20.0)) == pytest.approx(10.0, rel=1e-12)
    assert float(nanomaggies_to_mag(1.0)) == pytest.approx(22.5, abs=1e-15)
    assert float(nanomaggies_to_mag(100.0)) == pytest.approx(17.5, abs=1e-12)


def test_nanomaggies_round_trip():
    rng = np.random.default_rng(0)
    mag = rng.uniform(10.0, 30.0, 1000)
    np.testing.assert_allclose(nanomaggies_to_mag(mag_to_nanomaggies(mag)), mag, rtol=0, atol=1e-10)
    flux = 10.0 ** rng.uniform(-3, 5, 1000)
    np.testing.assert_allclose(mag_to_nanomaggies(nanomaggies_to_mag(flux)), flux, rtol=1e-12)


def test_nanomaggies_non_positive_is_nan():
    out = nanomaggies_to_mag(np.array([0.0, -1.0, -1e-30, 1.0]))
    assert np.isnan(out[:3]).all()
    assert out[3] == 22.5


# --------------------------------------------------------------------------- dust curves
def test_ccm89_v_and_b():
    # A_V / E(B-V) = R_V and A_B / E(B-V) = R_V + 1 by definition of E(B-V)
    assert float(ccm89(5500.0)) == pytest.approx(3.1, abs=0.1)
    assert float(ccm89(4400.0)) == pytest.approx(4.1, abs=0.1)
    assert float(ccm89(5500.0, r_v=5.0)) == pytest.approx(5.0, abs=0.1)
    assert float(ccm89(4400.0, r_v=5.0)) == pytest.approx(6.0, abs=0.15)


def test_ccm89_reference_values():
    # CCM89 eq. 3 at x = 1/lambda[um] = 1.82 (y = 0): a = 1, b = 0 exactly
    lam = 1e4 / 1.82
    assert float(ccm89(lam)) == pytest.approx(3.1, abs=1e-12)
    # IR branch at x = 1 um^-1: a = 0.574, b = -0.527 -> A/E(B-V) = 3.1*0.574 - 0.527
    assert float(ccm89(1e4)) == pytest.approx(3.1 * 0.574 - 0.527, abs=1e-12)


def test_ccm89_monotonic_in_optical_nir():
    wave = np.linspace(3100.0, 30000.0, 400)
    assert np.all(np.diff(ccm89(wave)) < 0)


def test_ccm89_matches_schlafly_sdss_coefficients_roughly():
    # S&F 2011 A_band / E(B-V)_SFD uses a different (F99) curve and the 0.86 recalibration, so only
    # the ordering and the rough scale are expected to agree
    centres = np.array([b.center for b in SDSS_BANDS.values()])
    a = ccm89(centres)
    assert np.all(np.diff(a) < 0)
    assert np.all(np.abs(a[1:] / np.array([3.303, 2.285, 1.698, 1.263]) - 1.0) < 0.25)


def test_calzetti00_v():
    assert float(calzetti00(5500.0)) == pytest.approx(4.05, abs=0.1)
    # published values: k(lambda) from the two branches of Calzetti et al. (2000) eq. 4
    x = 1.0 / 1.0  # 1 um, long branch
    assert float(calzetti00(1e4)) == pytest.approx(2.659 * (-1.857 + 1.040 * x) + 4.05, abs=1e-12)
    x = 1.0 / 0.3
    assert float(calzetti00(3000.0)) == pytest.approx(
        2.659 * (-2.156 + 1.509 * x - 0.198 * x**2 + 0.011 * x**3) + 4.05, abs=1e-12
    )


def test_calzetti00_continuous_and_decreasing():
    # decreasing within each branch; the published branches do not join exactly at 0.63 um
    for wave in (np.linspace(1300.0, 6299.0, 3000), np.linspace(6300.0, 21000.0, 3000)):
        assert np.all(np.diff(calzetti00(wave)) < 0)
    # ... but meet within a few hundredths (3.477 vs 3.502)
    assert abs(float(calzetti00(6299.999)) - float(calzetti00(6300.001))) < 0.03


# --------------------------------------------------------------------------- distances
@pytest.fixture(scope="module")
def cosmo():
    astropy_cosmology = pytest.importorskip("astropy.cosmology")
    return astropy_cosmology.FlatLambdaCDM(H0=70.0, Om0=0.3)


def test_luminosity_distance_vs_astropy(cosmo):
    z = np.linspace(0.01, 0.5, 60)
    ref = cosmo.luminosity_distance(z).to_value("Mpc")
    np.testing.assert_allclose(luminosity_distance_mpc(z), ref, rtol=1e-10)


def test_distance_modulus_vs_astropy(cosmo):
    z = np.linspace(0.01, 0.5, 60)
    ref = cosmo.distmod(z).value
    np.testing.assert_allclose(distance_modulus(z), ref, rtol=1e-10)
    np.testing.assert_allclose(distance_modulus(z), ref, atol=1e-4)


def test_angular_scale_vs_astropy(cosmo):
    z = np.linspace(0.01, 0.5, 60)
    ref = cosmo.kpc_proper_per_arcmin(z).to_value("kpc/arcmin") / 60.0
    np.testing.assert_allclose(angular_scale_kpc_per_arcsec(z), ref, rtol=1e-10)


def test_distances_other_cosmology():
    astropy_cosmology = pytest.importorskip("astropy.cosmology")
    c = astropy_cosmology.FlatLambdaCDM(H0=67.7, Om0=0.31)
    z = np.array([0.02, 0.1, 0.3, 0.9])
    np.testing.assert_allclose(
        luminosity_distance_mpc(z, h0=67.7, omega_m=0.31), c.luminosity_distance(z).to_value("Mpc"), rtol=1e-4
    )


def test_low_z_hubble_law():
    # D_L -> c z / H0 as z -> 0
    z = 1e-4
    assert float(luminosity_distance_mpc(z)) == pytest.approx(2.99792458e5 * z / 70.0, rel=1e-3)
    assert float(luminosity_distance_mpc(0.0)) == 0.0


def _old_trapezoid_distance(z, h0=70.0, omega_m=0.3):
    """The hand-written D_L that astropy replaced (trapezoid on a 20001-point grid to z = 8, then interpolated)."""
    grid = np.linspace(0.0, 8.0, 20001)
    inv_e = 1.0 / np.sqrt(omega_m * (1 + grid) ** 3 + (1 - omega_m))
    dc = np.concatenate([[0.0], np.cumsum(0.5 * (inv_e[1:] + inv_e[:-1]) * np.diff(grid))])
    return np.interp(z, grid, dc) * 2.99792458e5 / h0 * (1 + np.asarray(z))


def test_distances_closed_forms():
    # flat, matter only (Einstein-de Sitter): D_C = 2 c / H0 (1 - 1 / sqrt(1 + z))
    z = np.array([0.0, 0.05, 0.1, 0.5, 2.0, 10.0])
    c_h0 = 2.99792458e5 / 70.0
    np.testing.assert_allclose(luminosity_distance_mpc(z, omega_m=1.0),
                               2 * c_h0 * (1 - 1 / np.sqrt(1 + z)) * (1 + z), rtol=2e-9, atol=1e-9)
    # flat, Lambda only (de Sitter): D_C = c z / H0
    np.testing.assert_allclose(luminosity_distance_mpc(z, omega_m=0.0), c_h0 * z * (1 + z), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("h0, omega_m", [(70.0, 0.3), (67.7, 0.31), (70.0, 0.05), (70.0, 1.0)])
def test_distance_table_within_stated_error_of_astropy(h0, omega_m):
    """The interpolated table: within 2e-9 relative of astropy for 1e-5 <= z <= 10; astropy itself beyond."""
    cosmology = pytest.importorskip("astropy.cosmology")
    c = cosmology.FlatLambdaCDM(H0=h0, Om0=omega_m)
    z = np.concatenate([np.geomspace(1e-5, 10.0, 20_000), np.random.default_rng(1).uniform(0, 10, 20_000)])
    ref = c.luminosity_distance(z).to_value("Mpc")
    assert np.abs(luminosity_distance_mpc(z, h0=h0, omega_m=omega_m) / ref - 1).max() < 2e-9
    far = np.array([10.5, 20.0])
    np.testing.assert_array_equal(luminosity_distance_mpc(far, h0=h0, omega_m=omega_m),
                                  c.luminosity_distance(far).to_value("Mpc"))


def test_distance_known_value_and_shape():
    # z = 0.1, H0 = 70, Om0 = 0.3: D_L = (1 + z) c/H0 int_0^z dz'/E(z'), by quadrature
    from scipy.integrate import quad

    ref = 1.1 * 2.99792458e5 / 70.0 * quad(lambda x: 1 / np.sqrt(0.3 * (1 + x) ** 3 + 0.7), 0, 0.1,
                                             epsabs=0, epsrel=1e-13)[0]
    assert float(luminosity_distance_mpc(0.1)) == pytest.approx(ref, rel=1e-10)
    assert float(luminosity_distance_mpc(0.1)) == pytest.approx(460.29993639, rel=1e-9)
    z = np.full((3, 4), 0.1)
    assert luminosity_distance_mpc(z).shape == (3, 4) and distance_modulus(z).shape == (3, 4)
    assert np.isnan(luminosity_distance_mpc(np.array([np.nan, 0.1])))[0]
    with pytest.raises(ValueError, match="redshift must be >= 0"):
        luminosity_distance_mpc(np.array([0.1, -0.01]))


def test_distances_match_the_replaced_formula():
    # the hand-written formula agreed to < 1e-6 where the mock lives (z >= 0.01); below, its first
    # trapezoid step was off by up to 9e-5 relative (2e-4 mag), which astropy corrects
    z = np.linspace(0.01, 0.4, 2001)
    rel = np.abs(luminosity_distance_mpc(z) / _old_trapezoid_distance(z) - 1)
    assert rel.max() < 1e-6
    z = np.geomspace(1e-6, 0.01, 200)
    assert np.abs(luminosity_distance_mpc(z) / _old_trapezoid_distance(z) - 1).max() < 1e-4


def test_distance_modulus_on_real_sdss_redshifts():
    # the real SDSS table's redshifts: astropy vs the replaced formula, what feat_abs_r of an ingest sees
    import pandas as pd

    from tests.conftest import REAL

    path = REAL / "uv_optical_sdss_reduced.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    z = pd.read_csv(path)["redshift"].to_numpy(np.float64)
    z = z[np.isfinite(z) & (z > 0)]
    assert z.size > 10
    old = 5.0 * np.log10(_old_trapezoid_distance(z) * 1e5)
    assert np.abs(distance_modulus(z) - old).max() < 2e-4  # magnitudes; < 3e-6 mag for z >= 0.01
    assert np.abs(distance_modulus(z[z >= 0.01]) - old[z >= 0.01]).max() < 3e-6
