"""Broad-band photometry, dust curves and distances used by the mock survey.

Units: wavelengths in Angstrom, f_lambda in erg/s/cm^2/A, magnitudes AB.

The filter curves are smooth analytic approximations (super-Gaussians) of the SDSS ugriz and
DECam grz responses, placed at the published effective wavelengths and widths. They are good to a
few hundredths of a magnitude in colour for galaxy spectra, which is what a *mock* survey needs;
they are not a substitute for the real curves in precision photometry.

Distances are :mod:`astropy.cosmology`'s (:func:`flat_lcdm`: flat LambdaCDM, H0 = 70 km/s/Mpc,
Omega_m = 0.3 by default, no radiation), tabulated once per cosmology and interpolated
(:func:`luminosity_distance_mpc`: within 2e-9 relative), vectorised over redshift arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

C_ANGSTROM_PER_S = 2.99792458e18
C_KM_PER_S = 2.99792458e5
MPC_CM = 3.0856775814913673e24
#: AB absolute magnitude of the Sun in SDSS r (Willmer 2018).
M_SUN_R = 4.65


@dataclass(frozen=True)
class Band:
    """An analytic filter: ``T(lam) = exp(-0.5 |(lam - center) / width|^power)``."""

    name: str
    center: float
    width: float
    power: float = 6.0

    def transmission(self, wave: NDArray[np.float64]) -> NDArray[np.float64]:
        """Relative photon response at ``wave`` (Angstrom), peak 1."""
        return np.exp(-0.5 * np.abs((wave - self.center) / self.width) ** self.power)


SDSS_BANDS = {
    "u": Band("u", 3560.0, 300.0),
    "g": Band("g", 4680.0, 640.0),
    "r": Band("r", 6180.0, 590.0),
    "i": Band("i", 7500.0, 620.0),
    "z": Band("z", 8950.0, 620.0),
}
DECAM_BANDS = {
    "g": Band("g", 4810.0, 700.0),
    "r": Band("r", 6420.0, 740.0),
    "z": Band("z", 9180.0, 640.0),
}
#: A_band / E(B-V)_SFD (Schlafly & Finkbeiner 2011, R_V = 3.1).
SDSS_EXTINCTION = {"u": 4.239, "g": 3.303, "r": 2.285, "i": 1.698, "z": 1.263}
DECAM_EXTINCTION = {"g": 3.214, "r": 2.165, "z": 1.211}

#: Observed-frame wavelength grid for synthetic photometry (log-uniform; halving it from 900
#: to 450 points changes magnitudes by < 0.004 mag).
PHOT_WAVE = np.geomspace(2900.0, 11500.0, 450)


@lru_cache(maxsize=None)
def _band_weights(band: Band) -> tuple[NDArray[np.float64], float]:
    """Integration weights so that ``<f_nu> = sum(f_lambda * w)`` (photon-counting response)."""
    wave = PHOT_WAVE
    dlam = np.gradient(wave)
    t = band.transmission(wave)
    norm = float(np.sum(t * C_ANGSTROM_PER_S / wave * dlam))
    return t * wave * dlam / norm, norm


def ab_mag(flam: ArrayLike, band: Band) -> NDArray[np.float64]:
    """AB magnitude of spectra sampled on :data:`PHOT_WAVE`.

    Parameters
    ----------
    flam : array_like, shape (..., len(PHOT_WAVE))
        f_lambda in erg/s/cm^2/A.
    band : Band

    Returns
    -------
    numpy.ndarray, shape (...)
    """
    w, _ = _band_weights(band)
    fnu = np.asarray(flam, dtype=np.float64) @ w
    with np.errstate(divide="ignore", invalid="ignore"):
        return -2.5 * np.log10(fnu) - 48.60


def mag_to_nanomaggies(mag: ArrayLike) -> NDArray[np.float64]:
    """AB magnitude to flux in nanomaggies (22.5 mag = 1 nanomaggy)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - 22.5))


def nanomaggies_to_mag(flux: ArrayLike) -> NDArray[np.float64]:
    """Flux in nanomaggies to AB magnitude (``nan`` for non-positive flux)."""
    flux = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, 22.5 - 2.5 * np.log10(flux), np.nan)


def calzetti00(wave: ArrayLike) -> NDArray[np.float64]:
    """Calzetti et al. (2000) starburst attenuation curve k(lambda), R_V = 4.05.

    Parameters
    ----------
    wave : array_like
        Rest-frame wavelength in Angstrom. Valid 1200-22000 A; outside, the published polynomials
        are simply continued (cubic in 1/lambda below 0.63 um, linear above).
    """
    lam = np.asarray(wave, dtype=np.float64) / 1e4
    x = 1.0 / lam
    short = 2.659 * (-2.156 + 1.509 * x - 0.198 * x**2 + 0.011 * x**3) + 4.05
    long_ = 2.659 * (-1.857 + 1.040 * x) + 4.05
    return np.where(lam < 0.63, short, long_)


