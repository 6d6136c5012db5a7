"""Build the report's performance and dataset figures: table -> CSV -> figure -> PDF + PNG, with captions.

:func:`build_performance_figures` and :func:`build_dataset_figures` compute each table from the
:class:`~agnbench.reports.report_inputs.ReportInputs`, write it as ``tables_dir/<name>.csv`` (atomically), draw it with the
``plot_*`` functions and save the figure with :func:`~agnbench.reports.style.save_figure`. A figure whose input is
absent (no subgroups table, no history, no store, no ood objects, no line ratios for the BPT plane) is skipped
through :class:`~agnbench.reports.skips.Skips` (one INFO line saying which figure and why, kept for the report's
list of what it left out), so the returned list is shorter; nothing is invented. Nothing here assumes ``feat_`` or
``q_`` columns, an ``ood`` split or the sf/agn class names.
"""

from __future__ import annotations

import logging
import math
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.bootstrap.compare_inputs import Aligned, RunPredictions, align
from agnbench.contracts.store import read_manifest, store_paths
from agnbench.errors import AgnbenchError
from agnbench.reports import fig_dataset as fd
from agnbench.reports.curves import confusion_table, curve_tables, reliability_table
from agnbench.reports.fig_diagnostics import (bpt_scatter, plot_bpt, plot_deltas, plot_ood_fractions,
                                              plot_training)
from agnbench.reports.fig_performance import (interval_label, plot_confusion, plot_pr, plot_reliability, plot_roc,
                                              plot_subgroup)
from agnbench.reports.report_inputs import COMPOSITES, ReportInputs, ood_description, store_kind
from agnbench.reports.labels import metric_label
from agnbench.reports.perf_tables import BPT_COLUMNS, bpt_table, delta_table, training_table
from agnbench.reports.skips import Skips
from agnbench.reports.display import relabel
from agnbench.reports.style import FigureRecord, journal_style, new_figure, save_figure
from agnbench.fileio import atomic_write_text

__all__ = ["build_dataset_figures", "build_performance_figures"]

log = logging.getLogger(__name__)

#: Most bootstrap replicates used for the curve bands (the comparison's n_boot when smaller).
MAX_CURVE_BOOT = 500
#: Metrics of the paired-difference and subgroup figures.
FIGURE_METRICS = ("roc_auc", "balanced_accuracy")
#: Most panels per row of a multi-panel figure.
MAX_COLS = 4
#: Tallest row of a multi-panel page-width figure, as a fraction of the width (keeps two-panel rows modest).
MAX_ROW_ASPECT = 0.32


