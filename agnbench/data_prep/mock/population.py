"""Mock survey, step 1: draw a flux-limited galaxy population with planted physics.

Candidates are drawn from a Schechter stellar-mass function in a volume-weighted redshift range;
each gets a true spectral class (star-forming, composite, Seyfert, LINER) with an AGN fraction
that rises with mass, and class-dependent host properties (AGN hosts older, redder and more
bulge-dominated). Broad-band fluxes come from the SEDs of :mod:`agnbench.data_prep.mock.sed` with
the Bell et al. (2003) colour-based mass-to-light ratio, and the SDSS main-sample limit
(dereddened r < ``r_limit``) selects the survey. The class rates are calibrated on a pilot draw so
that the *selected* sample has the configured fractions.

Everything here is vectorised over objects and uses only the generator passed in.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd

from agnbench.config.core import SimulateConfig
from agnbench.data_prep import photometry as ph
from agnbench.data_prep.mock import sed
from agnbench.data_prep.bpt import kauffmann03, kewley01, schawinski07

TRUE_CLASSES = ("sf", "composite", "seyfert", "liner")
_CLASS_MASS_CENTER = {"composite": 10.3, "seyfert": 10.45, "liner": 10.75}
_CLASS_MASS_WIDTH = {"composite": 0.35, "seyfert": 0.3, "liner": 0.25}
_BT_OFFSET = np.array([0.0, 0.12, 0.18, 0.28])
_AGE_DISK_OFFSET = np.array([0.0, 0.18, 0.25, 0.45])
#: Bell et al. (2003) log(M/L_r) = a + b (g-r), shifted by -0.1 dex to a Kroupa-like IMF.
_ML_A, _ML_B = -0.406, 1.097
_BATCH = 4096


def draw_population(cfg: SimulateConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the selected survey population (one row per galaxy, ``cfg.n`` rows).

    Parameters
    ----------
    cfg : SimulateConfig
    rng : numpy.random.Generator
        Consumed in a fixed order, so the result depends only on the seed and ``cfg``.

    Returns
    -------
    pandas.DataFrame
        Physical truth per galaxy: ``z, logmass, true_class, bt, age_bulge, age_disk, ebv_gas,
        ebv_mw, re_bulge, re_disk, q_bulge, q_disk, pa, sigma_star, sigma_gas, log_nii_ha,
        log_oiii_hb, ...``, dereddened apparent magnitudes per component and band
        (``mag_<comp>_<survey><band>``) and ``lognorm_<comp>``: log10 of the factor that turns the
        unit rest-frame SED of :func:`component_seds` evaluated at ``lambda_obs / (1 + z)`` into
        observed f_lambda (erg/s/cm^2/A, before Milky Way extinction).
    """
    rates = _class_rates(replace(cfg, **_NOT_DRAWN), int(rng.integers(2**63)))
    kept: list[pd.DataFrame] = []
    n_kept = 0
    while n_kept < cfg.n:
        cand = _draw_candidates(_BATCH, cfg, rates, rng)
        sel = cand[cand["r_dered"] < cfg.r_limit]
        kept.append(sel)
        n_kept += len(sel)
    pop = pd.concat(kept, ignore_index=True).iloc[: cfg.n].reset_index(drop=True)
    assert len(pop) == cfg.n, "population draw returned the wrong number of galaxies"
    return pop


#: settings that size the sample or its rendering and never reach a candidate draw: the class rates of two
#: configs that differ only in them are the same numbers (:func:`_class_rates`).
_NOT_DRAWN = {"n": 1, "image_size": 16, "chunk_size": 1, "workers": 0}


@lru_cache(maxsize=8)
def _class_rates(cfg: SimulateConfig, seed: int) -> np.ndarray:
    """:func:`_calibrate_class_rates` with the pilot's seed, kept per process: its pilot draw of 32,768 full
    candidates costs seconds, whatever ``cfg.n``, and a process that simulates again with the same seed and science
    settings (the test suite; a survey resimulated at another size) gets the same rates. Read-only result."""
    rates = _calibrate_class_rates(cfg, np.random.default_rng(seed))
    rates.flags.writeable = False
    return rates


