"""Paper tables from a comparison: headline metrics with intervals, pairwise tests, seed spread.

Each builder is a pure function of Contract-4 tables returning a :class:`pandas.DataFrame`;
:func:`to_latex` turns any of them into a booktabs ``tabular`` where an interval is written
``$v^{+(hi-v)}_{-(v-lo)}$`` (the paper convention ``value_{-lo}^{+hi}``), and :func:`to_markdown`
into a pipe table. Nothing is rounded in the CSV copies; rounding happens only in the text forms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from agnbench.reports.methods_text import holm_bounds, p_bounds

#: Metrics of the headline table, in order (all in ``summary.csv``; per-class ones are in the full table).
HEADLINE_METRICS = ("roc_auc", "pr_auc", "balanced_accuracy", "macro_f1", "mcc", "accuracy", "brier", "ece",
                    "debiased_ce", "calibration_slope", "calibration_intercept")
#: Metrics where a smaller value is better (``debiased_ce``: down to 0; negative values are within the noise).
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "ece", "debiased_ce"})
#: Metrics with an ideal value instead of a direction (logistic recalibration: slope 1, intercept 0).
IDEAL_VALUES = {"calibration_slope": 1.0, "calibration_intercept": 0.0}
#: Display names (LaTeX-safe plain text).
METRIC_LABELS = {
    "accuracy": "Accuracy", "balanced_accuracy": "Bal. acc.", "macro_f1": "Macro-F1", "mcc": "MCC",
    "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "brier": "Brier", "log_loss": "Log-loss", "ece": "ECE",
    "debiased_ce": "L2-CE (debiased)", "calibration_slope": "Cal. slope", "calibration_intercept": "Cal. intercept",
}
#: What a text table shows for a value that is not available (NaN); explained by :data:`DASH_NOTE` under the table.
DASH = "\N{EN DASH}"
#: The footnote of a table that shows :data:`DASH`.
DASH_NOTE = ("\N{EN DASH} not available: the quantity is undefined for that row (e.g. a test that needs two single "
             "runs, a metric that needs both classes, or a value the run's track does not produce); the CSV leaves "
             "it empty.")
#: The label ``agnbench compare`` gives the majority-class baseline.
MAJORITY = "majority-baseline"
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def metric_label(metric: str, *, labels: Mapping[str, str] = METRIC_LABELS, f1: str = "F1") -> str:
    """Readable name of a metric (``precision_agn`` -> ``Precision (agn)``).

    ``labels`` names the whole-sample metrics and ``f1`` the F1 score (figures pass mathtext forms).
    """
    if metric in labels:
        return labels[metric]
    for prefix in ("precision", "recall", "f1"):
        if metric.startswith(prefix + "_"):
            return f"{prefix.capitalize() if prefix != 'f1' else f1} ({metric[len(prefix) + 1:]})"
    return metric


#: Metrics shown but never used to name a best run: the plug-in ECE is biased upward, the more so the smaller
#: the sample and the better calibrated the model (a perfectly calibrated model has ECE ~0.04 at n ~ 360); the
#: debiased calibration error's values at or below 0 are all "within the noise" and its percentile interval runs
#: a few points below its level at n ~ 360 (benchmarks/bench_calibration_coverage.py); slope and intercept
#: have an ideal value (:data:`IDEAL_VALUES`), not a direction.
UNRANKED_METRICS = frozenset({"ece", "debiased_ce", "calibration_slope", "calibration_intercept"})


def headline_table(summary: pd.DataFrame, *, metrics: Sequence[str] = HEADLINE_METRICS,
                   runs: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run (majority baseline last), ``<metric>``, ``<metric>_lo``, ``<metric>_hi`` columns.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv`` (metric, run, estimate, lo, hi, ...).
    metrics : sequence of str
        Metrics to keep, in column order; those absent from ``summary`` are skipped.
    runs : sequence of str, optional
        Row order (default: order of first appearance, majority baseline last).

    Returns
    -------
    DataFrame
        Columns ``run``, then three per metric; a ``best`` attribute (``df.attrs["best"]``) maps each
        metric but :data:`UNRANKED_METRICS` to the best run other than the baseline (max, or min for
        Brier/log-loss).
    """
    present = [m for m in metrics if m in set(summary["metric"])]
    order = list(runs) if runs is not None else list(dict.fromkeys(summary["run"]))
    order = [r for r in order if r != MAJORITY] + ([MAJORITY] if MAJORITY in set(summary["run"]) else [])
    rows = []
    for run in order:
        sub = summary[summary["run"] == run].set_index("metric")
        row: dict[str, object] = {"run": run}
        for m in present:
            has = m in sub.index
            row[m] = float(sub.at[m, "estimate"]) if has else math.nan
            row[f"{m}_lo"] = float(sub.at[m, "lo"]) if has else math.nan
            row[f"{m}_hi"] = float(sub.at[m, "hi"]) if has else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    best = {}
    models = table[table["run"] != MAJORITY]
    for m in present:
        values = models[m].to_numpy(dtype=float)
        if m not in UNRANKED_METRICS and np.isfinite(values).any():
            idx = np.nanargmin(values) if m in LOWER_IS_BETTER else np.nanargmax(values)
            best[m] = str(models["run"].iloc[idx])
    table.attrs["best"] = best
    table.attrs["metrics"] = present
    return table


