"""Tests for agnbench.data_prep.bpt: demarcation lines and the MPA-JHU BPTCLASS rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agnbench.data_prep.bpt import (
    AGN,
    COMPOSITE,
    LOWSN_LINER,
    LOWSN_SF,
    SF,
    UNCLASSIFIABLE,
    above_kauffmann,
    above_kewley,
    bpt_class,
    is_seyfert,
    kauffmann03,
    kewley01,
    schawinski07,
)

SEEDS = [0, 1, 2]


# --------------------------------------------------------------------------- demarcation lines
@pytest.mark.parametrize("x", [-1.5, -0.7, -0.3, 0.0, 0.04])
def test_kauffmann03_closed_form(x):
    assert kauffmann03(x) == pytest.approx(0.61 / (x - 0.05) + 1.30, rel=1e-14)


@pytest.mark.parametrize("x", [-1.5, -0.7, -0.3, 0.0, 0.3, 0.46])
def test_kewley01_closed_form(x):
    assert kewley01(x) == pytest.approx(0.61 / (x - 0.47) + 1.19, rel=1e-14)


def test_known_values():
    # hand-computed: K03(-0.55) = 0.61/-0.6 + 1.30; K01(-0.14) = 0.61/-0.61 + 1.19
    assert float(kauffmann03(-0.55)) == pytest.approx(1.30 - 0.61 / 0.6, abs=1e-12)
    assert float(kewley01(-0.14)) == pytest.approx(0.19, abs=1e-12)
    assert float(schawinski07(0.0)) == pytest.approx(0.45, abs=1e-15)
    assert float(schawinski07(1.0)) == pytest.approx(1.50, abs=1e-15)


def test_schawinski07_closed_form():
    x = np.linspace(-1.0, 1.0, 11)
    np.testing.assert_allclose(schawinski07(x), 1.05 * x + 0.45, rtol=0, atol=1e-15)


def test_lines_nan_past_asymptote():
    xk = np.array([0.05, 0.06, 0.3, 1.0])
    assert np.all(np.isnan(kauffmann03(xk)))
    xw = np.array([0.47, 0.5, 1.0])
    assert np.all(np.isnan(kewley01(xw)))
    # the Kauffmann line is still finite between its asymptote and Kewley's
    assert np.all(np.isfinite(kewley01(np.array([0.05, 0.3]))))
    assert np.isfinite(kauffmann03(0.0499))


def test_lines_array_shape_preserved():
    x = np.linspace(-1.0, 0.0, 12).reshape(3, 4)
    assert kauffmann03(x).shape == (3, 4)
    assert kewley01(x).shape == (3, 4)


def test_kewley_above_kauffmann_on_sf_side():
    # the two curves cross near x = -1.27 (far left of the populated diagram)
    x = np.linspace(-1.2, 0.049, 200)
    assert np.all(kewley01(x) > kauffmann03(x))


# --------------------------------------------------------------------------- above_* predicates
def test_above_right_of_asymptote():
    # far below the curves but right of the asymptote: "above"
    assert above_kauffmann(0.05, -100.0)
    assert above_kauffmann(0.3, -100.0)
    assert above_kewley(0.47, -100.0)
    assert above_kewley(0.8, -100.0)
    # left of the Kewley asymptote but right of Kauffmann's: only above Kauffmann
    assert not above_kewley(0.3, -100.0)


@pytest.mark.parametrize("x", [-1.2, -0.5, -0.1, 0.02])
def test_above_kauffmann_just_above_below(x):
    y0 = 0.61 / (x - 0.05) + 1.30
    eps = 1e-9
    assert above_kauffmann(x, y0 + eps)
    assert not above_kauffmann(x, y0 - eps)


@pytest.mark.parametrize("x", [-1.2, -0.5, 0.0, 0.3, 0.46])
def test_above_kewley_just_above_below(x):
    y0 = 0.61 / (x - 0.47) + 1.19
    eps = 1e-9
    assert above_kewley(x, y0 + eps)
    assert not above_kewley(x, y0 - eps)


def test_above_vectorised_matches_scalar():
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 1, 500)
    y = rng.uniform(-2, 2, 500)
    vec_k, vec_w = above_kauffmann(x, y), above_kewley(x, y)
    for i in range(x.size):
        exp_k = x[i] >= 0.05 or y[i] > 0.61 / (x[i] - 0.05) + 1.30
        exp_w = x[i] >= 0.47 or y[i] > 0.61 / (x[i] - 0.47) + 1.19
        assert vec_k[i] == exp_k
        assert vec_w[i] == exp_w


def test_is_seyfert():
    assert is_seyfert(0.0, 0.46)
    assert not is_seyfert(0.0, 0.44)
    assert is_seyfert(0.2, 1.05 * 0.2 + 0.45 + 1e-9)
    assert not is_seyfert(0.2, 1.05 * 0.2 + 0.45 - 1e-9)


# --------------------------------------------------------------------------- bpt_class
def _fluxes(x, y, ha=100.0, hb=30.0):
    """Line fluxes (nii, ha, oiii, hb) placing the object at (x, y) on the BPT diagram."""
    return ha * 10.0**x, ha, hb * 10.0**y, hb


def _classify(rows, errs):
    """rows: list of (nii, ha, oiii, hb); errs: list of (nii_e, ha_e, oiii_e, hb_e)."""
    f = np.array(rows, dtype=float)
    e = np.array(errs, dtype=float)
    return bpt_class(f[:, 0], e[:, 0], f[:, 1], e[:, 1], f[:, 2], e[:, 2], f[:, 3], e[:, 3])


@pytest.mark.parametrize(
    "x, y, expected",
    [
        (-0.7, -0.3, SF),  # below Kauffmann (K03(-0.7) = 0.487)
        (-1.0, 0.3, SF),  # K03(-1.0) = 0.719
        (-0.2, 0.0, COMPOSITE),  # K03 = -1.14 < 0 < K01 = 0.280
        (0.2, -1.5, COMPOSITE),  # right of Kauffmann's asymptote, below K01(0.2) = -1.069
        (0.0, 0.8, AGN),  # K01(0) = -0.108
        (-0.5, 0.9, AGN),  # K01(-0.5) = 0.561
        (0.6, -1.0, AGN),  # right of Kewley's asymptote
    ],
)
def test_bpt_class_strong_lines(x, y, expected):
    flux = _fluxes(x, y)
    out = _classify([flux], [(0.1, 0.1, 0.1, 0.1)])
    assert out.dtype == np.int8
    assert out.tolist() == [expected]


def test_bpt_class_low_sn_sf_and_liner():
    # Hbeta S/N = 1: not on the diagram; Halpha and [NII] S/N > 2
    sf = _fluxes(-0.6, 0.0)  # log NII/Ha = -0.6 < -0.4
    liner = _fluxes(-0.1, 0.0)  # >= -0.4
    errs_sf = (sf[0] / 5, 1.0, 1.0, sf[3])  # Hbeta S/N 1
    errs_li = (liner[0] / 5, 1.0, 1.0, liner[3])
    out = _classify([sf, liner], [errs_sf, errs_li])
    assert out.tolist() == [LOWSN_SF, LOWSN_LINER]


def test_bpt_class_low_sn_split_at_minus_0p4():
    rows = [_fluxes(x, 0.0) for x in (-0.41, -0.39)]
    errs = [(r[0] / 5, 1.0, 1.0, r[3]) for r in rows]  # Hbeta S/N 1
    assert _classify(rows, errs).tolist() == [LOWSN_SF, LOWSN_LINER]


def test_bpt_class_low_sn_independent_of_oiii_hbeta():
    # with Hbeta undetected the position in y is irrelevant: an "AGN-like" y still gives 2
    f = _fluxes(-0.8, 1.2)
    out = _classify([f], [(f[0] / 10, 1.0, f[2] / 10, f[3] * 2)])
    assert out.tolist() == [LOWSN_SF]


def test_bpt_class_low_sn_negative_hbeta():
    # negative Hbeta flux (S/N < 0): log undefined, but Halpha/[NII] still classify it
    nii, ha, oiii, _ = _fluxes(-0.1, 0.0)
    out = _classify([(nii, ha, oiii, -5.0)], [(1.0, 1.0, 1.0, 1.0)])
    assert out.tolist() == [LOWSN_LINER]


def test_bpt_class_unclassifiable():
    rows = [
        (0.0, 0.0, 0.0, 0.0),  # no detection
        (1.0, 1.0, 1.0, 1.0),  # S/N 1 everywhere
        _fluxes(-0.7, -0.3),  # good fluxes, zero errors
        _fluxes(-0.7, -0.3),  # negative errors
        _fluxes(-0.7, -0.3),  # NaN errors
        _fluxes(-0.7, -0.3),  # NaN error on Halpha only: no weak detection either
        _fluxes(-0.7, -0.3),  # inf error on [NII]
        (np.nan, 100.0, 30.0, 30.0),  # NaN [NII] flux
        (-50.0, 100.0, 30.0, 30.0),  # negative [NII]
        tuple(-v for v in _fluxes(-0.7, -0.3)),  # negative fluxes with negative errors: S/N is not +
    ]
    errs = [
        (1.0, 1.0, 1.0, 1.0),
        (1.0, 1.0, 1.0, 1.0),
        (0.0, 0.0, 0.0, 0.0),
        (-0.1, -0.1, -0.1, -0.1),
        (np.nan, np.nan, np.nan, np.nan),
        (0.1, np.nan, 0.1, 0.1),
        (np.inf, 0.1, 0.1, 0.1),
        (1.0, 1.0, 1.0, 1.0),
        (1.0, 1.0, 1.0, 1.0),
        (-0.1, -0.1, -0.1, -0.1),
    ]
    out = _classify(rows, errs)
    assert out.tolist() == [UNCLASSIFIABLE] * len(rows)


def test_bpt_class_bad_hbeta_error_falls_to_low_sn():
    f = _fluxes(-0.7, -0.3)
    out = _classify([f, f], [(0.1, 0.1, 0.1, 0.0), (0.1, 0.1, 0.1, np.nan)])
    assert out.tolist() == [LOWSN_SF, LOWSN_SF]


def test_bpt_class_sn_thresholds_inclusive():
    # SF position; vary Hbeta S/N around sn_strong = 3 and [NII] S/N around sn_weak = 2.
    nii, ha, oiii, _ = _fluxes(-0.7, -0.3)
    rows = [
        (nii, ha, oiii, 6.0),  # Hbeta S/N exactly 3 -> strong
        (nii, ha, oiii, 5.99),  # just below 3 -> low-S/N
        (4.0, ha, 20.0, 30.0),  # [NII] S/N exactly 2 -> weak, x = log(0.04) -> 2
        (3.99, ha, 20.0, 30.0),  # just below 2 -> unclassifiable
    ]
    errs = [
        (0.1, 0.1, 0.1, 2.0),
        (0.1, 0.1, 0.1, 2.0),
        (2.0, 0.1, 0.1, 0.1),
        (2.0, 0.1, 0.1, 0.1),
    ]
    assert 6.0 / 2.0 == 3.0 and 4.0 / 2.0 == 2.0
    out = _classify(rows, errs)
    assert out.tolist() == [SF, LOWSN_SF, LOWSN_SF, UNCLASSIFIABLE]


def test_bpt_class_custom_thresholds():
    f = _fluxes(-0.7, -0.3)
    e = (f[0] / 4, f[1] / 4, f[2] / 4, f[3] / 4)  # S/N 4 in every line
    args = [f[0], e[0], f[1], e[1], f[2], e[2], f[3], e[3]]
    args = [np.array([a]) for a in args]
    assert bpt_class(*args).tolist() == [SF]
    assert bpt_class(*args, sn_strong=5.0).tolist() == [LOWSN_SF]
    assert bpt_class(*args, sn_strong=5.0, sn_weak=5.0).tolist() == [UNCLASSIFIABLE]


def _brute_force_class(f, e, sn_strong=3.0, sn_weak=2.0):
    """Independent scalar implementation of the Brinchmann et al. (2004) rules."""

    def sn(flux, err):
        if not (math.isfinite(flux) and math.isfinite(err)) or err <= 0:
            return 0.0
        return flux / err

    s = [sn(fi, ei) for fi, ei in zip(f, e)]
    nii, ha, oiii, hb = f
    x = math.log10(nii / ha) if (nii > 0 and ha > 0) else None
    y = math.log10(oiii / hb) if (oiii > 0 and hb > 0) else None
    if all(si >= sn_strong for si in s) and x is not None and y is not None:
        above_k03 = x >= 0.05 or y > 0.61 / (x - 0.05) + 1.30
        above_k01 = x >= 0.47 or y > 0.61 / (x - 0.47) + 1.19
        if above_k01:
            return AGN
        if above_k03:
            return COMPOSITE
        return SF
    if s[0] >= sn_weak and s[1] >= sn_weak and x is not None:
        return LOWSN_SF if x < -0.4 else LOWSN_LINER
    return UNCLASSIFIABLE


@pytest.mark.parametrize("seed", SEEDS)
def test_bpt_class_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    x = rng.uniform(-1.6, 0.9, n)
    y = rng.uniform(-1.5, 1.5, n)
    ha = 10.0 ** rng.uniform(0.0, 3.0, n)
    hb = ha / 2.86 * 10.0 ** rng.normal(0.0, 0.2, n)
    true = np.stack([ha * 10.0**x, ha, hb * 10.0**y, hb], axis=1)
    sn_true = rng.uniform(0.0, 10.0, (n, 4))
    err = true / np.maximum(sn_true, 1e-3)
    flux = true + err * rng.normal(0.0, 1.0, (n, 4))  # can go negative
    # sprinkle bad errors and fluxes
    bad = rng.random((n, 4))
    err[bad < 0.02] = 0.0
    err[(bad >= 0.02) & (bad < 0.03)] = -1.0
    err[(bad >= 0.03) & (bad < 0.04)] = np.nan
    flux[(bad >= 0.04) & (bad < 0.05)] = np.nan
    flux[(bad >= 0.05) & (bad < 0.06)] *= -1.0

    out = bpt_class(flux[:, 0], err[:, 0], flux[:, 1], err[:, 1], flux[:, 2], err[:, 2], flux[:, 3], err[:, 3])
    expected = np.array([_brute_force_class(flux[i], err[i]) for i in range(n)], dtype=np.int8)
    np.testing.assert_array_equal(out, expected)
    # the random sample exercises every class
    assert set(np.unique(expected).tolist()) == {-1, 1, 2, 3, 4, 5}