def _calibrate_class_rates(cfg: SimulateConfig, rng: np.random.Generator) -> np.ndarray:
    """Rate multipliers so the flux-limited sample has the configured class fractions.

    One pilot draw assigns classes uniformly; the selected fraction of class k under any rates is
    then an importance-weighted sum over the pilot, ``sum_i sel_i p_k(M_i) / (1/4)``, so the
    fixed-point iteration below runs on fixed numbers and adds no sampling noise of its own.
    """
    target = np.array([cfg.frac_composite, cfg.frac_seyfert, cfg.frac_liner])
    pilot = _draw_candidates(8 * _BATCH, cfg, None, rng)
    sel = (pilot["r_dered"] < cfg.r_limit).to_numpy()
    logm, cls = pilot["logmass"].to_numpy()[sel], pilot["class_idx"].to_numpy()[sel]
    rates = target.copy()
    for _ in range(50):
        weight = _class_probabilities(logm, rates)[np.arange(cls.size), cls]
        got = np.array([weight[cls == k].sum() for k in range(1, 4)]) / weight.sum()
        rates = rates * np.where(got > 0, target / np.maximum(got, 1e-9), 1.0)
    return rates


def _class_probabilities(logm: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Per-object probabilities of (sf, composite, seyfert, liner), shape (n, 4)."""
    probs = np.zeros((logm.size, 4))
    for j, name in enumerate(TRUE_CLASSES[1:], start=1):
        s = 1.0 / (1.0 + np.exp(-(logm - _CLASS_MASS_CENTER[name]) / _CLASS_MASS_WIDTH[name]))
        probs[:, j] = rates[j - 1] * s / 0.5
    total = probs[:, 1:].sum(axis=1)
    scale = np.where(total > 0.97, 0.97 / np.maximum(total, 1e-12), 1.0)
    probs[:, 1:] *= scale[:, None]
    probs[:, 0] = 1.0 - probs[:, 1:].sum(axis=1)
    return probs


def _draw_candidates(
    n: int, cfg: SimulateConfig, rates: np.ndarray | None, rng: np.random.Generator
) -> pd.DataFrame:
    """Draw ``n`` candidates (fewer after the brightness pre-cut); ``rates=None``: uniform classes."""
    # redshift: uniform in comoving volume (~ z^2 dz at these redshifts)
    u = rng.random(n)
    z = (cfg.z_min**3 + u * (cfg.z_max**3 - cfg.z_min**3)) ** (1.0 / 3.0)
    # stellar mass: Schechter (alpha = -1.2, log M* = 10.7) sampled by rejection in 9..11.5
    logm = _schechter_logmass(n, rng)
    # skip candidates too faint to pass even with the lowest mass-to-light ratio of any SED here
    # (rest g-r >= 0.1); this only saves work, it never removes a galaxy that could be selected
    brightest_r = ph.M_SUN_R - 2.5 * (logm - (_ML_A + _ML_B * 0.1)) + ph.distance_modulus(z)
    possible = brightest_r < cfg.r_limit + 0.3
    z, logm = z[possible], logm[possible]
    probs = np.full((z.size, 4), 0.25) if rates is None else _class_probabilities(logm, rates)
    cls = _choose(rng, probs)
    d = pd.DataFrame({"z": z, "logmass": logm, "class_idx": cls})
    d["true_class"] = np.array(TRUE_CLASSES)[cls]
    _host_properties(d, rng)
    _line_properties(d, rng, cfg)
    _magnitudes(d)
    return d


def _schechter_logmass(n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(0)
    while out.size < n:
        x = rng.uniform(9.0, 11.5, 4 * n)
        m = 10.0 ** (x - 10.7)
        dens = m ** (1 - 1.2) * np.exp(-m)
        out = np.concatenate([out, x[rng.random(x.size) < dens / dens.max()]])
    return out[:n]


def _choose(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    cum = np.cumsum(probs, axis=1)
    return np.minimum((rng.random(probs.shape[0])[:, None] > cum).sum(axis=1), probs.shape[1] - 1)


def _beta_mean(rng: np.random.Generator, mean: np.ndarray, kappa: float) -> np.ndarray:
    mean = np.clip(mean, 0.02, 0.95)
    return rng.beta(mean * kappa, (1 - mean) * kappa)


def _host_properties(d: pd.DataFrame, rng: np.random.Generator) -> None:
    n, k, logm = len(d), d["class_idx"].to_numpy(), d["logmass"].to_numpy()
    d["bt"] = _beta_mean(rng, 0.05 + 0.22 * (logm - 9.5) + _BT_OFFSET[k], 5.0)
    d["age_bulge"] = np.clip(rng.normal(0.83, 0.1, n), 0.5, 1.0)
    d["age_disk"] = np.clip(0.0 + 0.12 * (logm - 9.5) + _AGE_DISK_OFFSET[k] + rng.normal(0, 0.15, n), 0.0, 0.95)
    ebv = 0.04 + 0.12 * (logm - 9.5) + rng.normal(0, 0.07, n)
    ebv = np.where(k == 3, 0.5 * ebv, ebv)
    d["ebv_gas"] = np.clip(ebv, 0.0, 0.8)
    d["ebv_mw"] = np.clip(rng.lognormal(np.log(0.03), 0.5, n), 0.005, 0.25)
    d["re_disk_kpc"] = 10.0 ** (0.35 + 0.15 * (logm - 10.0) + rng.normal(0, 0.13, n))
    d["re_bulge_kpc"] = 10.0 ** (-0.08 + 0.45 * (logm - 10.5) + rng.normal(0, 0.12, n))
    cos_i = rng.random(n)
    d["q_disk"] = np.sqrt(cos_i**2 * (1 - 0.2**2) + 0.2**2)
    d["q_bulge"] = rng.uniform(0.6, 1.0, n)
    d["pa"] = rng.uniform(0.0, 180.0, n)
    d["sigma_star"] = 10.0 ** (2.05 + 0.28 * (logm - 10.5) + 0.1 * (d["bt"] - 0.3) + rng.normal(0, 0.05, n))
    d["seeing_sdss"] = rng.uniform(1.2, 1.6, n)


def _line_properties(d: pd.DataFrame, rng: np.random.Generator, cfg: SimulateConfig) -> None:
    """True BPT positions, other line ratios, Halpha equivalent widths and gas widths."""
    n, k, logm = len(d), d["class_idx"].to_numpy(), d["logmass"].to_numpy()
    x = np.empty(n)
    y = np.empty(n)
    # star-forming: metallicity (x) rises with mass; y sits below the Kauffmann line
    sf = k == 0
    x[sf] = np.clip(-0.95 + 0.3 * (logm[sf] - 9.5) + rng.normal(0, 0.08, sf.sum()), -1.4, -0.42)
    y[sf] = kauffmann03(x[sf]) - (0.06 + rng.gamma(2.0, 0.09, sf.sum()))
    comp = k == 1
    x[comp] = rng.uniform(-0.42, -0.08, comp.sum())
    lo = np.maximum(kauffmann03(x[comp]), -0.7)
    y[comp] = lo + rng.uniform(0.08, 0.92, comp.sum()) * (kewley01(x[comp]) - lo)
    sey = k == 2
    x[sey] = np.clip(rng.normal(0.0, 0.15, sey.sum()), -0.3, 0.4)
    base = np.fmax(np.nan_to_num(kewley01(x[sey]), nan=-np.inf), schawinski07(x[sey]))
    y[sey] = np.minimum(base + 0.08 + rng.gamma(2.0, 0.1, sey.sum()), 1.25)
    lin = k == 3
    x[lin] = rng.uniform(-0.02, 0.35, lin.sum())
    lo = np.nan_to_num(kewley01(x[lin]), nan=-1.0) + 0.06
    hi = schawinski07(x[lin]) - 0.06
    y[lin] = lo + rng.beta(3.0, 2.0, lin.sum()) * (hi - lo)
    d["log_nii_ha"], d["log_oiii_hb"] = x, y
    # other ratios, per class (sf, composite, seyfert, liner)
    d["log_oii_hb"] = np.array([0.35, 0.35, 0.45, 0.6])[k] - np.where(sf, 0.5 * (x + 0.7), 0.0) + rng.normal(0, 0.12, n)
    d["log_oi_ha"] = np.array([-1.6, -1.3, -1.0, -0.75])[k] + rng.normal(0, 0.15, n)
    d["log_sii_ha"] = np.array([-0.55, -0.45, -0.35, -0.25])[k] + rng.normal(0, 0.1, n)
    d["log_neiii_oii"] = np.array([-1.2, -1.1, -0.9, -1.1])[k] + rng.normal(0, 0.15, n)
    d["sii_ratio"] = rng.uniform(1.2, 1.45, n)
    d["balmer_dec0"] = np.where(k >= 2, 3.1, 2.86)
    # rest-frame EW of Halpha: relative to the disk continuum for sf/composite (diluted by the
    # bulge later), relative to the whole fiber continuum for AGN
    mu = np.array([1.70, 1.25, 0.95, 0.25])[k]
    sd = np.array([0.22, 0.3, 0.35, 0.25])[k]
    d["log_ew_ha"] = mu + rng.normal(0, 1, n) * sd
    d["sigma_gas"] = np.clip(np.array([60.0, 95.0, 210.0, 180.0])[k] + rng.normal(0, 1, n) * np.array([15, 25, 50, 40])[k], 25, 500)
    has_ps = (k == 2) & (rng.random(n) < cfg.point_source_fraction)
    d["ps_frac"] = np.where(has_ps, cfg.point_source_strength * 10.0 ** rng.uniform(np.log10(0.04), np.log10(0.3), n), 0.0)
    d["psf_fwhm"] = rng.uniform(cfg.psf_fwhm_min, cfg.psf_fwhm_max, n)


@lru_cache(maxsize=1)
def _calzetti_table() -> tuple[np.ndarray, np.ndarray]:
    logw = np.linspace(np.log10(900.0), np.log10(16000.0), 8001)
    return logw, ph.calzetti00(10.0**logw)


def component_seds(d: pd.DataFrame, wave_obs: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """Unit-amplitude rest-frame f_lambda of bulge, disk and point source at ``wave_obs / (1 + z)``.

    Internal dust (Calzetti 2000, stellar E(B-V) = 0.44 E(B-V)_gas; the bulge gets 30% of the
    disk's) is applied.

    Parameters
    ----------
    d : DataFrame with ``age_bulge, age_disk, sigma_star, ebv_gas`` (n_obj rows).
    wave_obs : numpy.ndarray, shape (n_wave,)
        Log-uniform observed-frame grid (A).
    z : numpy.ndarray, shape (n_obj,)
        Redshifts (zeros for rest-frame quantities).

    Returns
    -------
    dict with ``bulge, disk, point`` -> arrays of shape (n_obj, n_wave)
    """
    ebv_star = 0.44 * d["ebv_gas"].to_numpy()[:, None]
    k_calz = np.interp(np.log10(wave_obs)[None, :] - np.log10(1.0 + z)[:, None], *_calzetti_table())
    sig = d["sigma_star"].to_numpy()
    bulge = sed.stellar_flambda(wave_obs, z, d["age_bulge"].to_numpy(), sig)
    bulge *= 10.0 ** (-0.4 * 0.3 * ebv_star * k_calz)
    disk = sed.stellar_flambda(wave_obs, z, d["age_disk"].to_numpy(), sig)
    disk *= 10.0 ** (-0.4 * ebv_star * k_calz)
    return {"bulge": bulge, "disk": disk, "point": sed.powerlaw_flambda(wave_obs, z)}


def _magnitudes(d: pd.DataFrame) -> None:
    """Luminosities from mass, then observed-frame magnitudes per component (dereddened)."""
    z = d["z"].to_numpy()
    rest = component_seds(d, ph.PHOT_WAVE, np.zeros_like(z))
    obs = component_seds(d, ph.PHOT_WAVE, z)
    r_band = ph.SDSS_BANDS["r"]
    bt = d["bt"].to_numpy()
    # rest-frame r magnitudes of the unit SEDs, then composite rest-frame g-r at fixed r-light split
    m_r_rest = {c: ph.ab_mag(rest[c], r_band) for c in ("bulge", "disk")}
    g_rest = {c: ph.ab_mag(rest[c], ph.SDSS_BANDS["g"]) - m_r_rest[c] for c in ("bulge", "disk")}
    g_flux = bt * 10 ** (-0.4 * g_rest["bulge"]) + (1 - bt) * 10 ** (-0.4 * g_rest["disk"])
    gr_rest = -2.5 * np.log10(g_flux)
    log_ml = _ML_A + _ML_B * gr_rest
    abs_r = ph.M_SUN_R - 2.5 * (d["logmass"].to_numpy() - log_ml)
    dm = ph.distance_modulus(z)
    d["gr_rest"], d["abs_r"] = gr_rest, abs_r
    frac = {"bulge": bt, "disk": 1 - bt}
    # observed m = synthetic mag of the redshifted unit SED + distance modulus + 2.5 log(1+z)
    # (the (1+z) compression of f_lambda), minus 2.5 log of the amplitude
    dist_term = 2.5 * np.log10(1 + z) + dm
    total_r = np.zeros(len(d))
    for comp in ("bulge", "disk"):
        # scale so the component's rest-frame absolute r magnitude is abs_r - 2.5 log10(frac)
        log_amp = -0.4 * (abs_r - 2.5 * np.log10(np.maximum(frac[comp], 1e-6)) - m_r_rest[comp])
        d[f"lognorm_{comp}"] = log_amp - 0.4 * dist_term
        for survey, bands in (("sdss", ph.SDSS_BANDS), ("decam", ph.DECAM_BANDS)):
            for b, band in bands.items():
                d[f"mag_{comp}_{survey}{b}"] = ph.ab_mag(obs[comp], band) + dist_term - 2.5 * log_amp
        total_r += 10 ** (-0.4 * d[f"mag_{comp}_sdssr"].to_numpy())
    # point source: a fraction of the galaxy's observed r flux
    ps = d["ps_frac"].to_numpy()
    m_ps_r = ph.ab_mag(obs["point"], r_band)
    with np.errstate(divide="ignore"):
        log_amp_ps = np.where(ps > 0, -0.4 * (-2.5 * np.log10(ps * total_r) - m_ps_r), -np.inf)
    d["lognorm_point"] = log_amp_ps
    for survey, bands in (("sdss", ph.SDSS_BANDS), ("decam", ph.DECAM_BANDS)):
        for b, band in bands.items():
            d[f"mag_point_{survey}{b}"] = np.where(ps > 0, ph.ab_mag(obs["point"], band) - 2.5 * log_amp_ps, np.inf)
    d["r_dered"] = _combine_mags(d, "sdssr")
    d["kpc_per_arcsec"] = ph.angular_scale_kpc_per_arcsec(z)
    d["re_disk"] = d["re_disk_kpc"] / d["kpc_per_arcsec"]
    d["re_bulge"] = d["re_bulge_kpc"] / d["kpc_per_arcsec"]


def _combine_mags(d: pd.DataFrame, key: str) -> np.ndarray:
    flux = sum(10 ** (-0.4 * d[f"mag_{c}_{key}"].to_numpy()) for c in ("bulge", "disk", "point"))
    return -2.5 * np.log10(flux)


def total_magnitude(d: pd.DataFrame, survey_band: str) -> np.ndarray:
    """Dereddened total magnitude (bulge + disk + point source), e.g. ``survey_band='sdssr'``."""
    return _combine_mags(d, survey_band)
