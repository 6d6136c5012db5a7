"""Physics probes of attributions: where in wavelength, where in the image, which band, which track.

Spectra: attribution stacked by class against rest wavelength with the diagnostic windows marked,
and the fraction of absolute attribution inside the BPT line windows compared with the windows'
share of the grid (an enrichment of 1 means "no preference"). Images: the radial profile of
absolute attribution in units of the PSF FWHM or of the galaxy size, the fraction inside the
central PSF, and the balance between bands (does the model use colour?). Cross-track: how the
tracks' AGN scores agree, where they disagree and what drives each score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from agnbench.data_prep.lines import BPT_FEATURES, SPECTRAL_FEATURES
from agnbench.errors import AgnbenchError


def window_mask(wave: np.ndarray, names: Sequence[str] = BPT_FEATURES) -> np.ndarray:
    """Boolean (L,): grid pixels inside any of the named :data:`SPECTRAL_FEATURES` windows."""
    wave = np.asarray(wave, dtype=np.float64)
    mask = np.zeros(wave.size, dtype=bool)
    for name in names:
        lo, hi = SPECTRAL_FEATURES[name]
        mask |= (wave >= lo) & (wave <= hi)
    return mask


def window_fraction(attr: np.ndarray, wave: np.ndarray, names: Sequence[str] = BPT_FEATURES, *,
                    free: np.ndarray | None = None) -> pd.DataFrame:
    """Per object: fraction of absolute attribution inside the windows and their enrichment, against the
    whole grid and against the region the baseline leaves free.

    Integrated gradients gives zero attribution wherever the input equals its baseline, so a baseline
    that differs from the input only in some pixels (the line-free continuum differs only in the
    bridged line windows) puts all attribution there by construction. The honest reference is then
    the free region (the pixels where input and baseline differ): ``enrichment_vs_free`` is the
    windows' share of the attribution inside the free region over their share of the free pixels.

    Parameters
    ----------
    attr : numpy.ndarray, shape (n, L) or (n, C, L)
        Attribution over the grid (channels are summed in absolute value).
    wave : numpy.ndarray, shape (L,)
        Rest wavelength of the grid (A).
    names : sequence of str
        :data:`SPECTRAL_FEATURES` windows (default the BPT lines).
    free : numpy.ndarray, shape (n, L), optional
        True where the input differs from the baseline (:func:`free_pixels`); default every pixel.

    Returns
    -------
    pandas.DataFrame
        ``fraction_in_windows`` (of |attr| over the grid), ``grid_share`` (windows' share of the grid),
        ``enrichment`` (their ratio; 1 = no preference), ``free_share`` (free pixels' share of the grid),
        ``fraction_in_free`` (of |attr|; 1 for integrated gradients whatever the model),
        ``windows_share_of_free`` (windows' share of the free pixels) and ``enrichment_vs_free`` (fraction
        of the free region's |attr| inside the windows over ``windows_share_of_free``; NaN where the
        windows hold no free pixel).
    """
    a = np.abs(np.asarray(attr, dtype=np.float64))
    if a.ndim == 3:
        a = a.sum(axis=1)
    if a.shape[-1] != np.asarray(wave).size:
        raise AgnbenchError(f"attribution length {a.shape[-1]} differs from the wavelength grid ({np.size(wave)})")
    mask = window_mask(wave, names)
    free = np.ones(a.shape, dtype=bool) if free is None else np.broadcast_to(np.asarray(free, dtype=bool), a.shape)
    total = a.sum(axis=1)
    nan = np.full(total.shape, np.nan)
    frac = np.divide(a[:, mask].sum(axis=1), total, out=nan.copy(), where=total > 0)
    share = float(mask.mean())
    in_free = np.where(free, a, 0.0).sum(axis=1)
    n_free = free.sum(axis=1)
    win_free = (free & mask).sum(axis=1)
    share_free = np.divide(win_free, n_free, out=nan.copy(), where=n_free > 0)
    frac_free = np.divide(np.where(free & mask, a, 0.0).sum(axis=1), in_free, out=nan.copy(), where=in_free > 0)
    return pd.DataFrame({"fraction_in_windows": frac, "grid_share": share, "enrichment": frac / share,
                         "free_share": n_free / a.shape[1],
                         "fraction_in_free": np.divide(in_free, total, out=nan.copy(), where=total > 0),
                         "windows_share_of_free": share_free,
                         "enrichment_vs_free": np.divide(frac_free, share_free, out=nan.copy(), where=win_free > 0)})


def free_pixels(x: np.ndarray, baseline: np.ndarray, *, references: bool = False, atol: float = 1e-6) -> np.ndarray:
    """Where the inputs differ from their baseline: the only place integrated gradients can put attribution.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, ...)
        Inputs.
    baseline : numpy.ndarray
        (n, ...) or (1, ...) one baseline per object (or one for all); with ``references``, (K, ...) a
        reference set (expected gradients), and a pixel is free if it differs from any reference.
    atol : float
        Differences up to this (input units) count as equal.

    Returns
    -------
    numpy.ndarray of bool, same shape as ``x``
    """
    x = np.asarray(x)
    baseline = np.asarray(baseline)
    if not references:
        return np.abs(x - baseline) > atol
    free = np.zeros(x.shape, dtype=bool)
    for ref in baseline:
        free |= np.abs(x - ref[None]) > atol
    return free


def stack_by_class(attr: np.ndarray, wave: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Mean and mean-absolute attribution per wavelength pixel and class (long form: wave, class, ...)."""
    a = np.asarray(attr, dtype=np.float64)
    if a.ndim == 3:
        a = a.sum(axis=1)
    parts = []
    for k, name in enumerate(classes):
        sel = np.asarray(y) == k
        if not sel.any():
            continue
        parts.append(pd.DataFrame({"wave": wave, "class": name, "mean_attr": a[sel].mean(axis=0),
                                   "mean_abs_attr": np.abs(a[sel]).mean(axis=0), "n": int(sel.sum())}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["wave", "class", "mean_attr", "mean_abs_attr", "n"])


def _radii(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    return np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)


def radial_profile(attr: np.ndarray, *, unit_pix: np.ndarray | float, edges: Sequence[float]) -> np.ndarray:
    """Fraction of absolute attribution in annuli around the cutout centre.

    Parameters
    ----------
    attr : numpy.ndarray, shape (n, H, W) or (n, B, H, W)
        Bands are summed in absolute value.
    unit_pix : float or numpy.ndarray, shape (n,)
        The radius unit in pixels per object (e.g. the PSF FWHM, or the half-light radius).
    edges : sequence of float
        Annulus edges in that unit (e.g. 0, 0.5, 1, 2, 4); the last bin is open-ended beyond it.

    Returns
    -------
    numpy.ndarray, shape (n, len(edges))
        Row ``i``: fractions per annulus [e0, e1), ..., [e_last, inf), summing to 1.
    """
    a = np.abs(np.asarray(attr, dtype=np.float64))
    if a.ndim == 4:
        a = a.sum(axis=1)
    r = _radii(a.shape[-2:])[None] / np.broadcast_to(np.asarray(unit_pix, dtype=np.float64), (a.shape[0],))[:, None, None]
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), r, side="right") - 1  # -1: inside the first edge
    bins = np.clip(bins, 0, len(edges) - 1)
    flat = bins.reshape(a.shape[0], -1) + np.arange(a.shape[0])[:, None] * len(edges)
    sums = np.bincount(flat.ravel(), weights=a.reshape(a.shape[0], -1).ravel(),
                       minlength=a.shape[0] * len(edges)).reshape(a.shape[0], len(edges))
    total = sums.sum(axis=1, keepdims=True)
    return np.divide(sums, total, out=np.full(sums.shape, np.nan), where=total > 0)


