"""Emission-line fluxes and spectral indices measured from (noisy) spectra.

Line fluxes: all lines are fitted together by weighted linear least squares as pixel-integrated
Gaussians of known centre and width on the continuum-subtracted spectrum. With the continuum
taken from a template fit (MPA-JHU subtract Bruzual & Charlot models; the mock uses its noise-free
stellar model, the ideal template) this is the optimal unbiased estimator, and the errors are
the exact square roots of the diagonal of ``(A^T W A)^-1``.

Indices: Dn4000 (Balogh et al. 1999: <f_nu> in 4000-4100 A over 3850-3950 A), the broad D4000
(Bruzual 1983: 4050-4250 over 3750-3950) and Lick HdeltaA
(Worthey & Ottaviani 1997), both on rest-frame vacuum wavelengths with ivar-propagated errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import erf

from agnbench.data_prep.lines import D4000_BANDS, D4000_N_BANDS, EMISSION_LINES, HDELTA_A_BANDS

#: SDSS log10-wavelength pixel size.
LOGLAM_STEP = 1e-4


def gaussian_lines(
    loglam: np.ndarray, z: np.ndarray, fluxes: np.ndarray, sigma_pix: np.ndarray, rest_waves: np.ndarray
) -> np.ndarray:
    """Pixel-integrated Gaussian emission lines as f_lambda on a log-uniform grid.

    Parameters
    ----------
    loglam : shape (n_wave,)
        Log-uniform grid (log10 A), step :data:`LOGLAM_STEP`.
    z : shape (n_obj,)
    fluxes : shape (n_obj, n_lines)
        Line fluxes (1e-17 erg/s/cm^2).
    sigma_pix : shape (n_obj,)
        Gaussian sigma in pixels.
    rest_waves : shape (n_lines,)
        Rest wavelengths (A).

    Returns
    -------
    numpy.ndarray, shape (n_obj, n_wave)
        f_lambda (1e-17 erg/s/cm^2/A).
    """
    n_obj, n_wave = z.size, loglam.size
    out = np.zeros((n_obj, n_wave))
    half = int(np.ceil(6 * sigma_pix.max())) + 2
    rows = np.broadcast_to(np.arange(n_obj)[:, None], (n_obj, 2 * half + 1))
    dlam = 10.0**loglam * np.log(10) * LOGLAM_STEP
    for j, lam0 in enumerate(rest_waves):
        centre = (np.log10(lam0 * (1 + z)) - loglam[0]) / LOGLAM_STEP  # fractional pixel
        cols = np.rint(centre).astype(np.int64)[:, None] + np.arange(-half, half + 1)[None, :]
        valid = (cols >= 0) & (cols < n_wave)
        cols_c = np.clip(cols, 0, n_wave - 1)
        d = (cols - centre[:, None]) / sigma_pix[:, None]
        frac = 0.5 * (erf((d + 0.5 / sigma_pix[:, None]) / np.sqrt(2)) - erf((d - 0.5 / sigma_pix[:, None]) / np.sqrt(2)))
        vals = np.where(valid, fluxes[:, j : j + 1] * frac / dlam[cols_c], 0.0)
        np.add.at(out, (rows, cols_c), vals)
    return out


def fit_lines(
    loglam: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    continuum: np.ndarray,
    z: np.ndarray,
    sigma_pix: np.ndarray,
    *,
    lines: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Joint Gaussian fit of emission-line fluxes.

    Parameters
    ----------
    loglam : numpy.ndarray, shape (n_wave,)
        Log-uniform grid (log10 A, step 1e-4).
    flux, ivar, continuum : numpy.ndarray, shape (n_obj, n_wave)
        Spectra (1e-17 erg/s/cm^2/A), inverse variance (0 = masked) and the continuum to subtract.
    z : numpy.ndarray, shape (n_obj,)
    sigma_pix : numpy.ndarray, shape (n_obj,)
        Line sigma in pixels.
    lines : dict, optional
        name -> rest vacuum wavelength; default all :data:`EMISSION_LINES`.

    Returns
    -------
    flux_df, err_df : pandas.DataFrame, shape (n_obj, n_lines)
        Fitted fluxes and 1-sigma errors (1e-17 erg/s/cm^2); NaN where a line has no unmasked pixel.
    """
    lines = EMISSION_LINES if lines is None else lines
    names = list(lines)
    n_obj = flux.shape[0]
    templates = np.stack(
        [gaussian_lines(loglam, z, np.ones((n_obj, 1)), sigma_pix, np.array([lines[n]])) for n in names], axis=1
    )  # (n_obj, n_lines, n_wave)
    resid = flux - continuum
    w = np.where(np.isfinite(ivar) & (ivar > 0), ivar, 0.0)
    gram = np.einsum("okp,olp,op->okl", templates, templates, w)
    rhs = np.einsum("okp,op->ok", templates, w * np.nan_to_num(resid))
    diag = np.einsum("okk->ok", gram)
    ok = diag > 1e-12 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300)
    # lines with no unmasked pixel: decouple them so the system stays solvable
    eye = np.eye(len(names))[None, :, :]
    gram = np.where(ok[:, :, None] & ok[:, None, :], gram, 0.0) + eye * (~ok)[:, :, None]
    rhs = np.where(ok, rhs, 0.0)
    cov = np.linalg.inv(gram)
    est = np.einsum("okl,ol->ok", cov, rhs)
    err = np.sqrt(np.clip(np.einsum("okk->ok", cov), 0.0, None))
    est[~ok], err[~ok] = np.nan, np.nan
    return pd.DataFrame(est, columns=names), pd.DataFrame(err, columns=names)