def reported_runs(summary: pd.DataFrame, seed_groups: Mapping[str, Sequence[str]] | None) -> list[str]:
    """The rows a results table shows: each seed group's combined row (``compare.seeds: combined``; its interval
    includes the seed-to-seed variance) in place of its seed runs, every other run as it is.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv``.
    seed_groups : mapping of str to sequence of str, or None
        ``inputs.yaml`` ``seed_groups``: combined row name -> its runs (None or empty: every run).

    Returns
    -------
    list of str
        Run names in order of first appearance, a group where its first run was.
    """
    member_of = {r: g for g, runs in (seed_groups or {}).items() for r in runs}
    present = set(summary["run"])
    out: list[str] = []
    for run in dict.fromkeys(summary["run"]):
        if run in (seed_groups or {}):
            continue
        shown = member_of.get(run, run)
        if shown in present and shown not in out:
            out.append(shown)
    return out


def pairwise_table(tests: pd.DataFrame, *, metrics: Sequence[str] = ("roc_auc", "balanced_accuracy", "accuracy"),
                   alpha: float = 0.05, n_boot: int | None = None) -> pd.DataFrame:
    """The pairwise tests of ``tests.csv`` for the given metrics, one row per (pair, metric, test).

    Columns: ``run_a, run_b, metric, test, delta, lo, hi, p_value, p_holm, significant, p_bound, p_holm_bound``
    (``significant`` = Holm-corrected p < ``alpha``; ``delta`` = metric(a) - metric(b); the ``*_bound`` columns
    mark p-values at the bootstrap floor 2/(B+1) of ``n_boot`` replicates, which are upper bounds).
    """
    keep = tests.assign(p_bound=p_bounds(tests, n_boot=n_boot), p_holm_bound=holm_bounds(tests, n_boot=n_boot))
    keep = keep[keep["metric"].isin(metrics)].copy()
    keep["significant"] = keep["p_holm"] < alpha
    cols = ["run_a", "run_b", "metric", "test", "delta", "lo", "hi", "p_value", "p_holm", "significant", "p_bound",
            "p_holm_bound"]
    order = {m: i for i, m in enumerate(metrics)}
    keep = keep.assign(_m=keep["metric"].map(order)).sort_values(["run_a", "run_b", "_m", "test"], kind="stable")
    return keep[cols].reset_index(drop=True)


