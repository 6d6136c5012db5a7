"""Error analysis: the objects a run got most confidently wrong, as a table and as galleries.

:func:`confident_mistakes` picks them from a run's predictions (Contract 2) and adds their physical
properties from the store; :func:`plot_image_gallery` shows their grz cutouts with one display
stretch for every panel, :func:`plot_spectrum_gallery` their spectra with the diagnostic lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from agnbench.errors import AgnbenchError
from agnbench.reports.fig_common import Stretch, gallery_stretch, grz_rgb, mark_lines
from agnbench.reports.style import new_figure

log = logging.getLogger(__name__)

#: Store columns copied into the mistakes table (those present), for follow-up.
MISTAKE_PROPERTIES = ("ra", "dec", "z", "q_logmass", "q_g_r", "q_d4000_n", "q_sn_median", "bpt_class", "spec_row",
                      "image_row")


def confident_mistakes(predictions: pd.DataFrame, *, split: str, k: int, classes: Sequence[str],
                       objects: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``k`` wrong predictions with the highest probability on a wrong class.

    A mistake is a labelled object (``y_true >= 0``) with ``y_pred != y_true``; its confidence is
    the largest probability it gives to any class other than its true one. Ties are broken by
    ``object_id`` so the choice is reproducible.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Contract 2 rows: ``object_id``, ``split``, ``y_true``, ``y_pred``, ``p_<class>``.
    split : str
        Split to search (normally the comparison's, ``test``).
    k : int
        Number of mistakes returned (fewer if the run made fewer).
    classes : sequence of str
        Class names in label order (``p_<class>`` columns).
    objects : pandas.DataFrame, optional
        The store's objects; :data:`MISTAKE_PROPERTIES` present there are joined on ``object_id``.

    Returns
    -------
    pandas.DataFrame
        ``rank`` (1 = most confident), ``object_id``, ``true``, ``predicted``, ``p`` (highest wrong-class
        probability), ``p_true`` (probability of the true class), then the store properties.
    """
    if k < 1:
        raise AgnbenchError(f"k must be >= 1, got {k}")
    cols = [f"p_{c}" for c in classes]
    if missing := [c for c in ("object_id", "split", "y_true", "y_pred", *cols) if c not in predictions.columns]:
        raise AgnbenchError(f"predictions lack column(s) {missing} (Contract 2: object_id, split, y_true, y_pred, "
                            f"p_<class>)")
    df = predictions[(predictions["split"] == split) & (predictions["y_true"] >= 0)]
    if df.empty:
        raise AgnbenchError(f"no labelled prediction in split {split!r}")
    p = df[cols].to_numpy(np.float64)
    yt, yp = df["y_true"].to_numpy(np.int64), df["y_pred"].to_numpy(np.int64)
    if yt.max() >= len(classes) or yp.max() >= len(classes) or yp.min() < 0:
        raise AgnbenchError(f"y_true / y_pred outside the {len(classes)} classes {list(classes)}")
    wrong_p = p.copy()
    wrong_p[np.arange(len(df)), yt] = -np.inf
    conf = wrong_p.max(axis=1)
    names = np.asarray(classes, dtype=object)
    table = pd.DataFrame({"object_id": df["object_id"].astype(str).to_numpy(), "true": names[yt],
                          "predicted": names[yp], "p": conf, "p_true": p[np.arange(len(df)), yt]})
    table = table[yp != yt].sort_values(["p", "object_id"], ascending=[False, True], kind="stable").head(k)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    if objects is not None:
        keep = [c for c in MISTAKE_PROPERTIES if c in objects.columns]
        props = objects.assign(object_id=objects["object_id"].astype(str))[["object_id", *keep]]
        n = len(table)
        table = table.merge(props, on="object_id", how="left", validate="one_to_one")
        assert len(table) == n, "joining the store's objects changed the number of mistakes"
        if (lost := table[keep[0]].isna().sum() if keep else 0):
            log.warning("%d of the mistakes are not in the store's objects; their properties are empty", lost)
    return table.reset_index(drop=True)


def _grid(n: int, ncols: int, aspect_per_row: float, axes):
    if axes is None:
        nrows = int(np.ceil(n / ncols))
        _, axes = new_figure("page", aspect=aspect_per_row * nrows, nrows=nrows, ncols=ncols)
    flat = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    if flat.size < n:
        raise AgnbenchError(f"{n} panels need at least {n} axes; got {flat.size}")
    for a in flat[n:]:
        a.set_axis_off()
    return flat


