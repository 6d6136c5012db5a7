"""Mock survey, step 2: SDSS-I/II fiber spectra on the 1e-4 dex log-wavelength grid.

For each galaxy the 3-arcsec fiber collects a fraction of the bulge, disk and point-source light
(exact for the Gaussian-mixture profiles and a Gaussian seeing). Emission lines are added with
fluxes from the planted line ratios and Halpha equivalent width, dust-attenuated with the
Cardelli et al. (1989) curve relative to Halpha, and pixel-integrated at the observed width
(gas dispersion plus instrumental resolution). Noise follows ``var = (object + sky) / G(lambda)``
with a two-arm throughput curve; sky lines leave imperfect subtraction residuals; a few short
stretches of pixels are rejected (``ivar = 0``, ``and_mask`` FULLREJECT) and the ends of the
spectrum are NODATA, as in real spec-lite files.

Units: flux density in 1e-17 erg/s/cm^2/A, line fluxes in 1e-17 erg/s/cm^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from agnbench.data_prep import photometry as ph
from agnbench.data_prep.lines import DOUBLETS, EMISSION_LINES
from agnbench.data_prep.mock.linefit import LOGLAM_STEP, gaussian_lines
from agnbench.data_prep.mock.profiles import FWHM_TO_SIGMA, enclosed_fraction, sersic_mog
from agnbench.data_prep.mock.sed import SKY_LINES
from agnbench.data_prep.mock.population import component_seds

LOGLAM_START = 3.5790  # the bluest grid start of any plate (log10 A)
LOGLAM_END = 3.9640
FIBER_RADIUS = 1.5  # arcsec
SIGMA_INST_KMS = 69.0  # SDSS resolution element per unit wdisp
#: SDSS pixel mask bits used here (idlspec2d sdssMaskbits.par)
FULLREJECT, NODATA, BRIGHTSKY = 1 << 18, 1 << 24, 1 << 23
_SKY_MU = ((3800, 22.3), (4700, 21.9), (6200, 20.9), (7500, 20.1), (9000, 18.9), (9300, 18.8))
_G0 = 28.0  # photon-gain scale (1/(1e-17 erg/s/cm^2/A)): r_fiber = 17.8 gives S/N ~ 20 per pixel


@dataclass(frozen=True)
class SpectraChunk:
    """Rendered spectra for a chunk of galaxies on the common super-grid.

    Attributes
    ----------
    loglam : numpy.ndarray, shape (n_grid,)
        Super-grid (log10 A, vacuum, observed frame); object ``i`` uses
        ``loglam[offset[i] : offset[i] + npix[i]]``.
    flux, ivar, model, sky, stellar : numpy.ndarray, shape (n_obj, n_grid)
        Observed flux, inverse variance, noise-free model, sky, noise-free stellar continuum.
    and_mask, or_mask : numpy.ndarray of int32, shape (n_obj, n_grid)
    wdisp : numpy.ndarray, shape (n_grid,)
        Line-spread sigma in pixels.
    line_true : pandas.DataFrame
        True (model) flux of every emission line, columns as :data:`EMISSION_LINES`.
    line_sigma_pix : numpy.ndarray, shape (n_obj,)
        Observed Gaussian sigma of the emission lines, in pixels.
    offset, npix : numpy.ndarray of int, shape (n_obj,)
    """

    loglam: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    model: np.ndarray
    sky: np.ndarray
    stellar: np.ndarray
    and_mask: np.ndarray
    or_mask: np.ndarray
    wdisp: np.ndarray
    line_true: pd.DataFrame
    line_sigma_pix: np.ndarray
    offset: np.ndarray
    npix: np.ndarray


def super_grid() -> np.ndarray:
    """The common observed-frame grid every plate's grid is a slice of (log10 A)."""
    n = int(round((LOGLAM_END - LOGLAM_START) / LOGLAM_STEP)) + 1
    return LOGLAM_START + LOGLAM_STEP * np.arange(n)


def plate_grid_offset(plate: np.ndarray) -> np.ndarray:
    """First pixel of each plate's grid on the super-grid (real plates start 3.5790-3.5797)."""
    return (np.asarray(plate) % 8).astype(np.int64)


def fiber_fractions(pop: pd.DataFrame) -> dict[str, np.ndarray]:
    """Fraction of each component's light inside the 3-arcsec fiber (shape (n_obj,) each)."""
    psf_var = (pop["seeing_sdss"].to_numpy() * FWHM_TO_SIGMA) ** 2
    out = {}
    for comp, n_sersic in (("bulge", 4.0), ("disk", 1.0)):
        w, s = sersic_mog(n_sersic)
        re = pop[f"re_{comp}"].to_numpy()[:, None]
        var = (s[None, :] * re) ** 2 * pop[f"q_{comp}"].to_numpy()[:, None] + psf_var[:, None]
        weights = np.broadcast_to(w, var.shape)
        out[comp] = enclosed_fraction(np.array([FIBER_RADIUS]), weights, var)[:, 0]
    out["point"] = 1.0 - np.exp(-0.5 * FIBER_RADIUS**2 / psf_var)
    return out


