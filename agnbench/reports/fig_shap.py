"""SHAP figures of the catalog track: the summary beeswarm and per-feature dependence plots.

Both are functions of the tables ``agnbench explain`` writes into ``runs/<id>/attributions/``
(``shap.parquet``: object_id, class_out, base, one column of SHAP values per feature;
``dependence.parquet``: feature, value, shap, class_out, row) and take ``ax=`` so a user can
restyle them. Values are in the model's own output space (log-odds of the positive class for
binary XGBoost/LightGBM/logreg, the raw softmax margin for multi-class, probability for random
forests); pass that name as ``output`` so the axis says so.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from scipy.stats import rankdata

from agnbench.errors import AgnbenchError
from agnbench.reports.labels import QUANTITY_LABELS
from agnbench.reports.style import axes

log = logging.getLogger(__name__)

#: Readable names (without units) of the store's feature / quality columns, after stripping feat_/q_.
FEATURE_NAMES: dict[str, str] = {
    "petror50_r": r"$R_{50}$ ($r$)", "petror90_r": r"$R_{90}$ ($r$)", "concentration": r"$R_{90}/R_{50}$",
    "fracdev_r": r"fracDeV ($r$)", "logmass": r"$\log M_*$", "d4000_n": r"$D_n4000$", "lick_hd_a": r"H$\delta_A$",
    "v_disp": r"$\sigma_*$", "z": "redshift", "abs_r": r"$M_r$", "sn_median": "median S/N", "spec_sn": "spectrum S/N",
    "ebv_mw": r"$E(B-V)_{\rm MW}$", "r_mag": r"$r$", "log_nii_ha": r"$\log$ [NII]/H$\alpha$",
    "log_oiii_hb": r"$\log$ [OIII]/H$\beta$",
}
#: Units of those features (appended in parentheses by ``feature_label(..., units=True)``).
FEATURE_UNITS: dict[str, str] = {
    "petror50_r": "arcsec", "petror90_r": "arcsec", "logmass": r"$M_\odot$", "lick_hd_a": "Å",
    "v_disp": r"km s$^{-1}$", "abs_r": "mag", "r_mag": "mag", "ebv_mw": "mag", "sn_median": r"pixel$^{-1}$",
}
_BANDS = "ugrizy"


def feature_label(name: str, *, units: bool = False) -> str:
    """A readable axis label for a store column: ``feat_g_r`` -> ``"g − r"``, ``feat_dered_r`` -> ``"r"``.

    Parameters
    ----------
    name : str
        Column name, with or without the ``feat_`` / ``q_`` prefix; columns of
        :data:`agnbench.reports.labels.QUANTITY_LABELS` take the report's label (with units).
    units : bool
        Append the unit in parentheses where one is known (magnitudes for colours and bands).
    """
    if str(name) in QUANTITY_LABELS:  # the report's labels for store quality columns (units included)
        return QUANTITY_LABELS[str(name)]
    base = re.sub(r"^(feat_|q_)", "", str(name))
    unit = FEATURE_UNITS.get(base)
    if m := re.fullmatch(rf"([{_BANDS}])_([{_BANDS}])", base):
        text, unit = f"{m.group(1)} − {m.group(2)}", "mag"
    elif m := re.fullmatch(rf"dered_([{_BANDS}])", base):
        text, unit = f"{m.group(1)} mag", None  # "z mag", not "z" (which reads as redshift)
    else:
        text = FEATURE_NAMES.get(base, base.replace("_", " "))
    return f"{text} ({unit})" if units and unit else text


def _output_label(output: str, positive: str | None) -> str:
    if output == "log-odds":
        return f"SHAP value (log-odds{' of ' + positive if positive else ''})"
    if output == "probability":
        return f"SHAP value (probability{' of ' + positive if positive else ''})"
    return f"SHAP value ({output})"


def _pick_class(table: pd.DataFrame, class_out: int | None, what: str) -> pd.DataFrame:
    if "class_out" not in table.columns:
        return table
    present = sorted(pd.unique(table["class_out"]))
    if class_out is None:
        class_out = present[-1]
    elif class_out not in present:
        raise AgnbenchError(f"{what} has no output class {class_out} (present: {present})")
    return table[table["class_out"] == class_out]


def swarm_offsets(x: np.ndarray, *, nbins: int = 80, width: float = 0.4) -> np.ndarray:
    """Vertical offsets that spread points of one beeswarm row by their local density.

    Points are binned along ``x``; within a bin they are stacked alternately above and below the
    row centre, so a row is as thick as its densest bin. Deterministic (no random jitter).

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
        SHAP values of one feature (NaN allowed: offset 0).
    nbins : int
        Bins across the row's range.
    width : float
        Largest offset (half the row height used), in row units.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Offsets in [-width, width].
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.size)
    ok = np.flatnonzero(np.isfinite(x))
    if ok.size == 0:
        return out
    lo, hi = x[ok].min(), x[ok].max()
    bins = np.zeros(ok.size, dtype=np.int64) if hi <= lo else np.rint((x[ok] - lo) / (hi - lo) * (nbins - 1)).astype(
        np.int64)
    order = np.lexsort((x[ok], bins))
    sorted_bins = bins[order]
    first = np.searchsorted(sorted_bins, sorted_bins, side="left")
    rank = np.arange(ok.size) - first
    layer = ((rank + 1) // 2) * np.where(rank % 2 == 0, 1.0, -1.0)
    layer = layer / max(np.abs(layer).max(), 1.0) * width
    out[ok[order]] = layer
    return out


def plot_shap_beeswarm(shap_table: pd.DataFrame, feature_values: pd.DataFrame | None, *, ax: Axes | None = None,
                       top: int = 10, class_out: int | None = None, output: str = "log-odds",
                       positive: str | None = None, cmap: str = "viridis", size: float = 4.0) -> Axes:
    """SHAP summary (beeswarm): one row per feature, ranked by mean |SHAP| (largest at the top).

    Parameters
    ----------
    shap_table : pandas.DataFrame
        ``shap.parquet``: ``object_id``, ``class_out``, ``base`` and one ``feat_*`` column of SHAP
        values per feature (units of ``output``), one row per explained object and output.
    feature_values : pandas.DataFrame or None
        ``object_id`` and the same ``feat_*`` columns holding the feature values (e.g. the store's
        objects); each point is coloured by its value's rank within the feature (low -> high).
        None draws the points in one colour with no colour bar.
    ax : Axes, optional
        Where to draw (default: a new column-width figure).
    top : int
        Number of features shown.
    class_out : int, optional
        The output explained (multi-class); default the last one (the positive class of a binary run).
    output, positive : str
        The SHAP output space and class name, for the x label.
    cmap : str
        Colour map of the value rank (perceptually uniform and colour-blind safe by default).
    size : float
        Marker area (points^2).

    Returns
    -------
    Axes
    """
    table = _pick_class(shap_table, class_out, "shap table")
    features = [c for c in table.columns if c not in ("object_id", "class_out", "base")]
    if not features or table.empty:
        raise AgnbenchError("shap table has no feature columns or no rows; nothing to plot")
    if top < 1:
        raise AgnbenchError(f"top must be >= 1, got {top}")
    values = table[features].to_numpy(np.float64)
    strength = np.nanmean(np.abs(values), axis=0)
    order = np.argsort(-strength, kind="stable")[:top]
    colours = None
    if feature_values is not None:
        fv = (feature_values.assign(object_id=feature_values["object_id"].astype(str)).drop_duplicates("object_id")
              .set_index("object_id").reindex(table["object_id"].astype(str).to_numpy()))
        if fv[[f for f in features if f in fv.columns]].isna().all().all():
            log.warning("no explained object found among the feature values; drawing without colours")
        else:
            colours = fv
    ax = axes(ax, aspect=0.25 + 0.08 * len(order))
    norm = Normalize(0.0, 1.0)
    for row, j in enumerate(order):
        yc = len(order) - 1 - row  # rank 1 at the top
        x = values[:, j]
        y = yc + swarm_offsets(x)
        style = {"color": "0.35"}
        if colours is not None and features[j] in colours.columns:
            v = colours[features[j]].to_numpy(np.float64)
            rank = np.full(v.size, np.nan)
            fin = np.isfinite(v)
            if fin.sum() > 1:
                rank[fin] = (rankdata(v[fin]) - 1) / (fin.sum() - 1)
            style = {"c": rank, "cmap": cmap, "norm": norm, "plotnonfinite": True}
        ax.scatter(x, y, s=size, linewidths=0, rasterized=True, **style)
    ax.axvline(0.0, color="0.5", lw=0.6, zorder=0)
    ax.set_yticks(np.arange(len(order))[::-1], [feature_label(features[j]) for j in order])
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.tick_params(axis="y", which="both", left=False, right=False)
    ax.set_xlabel(_output_label(output, positive))
    if colours is not None:
        bar = ax.figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02, aspect=30, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value", labelpad=-6)
        bar.outline.set_linewidth(0.4)
    return ax


def plot_shap_dependence(dependence_table: pd.DataFrame, feature: str, *, ax: Axes | None = None,
                         class_out: int | None = None, output: str = "log-odds", positive: str | None = None,
                         color: str = "#0072B2", nbins: int = 12) -> Axes:
    """SHAP dependence: a feature's SHAP value against its value, with the binned median.

    Parameters
    ----------
    dependence_table : pandas.DataFrame
        ``dependence.parquet``: ``feature``, ``value`` (feature value, store units), ``shap`` (units
        of ``output``), ``class_out``.
    feature : str
        The feature (``feat_*`` name).
    ax : Axes, optional
    class_out : int, optional
        The output explained; default the last one.
    output, positive : str
        For the y label.
    color : str
        Point colour.
    nbins : int
        Quantile bins of the running median (drawn when there are >= 3 points per bin).

    Returns
    -------
    Axes
    """
    table = _pick_class(dependence_table, class_out, "dependence table")
    part = table[table["feature"] == feature]
    if part.empty:
        known = sorted(pd.unique(table["feature"]))
        raise AgnbenchError(f"dependence table has no rows for {feature!r} (features: {', '.join(known)})")
    ax = axes(ax)
    x, y = part["value"].to_numpy(np.float64), part["shap"].to_numpy(np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=3, color=color, alpha=0.5, linewidths=0, rasterized=True)
    if ok.sum() >= 3 * nbins:
        edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, nbins + 1)))
        idx = np.clip(np.searchsorted(edges, x[ok], side="right") - 1, 0, edges.size - 2)
        mids = [np.median(x[ok][idx == b]) for b in range(edges.size - 1) if (idx == b).any()]
        meds = [np.median(y[ok][idx == b]) for b in range(edges.size - 1) if (idx == b).any()]
        ax.plot(mids, meds, color="k", lw=1.0, label="binned median")
    ax.axhline(0.0, color="0.5", lw=0.6, zorder=0)
    ax.set_xlabel(feature_label(feature, units=True))
    ax.set_ylabel(_output_label(output, positive))
    return ax


