"""Mock survey, step 3: Legacy Survey-like grz cutouts.

Each galaxy is a de Vaucouleurs bulge + exponential disk (shared centre and position angle, own
axis ratios and colours) plus, for some AGN, a nuclear point source, all as Gaussian mixtures so
the convolution with the per-band Gaussian PSF is exact. Pixel values are the convolved profile
sampled at pixel centres (accurate because every convolved Gaussian is wider than ~1.5 pixels),
in nanomaggies per pixel, with Milky Way extinction applied and Gaussian sky noise set by the
5-sigma point-source depth in each band.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agnbench.data_prep import photometry as ph
from agnbench.data_prep.mock.profiles import FWHM_TO_SIGMA, sersic_mog

BANDS = ("g", "r", "z")
#: PSF FWHM in each band relative to r (seeing is worse in the blue).
PSF_SCALE = {"g": 1.08, "r": 1.0, "z": 0.92}
#: 5-sigma point-source depth relative to r (Legacy Surveys DR9/DR10-like).
DEPTH_OFFSET = {"g": 0.5, "r": 0.0, "z": -1.0}
_MAX_ELEMENTS = 6_000_000  # objects x gaussians x pixels evaluated at once


def band_fluxes(pop: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Observed (MW-extincted) flux of each component in nanomaggies: ``[band][comp] -> (n_obj,)``."""
    out: dict[str, dict[str, np.ndarray]] = {}
    ebv = pop["ebv_mw"].to_numpy()
    for b in BANDS:
        a_b = ph.DECAM_EXTINCTION[b] * ebv
        out[b] = {
            comp: np.nan_to_num(ph.mag_to_nanomaggies(pop[f"mag_{comp}_decam{b}"].to_numpy() + a_b))
            for comp in ("bulge", "disk", "point")
        }
    return out


def pixel_noise(pop: pd.DataFrame, *, image_depth_r: float, pixel_scale: float) -> dict[str, np.ndarray]:
    """Per-pixel sky noise sigma (nanomaggies) in each band, shape (n_obj,)."""
    out = {}
    for b in BANDS:
        f5 = ph.mag_to_nanomaggies(image_depth_r + DEPTH_OFFSET[b])
        sigma_psf_pix = pop["psf_fwhm"].to_numpy() * PSF_SCALE[b] * FWHM_TO_SIGMA / pixel_scale
        nea = 4.0 * np.pi * sigma_psf_pix**2
        out[b] = f5 / (5.0 * np.sqrt(nea))
    return out


def render_cutouts(
    pop: pd.DataFrame, rng: np.random.Generator, *, size: int, pixel_scale: float, image_depth_r: float
) -> tuple[np.ndarray, np.ndarray]:
    """Render noisy and noise-free grz cutouts.

    Parameters
    ----------
    pop : DataFrame
        Population rows (sizes in arcsec, axis ratios, PA, PSF FWHM, component magnitudes).
    rng : numpy.random.Generator
    size : int
        Cutout side (pixels).
    pixel_scale : float
        arcsec per pixel.
    image_depth_r : float
        5-sigma point-source depth in r (AB mag).

    Returns
    -------
    images, models : numpy.ndarray of float32, shape (n_obj, 3, size, size)
        Noisy cutouts and noise-free models in nanomaggies per pixel (band order g, r, z).
    """
    n_obj = len(pop)
    fluxes = band_fluxes(pop)
    noise = pixel_noise(pop, image_depth_r=image_depth_r, pixel_scale=pixel_scale)
    centre = (size - 1) / 2.0 + rng.uniform(-0.5, 0.5, (n_obj, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    pa = np.deg2rad(pop["pa"].to_numpy())
    models = np.empty((n_obj, len(BANDS), size, size), dtype=np.float32)
    wb, sb = sersic_mog(4.0)
    wd, sd = sersic_mog(1.0)
    n_gauss = wb.size + wd.size + 1
    step = max(1, _MAX_ELEMENTS // (n_gauss * size * size))
    for j, b in enumerate(BANDS):
        psf_var = (pop["psf_fwhm"].to_numpy() * PSF_SCALE[b] * FWHM_TO_SIGMA / pixel_scale) ** 2
        for lo in range(0, n_obj, step):
            sl = slice(lo, min(lo + step, n_obj))
            amp, cxx, cyy, cxy = _gaussians(pop.iloc[sl], fluxes[b], sl, pa[sl], psf_var[sl], pixel_scale, (wb, sb, wd, sd))
            dx = xx[None, None] - centre[sl, 0][:, None, None, None]
            dy = yy[None, None] - centre[sl, 1][:, None, None, None]
            q = cxx[..., None, None] * dx**2 + 2 * cxy[..., None, None] * dx * dy + cyy[..., None, None] * dy**2
            models[sl, j] = np.einsum("ok,okyx->oyx", amp, np.exp(-0.5 * q))
    images = models + (rng.standard_normal(models.shape) * np.stack([noise[b] for b in BANDS], axis=1)[:, :, None, None]).astype(np.float32)
    return images, models


def _gaussians(pop, flux_b, sl, pa, psf_var, pixel_scale, mog):
    """Amplitudes and inverse-covariance terms of every Gaussian, each shape (n, K)."""
    wb, sb, wd, sd = mog
    comps = []
    for comp, w, s in (("bulge", wb, sb), ("disk", wd, sd)):
        re = pop[f"re_{comp}"].to_numpy()[:, None] / pixel_scale
        q = pop[f"q_{comp}"].to_numpy()[:, None]
        var_major = (s[None, :] * re) ** 2
        comps.append((flux_b[comp][sl][:, None] * w[None, :], var_major, var_major * q**2))
    n = len(pop)
    comps.append((flux_b["point"][sl][:, None], np.zeros((n, 1)), np.zeros((n, 1))))
    amp = np.concatenate([c[0] for c in comps], axis=1)
    vmaj = np.concatenate([c[1] for c in comps], axis=1)
    vmin = np.concatenate([c[2] for c in comps], axis=1)
    c, s_ = np.cos(pa)[:, None], np.sin(pa)[:, None]
    sxx = vmaj * s_**2 + vmin * c**2 + psf_var[:, None]  # PA east of north: major axis along +y at PA 0
    syy = vmaj * c**2 + vmin * s_**2 + psf_var[:, None]
    sxy = (vmin - vmaj) * s_ * c
    det = sxx * syy - sxy**2
    norm = amp / (2.0 * np.pi * np.sqrt(det))
    return norm, syy / det, sxx / det, -sxy / det