def sky_spectrum(wave: np.ndarray, wdisp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sky in the fiber: (continuum, lines) in 1e-17 erg/s/cm^2/A, shape (n_wave,) each."""
    mu = np.interp(wave, [w for w, _ in _SKY_MU], [m for _, m in _SKY_MU])
    fnu = 10.0 ** (-0.4 * (mu + 48.6)) * np.pi * FIBER_RADIUS**2
    cont = fnu * ph.C_ANGSTROM_PER_S / wave**2 * 1e17
    lines = np.zeros_like(wave)
    sig_pix = wdisp
    for lam, strength in SKY_LINES:
        pix = (np.log10(wave) - np.log10(lam)) / LOGLAM_STEP
        dlam = wave * np.log(10) * LOGLAM_STEP
        lines += 900.0 * strength * np.exp(-0.5 * (pix / sig_pix) ** 2) / (np.sqrt(2 * np.pi) * sig_pix * dlam)
    return cont, lines


def throughput(wave: np.ndarray) -> np.ndarray:
    """Relative system throughput of the two-arm SDSS spectrograph (peak 1)."""
    blue = np.exp(-0.5 * ((wave - 5000.0) / 900.0) ** 2)
    red = np.exp(-0.5 * ((wave - 7300.0) / 1500.0) ** 2)
    return np.clip(np.maximum(blue, 0.9 * red), 0.08, 1.0) * (1.0 - 0.15 * np.exp(-0.5 * ((wave - 6000.0) / 60.0) ** 2))


def line_fluxes(pop: pd.DataFrame, cont_at_ha: dict[str, np.ndarray]) -> pd.DataFrame:
    """Observed (attenuated) emission-line fluxes in the fiber, 1e-17 erg/s/cm^2.

    Parameters
    ----------
    pop : DataFrame
        Population rows (line ratios, EW, class, dust).
    cont_at_ha : dict
        Observed-frame fiber continuum f_lambda at Halpha: ``disk`` and ``total`` (n_obj,).
    """
    z = pop["z"].to_numpy()
    cls = pop["class_idx"].to_numpy()
    ew = 10.0 ** pop["log_ew_ha"].to_numpy()
    ref = np.where(cls <= 1, cont_at_ha["disk"], cont_at_ha["total"])
    ha = ew * (1.0 + z) * ref
    ebv = pop["ebv_gas"].to_numpy()
    k_ha = ph.ccm89(EMISSION_LINES["H_ALPHA"])

    def att(name: str) -> np.ndarray:
        return 10.0 ** (-0.4 * ebv * (ph.ccm89(EMISSION_LINES[name]) - k_ha))

    bd0 = pop["balmer_dec0"].to_numpy()
    hb = ha / bd0 * att("H_BETA")
    out = {"H_ALPHA": ha, "H_BETA": hb, "H_GAMMA": ha * 0.468 / bd0 * att("H_GAMMA"),
           "H_DELTA": ha * 0.259 / bd0 * att("H_DELTA")}
    out["NII_6584"] = ha * 10.0 ** pop["log_nii_ha"].to_numpy()
    out["OIII_5007"] = hb * 10.0 ** pop["log_oiii_hb"].to_numpy()
    for weak, (strong, strong_over_weak) in DOUBLETS.items():  # [NII]6548, [OIII]4959: fixed ratios
        out[weak] = out[strong] / strong_over_weak
    oii = ha / bd0 * 10.0 ** pop["log_oii_hb"].to_numpy() * att("OII_3726")
    out["OII_3726"], out["OII_3729"] = 0.42 * oii, 0.58 * oii
    out["NEIII_3869"] = oii * 10.0 ** pop["log_neiii_oii"].to_numpy()
    out["OI_6300"] = ha * 10.0 ** pop["log_oi_ha"].to_numpy()
    sii = ha * 10.0 ** pop["log_sii_ha"].to_numpy()
    ratio = pop["sii_ratio"].to_numpy()
    out["SII_6717"], out["SII_6731"] = sii * ratio / (1 + ratio), sii / (1 + ratio)
    return pd.DataFrame({name: out[name] for name in EMISSION_LINES}, index=pop.index)


def line_sigma_pixels(sigma_gas_kms: np.ndarray, wdisp: float = 1.0) -> np.ndarray:
    """Observed Gaussian sigma of an emission line in 1e-4 dex pixels."""
    kms_per_pix = ph.C_KM_PER_S * np.log(10) * LOGLAM_STEP
    return np.sqrt(sigma_gas_kms**2 + (SIGMA_INST_KMS * wdisp) ** 2) / kms_per_pix


def render_spectra(pop: pd.DataFrame, rng: np.random.Generator, *, snr_scale: float) -> SpectraChunk:
    """Render noisy SDSS-like spectra for the galaxies in ``pop`` (one chunk).

    Parameters
    ----------
    pop : DataFrame
        Population rows with survey ids (``plate``) assigned.
    rng : numpy.random.Generator
        The chunk's own stream.
    snr_scale : float
        Multiplies the S/N of every spectrum.
    """
    loglam = super_grid()
    wave = 10.0**loglam
    n_obj = len(pop)
    z = pop["z"].to_numpy()
    wdisp = 1.0 + 0.08 * (wave - 6000.0) / 3000.0
    seds = component_seds(pop, wave, z)
    fib = fiber_fractions(pop)
    mw = 10.0 ** (-0.4 * 0.86 * pop["ebv_mw"].to_numpy()[:, None] * ph.ccm89(wave)[None, :])
    comps = {}
    for comp in ("bulge", "disk", "point"):
        norm = 10.0 ** pop[f"lognorm_{comp}"].to_numpy() * fib[comp] * 1e17
        comps[comp] = seds[comp] * norm[:, None] * mw
    stellar = comps["bulge"] + comps["disk"] + comps["point"]
    ha_pix = np.rint((np.log10(EMISSION_LINES["H_ALPHA"] * (1 + z)) - loglam[0]) / LOGLAM_STEP).astype(int)
    window = ha_pix[:, None] + np.r_[-60:-25, 25:60][None, :]
    rows = np.arange(n_obj)[:, None]
    cont_at_ha = {"disk": comps["disk"][rows, window].mean(axis=1), "total": stellar[rows, window].mean(axis=1)}
    true_lines = line_fluxes(pop, cont_at_ha)
    sig_pix = line_sigma_pixels(pop["sigma_gas"].to_numpy())
    rest_waves = np.array(list(EMISSION_LINES.values()))
    model = stellar + gaussian_lines(loglam, z, true_lines.to_numpy(), sig_pix, rest_waves)

    sky_cont, sky_lines = sky_spectrum(wave, wdisp)
    sky = sky_cont + sky_lines
    gain = _G0 * snr_scale**2 * throughput(wave)[None, :] * 10.0 ** rng.normal(0.0, 0.12, (n_obj, 1))
    var = (np.maximum(model, 0.0) + sky[None, :]) / gain
    ivar = 1.0 / var
    flux = model + rng.standard_normal(model.shape) * np.sqrt(var)
    flux += rng.normal(0.0, 0.02, (n_obj, 1)) * sky_lines[None, :]  # sky-subtraction residuals
    and_mask = np.zeros(model.shape, dtype=np.int32)
    or_mask = np.zeros(model.shape, dtype=np.int32)
    bright = sky_lines > 3.0 * sky_cont
    or_mask[:, bright] |= BRIGHTSKY
    and_mask[:, sky_lines > 8.0 * sky_cont] |= BRIGHTSKY
    offset = plate_grid_offset(pop["plate"].to_numpy())
    npix = loglam.size - offset - rng.integers(0, 3, n_obj)
    _reject_pixels(flux, ivar, and_mask, offset, npix, rng)
    return SpectraChunk(
        loglam=loglam, flux=flux, ivar=ivar, model=model, sky=np.broadcast_to(sky, model.shape),
        stellar=stellar, and_mask=and_mask, or_mask=or_mask, wdisp=wdisp, line_true=true_lines,
        line_sigma_pix=sig_pix, offset=offset, npix=npix,
    )


def _reject_pixels(
    flux: np.ndarray, ivar: np.ndarray, and_mask: np.ndarray, offset: np.ndarray, npix: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Ends of each spectrum NODATA; 0-2 rejected stretches (flux interpolated, ivar 0)."""
    n_obj = flux.shape[0]
    n_bad = rng.choice(3, size=n_obj, p=[0.6, 0.3, 0.1])
    starts = rng.integers(50, 3700, (n_obj, 2))
    lengths = rng.integers(1, 25, (n_obj, 2))
    end_lo = rng.integers(1, 4, n_obj)
    end_hi = rng.integers(1, 4, n_obj)
    for i in range(n_obj):
        lo, hi = offset[i], offset[i] + npix[i]
        for a, b in ((lo, lo + end_lo[i]), (hi - end_hi[i], hi)):
            ivar[i, a:b] = 0.0
            and_mask[i, a:b] |= NODATA
        for k in range(n_bad[i]):
            a = lo + starts[i, k]
            b = min(a + lengths[i, k], hi - 5)
            left, right = flux[i, a - 1], flux[i, b]
            flux[i, a:b] = np.linspace(left, right, b - a + 2)[1:-1]
            ivar[i, a:b] = 0.0
            and_mask[i, a:b] |= FULLREJECT
