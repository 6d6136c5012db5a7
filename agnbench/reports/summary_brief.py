"""The report's opening: a short table and three to five sentences, led by the primary comparison.

The full results paragraph (every pairwise test, every calibration number, the methods) stays in
:func:`agnbench.reports.summary_text.summary_paragraph`; the report shows it under "Details" and writes it to
``summary.txt`` after these sentences. Every number here is one of the comparison's (``summary.csv``,
``primary.csv``); significance is stated only from Holm-corrected p-values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from agnbench.reports.methods_text import holm_bounds, p_text
from agnbench.reports.summary_text import majority_baseline
from agnbench.reports.tables import DASH, LOWER_IS_BETTER, MAJORITY, format_interval, metric_label

__all__ = ["BRIEF_METRICS", "brief_sentences", "brief_table"]

#: Columns of the short table (those present in ``summary.csv``).
BRIEF_METRICS = ("roc_auc", "balanced_accuracy", "brier")


def brief_table(summary: pd.DataFrame, runs: list[str], *, labels: Mapping[str, str], digits: int = 3,
                primary: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per shown run: display name, :data:`BRIEF_METRICS` as ``v [lo, hi]``, and its primary difference.

    ``attrs["bold"]`` marks the best value of each metric among the models (never the majority baseline).
    """
    metrics = [m for m in BRIEF_METRICS if m in set(summary["metric"])]
    rows, values = [], {m: {} for m in metrics}
    for run in runs:
        row: dict[str, str] = {"model": labels.get(run, run)}
        for m in metrics:
            hit = summary[(summary["run"] == run) & (summary["metric"] == m)]
            est, lo, hi = ((float(hit.iloc[0][c]) for c in ("estimate", "lo", "hi")) if len(hit)
                           else (np.nan, np.nan, np.nan))
            row[metric_label(m)] = format_interval(est, lo, hi, digits=digits, latex=False)
            if run != MAJORITY and np.isfinite(est):
                values[m][len(rows)] = est
        if primary is not None and len(primary):
            p = primary[primary["run"] == run]
            ref = str(primary["reference"].iloc[0])
            metric = "ROC-AUC" if str(primary["metric"].iloc[0]) == "roc_auc" else metric_label(
                str(primary["metric"].iloc[0]))
            d = p.iloc[0] if len(p) else None
            row[f"{metric} minus {labels.get(ref, ref)}"] = (
                f"{d['delta']:+.{digits}f} [{d['lo']:+.{digits}f}, {d['hi']:+.{digits}f}]" if d is not None
                else ("reference" if run == ref else DASH))
        rows.append(row)
    table = pd.DataFrame(rows)
    bold = set()
    for m, by_row in values.items():
        if by_row:
            pick = min if m in LOWER_IS_BETTER else max
            bold.add((pick(by_row, key=by_row.get), metric_label(m)))
    table.attrs["bold"] = frozenset(bold)
    return table


def brief_sentences(summary: pd.DataFrame, inputs: Mapping, *, labels: Mapping[str, str], runs: list[str],
                    alpha: float = 0.05, digits: int = 3, primary: pd.DataFrame | None = None) -> str:
    """Three to five sentences: the primary comparison, the best model, the floor, where the details are."""
    settings = inputs.get("compare") or {}
    split = (inputs.get("objects") or {}).get("split", "test")
    counts = inputs.get("class_counts") or {}
    n = (inputs.get("objects") or {}).get("shared", sum(counts.values()))
    level = f"{100 * float(settings.get('confidence', 0.95)):g}%"
    out = []
    if primary is not None and len(primary):
        out.append(_primary(primary, labels=labels, settings=settings, alpha=alpha, digits=digits))
    models = [r for r in runs if r != MAJORITY]
    auc = summary[(summary["metric"] == "roc_auc") & summary["run"].isin(models)]
    auc = auc[np.isfinite(auc["estimate"].to_numpy(np.float64))]
    class_text = ", ".join(f"{v} {k}" for k, v in counts.items())
    if len(auc):
        best = auc.sort_values("estimate", kind="stable").iloc[-1]
        out.append(f"On the {split} split ({n} objects: {class_text}) the highest ROC-AUC is "
                   f"{labels.get(best['run'], best['run'])}'s, "
                   f"{format_interval(best['estimate'], best['lo'], best['hi'], digits=digits, latex=False)} "
                   f"({level} {_row_interval(str(best.get('ci', settings.get('ci') or 'percentile')))}).")
    classes = list(inputs.get("classes") or counts.keys())
    if classes and counts:
        base = majority_baseline(classes, counts, majority=(inputs.get("majority_baseline") or {}).get("class"))
        out.append(f"Predicting the majority class ({base['class']}) for every object scores balanced accuracy "
                   f"{base['balanced_accuracy']:.{digits}f}" + (f" and ROC-AUC {base['roc_auc']:.1f}"
                                                                if np.isfinite(base["roc_auc"]) else "")
                   + ": the floor every model must beat.")
    out.append("Every pairwise test, the calibration measures (listed, never ranked) and the methods are under "
               "Details and in summary.txt.")
    return " ".join(out)


def _row_interval(ci: str) -> str:
    """A ``summary.csv`` ``ci`` value in words: ``"BCa bootstrap interval over objects x seeds"``."""
    method, _, over = ci.partition(" over ")
    name = {"percentile": "percentile bootstrap", "bca": "BCa bootstrap", "newcombe": "Newcombe score"}.get(method, method)
    return f"{name} interval" + (f" over {over}" if over else "")


def _primary(primary: pd.DataFrame, *, labels: Mapping[str, str], settings: Mapping, alpha: float,
             digits: int) -> str:
    metric = str(primary["metric"].iloc[0])
    ref = str(primary["reference"].iloc[0])
    bounds = holm_bounds(primary, n_boot=int(settings.get("n_boot", 2000)))
    items = []
    for i, r in primary.iterrows():
        verdict = f"significant at {alpha:g}" if r["p_holm"] < alpha else f"not significant at {alpha:g}"
        items.append(f"{labels.get(r['run'], r['run'])} {r['delta']:+.{digits}f} "
                     f"[{r['lo']:+.{digits}f}, {r['hi']:+.{digits}f}] "
                     f"({p_text(r['p_holm'], bound=bool(bounds[i]), prefix='Holm p')}, {verdict})")
    name = "ROC-AUC" if metric == "roc_auc" else metric_label(metric)
    return (f"Primary comparison, declared before the results were seen: {name} minus that of "
            f"{labels.get(ref, ref)}, " + "; ".join(items) + ".")