def _write(tables_dir: Path, name: str, table: pd.DataFrame) -> str:
    """Write ``tables_dir/<name>.csv`` atomically (full precision) and return ``name``."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(tables_dir / f"{name}.csv", table.to_csv(index=False))
    return name


def _grid(n: int, *, panel_aspect: float, extra_rows: float = 0, max_cols: int = MAX_COLS,
          max_row: float = MAX_ROW_ASPECT, **kw):
    """A figure of ``n`` panels (at most :data:`MAX_COLS` per row; column width for one panel, else page width);
    returns the figure and a flat list of its ``n`` axes (spare grid cells are hidden)."""
    ncols, nrows = min(n, max_cols), math.ceil(n / max_cols)
    row = panel_aspect if ncols == 1 else min(panel_aspect / ncols, max_row)
    fig, axs = new_figure("column" if ncols == 1 else "page", aspect=row * nrows + extra_rows, nrows=nrows,
                          ncols=ncols, **kw)
    flat = list(np.asarray(axs, dtype=object).ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def _label_outer(axes: list, *, ncols: int) -> None:
    """Hide inner axis labels of a panel grid: y labels right of the first column, x labels above a panel."""
    for i, ax in enumerate(axes):
        if i % ncols:
            ax.set_ylabel("")
            ax.tick_params(labelleft=False)
        if i + ncols < len(axes):
            ax.set_xlabel("")
            ax.tick_params(labelbottom=False)


def _names(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class _Context:
    """What every caption repeats: runs, split, objects, bootstrap settings."""

    def __init__(self, inputs: ReportInputs, seed: int, n_boot: int | None) -> None:
        cc = inputs.inputs.get("compare", {}) or {}
        self.runs = [r.name for r in inputs.runs]
        self.labels = inputs.display  # run name -> display name, in every legend, title and caption
        self.colors = inputs.colors  # keyed by run name and by display name: one colour per run in every figure
        self.names = [self.labels.get(r, r) for r in self.runs]
        self.confidence = float(cc.get("confidence", 0.95))
        self.stratify = bool(cc.get("stratify", True))
        self.ece_bins = int(cc.get("ece_bins", 15))
        self.n_boot = min(int(cc.get("n_boot", MAX_CURVE_BOOT)), MAX_CURVE_BOOT) if n_boot is None else int(n_boot)
        self.seed = seed
        summary = inputs.tables["summary"]
        # the interval method of each metric's rows (compare.ci: newcombe differs between ROC AUC and the rest)
        self.summary_ci = (dict(zip(summary["metric"].astype(str), summary["ci"].astype(str)))
                           if {"ci", "metric"} <= set(summary.columns) else {})
        self.summary_boot = int(summary["n_boot"].iloc[0]) if "n_boot" in summary and len(summary) else None
        self.pct = f"{100 * self.confidence:g}%"

    def show(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with run names replaced by display names (for drawing; the CSV keeps the run names)."""
        return relabel(table, self.labels)

    def objects(self, y: np.ndarray, classes: list[str], split: str) -> str:
        counts = ", ".join(f"{int(np.sum(y == k))} {c}" for k, c in enumerate(classes))
        return f"the {split} split ({y.size} objects shared by all runs: {counts})"

    def resampling(self) -> str:
        if self.n_boot == 0:
            return "no bands (report.curve_boot = 0)"
        strat = ", stratified by true class" if self.stratify else ""
        return (f"{self.pct} paired bootstrap percentile bands ({self.n_boot} resamples{strat}; one resample "
                f"matrix shared by all runs; seed {self.seed})")

    def headline(self, metric: str, key: str) -> str:
        """Legend text for ``metric`` (display name) whose summary.csv rows are ``key`` (e.g. ``roc_auc``)."""
        boot = f"{self.summary_boot} " if self.summary_boot else ""
        ci = self.summary_ci.get(key, "percentile")
        if ci == "newcombe":  # a score interval: no bootstrap replicates in it
            return f"{metric} with its {self.pct} Newcombe score interval from summary.csv"
        return f"{metric} with its {self.pct} {ci} bootstrap interval from summary.csv ({boot}paired replicates)"


def _aligned(inputs: ReportInputs) -> Aligned:
    """The comparison split's objects shared by every run, aligned as ``agnbench compare`` aligned them."""
    runs = [RunPredictions(path=r.path, name=r.name, track=r.track, model=r.model, seed=r.seed,
                           classes=tuple(inputs.classes), data={}, preds=r.predictions) for r in inputs.runs]
    return align(runs, inputs.split)


