"""Tests for agnbench.data_prep.mock.sed: parametric stellar continuum and absorption lines."""

from __future__ import annotations

import numpy as np
import pytest

from agnbench.data_prep.lines import EMISSION_LINES, SPZLINE_NAMES
from agnbench.data_prep.photometry import C_ANGSTROM_PER_S, C_KM_PER_S
from agnbench.data_prep.mock.sed import (
    ABSORPTION_LINES,
    absorption_profile,
    continuum_fnu,
    powerlaw_flambda,
    stellar_flambda,
)

SEEDS = [0, 1, 2]
AGES = np.linspace(0.0, 1.0, 21)


def _dn4000(wave_rest, fnu):
    """Balogh et al. (1999) narrow 4000 A break: <f_nu>(4000-4100) / <f_nu>(3850-3950)."""
    red = (wave_rest >= 4000) & (wave_rest <= 4100)
    blue = (wave_rest >= 3850) & (wave_rest <= 3950)
    return fnu[:, red].mean(axis=1) / fnu[:, blue].mean(axis=1)


# --------------------------------------------------------------------------- continuum
@pytest.mark.parametrize("seed", SEEDS)
def test_continuum_normalised_at_6200(seed):
    rng = np.random.default_rng(seed)
    n = 50
    z = rng.uniform(0.0, 0.5, n)
    age = rng.uniform(0.0, 1.0, n)
    for i in range(n):
        out = continuum_fnu(np.array([6200.0 * (1 + z[i])]), z[i : i + 1], age[i : i + 1])
        assert out.shape == (1, 1)
        assert out[0, 0] == pytest.approx(1.0, abs=1e-12)
    # whole batch on a common observed grid: object i evaluated at its own 6200(1+z_i) column
    grid = 6200.0 * (1 + z)
    out = continuum_fnu(grid, z, age)
    np.testing.assert_allclose(np.diag(out), 1.0, atol=1e-12)


def test_continuum_redshift_is_a_shift():
    rest = np.geomspace(3000, 9000, 500)
    z = 0.3
    a = continuum_fnu(rest, np.array([0.0]), np.array([0.4]))
    b = continuum_fnu(rest * (1 + z), np.array([z]), np.array([0.4]))
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_continuum_is_linear_in_magnitude_with_age():
    wave = np.geomspace(3000, 9000, 300)
    m = -2.5 * np.log10(continuum_fnu(wave, np.zeros(3), np.array([0.0, 0.5, 1.0])))
    np.testing.assert_allclose(m[1], 0.5 * (m[0] + m[2]), atol=1e-12)


def test_dn4000_of_continuum_increases_with_age():
    wave = np.linspace(3800.0, 4150.0, 3501)
    fnu = continuum_fnu(wave, np.zeros(AGES.size), AGES)
    d = _dn4000(wave, fnu)
    assert np.all(np.diff(d) > 0)
    assert d[0] < 1.2
    # the line-free continuum alone reaches ~1.69; the Ca H&K / Balmer absorption in the blue
    # band brings the full old spectrum to ~1.85 (tested below)
    assert d[-1] > 1.65


def test_dn4000_of_full_stellar_spectrum():
    wave = np.geomspace(3500.0, 4500.0, 6000)
    for sigma_v in (0.0, 150.0, 300.0):
        flam = stellar_flambda(wave, np.zeros(AGES.size), AGES, np.full(AGES.size, sigma_v))
        d = _dn4000(wave, flam * wave**2 / C_ANGSTROM_PER_S)
        assert np.all(np.diff(d) > 0)
        assert d[0] < 1.2
        assert d[-1] > 1.7  # SDSS early types: Dn4000 ~ 1.8-2.0


def test_old_is_redder_than_young():
    # f_nu(4000 A) / f_nu(6200 A) is smaller for the old population at every blue wavelength
    wave = np.array([2000.0, 3000.0, 3700.0, 4500.0, 5500.0])
    f = continuum_fnu(wave, np.zeros(2), np.array([0.0, 1.0]))
    assert np.all(f[1] < f[0])


