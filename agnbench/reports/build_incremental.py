"""The report's "What each modality adds" section: the comparison's ``incremental.csv`` and one figure.

:func:`build_incremental_figures` draws, from ``incremental.csv`` (``agnbench compare`` with fusion runs;
:mod:`agnbench.bootstrap.incremental`), each fusion's difference on the primary metric against its members and its
leave-one-out fusions with the paired bootstrap intervals, and, when a fusion run was explained (``agnbench explain
FUSION_RUN``: ``attributions/modality_shares.csv``), each modality's mean share of the stacker's decision by true
class. :func:`incremental_items` gives the section's table. Without fusion runs the section is skipped (listed in
``skipped.csv``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.contracts import files
from agnbench.fileio import read_csv
from agnbench.reports.display import relabel
from agnbench.reports.render import Table
from agnbench.reports.report_inputs import ReportInputs
from agnbench.reports.results_tables import save_table
from agnbench.reports.skips import Skips
from agnbench.reports.tables import metric_label
from agnbench.reports.style import FigureRecord, new_figure, save_figure

log = logging.getLogger(__name__)

__all__ = ["SECTION", "TITLE", "build_incremental_figures", "incremental_items", "modality_share_table"]

#: Section key of the figure, and the section's title.
SECTION = "incremental"
TITLE = "What each modality adds"
_NO_FUSION = "no fusion run among the runs compared (agnbench train fusion, then compare it with its members)"
_SHOWN = ("text", "fusion", "baseline", "relation", "added", "metric", "delta", "lo", "hi", "method", "p_value",
          "p_holm", "n", "seeds")


def _table(inputs: ReportInputs) -> pd.DataFrame | None:
    table = inputs.tables.get("incremental")
    return table if table is not None and len(table) else None


def _why(inputs: ReportInputs) -> str:
    return (inputs.inputs.get("skipped") or {}).get("incremental") or _NO_FUSION


def _primary(inputs: ReportInputs, table: pd.DataFrame) -> str:
    metric = (inputs.inputs.get("primary") or {}).get("metric") or (inputs.inputs.get("compare") or {}).get(
        "primary_metric", "roc_auc")
    return metric if metric in set(table["metric"]) else str(table["metric"].iloc[0])


def modality_share_table(inputs: ReportInputs) -> pd.DataFrame:
    """Mean share of each modality by true class, from the explained fusion runs with the most members
    (``attributions/modality_shares.csv``; runs of one seed group averaged): ``fusion, class, modality,
    mean_share, n_runs``; empty when no fusion run was explained."""
    rows = []
    for run in inputs.runs:
        path = None if run.attributions is None else run.attributions / files.ATTRIBUTIONS_MODALITY_SUMMARY
        if path is None or not path.is_file():
            continue
        t = read_csv(path, required=("by", "bin", "modality", "mean_share"), fix="re-run agnbench explain")
        t = t[t["by"] == "class"]
        rows.append(t.assign(run=run.name, n_modalities=t["modality"].nunique()))
    if not rows:
        return pd.DataFrame(columns=["fusion", "class", "modality", "mean_share", "n_runs"])
    t = pd.concat(rows, ignore_index=True)
    t = t[t["n_modalities"] == t["n_modalities"].max()]
    groups = {r: g for g, members in (inputs.inputs.get("seed_groups") or {}).items() for r in members}
    t = t.assign(fusion=t["run"].map(lambda r: groups.get(r, r)))
    out = (t.groupby(["fusion", "bin", "modality"], sort=False)
           .agg(mean_share=("mean_share", "mean"), n_runs=("run", "nunique")).reset_index())
    return out.rename(columns={"bin": "class"})


def build_incremental_figures(inputs: ReportInputs, *, figures_dir: Path, tables_dir: Path,
                              skips: Skips) -> list[FigureRecord]:
    """The section's one figure (and ``tables/incremental.csv``, ``tables/modality_shares.csv``); skipped without
    fusion runs."""
    table = _table(inputs)
    if table is None:
        skips.skip(f"Section {TITLE!r}", _why(inputs), logger=log)
        return []
    labels = inputs.display
    save_table(tables_dir, "incremental", table.assign(label_fusion=table["fusion"].map(lambda v: labels.get(v, v)),
                                                       label_baseline=table["baseline"].map(
                                                           lambda v: labels.get(v, v))), None)
    metric = _primary(inputs, table)
    rows = table[(table["metric"] == metric) & table["method"].str.startswith("paired bootstrap")]
    shares = modality_share_table(inputs)
    if len(shares):
        save_table(tables_dir, "modality_shares", shares.assign(label=shares["fusion"].map(lambda v: labels.get(v, v))),
                   None)
    else:
        skips.skip("Modality shares panel", "no fusion run among those compared was explained (agnbench explain "
                                            "FUSION_RUN writes attributions/modality_shares.csv)", logger=log)
    fig, axs = new_figure("page", aspect=0.42 if len(shares) else 0.35, ncols=2 if len(shares) else 1)
    ax = axs[0] if len(shares) else axs
    y = np.arange(len(rows))[::-1]
    colors = np.where(rows["relation"] == "vs_leave_one_out", "#D55E00", "#0072B2")
    d = rows["delta"].to_numpy(np.float64)
    lo, hi = rows["lo"].to_numpy(np.float64), rows["hi"].to_numpy(np.float64)
    for i in range(len(rows)):
        ax.errorbar(d[i], y[i], xerr=[[d[i] - lo[i]], [hi[i] - d[i]]], fmt="o", color=colors[i], ms=3,
                    elinewidth=1.0, capsize=2)
    ax.axvline(0.0, color="0.5", lw=0.6, ls=":")
    ax.set_yticks(y, [f"+ {a} ({'vs ' + labels.get(b, b)})" for a, b in zip(rows["added"], rows["baseline"])])
    ax.set_xlabel(f"Δ {metric_label(metric)} (fusion − baseline)")
    ax.set_title("blue: fusion vs a member; orange: vs its leave-one-out fusion", fontsize=6)
    if len(shares):
        _shares_panel(axs[1], shares, labels)
    return [save_figure(
        fig, figures_dir, "incremental", section=SECTION, title=TITLE,
        caption=(f"Left: what each modality adds. Each row is a fusion run against one of its members (blue) or against "
                 f"the fusion without that modality (orange), labelled by the modality the fusion adds; the point is "
                 f"the difference in {metric_label(metric)} on the {inputs.split} objects (n = {int(rows['n'].iloc[0]) if len(rows) else 0})"
                 f", the bar its {inputs.inputs.get('compare', {}).get('confidence', 0.95):.0%} paired bootstrap "
                 "percentile interval from the comparison's shared replicates (over objects x seeds for seed groups)."
                 + (" Right: each modality's mean share |contribution| / Σ|contributions| of the logistic stacker's "
                    "logit, by true class (agnbench explain of the fusion run)." if len(shares) else "")),
        tables=("incremental", "modality_shares") if len(shares) else ("incremental",))]


def _shares_panel(ax, shares: pd.DataFrame, labels: dict[str, str]) -> None:
    first = shares["fusion"].iloc[0]
    part = shares[shares["fusion"] == first]
    classes = list(dict.fromkeys(part["class"]))
    modalities = list(dict.fromkeys(part["modality"]))
    left = np.zeros(len(classes))
    palette = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
    for i, m in enumerate(modalities):
        v = part[part["modality"] == m].set_index("class")["mean_share"].reindex(classes).fillna(0).to_numpy()
        ax.barh(np.arange(len(classes)), v, left=left, color=palette[i % len(palette)], label=m, height=0.6)
        left += v
    ax.set_yticks(np.arange(len(classes)), classes)
    ax.set_xlim(0, 1)
    ax.set_xlabel("mean share of the stacker's decision")
    ax.set_title(labels.get(first, first), fontsize=6)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=len(modalities), fontsize=6)


def incremental_items(inputs: ReportInputs, *, digits: int) -> list[Table]:
    """The section's table: one readable row per (fusion, baseline) on each metric, display names applied."""
    table = _table(inputs)
    if table is None:
        return []
    shown = relabel(table[[c for c in _SHOWN if c in table.columns]], inputs.display, columns=("fusion", "baseline"))
    for col in ("delta", "lo", "hi"):
        shown[col] = shown[col].round(digits)
    shown["p_value"] = shown["p_value"].map(lambda p: f"{p:.3g}")
    shown["p_holm"] = shown["p_holm"].map(lambda p: f"{p:.3g}")
    return [Table("Incremental value: each fusion run against its members and its leave-one-out fusions (difference "
                  "fusion − baseline with the comparison's paired intervals; p_holm over these rows only, per metric "
                  "and test; docs/incremental.md)", shown, ("tables/incremental.csv",), collapsed=len(shown) > 12)]
