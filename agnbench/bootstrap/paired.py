"""Paired bootstrap over aligned runs: raw replicates, summary intervals, pairwise tests.

One matrix of resample indices over the shared objects (:func:`~agnbench.bootstrap.resample.index_chunks`)
is turned into count weights chunk by chunk and applied to every run, so replicate ``b`` of run A
and replicate ``b`` of run B saw the same objects: the difference of their metrics is a valid
bootstrap replicate of the difference. Raw draws are returned; intervals are summaries of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm
from tqdm.auto import tqdm

from agnbench.bootstrap.auc_intervals import newcombe_auc_interval
from agnbench.bootstrap.calibration import CALIBRATION_COLUMNS, calibration_table
from agnbench.bootstrap.delong import delong_test
from agnbench.bootstrap.metrics import METRIC_NAMES, PERCENTILE_METRICS, class_metric_names, metric_notes, point_metrics, weighted_metrics
from agnbench.bootstrap.paired_tests import holm, mcnemar_test
from agnbench.bootstrap.resample import (bca_interval, bootstrap_pvalue, counts_from_indices, index_chunks,
                                         jackknife_weights, percentile_interval)
from agnbench.seeding import derive_seed


def paired_replicates(y_true: np.ndarray, proba: dict[str, np.ndarray], y_pred: dict[str, np.ndarray], *,
                      classes: Sequence[str], metrics: Sequence[str], n_boot: int, seed: int, stratify: bool,
                      ece_bins: int = 15, progress: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap replicates ``{run: {metric: (n_boot,)}}`` from ONE shared resample matrix.

    Parameters
    ----------
    y_true : numpy.ndarray of int, shape (n,)
    proba : dict of run -> numpy.ndarray, shape (n, K)
    y_pred : dict of run -> numpy.ndarray of int, shape (n,)
    stratify : bool
        Resample within each true class (class counts fixed in every replicate).
    """
    n = y_true.size
    out = {run: {m: np.empty(n_boot) for m in metrics} for run in proba}
    chunks = index_chunks(n, n_boot=n_boot, seed=derive_seed(seed, "compare", "bootstrap"),
                          strata=y_true if stratify else None)
    with tqdm(total=n_boot, desc="bootstrap", unit="replicate", disable=not progress) as bar:
        for first, idx in chunks:
            counts = counts_from_indices(idx, n)
            for run in proba:
                values = weighted_metrics(y_true, proba[run], y_pred[run], counts, classes=classes, metrics=metrics,
                                          ece_bins=ece_bins)
                for m in metrics:
                    out[run][m][first : first + idx.shape[0]] = values[m]
            bar.update(idx.shape[0])
    return out


def jackknife_values(y_true: np.ndarray, proba: dict[str, np.ndarray], y_pred: dict[str, np.ndarray], *,
                     classes: Sequence[str], metrics: Sequence[str], n_groups: int, seed: int,
                     ece_bins: int = 15) -> dict[str, dict[str, np.ndarray]]:
    """Delete-a-group jackknife values ``{run: {metric: (G,)}}`` for the BCa acceleration."""
    weights = jackknife_weights(y_true.size, n_groups=min(n_groups, y_true.size),
                                seed=derive_seed(seed, "compare", "jackknife"))
    return {run: weighted_metrics(y_true, proba[run], y_pred[run], weights, classes=classes, metrics=metrics,
                                  ece_bins=ece_bins) for run in proba}


def summary_table(y_true: np.ndarray, proba: dict[str, np.ndarray], y_pred: dict[str, np.ndarray],
                  replicates: dict[str, dict[str, np.ndarray]], jackknife: dict[str, dict[str, np.ndarray]], *,
                  classes: Sequence[str], metrics: Sequence[str], confidence: float, ci: str,
                  notes: dict[str, str], ece_bins: int = 15) -> pd.DataFrame:
    """One row per (metric, run): point estimate, percentile and BCa intervals, ``lo``/``hi`` from ``ci``.

    ``ci`` is ``"percentile"``, ``"bca"`` or ``"newcombe"``: the Newcombe (2006) score interval for a binary
    ROC-AUC (:func:`~agnbench.bootstrap.auc_intervals.newcombe_auc_interval`, on the class counts of
    ``y_true``) and BCa for every other metric. The row's ``ci`` column names the interval in its ``lo``/``hi``.
    """
    counts = np.bincount(y_true, minlength=len(classes))
    rows = []
    for run in proba:
        point = point_metrics(y_true, proba[run], y_pred[run], classes=classes, metrics=metrics, ece_bins=ece_bins)
        for m in metrics:
            reps = replicates[run][m]
            p_lo, p_hi = percentile_interval(reps, confidence=confidence)
            b_lo, b_hi = bca_interval(reps, estimate=point[m], jackknife=jackknife[run][m], confidence=confidence)
            method = row_interval_method(ci, m, len(classes))
            if method == "newcombe":
                lo, hi = (newcombe_auc_interval(point[m], int(counts[1]), int(counts[0]), confidence=confidence)
                          if np.isfinite(point[m]) and counts.min() > 0 else (np.nan, np.nan))
            else:
                lo, hi = (p_lo, p_hi) if method == "percentile" else (b_lo, b_hi)
            rows.append({"metric": m, "run": run, "estimate": point[m], "lo": float(lo), "hi": float(hi),
                         "percentile_lo": float(p_lo), "percentile_hi": float(p_hi), "bca_lo": float(b_lo),
                         "bca_hi": float(b_hi), "ci": method, "confidence": confidence, "n": int(y_true.size),
                         "n_boot": int(reps.size), "n_boot_valid": int(np.isfinite(reps).sum()),
                         "note": notes.get(m, "")})
    return pd.DataFrame(rows)


