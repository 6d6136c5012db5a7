"""The report's result tables, primary first: each with a caption generated from the comparison's settings.

Order: the declared primary comparison (``primary.csv``) -> the headline metrics -> the secondary pairwise
tests. Every caption names the interval method, what the resampling conditions on, the Holm family and,
where a p-value is floor-limited, why it is printed as a bound (:mod:`agnbench.reports.methods_text`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from agnbench.fileio import atomic_write_text
from agnbench.reports import tables as tb
from agnbench.reports.methods_text import (difference_method, floor_note, holm_bounds, holm_phrase, interval_phrase,
                                           prevalence_note, seed_caption)
from agnbench.reports.render import Table
from agnbench.reports.report_inputs import ReportInputs
from agnbench.reports.skips import Skips

__all__ = ["primary_display", "result_tables", "save_table"]

log = logging.getLogger(__name__)


def save_table(tables_dir: Path, name: str, frame: pd.DataFrame, latex: str | None) -> None:
    """``tables_dir/<name>.csv`` (full precision) and, when given, ``<name>.tex``."""
    atomic_write_text(tables_dir / f"{name}.csv", frame.to_csv(index=False))
    if latex is not None:
        atomic_write_text(tables_dir / f"{name}.tex", latex)


def result_tables(inputs: ReportInputs, *, tables_dir: Path, alpha: float, digits: int, skips: Skips) -> list[Table]:
    """The primary, headline and pairwise tables (CSV + LaTeX written to ``tables_dir``), in report order."""
    summary, tests = inputs.tables["summary"], inputs.tables["tests"]
    settings = inputs.inputs.get("compare", {}) or {}
    n_boot = settings.get("n_boot")
    labels = inputs.display
    out: list[Table] = []
    primary = inputs.tables.get("primary")
    if primary is not None and len(primary):
        caption = _primary_caption(primary, inputs, settings, alpha=alpha)
        display = primary_display(primary, n_boot=n_boot, alpha=alpha, digits=digits, labels=labels)
        save_table(tables_dir, "primary", primary, tb.generic_latex(display, caption=caption, label="tab:primary",
                                                                    digits=digits))
        out.append(Table("Primary comparison. " + caption, display, ("tables/primary.csv", "tables/primary.tex")))
    else:
        why = (inputs.inputs.get("skipped") or {}).get("primary") or "the comparison has no primary.csv"
        skips.skip("Primary comparison", why, logger=log)
    head = tb.headline_table(summary, runs=tb.reported_runs(summary, inputs.inputs.get("seed_groups")))
    head.insert(1, "label", [labels.get(r, r) for r in head["run"]])  # the display name (report.labels)
    caption = headline_caption(inputs)
    save_table(tables_dir, "headline", head, tb.headline_latex(
        head, caption=caption + " Bold: the best model per column (never on ECE, which is biased upward).",
        label="tab:headline"))
    save_table(tables_dir, "metrics_all", summary, None)
    out.append(Table(("Secondary: " if out else "") + caption, tb.headline_display(head, digits=digits),
                     ("tables/headline.csv", "tables/headline.tex")))
    pair = tb.pairwise_table(tests, alpha=alpha, n_boot=n_boot)
    pair = pair.assign(label_a=[labels.get(r, r) for r in pair["run_a"]],
                       label_b=[labels.get(r, r) for r in pair["run_b"]])
    if len(pair):
        caption = pairwise_caption(pair, tests, inputs, settings, alpha=alpha)
        save_table(tables_dir, "pairwise", pair, tb.pairwise_latex(pair, caption=caption, label="tab:pairwise"))
        out.append(Table(caption, tb.pairwise_display(pair, digits=digits),
                         ("tables/pairwise.csv", "tables/pairwise.tex"), collapsed=len(pair) > 12))
    else:
        skips.skip("Pairwise tests table", "tests.csv has no rows (a single run, or nothing to compare it with)",
                   logger=log)
    return out


def headline_caption(inputs: ReportInputs) -> str:
    """Caption of the headline metrics: split and counts, the interval, what it is conditional on."""
    settings = inputs.inputs.get("compare", {}) or {}
    summary = inputs.tables["summary"]
    counts = ", ".join(f"{v} {k}" for k, v in inputs.inputs.get("class_counts", {}).items())
    majority = ("; the majority baseline predicts the training majority class"
                if tb.MAJORITY in set(summary["run"]) else "")
    return (f"Metrics on the {inputs.split} split ({counts}) with {interval_phrase(settings, split=inputs.split)}"
            f"{majority}.{seed_caption(inputs.inputs)} {prevalence_note(settings, split=inputs.split)}")


def pairwise_caption(pair: pd.DataFrame, tests: pd.DataFrame, inputs: ReportInputs, settings: dict, *,
                     alpha: float) -> str:
    """Caption of the secondary pairwise tests: each interval's method, the Holm families, floor-limited p."""
    methods = "; ".join(dict.fromkeys(f"{t}: {difference_method(r, settings)}"
                                      for t, r in zip(pair["test"], pair.to_dict("records"))))
    floor = f" {floor_note(settings.get('n_boot'))}" if (pair["p_bound"] | pair["p_holm_bound"]).any() else ""
    return (f"Secondary: pairwise differences on the {inputs.split} split, delta = A - B with its interval ({methods}). "
            f"p-values {holm_phrase(tests)}; * marks Holm p < {alpha:g}.{floor}")


def _primary_caption(primary: pd.DataFrame, inputs: ReportInputs, settings: dict, *, alpha: float) -> str:
    rec = inputs.inputs.get("primary") or {}
    metric = tb.metric_label(str(primary["metric"].iloc[0]))
    ref = inputs.display.get(str(primary["reference"].iloc[0]), str(primary["reference"].iloc[0]))
    method = difference_method(primary.iloc[0].to_dict(), settings)
    bounds = holm_bounds(primary, n_boot=settings.get("n_boot"))
    floor = f" {floor_note(settings.get('n_boot'))}" if bounds.any() else ""
    return (f"{metric} of each track minus the reference {ref} ({rec.get('rule') or 'named in the config'}), on the "
            f"{inputs.split} split: difference with its {method}; p-values Holm-corrected over these "
            f"{len(primary)} comparisons only, declared in compare.primary_metric / primary_reference before the "
            f"results were seen; * marks Holm p < {alpha:g}.{floor}")


def primary_display(primary: pd.DataFrame, *, n_boot: int | None, alpha: float, digits: int,
                    labels: dict[str, str] | None = None) -> pd.DataFrame:
    """``primary.csv`` with text cells: model, reference, both estimates, difference [lo, hi], Holm p.

    ``labels`` maps run names to display names (:func:`agnbench.reports.display.display_labels`).
    """
    bounds = holm_bounds(primary, n_boot=n_boot)
    labels = labels or {}
    return pd.DataFrame({
        "model": primary["run"].map(lambda r: labels.get(r, r)),
        "reference": primary["reference"].map(lambda r: labels.get(r, r)),
        "metric": primary["metric"].map(tb.metric_label),
        "run value": [f"{v:.{digits}f}" for v in primary["estimate"]],
        "reference value": [f"{v:.{digits}f}" for v in primary["reference_estimate"]],
        "difference": [tb.format_interval(d, lo, hi, digits=digits, latex=False)
                       for d, lo, hi in zip(primary["delta"], primary["lo"], primary["hi"])],
        "p (Holm)": [tb.format_p(p, bound=bool(b)) + (" *" if p < alpha else "")
                     for p, b in zip(primary["p_holm"], bounds)],
    })
