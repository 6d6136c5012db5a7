"""Training curves, paired bootstrap differences and BPT composites: each draws ONE table on a given axes.

Tables come from :mod:`agnbench.reports.perf_tables` (and ``ood.csv``); like
:mod:`agnbench.reports.fig_performance`, no pyplot and no global state.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.ticker import MaxNLocator

from agnbench.data_prep.bpt import kauffmann03, kewley01
from agnbench.errors import AgnbenchError
from agnbench.reports.fig_performance import place_legend, run_color, wrap_title
from agnbench.reports.labels import metric_label, quantity_label
from agnbench.reports.style import axes

__all__ = ["bpt_scatter", "kauffmann03", "kewley01", "plot_bpt", "plot_deltas", "plot_ood_fractions", "plot_training"]


def plot_training(table: pd.DataFrame, *, run: str, ax: Axes | None = None, colors: Mapping[str, str] | None = None,
                  what: str = "loss", title: bool = True, legend: str | None = "best") -> Axes:
    """One run's training curve: losses (train solid, validation dashed) or the validation score, kept step marked.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`agnbench.reports.perf_tables.training_table` (one or several runs).
    run : str
    what : {"loss", "score"}
        ``loss``: train_loss and val_loss; ``score``: val_score (deep runs only).
    title : bool, default True
        Name the run above the panel.
    legend : str or None, default "best"
        Where the legend goes (:func:`~agnbench.reports.fig_performance.place_legend`).
    """
    ax = axes(ax, aspect=0.75)
    d = table[table["run"] == run]
    if d.empty:
        raise AgnbenchError(f"no training history rows for run {run!r}")
    c = run_color(colors, run, 0)
    series = {"loss": [("train_loss", "-", "train"), ("val_loss", "--", "validation")],
              "score": [("val_score", "-", "validation")]}.get(what)
    if series is None:
        raise AgnbenchError(f"what must be 'loss' or 'score', not {what!r}")
    for name, ls, label in series:
        s = d[d["series"] == name]
        if len(s):
            ax.plot(s["step"], s["value"], color=c, ls=ls, label=label)
    best = float(d["best_step"].iloc[0])
    if np.isfinite(best):
        ax.axvline(best, color="0.4", lw=0.6, ls=":", label=f"kept ({d['step_name'].iloc[0]} {best:g})")
    step = d["step_name"].iloc[0]
    if what == "loss":
        ylabel = "Cross-entropy loss" if step == "epoch" else "Log-loss (class-weighted)"
    else:
        ylabel = f"Validation {metric_label(str(d['score_name'].iloc[0]) or 'score')}"
    ax.set(xlabel="Epoch" if step == "epoch" else "Boosting round", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(wrap_title(run))
    place_legend(ax, legend)
    return ax


def plot_deltas(table: pd.DataFrame, *, metric: str, ax: Axes | None = None, color: str = "0.7") -> Axes:
    """Paired bootstrap distributions of ``metric(A) - metric(B)``, one row per pair, with the zero line.

    Each row is the histogram of the differences (scaled to a common height), a black bar for its percentile
    interval and a tick at the full-sample difference; the row label quotes delta [lo, hi] and the Holm-corrected
    p-value of the paired bootstrap test (from ``tests.csv``).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`agnbench.reports.perf_tables.delta_table`.
    metric : str
    """
    ax = axes(ax, aspect=0.6)
    d = table[table["metric"] == metric]
    if d.empty:
        raise AgnbenchError(f"no paired differences of {metric!r} in the table "
                            f"(metrics: {sorted(set(table['metric']))})")
    pairs = list(dict.fromkeys(zip(d["run_a"], d["run_b"])))
    labels = []
    for i, (a, b) in enumerate(pairs[::-1]):
        p = d[(d["run_a"] == a) & (d["run_b"] == b)]
        h = 0.8 * p["count"].to_numpy(np.float64) / max(float(p["count"].max()), 1.0)
        edges = np.r_[p["bin_lo"].to_numpy(), p["bin_hi"].iloc[-1]]
        ax.stairs(i + h, edges, baseline=i, fill=True, color=color, lw=0)
        row = p.iloc[0]
        ax.plot([row["lo"], row["hi"]], [i - 0.08, i - 0.08], color="k", lw=1.4, solid_capstyle="butt")
        ax.plot([row["delta"]], [i - 0.08], marker="|", ms=6, mew=1.2, color="k")
        text = f"{row['delta']:+.3f} [{row['lo']:+.3f}, {row['hi']:+.3f}]".replace("-", "\N{MINUS SIGN}")
        labels.append(f"{wrap_title(a, 45)}\n\N{MINUS SIGN} {wrap_title(b, 45)}\n{text}, "
                      f"$p_{{\\rm Holm}}$ = {row['p_holm']:.2g}")
    ax.axvline(0.0, color="k", lw=0.6, ls="--", zorder=0)
    ax.set_yticks(np.arange(len(pairs)) + 0.3, labels, fontsize=6)
    ax.tick_params(axis="y", length=0)
    ax.set(ylim=(-0.3, len(pairs)), xlabel=f"Paired difference in {metric_label(metric)} (A \N{MINUS SIGN} B)")
    return ax


def plot_bpt(table: pd.DataFrame, *, run: str, positive: str, ax: Axes | None = None, cmap: str = "viridis",
             colorbar: bool = True, demarcation: bool = True, size: float = 4.0, title: bool = True,
             legend: str | None = "upper right") -> Axes:
    """The BPT plane of the composites, coloured by one run's probability of ``positive`` (fixed scale 0-1).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`agnbench.reports.perf_tables.bpt_table`.
    run : str
    positive : str
        The class whose probability colours the points (for the colour-bar label).
    colorbar : bool, default True
        Add a colour bar beside ``ax`` (multi-panel figures add one shared bar instead: the scatter is the
        axes' first :class:`~matplotlib.collections.PathCollection`).
    demarcation : bool, default True
        Draw the Kauffmann et al. (2003, dashed) and Kewley et al. (2001, solid) lines.
    legend : str or None, default "upper right"
        Where the legend of the lines goes (above the Kewley line: the AGN corner, empty of composites).
    """
    ax = axes(ax, aspect=0.9)
    d = table[table["run"] == run]
    if d.empty:
        raise AgnbenchError(f"no BPT rows for run {run!r}")
    order = np.argsort(np.abs(d["score"].to_numpy() - 0.5))  # confident points last, on top
    sc = ax.scatter(d["log_nii_ha"].to_numpy()[order], d["log_oiii_hb"].to_numpy()[order],
                    c=d["score"].to_numpy()[order], cmap=cmap, vmin=0.0, vmax=1.0, s=size, lw=0, rasterized=True)
    x0, x1 = np.nanpercentile(d["log_nii_ha"], [0.5, 99.5])
    y0, y1 = np.nanpercentile(d["log_oiii_hb"], [0.5, 99.5])
    xlim = (max(-2.0, x0 - 0.3), min(1.0, x1 + 0.3))
    ylim = (max(-1.5, y0 - 0.3), min(1.5, y1 + 0.3))
    if demarcation:
        x = np.linspace(xlim[0], min(xlim[1], 0.04), 200)
        ax.plot(x, kauffmann03(x), color="k", lw=0.8, ls="--", label="Kauffmann+03")
        x = np.linspace(xlim[0], min(xlim[1], 0.46), 200)
        ax.plot(x, kewley01(x), color="k", lw=0.8, label="Kewley+01")
        place_legend(ax, legend)
    ax.set(xlim=xlim, ylim=ylim, xlabel=quantity_label("q_log_nii_ha"), ylabel=quantity_label("q_log_oiii_hb"))
    if title:
        ax.set_title(wrap_title(run))
    if colorbar:
        ax.figure.colorbar(sc, ax=ax, label=f"$p$({positive})")
    return ax


def bpt_scatter(ax: Axes) -> PathCollection:
    """The scatter :func:`plot_bpt` drew on ``ax`` (for a shared colour bar)."""
    return next(c for c in ax.collections if isinstance(c, PathCollection))


def plot_ood_fractions(table: pd.DataFrame, *, ax: Axes | None = None,
                       colors: Mapping[str, str] | None = None, legend: str | None = "below") -> Axes:
    """Fraction of the composites each run puts in each class, with bootstrap intervals (grouped bars).

    Parameters
    ----------
    table : pandas.DataFrame
        ``ood.csv`` of the comparison (run, predicted_class, fraction, lo, hi, n).
    legend : str or None, default "below"
    """
    ax = axes(ax, aspect=0.6)
    classes = list(dict.fromkeys(table["predicted_class"]))
    runs = list(dict.fromkeys(table["run"]))
    width = 0.8 / max(len(runs), 1)
    for i, run in enumerate(runs):
        d = table[table["run"] == run].set_index("predicted_class").reindex(classes)
        x = np.arange(len(classes)) - 0.4 + width * (i + 0.5)
        yerr = np.vstack([d["fraction"] - d["lo"], d["hi"] - d["fraction"]]).clip(min=0)
        ax.bar(x, d["fraction"], width=width * 0.9, yerr=yerr, color=run_color(colors, run, i), label=run,
               error_kw={"elinewidth": 0.6, "capsize": 0})
    ax.set_xticks(range(len(classes)), classes)
    ax.tick_params(axis="x", length=0, top=False)
    ax.set(ylim=(0, 1), xlabel="Predicted class", ylabel="Fraction of composites")
    longest = max(map(len, runs))
    place_legend(ax, legend, ncols=min(len(runs), 3 if longest <= 12 else 2 if longest <= 24 else 1))
    return ax
