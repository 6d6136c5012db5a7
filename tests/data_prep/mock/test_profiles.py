"""Tests for agnbench.data_prep.mock.profiles: Sersic mixtures of Gaussians and Petrosian radii."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from agnbench.data_prep.mock.profiles import (
    FWHM_TO_SIGMA,
    enclosed_fraction,
    petrosian_radii,
    profile_components,
    sersic_bn,
    sersic_mog,
)


def _mog_profile(r, weights, sigmas):
    """Surface brightness of a normalised circular Gaussian mixture at radii ``r``."""
    r = np.asarray(r, dtype=float)
    return (weights / (2 * np.pi * sigmas**2) * np.exp(-0.5 * (r[:, None] / sigmas) ** 2)).sum(axis=1)


def _half_light(weights, sigmas):
    f = lambda rr: enclosed_fraction(np.array([rr]), weights[None], (sigmas**2)[None])[0, 0] - 0.5  # noqa: E731
    return brentq(f, 1e-3, 20.0, xtol=1e-10)


def _components(n_obj=1, **kw):
    base = dict(
        flux_bulge=0.0, re_bulge=1.0, q_bulge=1.0, flux_disk=0.0, re_disk=1.0, q_disk=1.0, flux_point=0.0,
        psf_fwhm=1e-3,
    )
    base.update(kw)
    return profile_components(**{k: np.broadcast_to(np.asarray(v, dtype=float), (n_obj,)) for k, v in base.items()})


# --------------------------------------------------------------------------- b_n
@pytest.mark.parametrize("n", [1.0, 2.0, 4.0, 6.0])
def test_sersic_bn_halves_the_light(n):
    # the exact b_n solves gamma(2n, b_n) = Gamma(2n) / 2; the asymptotic expansion is good to
    # ~1e-6 in enclosed fraction for n >= 1 (it degrades to ~2e-4 at n = 0.5)
    from scipy.special import gammainc

    b = sersic_bn(n)
    assert gammainc(2 * n, b) == pytest.approx(0.5, abs=1e-5)


# --------------------------------------------------------------------------- sersic_mog
def test_sersic_mog_exponential():
    w, s = sersic_mog(1.0)
    assert w.shape == s.shape
    assert np.all(w > 0) and np.all(s > 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert _half_light(w, s) == pytest.approx(1.0, rel=0.01)
    r = np.geomspace(0.1, 3.0, 200)
    prof = _mog_profile(r, w, s) / _mog_profile([1.0], w, s)[0]
    target = np.exp(-sersic_bn(1.0) * (r - 1.0))
    np.testing.assert_allclose(prof, target, rtol=0.03)


def test_sersic_mog_de_vaucouleurs():
    w, s = sersic_mog(4.0)
    assert np.all(w > 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    r = np.geomspace(0.05, 4.0, 200)
    prof = _mog_profile(r, w, s) / _mog_profile([1.0], w, s)[0]
    target = np.exp(-sersic_bn(4.0) * (r**0.25 - 1.0))
    np.testing.assert_allclose(prof, target, rtol=0.05)
    # the mixture is truncated beyond ~8 re (like SDSS's model profiles), so it loses the outer
    # ~10% of the light and its half-light radius shrinks below re
    assert 0.85 <= _half_light(w, s) <= 0.97


def test_sersic_mog_steeper_for_higher_n():
    # at fixed re, the de Vaucouleurs profile is more centrally concentrated
    w1, s1 = sersic_mog(1.0)
    w4, s4 = sersic_mog(4.0)
    r = np.array([0.2])
    f1 = enclosed_fraction(r, w1[None], (s1**2)[None])[0, 0]
    f4 = enclosed_fraction(r, w4[None], (s4**2)[None])[0, 0]
    assert f4 > f1


# --------------------------------------------------------------------------- enclosed_fraction
def test_enclosed_fraction_single_gaussian():
    s = np.array([0.5, 1.3, 2.0])
    radius = np.linspace(0.0, 6.0, 25)
    out = enclosed_fraction(radius, np.ones((3, 1)), (s**2)[:, None])
    assert out.shape == (3, radius.size)
    expected = 1.0 - np.exp(-radius[None, :] ** 2 / (2 * s[:, None] ** 2))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-14)


def test_enclosed_fraction_mixture_and_per_object_radii():
    weights = np.array([[0.3, 0.7], [2.0, 1.0]])
    variances = np.array([[1.0, 4.0], [0.25, 9.0]])
    radius = np.array([[0.5, 1.0, 3.0], [1.0, 2.0, 30.0]])  # per-object radii, shape (n_obj, n_r)
    out = enclosed_fraction(radius, weights, variances)
    for o in range(2):
        for j in range(3):
            ref = sum(w * (1 - np.exp(-radius[o, j] ** 2 / (2 * v))) for w, v in zip(weights[o], variances[o]))
            assert out[o, j] == pytest.approx(ref, rel=1e-13)
    # total flux reached at large radius (weights are fluxes, not necessarily normalised)
    assert out[1, 2] == pytest.approx(3.0, rel=1e-4)


def test_enclosed_fraction_matches_2d_numerical_integral():
    w, s = sersic_mog(1.0)
    R = 0.8
    num, _ = quad(lambda r: 2 * np.pi * r * _mog_profile([r], w, s)[0], 0.0, R, epsabs=1e-12)
    assert enclosed_fraction(np.array([R]), w[None], (s**2)[None])[0, 0] == pytest.approx(num, rel=1e-8)


# --------------------------------------------------------------------------- profile_components
def test_profile_components_shapes_and_fluxes():
    n = 4
    w, v = _components(n, flux_bulge=[1, 2, 0, 0], flux_disk=[3, 0, 1, 0], flux_point=[0, 0, 0, 5], psf_fwhm=1.2)
    k = sersic_mog(4.0)[0].size + sersic_mog(1.0)[0].size + 1
    assert w.shape == v.shape == (n, k)
    np.testing.assert_allclose(w.sum(axis=1), [4, 2, 1, 5], rtol=1e-12)
    psf_var = (1.2 * FWHM_TO_SIGMA) ** 2
    assert np.all(v >= psf_var - 1e-15)
    assert v[0, -1] == pytest.approx(psf_var)


def test_fwhm_to_sigma():
    assert FWHM_TO_SIGMA == pytest.approx(1 / 2.3548200450309493, rel=1e-14)


def test_profile_components_axis_ratio_circularises():
    # circular apertures use s^2 re^2 q, so the circularised half-light radius is re * sqrt(q)
    q = 0.36
    w, v = _components(1, flux_disk=1.0, re_disk=2.0, q_disk=q)
    wd, sd = sersic_mog(1.0)
    r_half_unit = _half_light(wd, sd)
    f = lambda rr: enclosed_fraction(np.array([rr]), w / w.sum(), v)[0, 0] - 0.5  # noqa: E731
    assert brentq(f, 1e-3, 50) == pytest.approx(2.0 * np.sqrt(q) * r_half_unit, rel=1e-4)


# --------------------------------------------------------------------------- Petrosian radii
def _exp_enclosed(R, b):
    """Flux of I(r) = exp(-b r) inside R, by numerical integration."""
    return quad(lambda r: 2 * np.pi * r * np.exp(-b * r), 0.0, R, epsabs=0, epsrel=1e-12)[0]


def test_petrosian_exponential_disk():
    re = 3.0  # arcsec, well resolved by the radius grid; PSF negligible
    w, v = _components(1, flux_disk=1.0, re_disk=re, psf_fwhm=1e-3)
    r_p, r50, r90 = petrosian_radii(w, v)

    # independent reference: Petrosian ratio of the exact exponential profile (re = 1)
    b = sersic_bn(1.0)

    def ratio(R):
        annulus = (_exp_enclosed(1.25 * R, b) - _exp_enclosed(0.8 * R, b)) / (np.pi * (1.25**2 - 0.8**2) * R**2)
        return annulus / (_exp_enclosed(R, b) / (np.pi * R**2)) - 0.2

    rp_ref = brentq(ratio, 0.5, 6.0, xtol=1e-10)
    # with the local-surface-brightness ratio I(R)/<I>(<R) the known value is 2.16 re (Graham et al.
    # 2005); SDSS's 0.8R-1.25R annulus gives a slightly smaller radius (2.11 re)
    assert 2.05 < rp_ref < 2.16
    assert r_p[0] / re == pytest.approx(rp_ref, rel=0.03)
    assert r90[0] / r50[0] == pytest.approx(2.29, abs=0.05)
    # r50 of the Petrosian flux (~99.3% of the total) is just below re
    total = 2 * np.pi / b**2
    frac = _exp_enclosed(2 * rp_ref, b) / total
    r50_ref = brentq(lambda R: _exp_enclosed(R, b) / total - 0.5 * frac, 0.1, 5.0)
    r90_ref = brentq(lambda R: _exp_enclosed(R, b) / total - 0.9 * frac, 0.1, 10.0)
    assert r50[0] / re == pytest.approx(r50_ref, rel=0.01)
    assert r90[0] / re == pytest.approx(r90_ref, rel=0.01)


@pytest.mark.parametrize("psf_fwhm", [0.8, 1.5, 3.0])
def test_petrosian_point_source(psf_fwhm):
    w, v = _components(1, flux_point=1.0, psf_fwhm=psf_fwhm)
    r_p, r50, r90 = petrosian_radii(w, v)
    s2 = (psf_fwhm * FWHM_TO_SIGMA) ** 2
    enc = lambda R: 1.0 - np.exp(-(R**2) / (2 * s2))  # noqa: E731

    def ratio(R):
        return (enc(1.25 * R) - enc(0.8 * R)) / (1.25**2 - 0.8**2) / enc(R) - 0.2

    rp_ref = brentq(ratio, 0.1 * np.sqrt(s2), 10 * np.sqrt(s2), xtol=1e-12)
    frac = enc(2 * rp_ref)
    r50_ref = np.sqrt(-2 * s2 * np.log(1 - 0.5 * frac))
    r90_ref = np.sqrt(-2 * s2 * np.log(1 - 0.9 * frac))
    assert r_p[0] == pytest.approx(rp_ref, rel=0.01)
    assert r50[0] == pytest.approx(r50_ref, rel=0.01)
    assert r90[0] == pytest.approx(r90_ref, rel=0.01)
    # a Gaussian's Petrosian radius scales with its width: r_P / sigma is a pure number (~1.77)
    assert rp_ref / np.sqrt(s2) == pytest.approx(r_p[0] / np.sqrt(s2), rel=0.01)


def test_petrosian_scale_invariance_and_normalisation():
    # r_P, r50, r90 scale with re and do not depend on the total flux
    w1, v1 = _components(1, flux_disk=1.0, re_disk=2.0)
    w2, v2 = _components(1, flux_disk=50.0, re_disk=4.0)
    a = np.array(petrosian_radii(w1, v1))
    b = np.array(petrosian_radii(w2, v2))
    np.testing.assert_allclose(b, 2.0 * a, rtol=0.01)


def test_petrosian_larger_psf_larger_r50():
    psf = np.array([0.3, 0.8, 1.5, 2.5, 4.0])
    w, v = _components(psf.size, flux_bulge=0.5, re_bulge=1.5, flux_disk=1.0, re_disk=2.0, flux_point=0.2,
                       psf_fwhm=psf)
    r_p, r50, r90 = petrosian_radii(w, v)
    assert np.all(np.diff(r50) > 0)
    assert np.all(r90 > r50)
    assert np.all(r_p > r50)


def test_petrosian_bulge_more_concentrated_than_disk():
    w, v = _components(2, flux_bulge=[1.0, 0.0], flux_disk=[0.0, 1.0], re_bulge=3.0, re_disk=3.0)
    _, r50, r90 = petrosian_radii(w, v)
    c = r90 / r50
    assert c[0] > c[1]
    assert c[0] > 2.6  # de Vaucouleurs ~2.9-3.3 with Petrosian flux; exponential ~2.3