def plot_group_importance(group_table: pd.DataFrame, *, ax: Axes | None = None, class_out: int | None = None,
                          output: str = "log-odds", positive: str | None = None, color: str = "#0072B2") -> Axes:
    """Grouped SHAP importance: one bar per feature group, mean |sum of the group's SHAP values| over objects.

    Parameters
    ----------
    group_table : pandas.DataFrame
        ``importance_groups.csv`` (:func:`~agnbench.interpretability.feature_groups.group_importance`):
        ``class_out``, ``group``, ``mean_abs_group_shap``, ``sum_mean_abs_shap``, ``n_features``.
    ax : Axes, optional
    class_out : int, optional
        The output explained; default the last one.
    output, positive : str
        For the x label.
    color : str
        Bar colour; open diamonds mark each group's sum of per-feature mean |SHAP| (equal to the bar only
        when the members never cancel; say so in the caption, the axes carry no legend).

    Returns
    -------
    Axes
    """
    table = _pick_class(group_table, class_out, "group importance table")
    if table.empty:
        raise AgnbenchError("group importance table has no rows; nothing to plot")
    table = table.sort_values("mean_abs_group_shap", ascending=False, kind="stable")
    ax = axes(ax, aspect=0.2 + 0.08 * len(table))
    y = np.arange(len(table))[::-1]
    ax.barh(y, table["mean_abs_group_shap"], color=color, height=0.6)
    ax.scatter(table["sum_mean_abs_shap"], y, marker="D", s=10, facecolors="none", edgecolors="k", lw=0.6, zorder=3)
    ax.set_yticks(y, [f"{g} ({int(n)})" for g, n in zip(table["group"], table["n_features"])])
    ax.tick_params(axis="y", which="both", left=False, right=False)
    ax.set_xlim(0, None)
    unit = _output_label(output, positive).removeprefix("SHAP value ")
    ax.set_xlabel(f"mean |summed SHAP| per group {unit}")
    return ax
