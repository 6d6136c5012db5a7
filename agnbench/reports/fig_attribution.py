"""Attribution figures of the deep tracks and the cross-track comparison.

* :func:`plot_spectral_attribution` -- attribution against rest wavelength stacked by class
  (``stacked_by_class.csv`` of a spectra run), with the diagnostic lines marked, optionally above
  the class-mean spectra (:func:`class_mean_spectra`).
* :func:`plot_image_attribution_examples` -- grz composite, Integrated Gradients and Grad-CAM of a
  few cutouts.
* :func:`plot_radial_profile` -- mean |IG| surface density against radius in PSF FWHM or galaxy
  half-light radii, per class (and per planted point source when the mock's truth is known), from
  :func:`radial_profile_table`.
* :func:`plot_occlusion_rings` -- the probability drop when each equal-area ring of a cutout is filled
  with the local sky, per group, from :func:`occlusion_ring_table`.
* :func:`plot_cross_track` and :func:`plot_score_drivers` -- the tracks' scores (p of the positive class) on the same
  objects, and what each score correlates with (``agnbench explain --compare`` tables).

Every function draws on the axes it is given (``ax=`` / ``axes=``) or on a new journal-sized
figure, and never touches pyplot.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Circle
from matplotlib.ticker import NullLocator

from agnbench.errors import AgnbenchError
from agnbench.reports.fig_common import Stretch, class_colors, gallery_stretch, grz_rgb, mark_lines
from agnbench.reports.fig_performance import place_legend
from agnbench.reports.fig_shap import feature_label
from agnbench.reports.style import axes as make_axes
from agnbench.reports.style import new_figure

log = logging.getLogger(__name__)

_ATTR_LABELS = {"mean_abs_attr": "mean |IG| (logit pixel$^{-1}$)", "mean_attr": "mean IG (logit pixel$^{-1}$)"}
_UNIT_LABELS = {"psf_fwhm": "radius (PSF FWHM)", "r50": r"radius ($R_{50}$, Petrosian $r$)"}
_NO_PS = "no point source"
_LOGIT_TICKS = (1e-4, 1e-2, 0.5, 0.99, 0.9999)


def class_mean_spectra(flux: np.ndarray, wave: np.ndarray, labels: Sequence[str], *,
                       ivar: np.ndarray | None = None) -> pd.DataFrame:
    """Mean spectrum per class (pixels with zero inverse variance left out).

    Parameters
    ----------
    flux : numpy.ndarray, shape (n, L)
        Normalised flux (the store's ``spectra/flux.npy`` rows; dimensionless, ~1 at 5300-5700 Å).
    wave : numpy.ndarray, shape (L,)
        Rest wavelength (Å).
    labels : sequence of str, length n
        Class of each spectrum.
    ivar : numpy.ndarray, shape (n, L), optional
        Inverse variance; pixels with ``ivar <= 0`` are excluded from the mean.

    Returns
    -------
    pandas.DataFrame
        Long form: ``wave``, ``class``, ``mean_flux``, ``n`` (spectra in the class).
    """
    flux = np.asarray(flux, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    if flux.ndim != 2 or flux.shape[1] != len(wave) or flux.shape[0] != labels.size:
        raise AgnbenchError(f"flux must be (n, {len(wave)}) with one label per row; got {flux.shape}, "
                            f"{labels.size} labels")
    if ivar is not None:
        flux = np.where(np.asarray(ivar) > 0, flux, np.nan)
    parts = []
    for c in pd.unique(labels):
        sel = labels == c
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(flux[sel], axis=0) if np.isfinite(flux[sel]).any() else np.full(len(wave), np.nan)
        parts.append(pd.DataFrame({"wave": wave, "class": c, "mean_flux": mean, "n": int(sel.sum())}))
    return pd.concat(parts, ignore_index=True)


def plot_spectral_attribution(stacked_table: pd.DataFrame, *, ax: Axes | Sequence[Axes] | None = None,
                              mean_spectra: pd.DataFrame | None = None, value: str = "mean_abs_attr",
                              colors: Mapping[str, str] | None = None, frame: str = "rest"):
    """Attribution against rest wavelength, stacked by class, with the diagnostic lines marked.

    Parameters
    ----------
    stacked_table : pandas.DataFrame
        ``stacked_by_class.csv``: ``wave`` (Å), ``class``, ``mean_attr``, ``mean_abs_attr`` (IG per
        pixel of the flux channel, logit units), ``n``.
    ax : Axes or pair of Axes, optional
        One Axes (attribution only) or, with ``mean_spectra``, ``(spectra_ax, attribution_ax)``.
        Default: a new page-width figure.
    mean_spectra : pandas.DataFrame, optional
        :func:`class_mean_spectra` output, drawn in a panel above the attribution.
    value : {"mean_abs_attr", "mean_attr"}
        Which stacked column to draw.
    colors : mapping, optional
        Colour per class (default :func:`~agnbench.reports.fig_common.class_colors`).
    frame : {"rest", "observed"}
        The store's spectra frame: the axis label, and rest-frame lines are marked only in the rest frame.

    Returns
    -------
    Axes or numpy.ndarray of Axes
        The attribution axes, or ``[spectra_ax, attribution_ax]``.
    """
    if value not in stacked_table.columns:
        raise AgnbenchError(f"stacked table has no column {value!r} (columns: {list(stacked_table.columns)})")
    classes = [str(c) for c in pd.unique(stacked_table["class"])]
    colors = dict(colors or class_colors(classes))
    if mean_spectra is not None:
        if ax is None:
            _, pair = new_figure("page", aspect=0.5, nrows=2, sharex=True)
        else:
            pair = np.ravel(np.asarray(ax, dtype=object))
            if pair.size != 2:
                raise AgnbenchError("with mean_spectra, ax must be a pair (spectra axes, attribution axes)")
        ax_s, ax_a = pair
    else:
        ax_s, ax_a = None, make_axes(ax, width="page", aspect=0.3)
    for c in classes:
        part = stacked_table[stacked_table["class"].astype(str) == c]
        n = f" (n = {int(part['n'].iloc[0])})" if "n" in part.columns else ""
        ax_a.plot(part["wave"], part[value], color=colors.get(c, "k"), lw=0.7, label=f"{c}{n}")
    ax_a.set_xlim(float(stacked_table["wave"].min()), float(stacked_table["wave"].max()))
    if value == "mean_attr":
        ax_a.axhline(0.0, color="0.5", lw=0.5, zorder=0)
    ax_a.set_ylabel(_ATTR_LABELS.get(value, value))
    ax_a.set_xlabel(f"{frame} wavelength (Å)")
    ax_a.legend(loc="center left", title="true class")
    rest = frame == "rest"
    if ax_s is None:
        if rest:
            mark_lines(ax_a)
        return ax_a
    for c in [str(c) for c in pd.unique(mean_spectra["class"])]:
        part = mean_spectra[mean_spectra["class"].astype(str) == c]
        ax_s.plot(part["wave"], part["mean_flux"], color=colors.get(c, "k"), lw=0.6, label=c)
    ax_s.set_ylabel("mean normalised flux")
    ax_s.set_xlim(ax_a.get_xlim())
    if rest:
        mark_lines(ax_s)
        mark_lines(ax_a, labels=False)
    return np.array([ax_s, ax_a], dtype=object)


def plot_image_attribution_examples(cutouts: np.ndarray, ig_maps: np.ndarray, gradcam_maps: np.ndarray,
                                    labels: Sequence[str], *, axes: np.ndarray | None = None,
                                    stretch: Stretch | None = None, psf_fwhm_pix: float | None = None) -> np.ndarray:
    """Cutouts with their Integrated Gradients and Grad-CAM maps, one column per object.

    Parameters
    ----------
    cutouts : numpy.ndarray, shape (n, 3, H, W)
        grz cutouts (store values).
    ig_maps : numpy.ndarray, shape (n, 3, H, W) or (n, H, W)
        IG attribution (bands are summed, signed: positive = towards the explained class).
    gradcam_maps : numpy.ndarray, shape (n, H, W)
        Grad-CAM on the last stage, upsampled to the cutout (negative values clipped, scaled to max 1).
    labels : sequence of str, length n
        Column titles (object id, class).
    axes : numpy.ndarray of Axes, shape (3, n), optional
        Rows: composite, IG, Grad-CAM. Default: a new page-width figure.
    stretch : Stretch, optional
        Display stretch of the composites (default :func:`gallery_stretch` of all ``cutouts``).
    psf_fwhm_pix : float, optional
        Draws a dashed circle of radius one PSF FWHM on the IG maps.

    Returns
    -------
    numpy.ndarray of Axes, shape (3, n)
    """
    cutouts, cams = np.asarray(cutouts), np.asarray(gradcam_maps, dtype=np.float64)
    ig = np.asarray(ig_maps, dtype=np.float64)
    ig = ig.sum(axis=1) if ig.ndim == 4 else ig
    n = len(cutouts)
    if not (ig.shape[0] == cams.shape[0] == len(labels) == n) or n == 0:
        raise AgnbenchError(f"need the same number (>= 1) of cutouts ({n}), IG maps ({ig.shape[0]}), Grad-CAM maps "
                            f"({cams.shape[0]}) and labels ({len(labels)})")
    if axes is None:
        _, axes = new_figure("page", aspect=3.25 / max(n, 3), nrows=3, ncols=n)
    axes = np.asarray(axes, dtype=object).reshape(3, n)
    stretch = stretch or gallery_stretch(cutouts)
    for i in range(n):
        rgb = grz_rgb(cutouts[i], stretch)
        axes[0, i].imshow(rgb, origin="lower", interpolation="nearest")
        lim = float(np.nanpercentile(np.abs(ig[i]), 99.5)) or 1.0
        axes[1, i].imshow(ig[i], origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        cam = np.clip(cams[i], 0, None)
        cam = cam / cam.max() if cam.max() > 0 else cam
        axes[2, i].imshow(rgb.mean(axis=-1), origin="lower", cmap="gray", interpolation="nearest")
        axes[2, i].imshow(cam, origin="lower", cmap="magma", alpha=0.55, vmin=0, vmax=1, interpolation="bilinear")
        if psf_fwhm_pix:
            h, w = ig[i].shape
            axes[1, i].add_patch(Circle(((w - 1) / 2, (h - 1) / 2), psf_fwhm_pix, fill=False, ls="--", lw=0.6,
                                        color="k"))
        axes[0, i].set_title(labels[i], fontsize=5.5)
    for row, name in enumerate(("grz", "IG (Σ bands)", "Grad-CAM")):
        axes[row, 0].set_ylabel(name)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    return axes


def radial_profile_table(ig: np.ndarray, groups: Sequence[str], *, unit_pix: np.ndarray | float, unit: str,
                         edges: Sequence[float]) -> pd.DataFrame:
    """Mean |IG| surface density in annuli around the cutout centre, per group of objects.

    Each object's |IG| (summed over bands) is scaled so its mean over the cutout is 1; the density in
    an annulus is then the mean of that map over the annulus's pixels (1 = no preference for that
    radius). Annuli a cutout does not reach are left out of that object's mean.

    Parameters
    ----------
    ig : numpy.ndarray, shape (n, B, H, W) or (n, H, W)
    groups : sequence of str, length n
        Group of each object (e.g. its class, or ``"agn, point source"``).
    unit_pix : float or numpy.ndarray, shape (n,)
        The radius unit in pixels (PSF FWHM, or each galaxy's half-light radius).
    unit : str
        Name of the unit (``psf_fwhm``, ``r50``), stored in the table.
    edges : sequence of float
        Annulus edges in that unit.

    Returns
    -------
    pandas.DataFrame
        ``unit``, ``group``, ``r_lo``, ``r_hi``, ``r_mid``, ``density`` (mean over the group's objects),
        ``sem`` (standard error of that mean), ``n`` (objects with pixels in the annulus).
    """
    a = np.abs(np.asarray(ig, dtype=np.float64))
    a = a.sum(axis=1) if a.ndim == 4 else a
    groups = np.asarray(groups).astype(str)
    if a.ndim != 3 or groups.size != a.shape[0]:
        raise AgnbenchError(f"IG maps must be (n, [B,] H, W) with one group per object; got {np.shape(ig)}, "
                            f"{groups.size} groups")
    n, h, w = a.shape
    total = a.sum(axis=(1, 2), keepdims=True)
    a = np.divide(a * h * w, total, out=np.full(a.shape, np.nan), where=total > 0)
    yy, xx = np.mgrid[0:h, 0:w]
    unit_pix = np.broadcast_to(np.asarray(unit_pix, dtype=np.float64), (n,))
    r = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)[None] / unit_pix[:, None, None]
    edges = np.asarray(edges, dtype=np.float64)
    nb = edges.size - 1
    b = np.searchsorted(edges, r, side="right") - 1
    ok = (b >= 0) & (b < nb) & np.isfinite(a)
    flat = (np.arange(n)[:, None, None] * nb + b)[ok]
    sums = np.bincount(flat, weights=a[ok], minlength=n * nb).reshape(n, nb)
    counts = np.bincount(flat, minlength=n * nb).reshape(n, nb)
    dens = np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)
    rows = []
    for g in pd.unique(groups):
        d = dens[groups == g]
        m = np.isfinite(d).sum(axis=0)
        filled = np.where(np.isfinite(d), d, 0.0)
        mean = filled.sum(axis=0) / np.maximum(m, 1)
        var = (np.where(np.isfinite(d), (d - mean) ** 2, 0.0)).sum(axis=0) / np.maximum(m - 1, 1)
        sem = np.where(m > 1, np.sqrt(var / np.maximum(m, 1)), np.nan)
        rows.append(pd.DataFrame({"unit": unit, "group": g, "r_lo": edges[:-1], "r_hi": edges[1:],
                                  "r_mid": (edges[:-1] + edges[1:]) / 2, "density": np.where(m > 0, mean, np.nan),
                                  "sem": sem, "n": m}))
    return pd.concat(rows, ignore_index=True)


def _group_style(group: str, colors: Mapping[str, str]) -> dict:
    base = group.split(",")[0].strip()
    if _NO_PS in group:
        return {"color": "#E69F00", "ls": "--"}
    return {"color": colors.get(group) or colors.get(base, "k"), "ls": "-"}


def plot_radial_profile(profile_table: pd.DataFrame, *, ax: Axes | None = None, unit: str | None = None,
                        colors: Mapping[str, str] | None = None) -> Axes:
    """Mean |IG| surface density against radius, one line per group, with ±1 standard error bands.

    Parameters
    ----------
    profile_table : pandas.DataFrame
        :func:`radial_profile_table` output (one or several units).
    ax : Axes, optional
    unit : str, optional
        Which unit to draw (default the table's first); ``psf_fwhm`` also marks 1 FWHM.
    colors : mapping, optional
        Colour per group or class (default :func:`class_colors`); groups containing
        ``"no point source"`` are dashed orange.

    Returns
    -------
    Axes
    """
    if profile_table.empty:
        raise AgnbenchError("empty radial profile table; nothing to plot")
    unit = unit or str(profile_table["unit"].iloc[0])
    table = profile_table[profile_table["unit"] == unit]
    if table.empty:
        raise AgnbenchError(f"radial profile table has no unit {unit!r} "
                            f"(units: {sorted(profile_table['unit'].unique())})")
    groups = [str(g) for g in pd.unique(table["group"])]
    colors = dict(colors or class_colors([g.split(",")[0].strip() for g in groups]))
    ax = make_axes(ax)
    for g in groups:
        part = table[table["group"] == g]
        style = _group_style(g, colors)
        n = int(part["n"].max())
        ax.plot(part["r_mid"], part["density"], marker="o", ms=2, label=f"{g} (n = {n})", **style)
        lo, hi = part["density"] - part["sem"], part["density"] + part["sem"]
        ax.fill_between(part["r_mid"], lo.clip(lower=1e-6), hi, color=style["color"], alpha=0.2, lw=0)
    if unit == "psf_fwhm":
        ax.axvline(1.0, color="0.5", lw=0.6, ls=":")
    ax.axhline(1.0, color="0.7", lw=0.5, zorder=0)
    ax.set_yscale("log")
    ax.set_xlim(0, float(table["r_hi"].max()))
    ax.set_xlabel(_UNIT_LABELS.get(unit, f"radius ({unit})"))
    ax.set_ylabel("|IG| surface density\n(relative to uniform)")
    ax.legend(loc="upper right")
    return ax


def occlusion_ring_table(drops: np.ndarray, groups: Sequence[str], rings: pd.DataFrame) -> pd.DataFrame:
    """Mean probability drop per equal-area ring and group of objects, with its standard error.

    Parameters
    ----------
    drops : numpy.ndarray, shape (n, R)
        ``drop_ring<j>`` of each object (``objects.parquet`` ``occlusion_drop_ring<j>``), ring 1 first.
    groups : sequence of str, length n
        Group of each object.
    rings : pandas.DataFrame
        R rows: ``ring``, ``n_pixels``, ``r_inner_pix``, ``r_outer_pix``.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``ring``, ``n_pixels``, ``r_inner_pix``, ``r_outer_pix``, ``mean_drop``, ``sem``, ``n`` (objects),
        ``mean_drop_per_kpix`` (mean drop per 1000 occluded pixels).
    """
    drops = np.asarray(drops, dtype=np.float64)
    groups = np.asarray(groups).astype(str)
    if drops.ndim != 2 or drops.shape != (groups.size, len(rings)):
        raise AgnbenchError(f"drops must be (n objects, {len(rings)} rings) with one group per object; got "
                            f"{drops.shape}, {groups.size} groups")
    parts = []
    for g in pd.unique(groups):
        d = drops[groups == g]
        m = np.isfinite(d).sum(axis=0)
        mean = np.where(m > 0, np.nansum(d, axis=0) / np.maximum(m, 1), np.nan)
        sd = np.sqrt(np.nansum((d - mean) ** 2, axis=0) / np.maximum(m - 1, 1))
        part = rings[["ring", "n_pixels", "r_inner_pix", "r_outer_pix"]].copy()
        part.insert(0, "group", g)
        part["mean_drop"], part["sem"], part["n"] = mean, np.where(m > 1, sd / np.sqrt(np.maximum(m, 1)), np.nan), m
        part["mean_drop_per_kpix"] = mean / part["n_pixels"].to_numpy() * 1000.0
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def plot_occlusion_rings(ring_table: pd.DataFrame, *, ax: Axes | None = None,
                         colors: Mapping[str, str] | None = None, psf_fwhm_pix: float | None = None) -> Axes:
    """Mean drop in the explained class's probability per equal-area ring, one line per group, ±1 standard error.

    Parameters
    ----------
    ring_table : pandas.DataFrame
        :func:`occlusion_ring_table` output; each ring is drawn at the midpoint of its radii (pixels).
    ax : Axes, optional
    colors : mapping, optional
        Colour per group or class (groups containing ``"no point source"`` are dashed orange).
    psf_fwhm_pix : float, optional
        Marks 1 PSF FWHM.

    Returns
    -------
    Axes
    """
    if ring_table.empty:
        raise AgnbenchError("empty occlusion ring table; nothing to plot")
    groups = [str(g) for g in pd.unique(ring_table["group"])]
    colors = dict(colors or class_colors([g.split(",")[0].strip() for g in groups]))
    ax = make_axes(ax)
    for g in groups:
        part = ring_table[ring_table["group"] == g]
        mid = (part["r_inner_pix"] + part["r_outer_pix"]) / 2
        style = _group_style(g, colors)
        ax.errorbar(mid, part["mean_drop"], yerr=part["sem"], marker="o", ms=2.5, capsize=1.5, lw=0.8,
                    label=f"{g} (n = {int(part['n'].max())})", **style)
    if psf_fwhm_pix:
        ax.axvline(psf_fwhm_pix, color="0.5", lw=0.6, ls=":")
    ax.axhline(0.0, color="0.7", lw=0.5, zorder=0)
    ax.set_xlabel("ring radius (pixels; equal-area rings)")
    ax.set_ylabel("mean drop in p(explained class)")
    ax.legend(loc="upper right")
    return ax


def plot_cross_track(scores_table: pd.DataFrame, correlations: pd.DataFrame, *, axes: Sequence[Axes] | None = None,
                     label_col: str = "true_class", positive: str = "positive class", scale: str = "logit",
                     colors: Mapping[str, str] | None = None, clip: float = 1e-4) -> np.ndarray:
    """Pairwise scatter of the runs' scores (probability of ``positive``) on the same objects, coloured by true class.

    Parameters
    ----------
    scores_table : pandas.DataFrame
        ``scores.parquet`` of ``agnbench explain --compare`` (``object_id`` and one probability column
        per run) plus ``label_col``, the true class name of each object.
    correlations : pandas.DataFrame
        ``correlations.csv``: ``run_a``, ``run_b``, ``spearman``, ``n``; one panel per row.
    axes : sequence of Axes, optional
        One per pair (default: a new page-width row of square panels).
    positive : str
        The scored class, for the axis labels.
    scale : {"logit", "linear"}
        Axis scale of the probabilities (logit spreads the scores piled up near 0 and 1).
    colors : mapping, optional
        Colour per class.
    clip : float
        Probabilities are clipped to ``[clip, 1 - clip]`` for the logit axes.

    Returns
    -------
    numpy.ndarray of Axes
    """
    pairs = list(correlations[["run_a", "run_b"]].itertuples(index=False, name=None))
    missing = sorted({r for p in pairs for r in p} - set(scores_table.columns))
    if not pairs or missing:
        raise AgnbenchError(f"cross-track scores lack the runs {missing} named in correlations" if missing
                            else "no pair of runs in the correlations table; nothing to plot")
    if axes is None:
        _, axes = new_figure("page", aspect=1.0 / max(len(pairs), 2), ncols=len(pairs))
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    labels = scores_table[label_col].astype(str) if label_col in scores_table.columns else pd.Series(
        "all", index=scores_table.index)
    classes = [str(c) for c in pd.unique(labels)]
    colors = dict(colors or class_colors(classes))
    for ax, row in zip(axes, correlations.itertuples(index=False)):
        for c in classes:
            sel = (labels == c).to_numpy()
            x = np.clip(scores_table.loc[sel, row.run_a].to_numpy(np.float64), clip, 1 - clip)
            y = np.clip(scores_table.loc[sel, row.run_b].to_numpy(np.float64), clip, 1 - clip)
            ax.scatter(x, y, s=3, color=colors.get(c, "k"), alpha=0.6, linewidths=0, label=c, rasterized=True)
        ax.plot([clip, 1 - clip], [clip, 1 - clip], color="0.6", lw=0.5, zorder=0)
        ax.set_xscale(scale)
        ax.set_yscale(scale)
        lim = (clip / 2, 1 - clip / 2) if scale == "logit" else (0, 1)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        if scale == "logit":
            ticks = [t for t in _LOGIT_TICKS if clip <= t <= 1 - clip]
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_ticks(ticks, [f"{t:g}" for t in ticks])
                axis.set_minor_locator(NullLocator())
        ax.set_aspect("equal")
        ax.text(0.04, 0.96, f"Spearman ρ = {row.spearman:.2f}\nn = {int(row.n)}", transform=ax.transAxes,
                va="top", ha="left", fontsize=6, bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1})
        ax.set_xlabel(f"{row.run_a}: p({positive})")
        ax.set_ylabel(f"{row.run_b}: p({positive})")
    axes[0].legend(loc="best", title="true class", markerscale=2)
    return axes


def plot_score_drivers(drivers: pd.DataFrame, *, ax: Axes | None = None,
                       colors: Mapping[str, str] | None = None, positive: str | None = None) -> Axes:
    """Spearman correlation of each run's score (probability of ``positive``) with each physical property, as a dot
    plot.

    Parameters
    ----------
    drivers : pandas.DataFrame
        ``drivers.csv``: ``run``, ``property`` (store column), ``spearman``, ``n``.
    ax : Axes, optional
    colors : mapping, optional
        Colour per run (default: an Okabe-Ito palette in run order).
    positive : str, optional
        The scored class, for the axis label.

    Returns
    -------
    Axes
    """
    if drivers.empty:
        raise AgnbenchError("empty drivers table; nothing to plot")
    runs = [str(r) for r in pd.unique(drivers["run"])]
    props = [str(p) for p in pd.unique(drivers["property"])]
    palette = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
    colors = dict(colors or {r: palette[i % len(palette)] for i, r in enumerate(runs)})
    markers = "osD^vP*X"
    ax = make_axes(ax, aspect=0.25 + 0.1 * len(props))
    step = 0.6 / max(len(runs), 1)
    for i, run in enumerate(runs):
        part = drivers[drivers["run"].astype(str) == run].set_index("property").reindex(props)
        y = np.arange(len(props))[::-1] + (i - (len(runs) - 1) / 2) * step
        ax.scatter(part["spearman"], y, color=colors.get(run, "k"), marker=markers[i % len(markers)], s=12,
                   label=run, zorder=3)
    ax.axvline(0.0, color="0.5", lw=0.6)
    ax.set_yticks(np.arange(len(props))[::-1], [feature_label(p) for p in props])
    ax.tick_params(axis="y", which="both", left=False, right=False)
    ax.set_xlim(-1, 1)
    score = f"p({positive})" if positive else "score"
    ax.set_xlabel(rf"Spearman $\rho$ ({score} vs property)")
    place_legend(ax, "below", fontsize=6)  # under the axes: the dots fill the whole range
    return ax