def test_stellar_flambda_units():
    wave = np.geomspace(3600.0, 9000.0, 4000)
    z, age, sv = np.array([0.1]), np.array([0.3]), np.array([120.0])
    fl = stellar_flambda(wave, z, age, sv)
    rest = wave / 1.1
    expected = continuum_fnu(wave, z, age) * absorption_profile(wave, z, age, sv) * C_ANGSTROM_PER_S / rest**2
    np.testing.assert_allclose(fl, expected, rtol=1e-12)


def test_powerlaw_flambda():
    wave = np.geomspace(3000.0, 10000.0, 50)
    out = powerlaw_flambda(wave, np.array([0.0]), alpha_nu=-0.5)
    fnu = out[0] * wave**2 / C_ANGSTROM_PER_S
    np.testing.assert_allclose(fnu, (wave / 6200.0) ** 0.5, rtol=1e-12)  # nu^-0.5 ~ lambda^0.5
    z = 0.2
    out_z = powerlaw_flambda(6200.0 * (1 + z) * np.ones(1), np.array([z]), alpha_nu=-1.3)
    assert out_z[0, 0] * 6200.0**2 / C_ANGSTROM_PER_S == pytest.approx(1.0, rel=1e-12)


def test_line_tables_consistent():
    assert set(SPZLINE_NAMES) == set(EMISSION_LINES)
    # vacuum wavelengths: [OIII]5007 vac 5008.24, Halpha vac 6564.61
    assert EMISSION_LINES["OIII_5007"] == pytest.approx(5008.24, abs=0.01)
    assert EMISSION_LINES["H_ALPHA"] == pytest.approx(6564.61, abs=0.01)
    # [OIII] and [NII] doublet ratios of wavelengths are fixed by atomic physics (~1.0097, ~1.0054)
    assert EMISSION_LINES["OIII_5007"] / EMISSION_LINES["OIII_4959"] == pytest.approx(1.00966, abs=1e-4)
    for _, lam0, ew_old, ew_young, sig in ABSORPTION_LINES:
        assert 3000 < lam0 < 9000 and ew_old > 0 and ew_young > 0 and sig > 0


# --------------------------------------------------------------------------- absorption_profile
def _log_grid(lo=3600.0, hi=9200.0, step=1e-4):
    return 10.0 ** np.arange(np.log10(lo), np.log10(hi), step)


@pytest.mark.parametrize("seed", SEEDS)
def test_absorption_profile_range(seed):
    rng = np.random.default_rng(seed)
    wave = _log_grid()
    n = 10
    z, age, sv = rng.uniform(0, 0.3, n), rng.uniform(0, 1, n), rng.uniform(0, 400, n)
    t = absorption_profile(wave, z, age, sv)
    assert t.shape == (n, wave.size)
    assert np.all(t > 0) and np.all(t <= 1)
    # more than 8 sigma from every line the spectrum is untouched (Gaussian tails < exp(-32))
    rest = wave[None, :] / (1 + z[:, None])
    far = np.ones_like(rest, dtype=bool)
    for _, lam0, _, _, sig_int in ABSORPTION_LINES:
        sig = np.sqrt(sig_int**2 + (lam0 * sv / C_KM_PER_S) ** 2)[:, None]
        far &= np.abs(rest - lam0) > 8.0 * sig
    assert far.sum() > wave.size
    assert np.all(t[far] > 1.0 - 1e-12)
    assert np.all(t[far] <= 1.0)


def test_absorption_ca_k_equivalent_width_grows_with_age():
    wave = _log_grid(3700.0, 4200.0, 2e-5)
    ages = np.linspace(0, 1, 11)
    t = absorption_profile(wave, np.zeros(ages.size), ages, np.full(ages.size, 150.0))
    sel = (wave >= 3915.0) & (wave <= 3955.0)
    ew = ((1.0 - t[:, sel]) * np.gradient(wave)[sel]).sum(axis=1)
    assert np.all(np.diff(ew) > 0)
    # uncapped at sigma_v = 150 km/s the Ca K EW is the tabulated one (1.5 A young, 8 A old),
    # give or take H8's far wing
    assert ew[0] == pytest.approx(1.5, abs=0.2)
    assert ew[-1] == pytest.approx(8.0, abs=0.3)