def seeds_table(seeds: pd.DataFrame, *, metrics: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    """``seeds.csv`` restricted to ``metrics``: group, metric, mean, std, n (runs that differ only by seed)."""
    keep = seeds[seeds["metric"].isin(metrics)]
    return keep[["group", "metric", "mean", "std", "n"]].reset_index(drop=True)


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def format_interval(value: float, lo: float, hi: float, *, digits: int = 3, latex: bool = True) -> str:
    """``$v^{+a}_{-b}$`` (LaTeX) or ``v [lo, hi]`` (text); ``--`` (LaTeX) or :data:`DASH` when ``value`` is NaN."""
    if not np.isfinite(value):
        return "--" if latex else DASH
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"${value:.{digits}f}$" if latex else f"{value:.{digits}f}"
    if latex:
        return f"${value:.{digits}f}^{{+{max(hi - value, 0):.{digits}f}}}_{{-{max(value - lo, 0):.{digits}f}}}$"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def format_p(p: float, *, bound: bool = False, latex: bool = False) -> str:
    """A p-value for a table: 3 significant digits, ``< 1e-4`` style below 1e-4; ``bound``: ``≤ 0.001``
    (a bootstrap p at its floor 2/(B+1), an upper bound; ``$\\le$`` in LaTeX)."""
    if not np.isfinite(p):
        return DASH
    if bound:
        return ("$\\le$ " if latex else "\N{LESS-THAN OR EQUAL TO} ") + f"{p:.3g}"
    return "< 1e-4" if p < 1e-4 else f"{p:.3g}"


def headline_latex(table: pd.DataFrame, *, caption: str, label: str = "tab:headline", digits: int = 3) -> str:
    """The headline table as a booktabs ``table`` environment, best value per metric in bold."""
    metrics = table.attrs.get("metrics", [c for c in table.columns if c != "run" and not c.endswith(("_lo", "_hi"))])
    best = table.attrs.get("best", {})
    header = ["Model"] + [metric_label(m) + _direction(m) for m in metrics]
    body = []
    for _, row in table.iterrows():
        cells = [latex_escape(row["label"] if "label" in table.columns else row["run"])]
        for m in metrics:
            cell = format_interval(row[m], row[f"{m}_lo"], row[f"{m}_hi"], digits=digits)
            if best.get(m) == row["run"] and cell != "--":
                cell = r"$\mathbf{" + cell.strip("$") + "}$"
            cells.append(cell)
        body.append(cells)
    split_at = [i for i, r in enumerate(table["run"]) if r == MAJORITY]
    return _latex_table(header, body, caption=caption, label=label, align="l" + "c" * len(metrics),
                        midrule_before=split_at)


def _direction(metric: str) -> str:
    """Header suffix: the ideal value, or an arrow saying which way is better."""
    if metric in IDEAL_VALUES:
        return f" (ideal {IDEAL_VALUES[metric]:g})"
    return r" $\downarrow$" if metric in LOWER_IS_BETTER else r" $\uparrow$"


def pairwise_latex(table: pd.DataFrame, *, caption: str, label: str = "tab:pairwise", digits: int = 3) -> str:
    """Pairwise tests as a booktabs table: pair, metric, test, delta with interval, p, Holm p."""
    header = ["Model A", "Model B", "Metric", "Test", r"$\Delta$ (A $-$ B)", "$p$", r"$p_\mathrm{Holm}$"]
    body = [[latex_escape(getattr(r, "label_a", r.run_a)), latex_escape(getattr(r, "label_b", r.run_b)),
             latex_escape(metric_label(r.metric)), latex_escape(r.test),
             format_interval(r.delta, r.lo, r.hi, digits=digits), _latex_p(r.p_value, _flag(r, "p_bound")),
             _latex_p(r.p_holm, _flag(r, "p_holm_bound")) + ("$^{*}$" if r.significant else "")]
            for r in table.itertuples()]
    return _latex_table(header, body, caption=caption, label=label, align="lllllrr")


def generic_latex(table: pd.DataFrame, *, caption: str, label: str, digits: int = 3) -> str:
    """Any table as booktabs (floats to ``digits`` decimals, text escaped)."""
    header = [latex_escape(c) for c in table.columns]
    body = [[_cell(v, digits) for v in row] for row in table.itertuples(index=False)]
    align = "".join("r" if pd.api.types.is_numeric_dtype(table[c]) else "l" for c in table.columns)
    return _latex_table(header, body, caption=caption, label=label, align=align)


def to_markdown(table: pd.DataFrame, *, digits: int = 3) -> str:
    """A pipe table (GitHub/Pandoc Markdown), floats to ``digits`` decimals."""
    cols = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(_plain(v, digits).replace("|", "/") for v in row) + " |")
    return "\n".join(lines)