def plot_image_gallery(cutouts: np.ndarray, titles: Sequence[str], *, axes: Sequence[Axes] | None = None,
                       stretch: Stretch | None = None, ncols: int = 4) -> np.ndarray:
    """grz composites (red = z, green = r, blue = g) with ONE display stretch for every panel.

    Parameters
    ----------
    cutouts : numpy.ndarray, shape (n, 3, H, W)
        grz cutouts (the store's asinh-scaled values); a cutout that is all NaN is a missing image
        and its panel says so.
    titles : sequence of str, length n
        Panel titles (object ids).
    axes : sequence of Axes, optional
        At least ``n`` axes (default: a page-width grid of ``ncols`` columns).
    stretch : Stretch, optional
        The stretch; default :func:`~agnbench.reports.fig_common.gallery_stretch` of all the cutouts
        shown, computed once. Say which in the caption (:meth:`Stretch.describe`).
    ncols : int
        Columns of the default grid.

    Returns
    -------
    numpy.ndarray of Axes
    """
    cutouts = np.asarray(cutouts)
    if cutouts.ndim != 4 or cutouts.shape[1] != 3 or len(titles) != cutouts.shape[0] or cutouts.shape[0] == 0:
        raise AgnbenchError(f"need (n >= 1, 3, H, W) grz cutouts and n titles; got {cutouts.shape}, "
                            f"{len(titles)} titles")
    present = np.isfinite(cutouts.astype(np.float64)).any(axis=(1, 2, 3))
    if stretch is None:
        if not present.any():
            raise AgnbenchError("none of the gallery's cutouts has an image")
        stretch = gallery_stretch(cutouts[present])
    flat = _grid(len(cutouts), min(ncols, len(cutouts)), 0.27, axes)
    for ax, cut, title, ok in zip(flat, cutouts, titles, present):
        if ok:
            ax.imshow(grz_rgb(cut, stretch), origin="lower", interpolation="nearest")
        else:
            ax.text(0.5, 0.5, "no image", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_title(str(title), fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    return flat


def plot_spectrum_gallery(wave: np.ndarray, flux: np.ndarray, titles: Sequence[str], *,
                          axes: Sequence[Axes] | None = None, ivar: np.ndarray | None = None, ncols: int = 2,
                          color: str = "k", frame: str = "rest") -> np.ndarray:
    """Spectra against rest wavelength, one panel each, with the diagnostic lines marked.

    Parameters
    ----------
    wave : numpy.ndarray, shape (L,)
        Rest wavelength (Å).
    flux : numpy.ndarray, shape (n, L)
        Normalised flux (store rows); an all-NaN row is a missing spectrum.
    titles : sequence of str, length n
    axes : sequence of Axes, optional
        At least ``n`` axes (default: a page-width grid of ``ncols`` columns).
    ivar : numpy.ndarray, shape (n, L), optional
        Pixels with ``ivar <= 0`` are not drawn.
    ncols : int
    color : str
    frame : {"rest", "observed"}
        The store's spectra frame: the axis label; the rest-frame lines are marked only in the rest frame.

    Returns
    -------
    numpy.ndarray of Axes
    """
    wave = np.asarray(wave, dtype=np.float64)
    flux = np.array(flux, dtype=np.float64)
    if flux.ndim != 2 or flux.shape[1] != wave.size or len(titles) != flux.shape[0] or flux.shape[0] == 0:
        raise AgnbenchError(f"need (n >= 1, {wave.size}) fluxes and n titles; got {flux.shape}, {len(titles)} titles")
    if ivar is not None:
        flux[np.asarray(ivar) <= 0] = np.nan
    ncols = min(ncols, len(flux))
    flat = _grid(len(flux), ncols, 0.4 / ncols, axes)
    for i, (ax, f, title) in enumerate(zip(flat, flux, titles)):
        ok = np.isfinite(f)
        if ok.any():
            ax.plot(wave, f, color=color, lw=0.4)
            lo, hi = np.percentile(f[ok], 0.5), f[ok].max()  # full line peaks: they are the evidence
            pad = 0.05 * (hi - lo or 1.0)
            ax.set_ylim(lo - pad, hi + (9 if i < ncols else 1) * pad)  # headroom for the line labels on the top row
        else:
            ax.text(0.5, 0.5, "no spectrum", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_xlim(wave.min(), wave.max())
        if frame == "rest":
            mark_lines(ax, labels=i < ncols, bands=False)
        ax.set_title(str(title), fontsize=6)
        if i >= len(flux) - ncols:
            ax.set_xlabel(f"{frame} wavelength (Å)")
        if i % ncols == 0:
            ax.set_ylabel("normalised flux")
    return flat
