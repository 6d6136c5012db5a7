"""A short, factual paragraph of results that a user can paste into a paper and edit.

Every number in it comes from the comparison's tables (``summary.csv``, ``tests.csv``,
``inputs.yaml``); nothing is rounded before comparison, and significance is stated only from the
Holm-corrected p-values. The majority-class floor is computed from the classes and their counts on the
split (:func:`majority_baseline`), never assumed binary. On a mock survey the paragraph says so first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from agnbench.reports.methods_text import (difference_method, floor_note, holm_bounds, interval_phrase, p_bounds,
                                           p_text, prevalence_note)
from agnbench.reports.tables import LOWER_IS_BETTER, MAJORITY, metric_label

#: Metrics the paragraph reports, with the preferred test for each.
_PARAGRAPH_METRICS = (("roc_auc", ("DeLong", "paired bootstrap")), ("balanced_accuracy", ("paired bootstrap",)))
_NAMES = {"roc_auc": "ROC-AUC", "balanced_accuracy": "balanced accuracy"}


def majority_baseline(classes: Sequence[str], counts: Mapping[str, int], *,
                      majority: str | None = None) -> dict[str, float | str | int]:
    """Scores of predicting one class (the training majority) for every object of a split, from its class counts.

    Parameters
    ----------
    classes : sequence of str
        The K class names, in label order.
    counts : mapping of str to int
        Objects of each class on the split (``inputs.yaml`` ``class_counts``).
    majority : str, optional
        The class predicted (the training split's majority, ``inputs.yaml`` ``majority_baseline.class``); default
        the split's most common class.

    Returns
    -------
    dict
        ``class``; ``accuracy`` (that class's fraction of the split); ``balanced_accuracy`` = 1/K' for the K' classes
        present on the split (recall 1 on one class, 0 on the others); ``k`` = K'; ``roc_auc`` = 0.5 (constant
        scores rank nothing) when every class is present, else NaN (undefined for an absent class).
    """
    n = {c: int(counts.get(c, 0)) for c in classes}
    total = sum(n.values())
    cls = majority if majority in n else max(classes, key=lambda c: n[c])
    present = sum(v > 0 for v in n.values())
    return {"class": cls, "accuracy": n[cls] / total if total else float("nan"),
            "balanced_accuracy": 1.0 / present if present else float("nan"), "k": present,
            "roc_auc": 0.5 if present == len(classes) and present >= 2 else float("nan")}


def oriented_test(tests: pd.DataFrame, a: str, b: str, metric: str, test: str, *,
                  n_boot: int | None = None) -> dict | None:
    """The row of ``tests`` comparing ``a`` with ``b`` (delta = a - b, interval flipped if stored as b - a).

    ``p_bound`` / ``p_holm_bound`` say whether the p-values are floor-limited bounds (:mod:`methods_text`).
    """
    rows = tests[(tests["metric"] == metric) & (tests["test"] == test)]
    if {"p_bound", "p_holm_bound"} <= set(tests.columns):  # computed once by the caller
        bounds = (tests["p_bound"], tests["p_holm_bound"])
    else:
        bounds = (p_bounds(tests, n_boot=n_boot), holm_bounds(tests, n_boot=n_boot))
    for first, second, sign in ((a, b, 1.0), (b, a, -1.0)):
        hit = rows[(rows["run_a"] == first) & (rows["run_b"] == second)]
        if len(hit):
            r = hit.iloc[0]
            lo, hi = (r["lo"], r["hi"]) if sign > 0 else (-r["hi"], -r["lo"])
            return {"delta": sign * r["delta"], "lo": lo, "hi": hi, "p": r["p_value"], "p_holm": r["p_holm"],
                    "test": test, "row": r.to_dict(), "p_bound": bool(bounds[0][hit.index[0]]),
                    "p_holm_bound": bool(bounds[1][hit.index[0]])}
    return None


def summary_paragraph(summary: pd.DataFrame, tests: pd.DataFrame, inputs: dict, *, describe: dict[str, str],
                      mock: bool, alpha: float = 0.05, digits: int = 3, primary: pd.DataFrame | None = None,
                      calibration: pd.DataFrame | None = None) -> str:
    """The results paragraph.

    Parameters
    ----------
    summary, tests : DataFrame
        ``summary.csv`` and ``tests.csv`` of the comparison.
    inputs : dict
        Parsed ``inputs.yaml`` (split, object counts, compare settings).
    describe : dict of str to str
        Run name -> short description (``"the spectra track (resnet1d)"``).
    mock : bool
        The store was built from the simulated survey (the paragraph then opens with that caveat).
    alpha : float
        Family-wise significance level for the Holm-corrected p-values.
    primary : DataFrame, optional
        ``primary.csv``: the declared primary comparison, stated first.
    calibration : DataFrame, optional
        ``calibration.csv``: Spiegelhalter's test per run.
    """
    settings = inputs.get("compare", {})
    split = inputs.get("objects", {}).get("split", "test")
    counts = inputs.get("class_counts", {})
    n = inputs.get("objects", {}).get("shared", sum(counts.values()))
    n_boot = int(settings.get("n_boot", 2000))
    ci = settings.get("ci")
    parts = []
    if mock:
        parts.append("These numbers come from the simulated (mock) survey and are not science results; they "
                     "show what the pipeline reports.")
    class_text = ", ".join(f"{v} {k}" for k, v in counts.items())
    if primary is not None and len(primary):
        parts.append(_primary_sentence(primary, inputs, settings, describe=describe, alpha=alpha, digits=digits))
    parts.append(f"On the {split} split ({n} objects: {class_text}), with {interval_phrase(settings, split=split, ci=ci)},")
    models = [r for r in dict.fromkeys(summary["run"]) if r != MAJORITY]
    first, floored = True, False
    tests = tests.assign(p_bound=p_bounds(tests, n_boot=n_boot), p_holm_bound=holm_bounds(tests, n_boot=n_boot))
    for metric, preferred in _PARAGRAPH_METRICS:
        values = _estimates(summary, metric, models)
        if not values:
            continue
        best = _best(values, metric)
        row = _row(summary, best, metric)
        name = _NAMES.get(metric, metric_label(metric))
        lead = "" if first else f"For {name}, "
        sentence = (f"{lead}{describe.get(best, best)} has the {'lowest' if metric in LOWER_IS_BETTER else 'highest'} "
                    f"{name}, {_iv(row, digits)}")
        if first:
            parts[-1] += " " + sentence
        else:
            parts.append(sentence)
        others = []
        for other in sorted((m for m in models if m != best), key=lambda m: -values.get(m, -np.inf)):
            test = next((t for t in (oriented_test(tests, best, other, metric, name, n_boot=n_boot)
                                     for name in preferred) if t), None)
            orow = _row(summary, other, metric)
            text = f"{describe.get(other, other)} {_iv(orow, digits)}"
            if test is not None:
                floored = floored or test["p_bound"] or test["p_holm_bound"]
                verdict = "significant" if test["p_holm"] < alpha else "not significant"
                text += (f" (difference {test['delta']:+.{digits}f} [{test['lo']:+.{digits}f}, {test['hi']:+.{digits}f}], "
                         f"{difference_method(test['row'], settings)}; {test['test']} "
                         f"{p_text(test['p'], bound=test['p_bound'])}, Holm-corrected "
                         f"{p_text(test['p_holm'], bound=test['p_holm_bound'])}: {verdict} at {alpha:g})")
            others.append(text)
        if others:
            parts[-1] += "; compared with " + "; ".join(others)
        parts[-1] += "."
        first = False
    if inputs.get("classes") or inputs.get("class_counts"):
        parts.append(_majority_sentence(summary, inputs, digits))
    parts.append(prevalence_note(settings, split=split))
    if floored:
        parts.append(floor_note(n_boot))
    parts += _calibration_sentences(summary, models, inputs, describe=describe, digits=digits,
                                    calibration=calibration)
    return " ".join(parts)


def _calibration_sentences(summary: pd.DataFrame, models: Sequence[str], inputs: dict, *, describe: dict[str, str],
                           digits: int, calibration: pd.DataFrame | None) -> list[str]:
    """Calibration, listed and never ranked: debiased error, slope/intercept, Spiegelhalter's test, plug-in ECE."""
    out = []
    bins = (inputs.get("compare") or {}).get("ece_bins")
    each = {m: _estimates(summary, m, models) for m in ("debiased_ce", "calibration_slope", "calibration_intercept")}
    if each["debiased_ce"]:
        listed = "; ".join(f"{describe.get(run, run)} {_iv(_row(summary, run, 'debiased_ce'), digits)}"
                           for run in each["debiased_ce"])
        out.append(f"Calibration (listed, not ranked): debiased L2 calibration error (Kumar et al. 2019"
                   f"{f', {bins} bins' if bins else ''}; negative = within sampling noise; its percentile interval "
                   f"covered about 0.91 in simulation at n ~ 360): {listed}.")
    if each["calibration_slope"]:
        listed = "; ".join(
            f"{describe.get(run, run)} slope {_iv(_row(summary, run, 'calibration_slope'), digits)}"
            + (f", intercept {_iv(_row(summary, run, 'calibration_intercept'), digits)}"
               if run in each["calibration_intercept"] else "") for run in each["calibration_slope"])
        out.append(f"Logistic recalibration (slope ideal 1; intercept with the slope fixed at 1, ideal 0): {listed}.")
    if calibration is not None and len(calibration):
        shown = calibration[calibration["run"].isin(models)]
        if len(shown):
            listed = "; ".join(f"{describe.get(r.run, r.run)} z = {r.statistic:+.2f}, {p_text(r.p_value)}"
                               for r in shown.itertuples())
            out.append(f"Spiegelhalter's test of calibration (H0: calibrated; two-sided, not Holm-corrected): {listed}.")
    calib = _estimates(summary, "ece", models)
    if calib:  # listed, never ranked: the plug-in ECE is biased upward, most for small samples
        listed = "; ".join(f"{describe.get(run, run)} {_iv(_row(summary, run, 'ece'), digits)}" for run in calib)
        out.append(f"Expected calibration error (plug-in{f', {bins} bins' if bins else ''}; biased upward for small "
                   f"samples, so it is not used to rank the models): {listed}.")
    return out


def _majority_sentence(summary: pd.DataFrame, inputs: dict, digits: int) -> str:
    """The floor every model must beat, from the classes and their counts on the split."""
    classes = list(inputs.get("classes") or inputs.get("class_counts", {}).keys())
    recorded = (inputs.get("majority_baseline") or {}).get("class")
    base = majority_baseline(classes, inputs.get("class_counts", {}), majority=recorded)
    row = _row(summary, MAJORITY, "accuracy")
    accuracy = float(row["estimate"]) if row is not None else base["accuracy"]
    who = "the training majority class" if recorded else "the split's most common class"
    auc = (f" and ROC-AUC {base['roc_auc']:.1f} (constant scores)"
           if np.isfinite(base["roc_auc"]) and "roc_auc" in set(summary["metric"]) else "")
    return (f"Predicting {who} ({base['class']}) for every object gives accuracy {accuracy:.{digits}f} (its "
            f"fraction of the split), balanced accuracy {base['balanced_accuracy']:.{digits}f} (1/{base['k']} for "
            f"{base['k']} classes){auc}: the floor every model must beat.")


def _estimates(summary: pd.DataFrame, metric: str, runs: Sequence[str]) -> dict[str, float]:
    sub = summary[(summary["metric"] == metric) & summary["run"].isin(runs)]
    return {r: float(v) for r, v in zip(sub["run"], sub["estimate"]) if np.isfinite(v)}


def _best(values: dict[str, float], metric: str) -> str:
    pick = min if metric in LOWER_IS_BETTER else max
    return pick(values, key=values.get)


def _row(summary: pd.DataFrame, run: str, metric: str) -> dict | None:
    sub = summary[(summary["run"] == run) & (summary["metric"] == metric)]
    return None if sub.empty else sub.iloc[0].to_dict()


def _primary_sentence(primary: pd.DataFrame, inputs: dict, settings: dict, *, describe: dict[str, str],
                      alpha: float, digits: int) -> str:
    """The declared primary comparison: each other track against the reference, with its method and Holm family."""
    rec = inputs.get("primary") or {}
    metric = str(primary["metric"].iloc[0])
    ref = str(primary["reference"].iloc[0])
    name = _NAMES.get(metric, metric_label(metric))
    how = rec.get("rule") or "declared in the config"
    bounds = holm_bounds(primary, n_boot=int(settings.get("n_boot", 2000)))
    items = []
    for i, r in primary.iterrows():
        verdict = "significant" if r["p_holm"] < alpha else "not significant"
        items.append(f"{describe.get(r['run'], r['run'])} minus {describe.get(ref, ref)} {r['delta']:+.{digits}f} "
                     f"[{r['lo']:+.{digits}f}, {r['hi']:+.{digits}f}] "
                     f"({difference_method(r.to_dict(), settings)}; Holm over the {int(r['family_size'])} primary "
                     f"comparisons {p_text(r['p_holm'], bound=bool(bounds[i]))}: {verdict} at "
                     f"{alpha:g})")
    return (f"Primary comparison, declared before looking ({name}; reference: {describe.get(ref, ref)}, {how}): "
            + "; ".join(items) + ". Everything else below is secondary.")


def _iv(row: dict | None, digits: int) -> str:
    if row is None:
        return "(not available)"
    return f"{row['estimate']:.{digits}f} [{row['lo']:.{digits}f}, {row['hi']:.{digits}f}]"
