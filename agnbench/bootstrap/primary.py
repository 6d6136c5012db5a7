"""The one primary comparison a paper leads with: each other track against a reference, on one metric.

Ten pairs of runs times fifteen metrics bury the answer and invite a reader to pick the comparison that
looks best. ``compare.primary_metric`` (default ROC-AUC) and ``compare.primary_reference`` name, before
anything is seen, the comparison of interest:

* ``best_catalog`` (default): the reference is the catalog model with the best primary metric **on the
  val split** (seed groups by their mean over seeds); the test split is never used to choose it;
* a run name: that run.

Every run (or seed group) of another track than the reference is compared with it; the difference,
its interval and p-value are read from ``tests.csv`` (one test, the paired bootstrap of the same
replicates as every other interval), and the Holm correction runs over this family alone. Everything
else in the comparison is secondary and labelled as such in the report.

Fusion runs (track ``fusion``) are never in this family: the primary question is one modality against the
best catalog model, and a fusion holds that catalog model (or another) among its members, so "fusion vs
catalog" is an incremental-value question, answered with its own Holm family in ``incremental.csv``
(:mod:`agnbench.bootstrap.incremental`). Adding or removing fusion runs leaves ``primary.csv`` unchanged. A
fusion run named as ``compare.primary_reference`` is compared with the single-modality runs.

Steps: :func:`val_scores` (candidates scored on val) -> :func:`choose_reference` ->
:func:`primary_table`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from agnbench.bootstrap.compare_inputs import RunPredictions, align
from agnbench.bootstrap.metrics import point_metrics
from agnbench.bootstrap.paired_tests import holm
from agnbench.config.choices import FUSION_TRACK, PRIMARY_REFERENCE_RULES
from agnbench.errors import AgnbenchError

__all__ = ["PRIMARY_COLUMNS", "PRIMARY_TEST", "PrimaryChoice", "choose_reference", "primary_table", "val_scores"]

#: The test of ``tests.csv`` whose difference, interval and p-value the primary table quotes.
PRIMARY_TEST = "paired bootstrap"
#: Columns of ``primary.csv``.
PRIMARY_COLUMNS = ("run", "reference", "metric", "estimate", "reference_estimate", "delta", "lo", "hi", "test",
                   "p_value", "p_holm", "family_size")
#: Track whose best model is the default reference.
_CATALOG = "catalog"


@dataclass(frozen=True)
class PrimaryChoice:
    """What the primary comparison compares, and how the reference was chosen.

    Attributes
    ----------
    metric : str
        The primary metric (``compare.primary_metric``).
    reference : str or None
        The reference run or seed group; None when none could be chosen (``why_not`` says why).
    rule : str
        How it was chosen, in words (written to ``inputs.yaml``).
    val_scores : dict of str to float
        Each candidate's primary metric on the val split (empty when the reference was named).
    others : list of str
        The runs or seed groups compared with the reference (other tracks than the reference's; never a
        fusion run).
    why_not : str or None
        Why there is no primary comparison.
    """

    metric: str
    reference: str | None
    rule: str
    val_scores: dict[str, float] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    why_not: str | None = None

    def record(self) -> dict:
        """The ``primary`` entry of ``inputs.yaml``."""
        return {"metric": self.metric, "reference": self.reference, "rule": self.rule,
                "val_scores": {k: float(v) for k, v in self.val_scores.items()}, "others": list(self.others),
                "why_not": self.why_not}


def val_scores(runs: Sequence[RunPredictions], *, metric: str, units: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """The primary metric of each unit on the val objects its runs all scored (a unit's runs averaged).

    Parameters
    ----------
    runs : sequence of RunPredictions
        The candidate runs (each with ``val`` predictions).
    metric : str
        A metric of :data:`agnbench.bootstrap.metrics.METRIC_NAMES` where higher is better.
    units : mapping of str to sequence of str
        Unit name (a run, or a seed group) -> the names of its runs.

    Returns
    -------
    dict of str to float
        Unit -> mean over its runs of the metric on the shared val objects (NaN where undefined).

    Raises
    ------
    AgnbenchError
        When the runs share no val object (the caller reports why there is no primary comparison).
    """
    val = align(list(runs), "val")
    classes = runs[0].classes
    per_run = {name: point_metrics(val.y_true, val.proba[name], val.y_pred[name], classes=classes,
                                   metrics=[metric])[metric] for name in val.proba}
    return {unit: float(np.mean([per_run[r] for r in members])) for unit, members in units.items()}


def choose_reference(*, metric: str, setting: str, tracks: Mapping[str, str],
                     scores: Mapping[str, float] | None = None, why_no_scores: str | None = None) -> PrimaryChoice:
    """The reference of the primary comparison and the units compared with it.

    Parameters
    ----------
    metric : str
        The primary metric.
    setting : str
        ``compare.primary_reference``: ``"best_catalog"`` or the name of a unit.
    tracks : mapping of str to str
        Every unit compared (runs or seed groups; not the majority baseline) -> its track.
    scores : mapping of str to float, optional
        The catalog units' val scores (:func:`val_scores`), for ``best_catalog``.
    why_no_scores : str, optional
        Why there are no val scores (no val split in the predictions, ...).

    Returns
    -------
    PrimaryChoice
        With ``why_not`` set (and no reference) when none can be chosen: no catalog unit, no val
        scores, or no unit of another track (fusion runs aside) to compare with.
    """
    if setting != PRIMARY_REFERENCE_RULES[0]:
        if setting not in tracks:
            raise AgnbenchError(f"compare.primary_reference is {setting!r}, which is not among the runs compared "
                                f"({', '.join(sorted(tracks))}); name one of them or use "
                                f"{PRIMARY_REFERENCE_RULES[0]!r}")
        return _with_others(PrimaryChoice(metric, setting, "named in compare.primary_reference"), tracks)
    catalog = [u for u, t in tracks.items() if t == _CATALOG]
    rule = f"the catalog model with the highest {metric} on the val split (never chosen on test)"
    if not catalog:
        return PrimaryChoice(metric, None, rule, why_not="no catalog run to use as the reference; set "
                                                         "compare.primary_reference to a run name")
    finite = {u: float(v) for u, v in (scores or {}).items() if u in catalog and np.isfinite(v)}
    if not finite:
        why = why_no_scores or f"no catalog run has a finite {metric} on the val split"
        return PrimaryChoice(metric, None, rule, why_not=f"{why}; set compare.primary_reference to a run name")
    best = max(sorted(finite), key=finite.__getitem__)
    return _with_others(PrimaryChoice(metric, best, rule, val_scores=finite), tracks)


def _with_others(choice: PrimaryChoice, tracks: Mapping[str, str]) -> PrimaryChoice:
    """``choice`` with the units of other tracks than the reference's (fusion runs excluded: their family is
    ``incremental.csv``), or why there are none."""
    own = tracks[choice.reference]
    others = [u for u, t in tracks.items() if t not in (own, FUSION_TRACK)]
    if not others:
        fused = " (fusion runs are not in the primary family: see incremental.csv)" \
            if FUSION_TRACK in tracks.values() and own != FUSION_TRACK else ""
        return PrimaryChoice(choice.metric, choice.reference, choice.rule, choice.val_scores,
                             why_not=f"no run of another track than {own!r} to compare with {choice.reference}"
                                     f"{fused}")
    return PrimaryChoice(choice.metric, choice.reference, choice.rule, choice.val_scores, others)


def primary_table(tests: pd.DataFrame, summary: pd.DataFrame, choice: PrimaryChoice, *,
                  test: str = PRIMARY_TEST) -> pd.DataFrame:
    """One row per unit compared with the reference: difference (unit - reference), interval, p, Holm p.

    Parameters
    ----------
    tests, summary : DataFrame
        ``tests.csv`` and ``summary.csv`` of the comparison.
    choice : PrimaryChoice
        From :func:`choose_reference` (an empty table when it has no reference).
    test : str
        The ``tests.csv`` test quoted.

    Returns
    -------
    DataFrame
        :data:`PRIMARY_COLUMNS`; ``p_holm`` is Holm-corrected over these rows only (``family_size`` of them).

    Raises
    ------
    AgnbenchError
        When ``tests.csv`` lacks a (unit, reference) row of ``test`` on the metric: an internal inconsistency.
    """
    if choice.reference is None or not choice.others:
        return pd.DataFrame(columns=list(PRIMARY_COLUMNS))
    ref, metric = choice.reference, choice.metric
    rows = tests[(tests["metric"] == metric) & (tests["test"] == test)]
    est = summary[summary["metric"] == metric].set_index("run")["estimate"]
    out = []
    for unit in choice.others:
        hit = rows[(rows["run_a"] == unit) & (rows["run_b"] == ref)]
        sign = 1.0
        if hit.empty:
            hit, sign = rows[(rows["run_a"] == ref) & (rows["run_b"] == unit)], -1.0
        if hit.empty:
            raise AgnbenchError(f"tests.csv has no {test!r} row for {unit} vs {ref} on {metric}; the comparison is "
                                "incomplete (re-run agnbench compare)")
        r = hit.iloc[0]
        lo, hi = (r["lo"], r["hi"]) if sign > 0 else (-r["hi"], -r["lo"])
        out.append({"run": unit, "reference": ref, "metric": metric, "estimate": float(est.get(unit, np.nan)),
                    "reference_estimate": float(est.get(ref, np.nan)), "delta": sign * float(r["delta"]),
                    "lo": float(lo), "hi": float(hi), "test": test, "p_value": float(r["p_value"])})
    table = pd.DataFrame(out)
    table["p_holm"] = holm(table["p_value"].to_numpy(np.float64))
    table["family_size"] = len(table)
    return table[list(PRIMARY_COLUMNS)]