def build_performance_figures(inputs: ReportInputs, *, figures_dir: Path, tables_dir: Path,
                              seed: int = 0, n_boot: int | None = None,
                              skips: Skips | None = None) -> list[FigureRecord]:
    """Performance, calibration, subgroup, training, test and composite figures of a comparison.

    Parameters
    ----------
    inputs : ReportInputs
        :func:`agnbench.reports.report_inputs.load_report_inputs` of the comparison.
    figures_dir, tables_dir : Path
        Where ``<name>.pdf|png`` and ``<name>.csv`` go (created if needed).
    seed : int, default 0
        Root seed of the curve-band resamples.
    n_boot : int, optional
        Replicates of the ROC/PR bands (``report.curve_boot``; 0: no bands). Default: the comparison's
        ``compare.n_boot``, at most :data:`MAX_CURVE_BOOT`.
    skips : Skips, optional
        Collects the figures skipped for want of input (and logs each once).

    Returns
    -------
    list of FigureRecord
        In report order. Figures (tables): ``roc`` / ``pr`` (roc_curves, pr_curves), ``reliability``
        (reliability), ``confusion`` (confusion), ``subgroups_<metric>`` (subgroups), ``training_loss`` /
        ``training_score`` (training), ``paired_differences`` (paired_differences), ``composites_bpt``
        (composites_bpt), ``composites_fractions`` (ood).
    """
    figures_dir, tables_dir = Path(figures_dir), Path(tables_dir)
    skips = Skips() if skips is None else skips
    ctx = _Context(inputs, seed, n_boot)
    data = _aligned(inputs)
    proba, y = data.proba, data.y_true
    where = ctx.objects(y, inputs.classes, inputs.split)
    records: list[FigureRecord] = []
    steps: list[Callable[[], list[FigureRecord]]] = [
        lambda: _curves(inputs, ctx, y, proba, where, figures_dir, tables_dir),
        lambda: _calibration(inputs, ctx, y, proba, data.y_pred, where, figures_dir, tables_dir),
        lambda: _subgroups(inputs, ctx, figures_dir, tables_dir, skips),
        lambda: _training(inputs, ctx, figures_dir, tables_dir, skips),
        lambda: _differences(inputs, ctx, where, figures_dir, tables_dir, skips),
        lambda: _composites(inputs, ctx, figures_dir, tables_dir, skips),
    ]
    for step in steps:
        with journal_style():  # drawing, not only saving, must see the journal rcParams (legend, fonts)
            records.extend(step())
    log.info("performance figures: %d written to %s", len(records), figures_dir)
    return records


Proba = dict[str, np.ndarray]


def _curves(inputs: ReportInputs, ctx: _Context, y: np.ndarray, proba: Proba, where: str, figures_dir: Path,
            tables_dir: Path) -> list[FigureRecord]:
    tables = curve_tables(y, proba, classes=inputs.classes, n_boot=ctx.n_boot, seed=ctx.seed,
                          stratify=ctx.stratify, confidence=ctx.confidence)
    summary = inputs.tables["summary"]
    binary = len(inputs.classes) == 2
    records = []
    for name, plot, what, metric, key, table_name in (
            ("roc", plot_roc, "ROC curves", "ROC AUC", "roc_auc", "roc_curves"),
            ("pr", plot_pr, "Precision-recall curves", "average precision", "pr_auc", "pr_curves")):
        table = tables[name]
        _write(tables_dir, table_name, table)
        if binary:
            fig, ax = new_figure("column", aspect=0.9)
            plot(ctx.show(table), ax=ax, colors=ctx.colors, summary=ctx.show(summary))
            of = f"of the positive class ({inputs.positive})"
            legend = f"Legend: {ctx.headline(metric, key)}."
        else:
            # two panels per row: each is a column-width panel, with room for its legend of per-class values
            fig, flat = _grid(len(inputs.classes), panel_aspect=1.15, max_cols=2, max_row=1.0)
            for ax, cls in zip(flat, inputs.classes):
                plot(ctx.show(table), ax=ax, colors=ctx.colors, cls=cls, legend="outside")
            of = "one-vs-rest for each class"
            legend = f"Legends: per-class {metric} with its {ctx.pct} band interval from the same resamples."
        grid = "TPR on a fixed grid of false-positive rates" if name == "roc" else "precision on a fixed recall grid"
        guide = "prevalence (no-skill precision)" if name == "pr" else "chance"
        shaded = f"Shaded: {ctx.resampling()} of the {grid}." if ctx.n_boot else "No bands (report.curve_boot = 0)."
        caption = (f"{what} {of} for {_names(ctx.names)} on {where}. {shaded} "
                   f"{legend} Dotted: {guide}.")
        records.append(save_figure(fig, figures_dir, name, section="performance", title=what, caption=caption,
                                   tables=[table_name]))
    return records