def row_interval_method(ci: str, metric: str, n_classes: int) -> str:
    """The interval that ``compare.ci`` puts in ``lo``/``hi`` for ``metric``: ``percentile``, ``bca`` or
    ``newcombe`` (``ci: newcombe`` gives the Newcombe score interval for a binary ROC-AUC, the percentile interval
    for the calibration metrics of :data:`~agnbench.bootstrap.metrics.PERCENTILE_METRICS` and BCa otherwise)."""
    if ci == "newcombe":
        if metric == "roc_auc" and n_classes == 2:
            return "newcombe"
        return "percentile" if metric in PERCENTILE_METRICS else "bca"
    return ci


def pairwise_tests(y_true: np.ndarray, proba: dict[str, np.ndarray], y_pred: dict[str, np.ndarray],
                   replicates: dict[str, dict[str, np.ndarray]], summary: pd.DataFrame, *, runs: Sequence[str],
                   metrics: Sequence[str], confidence: float) -> pd.DataFrame:
    """Every pair of ``runs``: paired bootstrap deltas (A - B) for every metric, DeLong (ROC-AUC, binary) and
    McNemar (accuracy); ``p_holm`` is Holm-corrected within each (metric, test kind) family, i.e. across the run
    pairs compared on that metric by that test (the comparisons one row of a paper table makes), whatever
    form of the test each pair used (McNemar's exact and chi-square rows form one family,
    :func:`family_of_test`). Correcting across all metrics at once would treat 15 strongly correlated views
    of the same predictions as independent questions and, with the bootstrap's p-value floor 2 / (B + 1),
    declare no difference significant once there are more than a handful of runs."""
    est = summary.set_index(["run", "metric"])["estimate"]
    rows = []
    for a, b in itertools.combinations(runs, 2):
        for m in metrics:
            delta = replicates[a][m] - replicates[b][m]
            lo, hi = percentile_interval(delta, confidence=confidence)
            rows.append({"run_a": a, "run_b": b, "metric": m, "test": "paired bootstrap",
                         "delta": float(est[(a, m)] - est[(b, m)]), "lo": float(lo), "hi": float(hi),
                         "statistic": np.nan, "p_value": bootstrap_pvalue(delta),
                         "p_floor": 2.0 / (np.count_nonzero(np.isfinite(delta)) + 1), "note": ""})
        if proba[a].shape[1] == 2:
            d = delong_test(y_true, proba[a][:, 1], proba[b][:, 1])
            rows.append({"run_a": a, "run_b": b, "metric": "roc_auc", "test": "DeLong", "delta": d.delta,
                         "lo": d.delta - _z(confidence) * d.se, "hi": d.delta + _z(confidence) * d.se,
                         "statistic": d.z, "p_value": d.p_value, "note": d.note})
        mc = mcnemar_test(y_pred[a] == y_true, y_pred[b] == y_true)
        rows.append({"run_a": a, "run_b": b, "metric": "accuracy", "test": f"McNemar ({mc.method})",
                     "delta": float(np.mean(y_pred[a] == y_true) - np.mean(y_pred[b] == y_true)), "lo": np.nan,
                     "hi": np.nan, "statistic": mc.statistic, "p_value": mc.p_value,
                     "note": f"a wrong & b right: {mc.n01}; a right & b wrong: {mc.n10}"})
    table = pd.DataFrame(rows, columns=["run_a", "run_b", "metric", "test", "delta", "lo", "hi", "statistic",
                                        "p_value", "p_floor", "note"])
    return with_holm(table)