def test_absorption_balmer_strongest_when_young():
    wave = _log_grid(3700.0, 4500.0, 2e-5)
    t = absorption_profile(wave, np.zeros(2), np.array([0.0, 1.0]), np.full(2, 150.0))
    sel = (wave >= 4080.0) & (wave <= 4125.0)  # Hdelta
    ew = ((1.0 - t[:, sel]) * np.gradient(wave)[sel]).sum(axis=1)
    assert ew[0] > ew[1]
    assert ew[0] == pytest.approx(7.0, rel=0.05)


def test_absorption_profile_rejects_non_log_grid():
    wave = np.linspace(3600.0, 9200.0, 4000)
    with pytest.raises(ValueError, match="log-uniform"):
        absorption_profile(wave, np.zeros(1), np.ones(1), np.full(1, 100.0))


def _brute_force_absorption(wave, z, age, sigma_v):
    """Full-grid Gaussian sum, same depth cap (0.9) and clip (0.05, 1), no windowing."""
    out = np.empty((z.size, wave.size))
    for i in range(z.size):
        rest = wave / (1 + z[i])
        absorbed = np.zeros(wave.size)
        for _, lam0, ew_old, ew_young, sig_int in ABSORPTION_LINES:
            sig = np.sqrt(sig_int**2 + (lam0 * sigma_v[i] / C_KM_PER_S) ** 2)
            ew = (1 - age[i]) * ew_young + age[i] * ew_old
            depth = min(ew / (sig * np.sqrt(2 * np.pi)), 0.9)
            absorbed += depth * np.exp(-0.5 * ((rest - lam0) / sig) ** 2)
        out[i] = np.clip(1 - absorbed, 0.05, 1.0)
    return out


@pytest.mark.parametrize("step", [1e-4, 3e-5])
def test_absorption_windowing_matches_brute_force(step):
    wave = _log_grid(3500.0, 9300.0, step)
    z = np.array([0.0, 0.03, 0.12, 0.3, 0.3])
    age = np.array([0.0, 1.0, 0.5, 0.8, 0.2])
    sigma_v = np.array([0.0, 350.0, 80.0, 200.0, 0.0])
    got = absorption_profile(wave, z, age, sigma_v)
    ref = _brute_force_absorption(wave, z, age, sigma_v)
    # each line is evaluated within >= 6 sigma of its centre, so the windowed sum can only miss
    # Gaussian tails below depth * exp(-18) ~ 1.4e-8 per line (a 1e-10 tolerance is not reachable
    # against an unwindowed sum: the largest observed difference is ~4e-9)
    tail_bound = 0.9 * np.exp(-18.0) * len(ABSORPTION_LINES)
    np.testing.assert_allclose(got, ref, rtol=0, atol=tail_bound)
    # the comparison is not vacuous: deep lines and many affected pixels
    assert (1.0 - ref).max() > 0.5
    assert (np.abs(ref - 1.0) > 1e-3).sum() > 1000
    # objects with sigma_v below the batch maximum get windows wider than 6 sigma, so there the
    # agreement is essentially exact
    np.testing.assert_allclose(got[[0, 2, 3, 4]], ref[[0, 2, 3, 4]], rtol=0, atol=1e-10)


def test_absorption_depth_cap():
    # a narrow, strong line saturates at depth 0.9: Ca K of the old population with sigma_v = 0 has
    # EW 8 A over sigma 3 A -> uncapped depth 1.06
    wave = _log_grid(3900.0, 3970.0, 1e-5)
    t = absorption_profile(wave, np.zeros(1), np.ones(1), np.zeros(1))
    assert t.min() == pytest.approx(0.1, abs=2e-3)