def central_fraction(attr: np.ndarray, radius_pix: np.ndarray | float) -> np.ndarray:
    """Fraction (n,) of absolute attribution within ``radius_pix`` of the centre (e.g. the PSF FWHM)."""
    return radial_profile(attr, unit_pix=radius_pix, edges=[0.0, 1.0])[:, 0]


def band_fractions(attr: np.ndarray, bands: Sequence[str]) -> pd.DataFrame:
    """Share of absolute attribution per band, per object (columns ``frac_<band>``), from (n, B, H, W)."""
    a = np.abs(np.asarray(attr, dtype=np.float64))
    if a.ndim != 4 or a.shape[1] != len(bands):
        raise AgnbenchError(f"band_fractions needs (n, {len(bands)}, H, W) attributions, got {a.shape}")
    per = a.sum(axis=(2, 3))
    total = per.sum(axis=1, keepdims=True)
    frac = np.divide(per, total, out=np.full(per.shape, np.nan), where=total > 0)
    return pd.DataFrame({f"frac_{b}": frac[:, k] for k, b in enumerate(bands)})


def score_table(preds: Mapping[str, pd.DataFrame], *, positive: str = "agn", split: str = "test") -> pd.DataFrame:
    """AGN score of every run on the objects all runs scored: index object_id, one column per run."""
    cols = {}
    for run, df in preds.items():
        part = df[df["split"] == split]
        column = f"p_{positive}"
        if column not in part.columns:
            raise AgnbenchError(f"run {run} has no column {column}: the cross-track probes need a class {positive!r}")
        cols[run] = part.set_index("object_id")[column]
    wide = pd.DataFrame(cols).dropna()
    if wide.empty:
        raise AgnbenchError(f"the runs share no object in split {split!r}")
    return wide