def ccm89(wave: ArrayLike, *, r_v: float = 3.1) -> NDArray[np.float64]:
    """Cardelli, Clayton & Mathis (1989) Milky Way extinction A_lambda / E(B-V), optical/NIR.

    Valid for 0.3 <= 1/lambda[um] <= 3.3 (3030-33000 A), which covers every band used here.
    """
    x = 1e4 / np.asarray(wave, dtype=np.float64)
    y = x - 1.82
    a_opt = 1 + 0.17699 * y - 0.50447 * y**2 - 0.02427 * y**3 + 0.72085 * y**4 \
        + 0.01979 * y**5 - 0.77530 * y**6 + 0.32999 * y**7
    b_opt = 1.41338 * y + 2.28305 * y**2 + 1.07233 * y**3 - 5.38434 * y**4 \
        - 0.62251 * y**5 + 5.30260 * y**6 - 2.09002 * y**7
    a_ir, b_ir = 0.574 * x**1.61, -0.527 * x**1.61
    a = np.where(x >= 1.1, a_opt, a_ir)
    b = np.where(x >= 1.1, b_opt, b_ir)
    return r_v * (a + b / r_v)


@lru_cache(maxsize=4)
def flat_lcdm(h0: float = 70.0, omega_m: float = 0.3):
    """The :class:`astropy.cosmology.FlatLambdaCDM` of every distance here (no radiation: ``Tcmb0 = 0``).

    Parameters
    ----------
    h0 : float
        Hubble constant in km/s/Mpc.
    omega_m : float
        Matter density today; ``Omega_Lambda = 1 - omega_m``.

    Returns
    -------
    astropy.cosmology.FlatLambdaCDM
        Cached per ``(h0, omega_m)``.
    """
    from astropy.cosmology import FlatLambdaCDM

    return FlatLambdaCDM(H0=h0, Om0=omega_m)


#: Redshift range and points of the interpolation table of :func:`luminosity_distance_mpc` (step 1e-4).
TABLE_Z_MAX = 10.0
TABLE_POINTS = 100_001


@lru_cache(maxsize=4)
def _comoving_over_z(h0: float, omega_m: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(grid, ``D_C(z) / z`` in Mpc) on ``0 .. TABLE_Z_MAX`` from astropy; the limit at ``z = 0`` is ``c / H0``."""
    cosmo = flat_lcdm(h0, omega_m)
    grid = np.linspace(0.0, TABLE_Z_MAX, TABLE_POINTS)
    ratio = np.empty_like(grid)
    ratio[0] = cosmo.hubble_distance.to_value("Mpc")
    ratio[1:] = cosmo.comoving_distance(grid[1:]).to_value("Mpc") / grid[1:]
    return grid, ratio


def luminosity_distance_mpc(z: ArrayLike, *, h0: float = 70.0, omega_m: float = 0.3) -> NDArray[np.float64]:
    """Luminosity distance in Mpc for flat LambdaCDM, from :mod:`astropy.cosmology` (:func:`flat_lcdm`).

    ``D_L = z (1 + z) (D_C / z)``, with ``D_C / z`` (smooth, ``c / H0`` at ``z = 0``) computed by
    astropy once per cosmology on a grid of step 1e-4 up to ``z = 10`` and interpolated linearly:
    within 2e-9 relative of astropy's ``luminosity_distance`` for ``1e-5 <= z <= 10`` and
    ``0 <= Omega_m <= 1`` (tested; below ``z = 1e-5`` astropy's own cancellation error dominates),
    and about 10x faster than astropy on large arrays. ``z > 10`` is computed by astropy directly.

    Parameters
    ----------
    z : array_like, any shape
        Redshifts, ``z >= 0`` (NaN propagates).
    h0, omega_m : float
        Cosmology (:func:`flat_lcdm`); default H0 = 70 km/s/Mpc, Omega_m = 0.3.

    Returns
    -------
    numpy.ndarray, shape of ``z``, float64
        ``D_L`` in Mpc.
    """
    z = np.asarray(z, dtype=np.float64)
    if np.any(z < 0):
        raise ValueError(f"redshift must be >= 0 (got {np.nanmin(z)}..{np.nanmax(z)})")
    grid, ratio = _comoving_over_z(float(h0), float(omega_m))
    d_l = np.asarray(z * (1 + z) * np.interp(z, grid, ratio))
    far = z > TABLE_Z_MAX
    if np.any(far):
        exact = flat_lcdm(float(h0), float(omega_m)).luminosity_distance(np.where(far, z, 0.0)).to_value("Mpc")
        d_l = np.where(far, exact, d_l)
    return d_l


def angular_scale_kpc_per_arcsec(z: ArrayLike, *, h0: float = 70.0, omega_m: float = 0.3) -> NDArray[np.float64]:
    """Proper kpc per arcsec at redshift ``z`` (flat LambdaCDM): ``D_A`` in kpc times 1 arcsec in radians.

    ``z`` (any shape, >= 0), ``h0`` and ``omega_m`` as in :func:`luminosity_distance_mpc`; returns float64 of
    the shape of ``z``.
    """
    z = np.asarray(z, dtype=np.float64)
    d_a = luminosity_distance_mpc(z, h0=h0, omega_m=omega_m) / (1 + z) ** 2
    return d_a * 1e3 * np.pi / (180.0 * 3600.0)


def distance_modulus(z: ArrayLike, *, h0: float = 70.0, omega_m: float = 0.3) -> NDArray[np.float64]:
    """Distance modulus ``5 log10(D_L / 10 pc)`` in magnitudes (``-inf`` at ``z = 0``).

    ``z`` (any shape, >= 0), ``h0`` and ``omega_m`` as in :func:`luminosity_distance_mpc`; returns float64 of
    the shape of ``z``.
    """
    return 5.0 * np.log10(luminosity_distance_mpc(z, h0=h0, omega_m=omega_m) * 1e5)