def _calibration(inputs: ReportInputs, ctx: _Context, y: np.ndarray, proba: Proba, y_pred: Proba, where: str,
                 figures_dir: Path, tables_dir: Path) -> list[FigureRecord]:
    records = []
    rel = reliability_table(y, proba, classes=inputs.classes, n_bins=ctx.ece_bins, confidence=ctx.confidence)
    _write(tables_dir, "reliability", rel)
    shown, summary = ctx.show(rel), ctx.show(inputs.tables["summary"])
    fig, flat = _grid(len(ctx.names), panel_aspect=1.0, max_cols=3, max_row=0.4, sharex=True, sharey=True)
    for ax, name in zip(flat, ctx.names):  # small multiples: one run per panel, its bin counts beside the points
        plot_reliability(shown[shown["run"] == name], ax=ax, colors=ctx.colors, summary=summary, legend=None,
                         counts=True)
        ece = interval_label(summary, name, "ece", (float(shown.loc[shown["run"] == name, "ece"].iloc[0]),
                                                     np.nan, np.nan))[len(name):].strip()
        ax.set_title(textwrap.fill(name, 34) + f"\nECE {ece}", fontsize=6.5)
    _label_outer(flat, ncols=min(len(flat), 3))
    records.append(save_figure(
        fig, figures_dir, "reliability", section="calibration", title="Reliability diagrams",
        caption=(f"Reliability of {_names(ctx.names)} on {where}, one panel per run: fraction correct against mean "
                 f"confidence (largest class probability) in {ctx.ece_bins} equal-width bins, the binning of the ECE; "
                 f"the numbers along the bottom are the bins' counts of objects (bins with few objects say little). "
                 f"Error bars: {ctx.pct} Wilson score intervals of each bin's accuracy; empty bins omitted; dotted: "
                 f"perfect calibration. Titles: {ctx.headline('ECE', 'ece')}."),
        tables=["reliability"]))
    conf = confusion_table(y, y_pred, classes=inputs.classes)
    _write(tables_dir, "confusion", conf)
    fig, flat = _grid(len(ctx.runs), panel_aspect=1.0)
    for ax in flat:
        plot_confusion(ctx.show(conf), run=ctx.names[flat.index(ax)], ax=ax)
    records.append(save_figure(
        fig, figures_dir, "confusion", section="performance", title="Confusion matrices",
        caption=(f"Confusion matrices of the decisions (each run's y_pred) of {_names(ctx.names)} on {where}. Cells: "
                 "object counts and, in brackets and as colour, the fraction of the true class (rows sum to 100%)."),
        tables=["confusion"]))
    return records


def _subgroups(inputs: ReportInputs, ctx: _Context, figures_dir: Path, tables_dir: Path,
               skips: Skips) -> list[FigureRecord]:
    table = inputs.tables.get("subgroups")
    if table is None or table.empty:
        why = (inputs.inputs.get("skipped") or {}).get("subgroups") or (
            "the comparison has no subgroups.csv (none of compare.subgroups is a column of the store"
            + (f": {(inputs.inputs.get('skipped') or {}).get('subgroups_missing_columns')} missing)"
               if (inputs.inputs.get("skipped") or {}).get("subgroups_missing_columns") else ", or no store)"))
        skips.skip("Subgroup figures (metric vs variable)", why, logger=log)
        return []
    _write(tables_dir, "subgroups", table)
    binned = table[table["bin"] >= 0]
    variables = list(dict.fromkeys(binned["variable"]))
    records = []
    for metric in [m for m in FIGURE_METRICS if m in set(binned["metric"])]:
        fig, flat = _grid(len(variables), panel_aspect=0.85, extra_rows=0.05)
        for ax, var in zip(flat, variables):
            plot_subgroup(ctx.show(table), variable=var, metric=metric, ax=ax, colors=ctx.colors, legend=None)
        handles, labels = flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3))
        n_boot = inputs.inputs.get("compare", {}).get("subgroup_boot", "?")
        records.append(save_figure(
            fig, figures_dir, f"subgroups_{metric}", section="subgroups", title=f"{metric_label(metric)} by subgroup",
            caption=(f"{metric_label(metric)} of {_names(ctx.names)} on the {inputs.split} split in bins of "
                     f"{', '.join(variables)} (quantile bins of the shared objects; points at bin centres, faint "
                     f"lines at bin edges, objects per bin on the top axis). Error bars: {ctx.pct} bootstrap "
                     f"percentile intervals within each bin ({n_boot} resamples"
                     f"{', stratified by class' if ctx.stratify else ''})."),
            tables=["subgroups"]))
    return records


