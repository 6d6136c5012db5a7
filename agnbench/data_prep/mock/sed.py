"""Parametric galaxy spectral energy distributions for the mock survey.

Stellar continuum
-----------------
One parameter ``age`` in [0, 1] runs from a young, star-forming population (``age = 0``: blue,
weak 4000 A break, strong Balmer absorption) to an old one (``age = 1``: red, strong break,
strong Ca H&K, G band, Mg b, Na D). The continuum is a PCHIP curve through anchor magnitudes
(f_nu, AB, relative to 6200 A) interpolated linearly in ``age``; absorption features are Gaussians
whose equivalent widths are interpolated in ``age`` and whose widths add the intrinsic width and
the stellar velocity dispersion in quadrature. Colours and Dn4000 of the two ends are set to
those of SDSS early-type and late-type galaxies; the mock is calibrated against a real SDSS table
in ``tests/data_prep/mock/test_simulate.py``.

Line wavelengths (vacuum, rest frame) come from :mod:`agnbench.data_prep.lines`; this module adds the
absorption strengths and widths. Emission lines are planted by :mod:`agnbench.data_prep.mock.spectra`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import PchipInterpolator

from agnbench.data_prep.lines import ABSORPTION_WAVES
from agnbench.data_prep.photometry import C_ANGSTROM_PER_S, C_KM_PER_S

_ANCHOR_WAVE = np.array(
    [1500, 2000, 2800, 3300, 3600, 3900, 4050, 4400, 5000, 5600, 6200, 7000, 8000, 9000, 10000, 11500, 13000],
    dtype=np.float64,
)
# AB magnitude (f_nu) relative to 6200 A, without absorption lines.
_ANCHOR_OLD = np.array(
    [7.3, 5.9, 4.3, 3.25, 2.70, 1.82, 1.22, 0.93, 0.53, 0.25, 0.0, -0.22, -0.42, -0.58, -0.70, -0.85, -0.95]
)
_ANCHOR_YOUNG = np.array(
    [0.35, 0.5, 0.75, 1.0, 1.0, 0.47, 0.42, 0.28, 0.15, 0.06, 0.0, -0.08, -0.15, -0.20, -0.24, -0.28, -0.31]
)

#: Stellar absorption strengths: name -> (EW_old A, EW_young A, intrinsic sigma A); centres from
#: :data:`agnbench.data_prep.lines.ABSORPTION_WAVES`.
_ABSORPTION_STRENGTHS: dict[str, tuple[float, float, float]] = {
    "H9": (1.0, 4.0, 4.0), "H8": (1.2, 5.0, 4.0), "CaK": (8.0, 1.5, 3.0), "CaH+Heps": (7.0, 5.0, 3.5),
    "Hdelta": (1.2, 7.0, 5.0), "Gband": (5.0, 1.0, 6.0), "Hgamma": (1.5, 6.5, 5.0), "Fe4383": (3.0, 0.5, 4.0),
    "Hbeta": (1.8, 6.0, 5.0), "Mgb": (4.5, 0.8, 5.0), "Fe5270": (2.8, 0.5, 4.0), "Fe5335": (2.5, 0.4, 4.0),
    "NaD": (3.5, 0.8, 3.5), "Halpha": (1.5, 4.0, 5.0), "CaT1": (1.0, 0.5, 3.0), "CaT2": (3.0, 0.5, 3.0),
    "CaT3": (2.5, 0.5, 3.0),
}
#: Stellar absorption features: (name, rest vacuum wavelength A, EW_old A, EW_young A, intrinsic sigma A).
ABSORPTION_LINES: tuple[tuple[str, float, float, float, float], ...] = tuple(
    (name, wave, *_ABSORPTION_STRENGTHS[name]) for name, wave in ABSORPTION_WAVES.items()
)

#: Night-sky emission lines (observed wavelength A, relative strength): O I, Na D and the OH forest.
SKY_LINES: tuple[tuple[float, float], ...] = (
    (5578.9, 1.0), (5891.6, 0.25), (5897.6, 0.2), (6302.0, 0.5), (6365.5, 0.18),
    (6865.0, 0.15), (6925.0, 0.12), (7244.9, 0.2), (7276.4, 0.25), (7316.3, 0.35),
    (7341.0, 0.3), (7369.2, 0.2), (7402.0, 0.15), (7716.0, 0.15), (7751.0, 0.3),
    (7794.1, 0.35), (7821.5, 0.3), (7853.0, 0.3), (7913.7, 0.4), (7964.7, 0.5),
    (7993.3, 0.5), (8344.6, 0.6), (8399.2, 0.6), (8430.2, 0.5), (8465.4, 0.45),
    (8505.0, 0.4), (8761.3, 0.5), (8827.1, 0.8), (8885.8, 0.7), (8919.6, 0.6),
    (8958.1, 0.65), (8988.4, 0.5), (9037.0, 0.55), (9100.0, 0.45), (9153.0, 0.4),
)


@lru_cache(maxsize=1)
def _anchor_curves() -> tuple[PchipInterpolator, PchipInterpolator]:
    logw = np.log10(_ANCHOR_WAVE)
    return PchipInterpolator(logw, _ANCHOR_OLD, extrapolate=True), PchipInterpolator(
        logw, _ANCHOR_YOUNG, extrapolate=True
    )


def _rest_loglam(wave_obs: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
    """log10 of the rest wavelength, shape (n_obj, n_wave)."""
    loglam = np.log10(np.asarray(wave_obs, dtype=np.float64))
    return loglam[None, :] - np.log10(1.0 + np.asarray(z, dtype=np.float64))[:, None]


def continuum_fnu(wave_obs: ArrayLike, z: ArrayLike, age: ArrayLike) -> NDArray[np.float64]:
    """Line-free stellar continuum f_nu at ``wave_obs / (1 + z)``, normalised to 1 at 6200 A rest.

    Parameters
    ----------
    wave_obs : array_like, shape (n_wave,)
        Observed-frame wavelength grid (A).
    z : array_like, shape (n_obj,)
        Redshift (0 for a rest-frame grid).
    age : array_like, shape (n_obj,)
        Age parameter in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (n_obj, n_wave)
    """
    old, young = _anchor_curves()
    logw = _rest_loglam(wave_obs, z)
    age = np.asarray(age, dtype=np.float64)[:, None]
    mag_old = old(logw)
    mag = mag_old + (1.0 - age) * (young(logw) - mag_old)
    return np.exp(-0.4 * np.log(10.0) * mag)


def absorption_profile(wave_obs: ArrayLike, z: ArrayLike, age: ArrayLike, sigma_v: ArrayLike) -> NDArray[np.float64]:
    """Multiplicative transmission ``1 - sum(depth_k * gauss_k)`` of the stellar absorption lines.

    Each line is evaluated only within +-6 sigma of its centre, which needs a log-uniform grid.

    Parameters
    ----------
    wave_obs : array_like, shape (n_wave,)
        Log-uniform observed-frame wavelength grid (A).
    z, age : array_like, shape (n_obj,)
    sigma_v : array_like, shape (n_obj,)
        Stellar velocity dispersion (km/s), instrumental broadening included.

    Returns
    -------
    numpy.ndarray, shape (n_obj, n_wave), values in (0, 1]
    """
    wave_obs = np.asarray(wave_obs, dtype=np.float64)
    loglam = np.log10(wave_obs)
    dlog = (loglam[-1] - loglam[0]) / (loglam.size - 1)
    if not np.allclose(np.diff(loglam), dlog, rtol=1e-3, atol=1e-9):
        raise ValueError("absorption_profile needs a log-uniform wavelength grid")
    z = np.asarray(z, dtype=np.float64)
    age = np.asarray(age, dtype=np.float64)[:, None]
    sigma_v = np.asarray(sigma_v, dtype=np.float64)[:, None]
    n_obj, n_wave = z.size, wave_obs.size
    absorbed = np.zeros((n_obj, n_wave), dtype=np.float64)
    rows = np.arange(n_obj)[:, None]
    log1z = np.log10(1.0 + z)[:, None]
    for _, lam0, ew_old, ew_young, sig_int in ABSORPTION_LINES:
        sig = np.sqrt(sig_int**2 + (lam0 * sigma_v / C_KM_PER_S) ** 2)  # rest A, (n_obj, 1)
        half = int(np.ceil(6.0 * sig.max() / (lam0 * np.log(10) * dlog))) + 1
        centre = np.rint((np.log10(lam0) + log1z - loglam[0]) / dlog).astype(np.int64)
        cols = centre + np.arange(-half, half + 1)[None, :]
        valid = (cols >= 0) & (cols < n_wave)
        cols_c = np.clip(cols, 0, n_wave - 1)
        rest = wave_obs[cols_c] / (1.0 + z[:, None])
        ew = (1.0 - age) * ew_young + age * ew_old
        depth = np.minimum(ew / (sig * np.sqrt(2.0 * np.pi)), 0.9)
        vals = np.where(valid, depth * np.exp(-0.5 * ((rest - lam0) / sig) ** 2), 0.0)
        np.add.at(absorbed, (np.broadcast_to(rows, cols_c.shape), cols_c), vals)
    return np.clip(1.0 - absorbed, 0.05, 1.0)


def stellar_flambda(wave_obs: ArrayLike, z: ArrayLike, age: ArrayLike, sigma_v: ArrayLike) -> NDArray[np.float64]:
    """Stellar continuum with absorption lines, rest-frame f_lambda at ``wave_obs / (1 + z)``.

    Arbitrary units with f_nu(6200 A rest) = 1 before absorption; shapes as in
    :func:`absorption_profile`.
    """
    wave_obs = np.asarray(wave_obs, dtype=np.float64)
    rest = wave_obs[None, :] / (1.0 + np.asarray(z, dtype=np.float64))[:, None]
    fnu = continuum_fnu(wave_obs, z, age) * absorption_profile(wave_obs, z, age, sigma_v)
    return fnu * C_ANGSTROM_PER_S / rest**2


def powerlaw_flambda(wave_obs: ArrayLike, z: ArrayLike, *, alpha_nu: float = -0.5) -> NDArray[np.float64]:
    """AGN featureless continuum ``f_nu ~ nu^alpha_nu`` as rest f_lambda, f_nu(6200 A) = 1.

    Returns shape (n_obj, n_wave), evaluated at ``wave_obs / (1 + z)``.
    """
    wave_obs = np.asarray(wave_obs, dtype=np.float64)
    rest = wave_obs[None, :] / (1.0 + np.asarray(z, dtype=np.float64))[:, None]
    fnu = (rest / 6200.0) ** (-alpha_nu)
    return fnu * C_ANGSTROM_PER_S / rest**2