def score_correlations(wide: pd.DataFrame) -> pd.DataFrame:
    """Spearman and Pearson correlation of every pair of runs' scores (long form)."""
    rows = []
    runs = list(wide.columns)
    for i, a in enumerate(runs):
        for b in runs[i + 1 :]:
            rows.append({"run_a": a, "run_b": b, "spearman": float(spearmanr(wide[a], wide[b]).statistic),
                         "pearson": float(np.corrcoef(wide[a], wide[b])[0, 1]), "n": int(len(wide))})
    return pd.DataFrame(rows, columns=["run_a", "run_b", "spearman", "pearson", "n"])


def disagreements(wide: pd.DataFrame, objects: pd.DataFrame, *, k: int = 20,
                  columns: Sequence[str] = ("label_name", "z", "q_logmass", "q_g_r", "q_d4000_n", "q_sn_median",
                                            "q_log_nii_ha", "q_log_oiii_hb")) -> pd.DataFrame:
    """The ``k`` objects whose scores differ most between runs (max - min), with their physical properties."""
    spread = wide.max(axis=1) - wide.min(axis=1)
    top = spread.sort_values(ascending=False).head(k)
    props = objects.set_index("object_id").reindex(top.index)
    keep = [c for c in columns if c in props.columns]
    out = pd.concat([wide.loc[top.index], top.rename("score_spread"), props[keep]], axis=1)
    assert len(out) == len(top), "cross-match with the store lost objects"
    return out.reset_index().rename(columns={"index": "object_id"})


def score_drivers(wide: pd.DataFrame, objects: pd.DataFrame, *,
                  columns: Sequence[str] = ("z", "q_logmass", "q_g_r", "q_d4000_n", "q_sn_median")) -> pd.DataFrame:
    """Spearman correlation of each run's AGN score with each physical property (what drives the score)."""
    props = objects.set_index("object_id").reindex(wide.index)
    rows = []
    for run in wide.columns:
        for col in columns:
            if col not in props.columns:
                continue
            ok = np.isfinite(props[col].to_numpy(np.float64))
            rho = spearmanr(wide[run].to_numpy()[ok], props[col].to_numpy(np.float64)[ok]).statistic if ok.sum() > 2 \
                else np.nan
            rows.append({"run": run, "property": col, "spearman": float(rho), "n": int(ok.sum())})
    return pd.DataFrame(rows, columns=["run", "property", "spearman", "n"])