def with_holm(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (tests.csv rows) with ``p_holm``: Holm-corrected within each (metric, test kind) family
    (:func:`family_of_test`)."""
    table = table.copy()
    family = [table["metric"], table["test"].map(family_of_test)]
    table["p_holm"] = (table.groupby(family, sort=False)["p_value"]
                       .transform(lambda p: holm(p.to_numpy(np.float64))) if len(table) else [])
    return table


def family_of_test(test: str) -> str:
    """The test without its method detail: ``"McNemar (exact binomial)"`` -> ``"McNemar"``.

    Holm families are (metric, test kind): McNemar picks the exact or the chi-square form per pair (by its
    number of discordant pairs), and both forms answer the same question about the same pairs.
    """
    return test.split(" (", 1)[0]


@dataclass(frozen=True, eq=False)
class PairedComparison:
    """The paired comparison of ``R`` runs (or models) on the same ``n`` objects.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per (metric, run): the columns of ``summary.csv`` (:func:`summary_table`).
    tests : pandas.DataFrame
        One row per (run pair, metric, test): the columns of ``tests.csv`` (:func:`pairwise_tests`).
    replicates : dict of str -> dict of str -> numpy.ndarray, shape (n_boot,)
        Raw bootstrap draws ``{run: {metric: values}}`` from one shared resample matrix.
    metrics : list of str
        The metrics computed, in table order.
    jackknife : dict of str -> dict of str -> numpy.ndarray, shape (G,)
        Delete-a-group jackknife values ``{run: {metric: values}}`` (the BCa acceleration).
    calibration : pandas.DataFrame
        Spiegelhalter's test of calibration per run (binary problems; the columns of ``calibration.csv``,
        :func:`~agnbench.bootstrap.calibration.calibration_table`); empty for ``K > 2`` classes.
    """

    summary: pd.DataFrame
    tests: pd.DataFrame
    replicates: dict[str, dict[str, np.ndarray]]
    metrics: list[str]
    jackknife: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    calibration: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(CALIBRATION_COLUMNS)))

    def replicates_table(self) -> pd.DataFrame:
        """The raw draws in long form, ``replicate, run, metric, value`` (``replicates.parquet``)."""
        return long_replicates(self.replicates)


def paired_comparison(y_true: np.ndarray, proba: dict[str, np.ndarray], y_pred: dict[str, np.ndarray], *,
                      classes: Sequence[str], n_boot: int, seed: int, stratify: bool, confidence: float, ci: str,
                      jackknife_groups: int, ece_bins: int, tested: Sequence[str] | None = None,
                      progress: bool = False) -> PairedComparison:
    """Paired bootstrap, summary intervals and pairwise tests of aligned runs (what ``agnbench compare`` computes).

    Parameters
    ----------
    y_true : numpy.ndarray of int, shape (n,)
        True class indices ``0 .. K-1``.
    proba : dict of run -> numpy.ndarray, shape (n, K)
        Class probabilities of each run on the same objects, in the same order.
    y_pred : dict of run -> numpy.ndarray of int, shape (n,)
        Decisions of each run.
    classes : sequence of str, length K
        Class names (per-class metrics are named ``precision_<class>`` ...).
    n_boot, seed, stratify, confidence, ci, jackknife_groups, ece_bins
        As the ``compare`` config section (:class:`~agnbench.config.compare.CompareConfig`); ``seed`` is
        the root seed from which the resample and jackknife seeds are derived.
    tested : sequence of str, optional
        Runs compared pairwise in ``tests`` (default: all of ``proba``); the others (a reference
        baseline) appear in ``summary`` only.
    progress : bool
        Show a progress bar over the replicates.

    Returns
    -------
    PairedComparison
    """
    metrics = [*METRIC_NAMES, *class_metric_names(classes)]
    reps = paired_replicates(y_true, proba, y_pred, classes=classes, metrics=metrics, n_boot=n_boot, seed=seed,
                             stratify=stratify, ece_bins=ece_bins, progress=progress)
    jack = jackknife_values(y_true, proba, y_pred, classes=classes, metrics=metrics, n_groups=jackknife_groups,
                            seed=seed, ece_bins=ece_bins)
    notes = metric_notes(y_true, n_classes=len(classes))
    if stratify and "calibration_intercept" not in notes:
        notes["calibration_intercept"] = ("interval conditional on the test prevalence (class counts fixed by the "
                                          "stratified resampling); compare.stratify: false gives an unconditional one")
    summary = summary_table(y_true, proba, y_pred, reps, jack, classes=classes, metrics=metrics,
                            confidence=confidence, ci=ci, notes=notes, ece_bins=ece_bins)
    tests = pairwise_tests(y_true, proba, y_pred, reps, summary, runs=list(proba if tested is None else tested),
                           metrics=metrics, confidence=confidence)
    return PairedComparison(summary=summary, tests=tests, replicates=reps, metrics=metrics, jackknife=jack,
                            calibration=calibration_table(y_true, proba))


def long_replicates(replicates: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """``replicate, run, metric, value`` (Contract 4's replicates.parquet)."""
    parts = [pd.DataFrame({"replicate": np.arange(v.size, dtype=np.int32), "run": run, "metric": m, "value": v})
             for run, per in replicates.items() for m, v in per.items()]
    return pd.concat(parts, ignore_index=True)


def _z(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2))