def continuum_level(
    loglam: np.ndarray, continuum: np.ndarray, z: np.ndarray, rest_wave: float, *, half_width: float = 40.0
) -> np.ndarray:
    """Mean continuum f_lambda within +-``half_width`` A (rest) of a line, shape (n_obj,)."""
    rest = 10.0 ** loglam[None, :] / (1.0 + z[:, None])
    sel = np.abs(rest - rest_wave) < half_width
    return np.where(sel.any(axis=1), (continuum * sel).sum(axis=1) / np.maximum(sel.sum(axis=1), 1), np.nan)


def _band_mean(rest: np.ndarray, f: np.ndarray, var: np.ndarray, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    sel = (rest >= band[0]) & (rest <= band[1]) & np.isfinite(var)
    n = sel.sum(axis=1)
    mean = np.where(n > 0, np.where(sel, f, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)
    mvar = np.where(n > 0, np.where(sel, var, 0.0).sum(axis=1) / np.maximum(n, 1) ** 2, np.nan)
    return mean, mvar


def spectral_indices(loglam: np.ndarray, flux: np.ndarray, ivar: np.ndarray, z: np.ndarray) -> pd.DataFrame:
    """Dn4000 and Lick HdeltaA with errors, measured on rest-frame wavelengths.

    Parameters
    ----------
    loglam : numpy.ndarray, shape (n_wave,)
    flux, ivar : numpy.ndarray, shape (n_obj, n_wave)
        Masked pixels (ivar = 0) are excluded from every band.
    z : numpy.ndarray, shape (n_obj,)

    Returns
    -------
    pandas.DataFrame with columns ``D4000, D4000_N, D4000_N_ERR, LICK_HD_A, LICK_HD_A_ERR``.
    """
    rest = 10.0 ** loglam[None, :] / (1.0 + z[:, None])
    var = np.where(ivar > 0, 1.0 / np.where(ivar > 0, ivar, 1.0), np.inf)
    fnu, var_nu = flux * rest**2, var * rest**4
    red, var_r = _band_mean(rest, fnu, var_nu, D4000_N_BANDS["red"])
    blue, var_b = _band_mean(rest, fnu, var_nu, D4000_N_BANDS["blue"])
    d4000 = red / blue
    d4000_err = np.abs(d4000) * np.sqrt(var_r / red**2 + var_b / blue**2)
    red_w, _ = _band_mean(rest, fnu, var_nu, D4000_BANDS["red"])  # Bruzual (1983) broad definition
    blue_w, _ = _band_mean(rest, fnu, var_nu, D4000_BANDS["blue"])
    fb, vb = _band_mean(rest, flux, var, HDELTA_A_BANDS["blue"])
    fr, vr = _band_mean(rest, flux, var, HDELTA_A_BANDS["red"])
    cb, cr = np.mean(HDELTA_A_BANDS["blue"]), np.mean(HDELTA_A_BANDS["red"])
    sel = (rest >= HDELTA_A_BANDS["index"][0]) & (rest <= HDELTA_A_BANDS["index"][1]) & np.isfinite(var)
    t = (rest - cb) / (cr - cb)
    cont = fb[:, None] * (1 - t) + fr[:, None] * t
    dlam = np.gradient(rest, axis=1)
    hda = np.where(sel, (1.0 - flux / cont) * dlam, 0.0).sum(axis=1)
    hda_var = np.where(sel, var / cont**2 * dlam**2, 0.0).sum(axis=1)
    width = HDELTA_A_BANDS["index"][1] - HDELTA_A_BANDS["index"][0]
    hda_var += width**2 * (vb / fb**2 * 0.25 + vr / fr**2 * 0.25)  # continuum uncertainty, approx.
    return pd.DataFrame({"D4000": red_w / blue_w, "D4000_N": d4000, "D4000_N_ERR": d4000_err, "LICK_HD_A": hda, "LICK_HD_A_ERR": np.sqrt(hda_var)})