def _training(inputs: ReportInputs, ctx: _Context, figures_dir: Path, tables_dir: Path,
              skips: Skips) -> list[FigureRecord]:
    parts = [training_table(r.history, run=r.name, metrics=r.metrics) for r in inputs.runs if r.history is not None]
    parts = [p for p in parts if len(p)]
    if not parts:
        skips.skip("Training curves", "no run has a history.csv with two or more steps (e.g. logistic regression, "
                   "or runs of your own model)", logger=log)
        return []
    table = pd.concat(parts, ignore_index=True)
    _write(tables_dir, "training", table)
    records = []
    for what, series in (("loss", ("train_loss", "val_loss")), ("score", ("val_score",))):
        has = table[table["series"].isin(series)]
        runs = [r for r in dict.fromkeys(table["run"]) if (has["run"] == r).any()]
        if not runs:
            continue
        fig, flat = _grid(len(runs), panel_aspect=0.8)
        for ax, run in zip(flat, runs):
            plot_training(ctx.show(table), run=ctx.labels.get(run, run), ax=ax, colors=ctx.colors, what=what)
        text = ("Training (solid) and validation (dashed) loss per epoch (deep runs: cross-entropy) or boosting round "
                "(trees: class-weighted log-loss)" if what == "loss" else "Validation score per epoch")
        records.append(save_figure(
            fig, figures_dir, f"training_{what}", section="training", title=f"Training curves ({what})",
            caption=(f"{text} of {_names([ctx.labels.get(r, r) for r in runs])}, from each run's history.csv. Dotted vertical line: the epoch or "
                     "round whose model was kept (early stopping / best validation score)."),
            tables=["training"]))
    return records


def _differences(inputs: ReportInputs, ctx: _Context, where: str, figures_dir: Path,
                 tables_dir: Path, skips: Skips) -> list[FigureRecord]:
    what = "Paired-difference figure"
    if len(ctx.runs) < 2:
        skips.skip(what, "the comparison has a single run (nothing to compare it with)", logger=log)
        return []
    if inputs.replicates is None:
        skips.skip(what, "the comparison has no replicates.parquet", logger=log)
        return []
    units = [*ctx.runs, *(inputs.inputs.get("seed_groups") or {})]  # tests.csv compares seed groups when combined
    table = delta_table(inputs.replicates, inputs.tables["tests"], runs=units, metrics=FIGURE_METRICS)
    if table.empty:
        skips.skip(what, f"tests.csv has no paired bootstrap rows for {', '.join(FIGURE_METRICS)}", logger=log)
        return []
    _write(tables_dir, "paired_differences", table)
    metrics = [m for m in FIGURE_METRICS if m in set(table["metric"])]
    n_pairs = table.groupby("metric")[["run_a", "run_b"]].apply(lambda d: len(d.drop_duplicates())).max()
    fig, axs = new_figure("page", aspect=min(1.3, 0.06 + 0.085 * n_pairs * len(metrics)), nrows=len(metrics))
    for ax, metric in zip(np.asarray(axs, dtype=object).ravel(), metrics):
        plot_deltas(ctx.show(table), metric=metric, ax=ax)
    n_boot = int(table["n_boot"].max())
    records = [save_figure(
        fig, figures_dir, "paired_differences", section="tests", title="Paired bootstrap differences",
        caption=(f"Bootstrap distributions of the paired differences A \N{MINUS SIGN} B in "
                 f"{' and '.join(metric_label(m).lower() if m != 'roc_auc' else 'ROC AUC' for m in metrics)} "
                 f"for every pair of {_names(ctx.names)} on {where}, from the comparison's {n_boot} shared resamples "
                 f"(replicates.parquet). Black bar: {ctx.pct} percentile interval; tick: full-sample difference; "
                 "dashed: no difference. Labels: difference [interval] and the Holm-corrected two-sided bootstrap "
                 "p-value from tests.csv."),
        tables=["paired_differences"])]
    return records