def headline_display(table: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """The headline table with ``v [lo, hi]`` text cells (for Markdown, HTML and the terminal).

    The first column is ``model`` (the ``label`` column, when the table has one, else the run name). ``attrs["bold"]``
    lists the ``(row, column)`` cells holding the best value of a ranked metric (as bold in the LaTeX).
    """
    metrics = table.attrs.get("metrics", [])
    best = table.attrs.get("best", {})
    out = {"model": (table["label"] if "label" in table.columns else table["run"]).tolist()}
    for m in metrics:
        out[metric_label(m)] = [format_interval(v, lo, hi, digits=digits, latex=False)
                                for v, lo, hi in zip(table[m], table[f"{m}_lo"], table[f"{m}_hi"])]
    shown = pd.DataFrame(out)
    shown.attrs["bold"] = frozenset((i, metric_label(m)) for m, run in best.items()
                                    for i in np.flatnonzero(table["run"].to_numpy() == run))
    return shown


def pairwise_display(table: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """Pairwise tests with text cells (delta [lo, hi], p, Holm p, significance mark)."""
    return pd.DataFrame({
        "A": table["label_a"] if "label_a" in table else table["run_a"],
        "B": table["label_b"] if "label_b" in table else table["run_b"],
        "metric": table["metric"].map(metric_label), "test": table["test"],
        "delta (A - B)": [format_interval(d, lo, hi, digits=digits, latex=False)
                          for d, lo, hi in zip(table["delta"], table["lo"], table["hi"])],
        "p": [format_p(p, bound=b) for p, b in zip(table["p_value"], _flags(table, "p_bound"))],
        "p (Holm)": [format_p(p, bound=b) + (" *" if s else "")
                     for p, s, b in zip(table["p_holm"], table["significant"], _flags(table, "p_holm_bound"))],
    })


def _flags(table: pd.DataFrame, column: str) -> list[bool]:
    """``table[column]`` as bools (all False when absent)."""
    return [bool(v) for v in table[column]] if column in table else [False] * len(table)


def _flag(row, column: str) -> bool:
    return bool(getattr(row, column, False))


def _latex_p(p: float, bound: bool) -> str:
    """A p-value cell: ``$\\le$ 0.001`` for a floor-limited bound, else the escaped :func:`format_p` text."""
    return format_p(p, bound=True, latex=True) if bound and np.isfinite(p) else latex_escape(format_p(p))


def _latex_table(header: list[str], body: list[list[str]], *, caption: str, label: str, align: str,
                 midrule_before: Sequence[int] = ()) -> str:
    lines = [r"% Requires \usepackage{booktabs}. Written by agnbench report.", r"\begin{table*}", r"\centering",
             r"\caption{" + latex_escape(caption) + "}", r"\label{" + label + "}",
             r"\begin{tabular}{" + align + "}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    for i, cells in enumerate(body):
        if i in midrule_before and i > 0:
            lines.append(r"\midrule")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table*}", ""]
    return "\n".join(lines)


def _cell(value: object, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        return "--" if not np.isfinite(value) else f"{value:.{digits}f}"
    return latex_escape(str(value))


def _plain(value: object, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        return DASH if not np.isfinite(value) else f"{value:.{digits}f}"
    return str(value)
