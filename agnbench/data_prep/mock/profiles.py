"""Galaxy light profiles as mixtures of Gaussians (MoG).

A Sersic profile is approximated by a non-negative sum of concentric Gaussians (the approach of
Hogg & Lang 2013); the weights are fitted here once by NNLS and cached. With a Gaussian PSF the
convolution is exact (variances add), so images, fiber-aperture fractions and Petrosian radii all
follow from the same few numbers per galaxy.

Conventions: radii in arcsec, ``re`` is the half-light radius along the major axis, ``q`` the axis
ratio (minor/major), circular apertures use the circularised variance ``s^2 re^2 q``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import nnls

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def sersic_bn(n: float) -> float:
    """Sersic b_n such that ``re`` encloses half the light (Ciotti & Bertin 1999 expansion)."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)


@lru_cache(maxsize=8)
def sersic_mog(n: float, n_components: int = 12) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gaussian-mixture approximation of a unit-``re`` Sersic profile.

    Parameters
    ----------
    n : float
        Sersic index (1 = exponential disk, 4 = de Vaucouleurs bulge).
    n_components : int
        Number of Gaussians.

    Returns
    -------
    weights : numpy.ndarray, shape (n_components,)
        Fraction of the total flux in each Gaussian (sums to 1).
    sigmas : numpy.ndarray, shape (n_components,)
        Gaussian sigmas in units of ``re``.
    """
    bn = sersic_bn(n)
    r = np.geomspace(1e-3, 8.0 if n > 2 else 5.0, 600)
    target = np.exp(-bn * (r ** (1.0 / n) - 1.0))
    sigmas = np.geomspace(2e-3 if n > 2 else 0.05, 3.5 if n > 2 else 1.6, n_components)
    basis = np.exp(-0.5 * (r[:, None] / sigmas[None, :]) ** 2)
    # weight residuals by r so every logarithmic annulus counts by its flux share
    w = r / target.max()
    amp, _ = nnls(basis * w[:, None], target * w)
    flux = amp * 2.0 * np.pi * sigmas**2
    keep = flux > 0
    return flux[keep] / flux[keep].sum(), sigmas[keep]


def enclosed_fraction(radius: ArrayLike, weights: ArrayLike, variances: ArrayLike) -> NDArray[np.float64]:
    """Fraction of a circular Gaussian mixture's flux inside ``radius``.

    Parameters
    ----------
    radius : array_like, shape (..., n_r) or broadcastable
        Aperture radii (arcsec).
    weights : array_like, shape (n_obj, K)
        Flux fractions of the Gaussians (each row sums to the component's total, e.g. 1).
    variances : array_like, shape (n_obj, K)
        Circular variances (arcsec^2), PSF included.

    Returns
    -------
    numpy.ndarray, shape (n_obj, n_r)
    """
    r2 = np.asarray(radius, dtype=np.float64) ** 2
    weights = np.asarray(weights, dtype=np.float64)
    variances = np.asarray(variances, dtype=np.float64)
    if r2.ndim == 1:
        r2 = r2[None, None, :]
    else:
        r2 = r2[:, None, :]
    frac = 1.0 - np.exp(-0.5 * r2 / variances[:, :, None])
    return np.einsum("ok,okr->or", weights, frac)


def profile_components(
    *,
    flux_bulge: ArrayLike,
    re_bulge: ArrayLike,
    q_bulge: ArrayLike,
    flux_disk: ArrayLike,
    re_disk: ArrayLike,
    q_disk: ArrayLike,
    flux_point: ArrayLike,
    psf_fwhm: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Circularised, PSF-convolved Gaussian mixture of bulge (n=4) + disk (n=1) + point source.

    All inputs have shape (n_obj,); fluxes in any common unit, radii and FWHM in arcsec.

    Returns
    -------
    weights : numpy.ndarray, shape (n_obj, K)
        Fluxes of the Gaussians.
    variances : numpy.ndarray, shape (n_obj, K)
        Circular variances (arcsec^2).
    """
    wb, sb = sersic_mog(4.0)
    wd, sd = sersic_mog(1.0)
    psf_var = (np.asarray(psf_fwhm, dtype=np.float64) * FWHM_TO_SIGMA) ** 2
    col = lambda a: np.asarray(a, dtype=np.float64)[:, None]  # noqa: E731
    var_b = (sb[None, :] * col(re_bulge)) ** 2 * col(q_bulge) + psf_var[:, None]
    var_d = (sd[None, :] * col(re_disk)) ** 2 * col(q_disk) + psf_var[:, None]
    weights = np.concatenate([col(flux_bulge) * wb, col(flux_disk) * wd, col(flux_point)], axis=1)
    variances = np.concatenate([var_b, var_d, psf_var[:, None]], axis=1)
    return weights, variances


def petrosian_radii(
    weights: ArrayLike, variances: ArrayLike, *, eta: float = 0.2, n_petro: float = 2.0
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """SDSS Petrosian radius and the radii enclosing 50% and 90% of the Petrosian flux.

    The Petrosian ratio at ``r`` is the mean surface brightness in the annulus 0.8r-1.25r over the
    mean surface brightness inside ``r``; ``r_P`` is where it falls to ``eta`` (0.2 in SDSS) and the
    Petrosian flux is the flux inside ``n_petro * r_P`` (2 in SDSS).

    Parameters
    ----------
    weights, variances : array_like, shape (n_obj, K)
        As returned by :func:`profile_components`.

    Returns
    -------
    r_petro, r50, r90 : numpy.ndarray, shape (n_obj,)
        Radii in arcsec.
    """
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum(axis=1, keepdims=True)
    weights = weights / total
    r = np.geomspace(0.05, 80.0, 500)
    enc = enclosed_fraction(r, weights, variances)
    enc_hi = enclosed_fraction(1.25 * r, weights, variances)
    enc_lo = enclosed_fraction(0.8 * r, weights, variances)
    annulus = (enc_hi - enc_lo) / (1.25**2 - 0.8**2)
    ratio = annulus / np.maximum(enc, 1e-300)
    # first crossing of eta from above (ratio decreases outward for these profiles)
    below = ratio < eta
    idx = np.where(below.any(axis=1), below.argmax(axis=1), r.size - 1)
    idx = np.clip(idx, 1, r.size - 1)
    lo_r, hi_r = r[idx - 1], r[idx]
    lo_v, hi_v = ratio[np.arange(len(idx)), idx - 1], ratio[np.arange(len(idx)), idx]
    t = np.clip((lo_v - eta) / np.maximum(lo_v - hi_v, 1e-12), 0.0, 1.0)
    r_petro = np.exp(np.log(lo_r) + t * (np.log(hi_r) - np.log(lo_r)))
    petro_flux = enclosed_fraction(n_petro * r_petro[:, None], weights, variances)[:, 0]
    r50 = _radius_enclosing(r, enc, 0.5 * petro_flux)
    r90 = _radius_enclosing(r, enc, 0.9 * petro_flux)
    return r_petro, r50, r90


def _radius_enclosing(r: NDArray[np.float64], enc: NDArray[np.float64], level: NDArray[np.float64]) -> NDArray[np.float64]:
    """Radius where the (monotonic) enclosed-flux curve of each row reaches ``level``."""
    logr = np.log(r)
    out = np.empty(enc.shape[0])
    for i in range(enc.shape[0]):
        out[i] = np.exp(np.interp(level[i], enc[i], logr))
    return out