def _composites(inputs: ReportInputs, ctx: _Context, figures_dir: Path, tables_dir: Path,
                skips: Skips) -> list[FigureRecord]:
    records = []
    ood = inputs.tables.get("ood")
    has_ood = any((r.predictions["split"] == "ood").any() for r in inputs.runs)
    what_ood = ood_description(inputs)
    records += _bpt_plane(inputs, ctx, figures_dir, tables_dir, skips, has_ood=has_ood, what_ood=what_ood)
    if ood is None or ood.empty:
        why = ("no run has objects in split ood (the label scheme sends none there)" if not has_ood else
               (inputs.inputs.get("skipped") or {}).get("ood") or "the comparison has no ood.csv")
        skips.skip("Ood class-fraction figure", why, logger=log)
        return records
    _write(tables_dir, "ood", ood)
    fig, ax = new_figure("column", aspect=0.7)
    plot_ood_fractions(ctx.show(ood), ax=ax, colors=ctx.colors)
    records.append(save_figure(
        fig, figures_dir, "composites_fractions", section="composites", title="Where each run puts the ood objects",
        caption=(f"Fraction of the {int(ood['n'].iloc[0])} ood objects ({what_ood}) shared by all runs that each of "
                 f"{_names([ctx.labels.get(r, r) for r in dict.fromkeys(ood['run'])])} assigns to each class. Error bars: {ctx.pct} bootstrap "
                 "percentile intervals from ood.csv."),
        tables=["ood"]))
    return records


def _bpt_plane(inputs: ReportInputs, ctx: _Context, figures_dir: Path, tables_dir: Path, skips: Skips, *,
               has_ood: bool, what_ood: str) -> list[FigureRecord]:
    """The ood objects on the BPT plane, when the store has both line ratios and the scheme has two classes."""
    what = "BPT-plane figure"
    if inputs.objects is None:
        skips.skip(what, "the dataset store was not found (pass --data)", logger=log)
        return []
    if not has_ood:
        skips.skip(what, "no run has objects in split ood", logger=log)
        return []
    missing = [c for c in BPT_COLUMNS if c not in inputs.objects.columns]
    if missing:
        kind = store_kind(inputs)
        skips.skip(what, f"the store has no {'/'.join(missing)}{f' ({kind})' if kind else ''}", logger=log)
        return []
    if len(inputs.classes) != 2:
        skips.skip(what, f"it colours objects by one class's probability; drawn for two-class schemes only (this "
                         f"one has {len(inputs.classes)}: {', '.join(inputs.classes)})", logger=log)
        return []
    table = bpt_table(inputs.objects, {r.name: r.predictions for r in inputs.runs}, positive=inputs.positive)
    if table.empty:
        skips.skip(what, "no ood object has both line ratios", logger=log)
        return []
    _write(tables_dir, "composites_bpt", table)
    drawn = table[np.isfinite(table["score"].to_numpy(np.float64))]
    runs = list(dict.fromkeys(drawn["run"]))  # a run with no scored ood object on the plane gets no (empty) panel
    empty = [ctx.labels.get(r, r) for r in dict.fromkeys(table["run"]) if r not in runs]
    if not runs:
        skips.skip(what, "no run scored an ood object that has both line ratios", logger=log)
        return []
    fig, flat = _grid(len(runs), panel_aspect=1.0, sharex=True, sharey=True)
    shown = ctx.show(drawn)
    for ax, run in zip(flat, runs):
        plot_bpt(shown, run=ctx.labels.get(run, run), positive=inputs.positive, ax=ax, colorbar=False,
                 legend="lower left" if ax is flat[0] else None)
    _label_outer(flat, ncols=min(len(runs), MAX_COLS))
    fig.colorbar(bpt_scatter(flat[0]), ax=flat, label=f"$p$({inputs.positive})", shrink=0.9)
    n = drawn.groupby("run").size()
    left_out = (f" Not drawn (no scored ood object with both line ratios): {_names(empty)}." if empty else "")
    return [save_figure(
        fig, figures_dir, "composites_bpt", section="composites", title="Ood objects on the BPT plane",
        caption=(f"The ood objects ({what_ood}; not used in training; {int(n.max())} with both line "
                 "ratios) on the [N II] 6584/H\N{GREEK SMALL LETTER ALPHA} vs [O III] 5007/"
                 f"H\N{GREEK SMALL LETTER BETA} plane, coloured by each run's "
                 f"probability of {inputs.positive} (one panel per run: {_names([ctx.labels.get(r, r) for r in runs])}"
                 "). Dashed: Kauffmann et al. (2003) star-forming limit; solid: Kewley et al. (2001) maximum "
                 f"starburst.{left_out}"),
        tables=["composites_bpt"])]


