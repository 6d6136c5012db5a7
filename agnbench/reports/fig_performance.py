"""Performance figures: each draws ONE table (see :mod:`agnbench.reports.curves`) on a given axes.

Every ``plot_*`` function takes the table, an optional ``ax`` (a new column-width figure when omitted), an optional
``colors`` mapping of run name to colour (:func:`agnbench.reports.display.display_colors`), and returns the axes. They use
no pyplot and change no global state, so they run headless (Agg) and users restyle them for their journal.
Composites, training curves and paired differences are in :mod:`agnbench.reports.fig_diagnostics`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from agnbench.errors import AgnbenchError
from agnbench.reports.labels import metric_label, quantity_label
from agnbench.reports.display import PALETTE
from agnbench.reports.style import axes

__all__ = ["LOG_QUANTITIES", "interval_label", "place_legend", "plot_confidence_counts", "plot_confusion", "plot_pr",
           "plot_reliability", "plot_roc", "plot_subgroup", "run_color", "wrap_title"]

#: Variables drawn on a logarithmic axis in :func:`plot_subgroup` (skewed, positive).
LOG_QUANTITIES = frozenset({"q_sn_median", "q_spec_sn"})
_GUIDE = {"color": "0.55", "lw": 0.6, "ls": ":", "zorder": 0}


def run_color(colors: Mapping[str, str] | None, run: str, i: int) -> str:
    """``colors[run]``, else the ``i``-th colour of the report palette (:data:`agnbench.reports.display.PALETTE`)."""
    return (colors or {}).get(run, PALETTE[i % len(PALETTE)])


def wrap_title(text: str, width: int = 30) -> str:
    """A panel title broken into lines of at most ``width`` characters (long display names in small panels)."""
    return textwrap.fill(str(text), width)


def place_legend(ax: Axes, legend: str | None, **kwargs) -> None:
    """Legend of ``ax``: ``None`` for none, ``"outside"`` above the axes or ``"below"`` under the axes' tick labels
    (never over data; constrained layout makes room), else a matplotlib ``loc`` such as ``"lower right"``.

    ``"below"`` is a figure legend under the figure's only axes; in a figure of several axes it falls back to
    ``"outside"`` (each panel's own legend above it).
    """
    if not legend:
        return
    if legend == "below" and len(ax.figure.axes) == 1:
        kwargs.setdefault("ncols", 1)
        ax.figure.legend(*ax.get_legend_handles_labels(), loc="outside lower left", **kwargs)
        return
    if legend == "below":
        legend = "outside"
    if legend == "outside":
        kwargs.setdefault("ncols", 1)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), borderaxespad=0.0, **kwargs)
    else:
        ax.legend(loc=legend, **kwargs)


def _runs(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["run"]))


def interval_label(summary: pd.DataFrame | None, run: str, metric: str, fallback: tuple | None = None,
                   digits: int = 3) -> str:
    """``"run  est [lo, hi]"`` from ``summary.csv`` (metric, run, estimate, lo, hi), else from ``fallback``."""
    est = lo = hi = np.nan
    if summary is not None:
        row = summary[(summary["run"] == run) & (summary["metric"] == metric)]
        if len(row):
            est, lo, hi = (float(row.iloc[0][c]) for c in ("estimate", "lo", "hi"))
    if not np.isfinite(est) and fallback is not None:
        est, lo, hi = (float(v) for v in fallback)
    if not np.isfinite(est):
        return run
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{run}  {est:.{digits}f}"
    return f"{run}  {est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _one_class(table: pd.DataFrame, cls: str | None, what: str) -> tuple[pd.DataFrame, str]:
    classes = list(dict.fromkeys(table["class"]))
    if cls is None:
        if len(classes) != 1:
            raise AgnbenchError(f"the {what} table holds one-vs-rest curves of {classes}: pass cls= to pick one")
        cls = classes[0]
    if cls not in classes:
        raise AgnbenchError(f"no {what} curve for class {cls!r} (classes: {classes})")
    return table[table["class"] == cls], cls


def _ci_title(table: pd.DataFrame, what: str) -> str:
    conf = table["confidence"].dropna()
    return f"{what} [{100 * float(conf.iloc[0]):.0f}% CI]" if len(conf) else what


def plot_roc(table: pd.DataFrame, *, ax: Axes | None = None, colors: Mapping[str, str] | None = None,
             summary: pd.DataFrame | None = None, cls: str | None = None, bands: bool = True,
             legend: str | None = "below") -> Axes:
    """ROC curves (exact) with bootstrap bands, one colour per run.

    Parameters
    ----------
    table : pandas.DataFrame
        The ``"roc"`` table of :func:`agnbench.reports.curves.curve_tables`.
    summary : pandas.DataFrame, optional
        ``summary.csv``; binary legends then quote its ``roc_auc`` estimate and interval (the headline numbers).
        One-vs-rest curves (or runs absent from it) quote the table's own AUC and band.
    cls : str, optional
        Class of the curve (needed when the table holds several one-vs-rest classes).
    bands : bool, default True
        Shade the percentile band of TPR at each FPR.
    legend : str or None, default "below"
        Where the legend goes (:func:`place_legend`): below the axes, so long run names never cover a curve.
    """
    ax = axes(ax, aspect=0.9)
    t, cls = _one_class(table, cls, "ROC")
    binary = table["class"].nunique() == 1
    ax.plot([0, 1], [0, 1], **_GUIDE)
    for i, run in enumerate(_runs(t)):
        c = run_color(colors, run, i)
        band, curve = t[(t["run"] == run) & (t["kind"] == "band")], t[(t["run"] == run) & (t["kind"] == "curve")]
        if bands and len(band):
            ax.fill_between(band["fpr"], band["tpr_lo"], band["tpr_hi"], color=c, alpha=0.2, lw=0)
        first = curve.iloc[0] if len(curve) else band.iloc[0]
        label = interval_label(summary if binary else None, run, "roc_auc",
                               (first["auc"], first["auc_lo"], first["auc_hi"]))
        ax.plot(curve["fpr"], curve["tpr"], color=c, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate")
    title = _ci_title(t, "ROC AUC") if binary else f"{cls} vs rest: {_ci_title(t, 'ROC AUC')}"
    if not binary and not legend:
        ax.set_title(f"{cls} vs rest")
    place_legend(ax, legend, title=title, alignment="right" if legend == "lower right" else "left")
    return ax


def plot_pr(table: pd.DataFrame, *, ax: Axes | None = None, colors: Mapping[str, str] | None = None,
            summary: pd.DataFrame | None = None, cls: str | None = None, bands: bool = True,
            legend: str | None = "below") -> Axes:
    """Precision-recall curves (exact, step-wise) with bootstrap bands and the prevalence (no-skill) line.

    Parameters
    ----------
    table : pandas.DataFrame
        The ``"pr"`` table of :func:`agnbench.reports.curves.curve_tables`.
    summary : pandas.DataFrame, optional
        ``summary.csv``; binary legends then quote its ``pr_auc`` (average precision) and interval.
    cls : str, optional
        As in :func:`plot_roc`.
    bands : bool, default True
    legend : str or None, default "below"
        Where the legend goes (:func:`place_legend`); PR curves can fill the whole square.
    """
    ax = axes(ax, aspect=0.9)
    t, cls = _one_class(table, cls, "precision-recall")
    binary = table["class"].nunique() == 1
    prevalence = float(t["prevalence"].iloc[0])
    ax.axhline(prevalence, **_GUIDE, label=f"prevalence {prevalence:.2f}")
    for i, run in enumerate(_runs(t)):
        c = run_color(colors, run, i)
        band, curve = t[(t["run"] == run) & (t["kind"] == "band")], t[(t["run"] == run) & (t["kind"] == "curve")]
        if bands and len(band):
            ax.fill_between(band["recall"], band["precision_lo"], band["precision_hi"], color=c, alpha=0.2, lw=0)
        first = curve.iloc[0] if len(curve) else band.iloc[0]
        label = interval_label(summary if binary else None, run, "pr_auc",
                               (first["ap"], first["ap_lo"], first["ap_hi"]))
        ax.plot(curve["recall"], curve["precision"], color=c, drawstyle="steps-pre", label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall (true positive rate)", ylabel="Precision")
    title = _ci_title(t, "Average precision")
    if not binary and not legend:
        ax.set_title(f"{cls} vs rest")
    place_legend(ax, legend, title=title if binary else f"{cls} vs rest: {title}", alignment="left")
    return ax


def plot_reliability(table: pd.DataFrame, *, ax: Axes | None = None, colors: Mapping[str, str] | None = None,
                     summary: pd.DataFrame | None = None, legend: str | None = "outside",
                     counts: bool = False) -> Axes:
    """Reliability diagram: accuracy against mean confidence per bin, Wilson intervals, ECE in the legend.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`agnbench.reports.curves.reliability_table`.
    summary : pandas.DataFrame, optional
        ``summary.csv``; the legend then quotes its ``ece`` estimate and bootstrap interval, else the table's ECE.
    legend : str or None, default "outside"
        Where the legend goes (:func:`place_legend`).
    counts : bool, default False
        Write each bin's number of objects beside its point (for one run per panel: small multiples).
    """
    ax = axes(ax, aspect=0.9)
    filled = table[table["count"] > 0]
    ax.plot([0, 1], [0, 1], **_GUIDE)
    for i, run in enumerate(_runs(table)):
        d = filled[filled["run"] == run]
        label = interval_label(summary, run, "ece", (table.loc[table["run"] == run, "ece"].iloc[0], np.nan, np.nan))
        yerr = np.vstack([d["accuracy"] - d["accuracy_lo"], d["accuracy_hi"] - d["accuracy"]])
        ax.errorbar(d["mean_confidence"], d["accuracy"], yerr=yerr, color=run_color(colors, run, i), marker="o",
                    ms=2.5, lw=0.9, elinewidth=0.6, capsize=0, label=label)
        if counts:  # one row of bin counts along the bottom of the axes
            below = blended_transform_factory(ax.transData, ax.transAxes)
            for x, n in zip(d["mean_confidence"], d["count"]):
                ax.text(x, 0.03, f"{int(n)}", transform=below, ha="center", va="bottom", fontsize=5, color="0.3")
    lo = float(filled["lo_edge"].min()) if len(filled) else 0.0
    ax.set(xlim=(lo, 1.0), ylim=(max(0.0, min(lo, float(filled["accuracy_lo"].min()) if len(filled) else 0)) - 0.02,
                                  1.02),
           xlabel="Confidence (largest class probability)", ylabel="Accuracy (fraction correct)")
    pct = f"{100 * float(summary['confidence'].iloc[0]):g}% CI" if summary is not None and "confidence" in summary \
        and len(summary) else "CI"
    place_legend(ax, legend, title=f"ECE [{pct}]" if summary is not None else "ECE", alignment="left")
    return ax


def plot_confidence_counts(table: pd.DataFrame, *, ax: Axes | None = None,
                           colors: Mapping[str, str] | None = None) -> Axes:
    """Objects per confidence bin of each run (step histogram, log scale): the reliability diagram's support."""
    ax = axes(ax, aspect=0.3)
    for i, run in enumerate(_runs(table)):
        d = table[table["run"] == run]
        edges = np.r_[d["lo_edge"].to_numpy(), d["hi_edge"].iloc[-1]]
        ax.stairs(np.maximum(d["count"].to_numpy(), 0.5), edges, baseline=0.5, color=run_color(colors, run, i))
    ax.set(yscale="log", ylabel="Objects", xlabel="Confidence (largest class probability)")
    return ax


def plot_confusion(table: pd.DataFrame, *, run: str, ax: Axes | None = None, cmap: str = "Blues",
                   title: bool = True) -> Axes:
    """Confusion matrix of one run: colour is the row-normalised fraction; cells show count and percentage.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`agnbench.reports.curves.confusion_table`.
    run : str
        The run to draw.
    title : bool, default True
        Name the run above the panel (useful in multi-panel figures).
    """
    ax = axes(ax, aspect=0.9)
    d = table[table["run"] == run]
    if d.empty:
        raise AgnbenchError(f"no confusion rows for run {run!r} (runs: {_runs(table)})")
    classes = list(dict.fromkeys(d["true"]))
    k = len(classes)
    frac = d.pivot(index="true", columns="pred", values="fraction").reindex(index=classes, columns=classes)
    count = d.pivot(index="true", columns="pred", values="count").reindex(index=classes, columns=classes)
    ax.imshow(frac.to_numpy(np.float64), cmap=cmap, vmin=0, vmax=1, aspect="equal")
    for r in range(k):
        for c in range(k):
            f = frac.iat[r, c]
            text = f"{int(count.iat[r, c])}\n({100 * f:.0f}%)" if np.isfinite(f) else f"{int(count.iat[r, c])}"
            ax.text(c, r, text, ha="center", va="center", fontsize=7 if k <= 3 else 5,
                    color="white" if np.isfinite(f) and f > 0.6 else "black")
    ax.set_xticks(range(k), classes)
    ax.set_yticks(range(k), classes)
    ax.tick_params(top=False, right=False, length=0)
    ax.set(xlabel="Predicted class", ylabel="True class")
    if title:
        ax.set_title(wrap_title(run))
    return ax


def plot_subgroup(table: pd.DataFrame, *, variable: str, metric: str, ax: Axes | None = None,
                  colors: Mapping[str, str] | None = None, dodge: float = 0.012, show_n: bool = True,
                  legend: str | None = "best") -> Axes:
    """A metric per bin of a physical variable, with bootstrap intervals, one line per run.

    Parameters
    ----------
    table : pandas.DataFrame
        ``subgroups.csv`` of the comparison (variable, bin, lo_edge, hi_edge, n, run, metric, estimate, lo, hi).
    variable : str
        Store column the objects were binned by (e.g. ``z``, ``q_logmass``).
    metric : str
        One of the table's metrics (e.g. ``roc_auc``).
    dodge : float, default 0.012
        Horizontal offset between runs, as a fraction of the x range, so error bars do not overlap.
    show_n : bool, default True
        Label each bin with its number of objects on the top axis.
    legend : str or None, default "best"
        Where the legend of the runs goes (:func:`place_legend`); None when a multi-panel figure has one figure
        legend instead.

    Notes
    -----
    Points sit at the bin centres ``(lo_edge + hi_edge) / 2`` (geometric centres for the S/N variables in
    :data:`LOG_QUANTITIES`, drawn on a logarithmic axis); faint vertical lines mark the bin edges.
    """
    ax = axes(ax, aspect=0.75)
    d = table[(table["variable"] == variable) & (table["metric"] == metric) & (table["bin"] >= 0)]
    if d.empty:
        raise AgnbenchError(f"subgroups table has no rows for variable {variable!r} and metric {metric!r}")
    bins = d.drop_duplicates("bin").sort_values("bin")
    edges = np.r_[bins["lo_edge"].to_numpy(), bins["hi_edge"].iloc[-1]]
    log_x = variable in LOG_QUANTITIES and edges[0] > 0
    # bin centres; on a logarithmic axis the geometric centre, which is the visual middle of the bin
    centres = (np.sqrt(edges[:-1] * edges[1:]) if log_x else (edges[:-1] + edges[1:]) / 2)
    pos = np.log10(centres) if log_x else centres
    span = float((np.log10(edges[-1] / edges[0]) if log_x else edges[-1] - edges[0]) or 1.0)
    for e in edges:
        ax.axvline(e, color="0.85", lw=0.4, zorder=0)
    runs = _runs(d)
    for i, run in enumerate(runs):
        r = d[d["run"] == run].set_index("bin").reindex(bins["bin"])
        shifted = pos + (i - (len(runs) - 1) / 2) * dodge * span
        x = 10 ** shifted if log_x else shifted
        yerr = np.vstack([r["estimate"] - r["lo"], r["hi"] - r["estimate"]]).clip(min=0)
        ax.errorbar(x, r["estimate"], yerr=yerr, color=run_color(colors, run, i), marker="o", ms=2.5, lw=0.9,
                    elinewidth=0.6, capsize=0, label=run)
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlim=(edges[0], edges[-1]), xlabel=quantity_label(variable), ylabel=metric_label(metric))
    if show_n:
        crowded = np.min(np.diff(pos), initial=span) < 0.12 * span
        top = ax.secondary_xaxis("top")
        top.set_xticks(centres, [f"{int(v)}" for v in bins["n"]], fontsize=5.5, rotation=90 if crowded else 0)
        top.set_xticks([], minor=True)
        top.tick_params(length=0, pad=1)
        ax.tick_params(top=False, which="both")
    place_legend(ax, legend)
    return ax