def build_dataset_figures(inputs: ReportInputs, *, figures_dir: Path, tables_dir: Path,
                          skips: Skips | None = None) -> list[FigureRecord]:
    """Dataset tables and figures from the store the runs were trained on.

    Parameters
    ----------
    inputs : ReportInputs
        Its ``objects`` (the store's objects.parquet) and ``store`` (for ``manifest.json``) are used.
    figures_dir, tables_dir : Path
        Where ``<name>.pdf|png`` and ``<name>.csv`` go (created if needed).
    skips : Skips, optional
        Collects the figures skipped for want of input (and logs each once).

    Returns
    -------
    list of FigureRecord
        Figures ``class_balance`` (tables class_balance, dataset_counts) and ``distributions`` (distributions); the
        tables ``dataset_counts`` (split x class) and, when the store's ``manifest.json`` lists its cuts, ``cuts``
        are written for the report's tables. Empty (logged) when the store is unavailable.
    """
    with journal_style():
        return _dataset(inputs, figures_dir=Path(figures_dir), tables_dir=Path(tables_dir),
                        skips=Skips() if skips is None else skips)


def _dataset(inputs: ReportInputs, *, figures_dir: Path, tables_dir: Path, skips: Skips) -> list[FigureRecord]:
    if inputs.objects is None:
        skips.skip("Dataset tables and figures", "the dataset store was not found (pass --data)", logger=log)
        return []
    objects, classes = inputs.objects, list(inputs.classes) or None
    _write(tables_dir, "dataset_counts", fd.split_class_counts(objects, classes=classes))
    manifest = store_paths(inputs.store).manifest if inputs.store is not None else None
    if manifest is not None and manifest.exists():
        try:
            _write(tables_dir, "cuts", fd.cuts_table(read_manifest(inputs.store)))
        except (AgnbenchError, ValueError) as exc:  # a malformed manifest costs only the cuts table
            log.info("%s: no cuts table (%s)", manifest, exc)
    records = []
    balance = fd.class_balance_table(objects, classes=classes)
    if len(balance):
        _write(tables_dir, "class_balance", balance)
        fig, ax = new_figure("column", aspect=0.4)
        fd.plot_class_balance(balance, ax=ax)
        records.append(save_figure(
            fig, figures_dir, "class_balance", section="dataset", title="Class balance",
            caption=("Class fractions in the train, validation and test splits of the dataset store (counts on the "
                     f"bars; label scheme {inputs.inputs.get('label_scheme') or 'as recorded'}). Splits are stratified "
                     "by class in prep."),
            tables=["class_balance", "dataset_counts"]))
    else:
        skips.skip("Class-balance figure", "the store has no labelled train/val/test objects", logger=log)
    ood_group = "ood (composites)" if ood_description(inputs) == COMPOSITES else "ood"
    dist = fd.distribution_table(objects, classes=classes, ood_group=ood_group)
    variables = list(dict.fromkeys(dist["variable"]))
    if not variables:
        skips.skip("Distributions figure", "the store has none of the columns z, q_logmass, q_g_r with finite "
                   "values", logger=log)
    else:
        _write(tables_dir, "distributions", dist)
        ood_text = " and of the ood objects (dashed)" if ood_group in set(dist["group"]) else ""
        fig, flat = _grid(len(variables), panel_aspect=0.85, extra_rows=0.05)
        for ax, var in zip(flat, variables):
            fd.plot_distribution(dist, variable=var, ax=ax, legend=None)
        handles, labels = flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=len(labels))
        records.append(save_figure(
            fig, figures_dir, "distributions", section="dataset", title="Distributions per class",
            caption=(f"Normalised distributions of {', '.join(variables)} per class (train, validation and test "
                     f"pooled; objects in brackets){ood_text}, in 30 equal-width bins over the 0.5-99.5 percentile "
                     "range."),
            tables=["distributions"]))
    return records
