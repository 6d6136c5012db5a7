"""Seed groups: intervals and tests that include training-seed variance (``compare.seeds: combined``).

A *seed group* is ``K`` runs identical but for the training seed (:attr:`RunPredictions.group
<agnbench.bootstrap.compare_inputs.RunPredictions.group>`). What the group estimates is the procedure's
expected metric: the metric of a model trained with a random seed, averaged over seeds, on the population the
test objects are drawn from. Its estimate is the mean over the ``K`` seeds of each run's metric, and it varies
both with the test objects (sampling variance) and with the seeds (training variance).

The interval is a two-stage bootstrap over objects x seeds. Replicate ``b`` takes the object resample ``b``
shared by every run (:func:`~agnbench.bootstrap.paired.paired_replicates`, so pairs stay paired) and draws
``K`` of the group's runs with replacement (its own random stream per group); with ``m_b`` the metric averaged
over all ``K`` runs on resample ``b`` and ``m*_b`` the average over the drawn runs, the replicate is

    ``m_b + sqrt(K / (K - 1)) * (m*_b - m_b)``  (clipped to the metric's range),

the factor undoing the ``(K - 1) / K`` shrinkage of the bootstrap variance of a mean of ``K`` values (the
adjusted bootstrap of Davison & Hinkley 1997, sec. 3.8), which with 3 seeds would otherwise leave out a third
of the seed variance. With ``K = 1`` the replicate is the run's own: the interval is the single-run interval.
Percentile and BCa intervals are taken from these replicates (BCa: bias correction from them, acceleration
from the delete-a-group jackknife over objects of the seed-mean). A difference between two groups uses the
same object resample and independent seed draws for each group. With 3 seeds the seed term rests on 2
degrees of freedom: the interval is approximate (its measured coverage is in
``tests/statistics/test_seed_intervals.py`` and ``benchmarks/bench_seed_intervals.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from agnbench.bootstrap.paired_tests import seed_spread
from agnbench.bootstrap.metrics import PERCENTILE_METRICS
from agnbench.bootstrap.resample import bca_interval, bootstrap_pvalue, percentile_interval
from agnbench.errors import AgnbenchError
from agnbench.seeding import rng

__all__ = ["OVER_SEEDS", "SeedUnits", "combined_units", "seed_draws", "seed_mean_replicates", "unit_name"]

#: Appended to the interval method (``compare.ci``) in the ``ci`` column of a seed group's summary row.
OVER_SEEDS = "over objects x seeds"
#: Metric ranges a replicate is clipped to (the rest lie in [0, 1]). The calibration metrics are unbounded:
#: the debiased calibration error is an unbiased estimate of a square and can be negative, the slope and
#: intercept of the logistic recalibration are any real numbers.
_RANGES = {"mcc": (-1.0, 1.0), "log_loss": (0.0, np.inf), "debiased_ce": (-np.inf, np.inf),
           "calibration_slope": (-np.inf, np.inf), "calibration_intercept": (-np.inf, np.inf)}


def unit_name(group: str, k: int) -> str:
    """The row name of a seed group of ``k`` runs in summary.csv and tests.csv: ``<group> (mean of k seeds)``."""
    return f"{group} (mean of {k} seeds)"


def seed_draws(k: int, *, n_boot: int, seed: int, group: str) -> np.ndarray:
    """Which of the group's ``k`` runs each replicate draws: shape (n_boot, k), int, from ``rng(seed, "compare",
    "seeds", group)`` (one independent stream per group)."""
    return rng(seed, "compare", "seeds", group).integers(0, k, size=(n_boot, k))


def seed_mean_replicates(replicates: np.ndarray, draws: np.ndarray, *, metric: str = "") -> np.ndarray:
    """Two-stage replicates of the seed-mean (see the module docstring).

    Parameters
    ----------
    replicates : numpy.ndarray, shape (K, B)
        The object-resample replicates of each of the ``K`` runs (resample ``b`` shared by all).
    draws : numpy.ndarray of int, shape (B, K)
        Run indices drawn with replacement for each replicate (:func:`seed_draws`).
    metric : str
        Its range bounds the replicates (``mcc`` in [-1, 1], ``log_loss`` >= 0, the calibration metrics
        unbounded, the rest in [0, 1]).

    Returns
    -------
    numpy.ndarray, shape (B,)
        ``replicates[0]`` itself when ``K == 1``.
    """
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.ndim != 2 or draws.shape != (reps.shape[1], reps.shape[0]):
        raise AgnbenchError(f"seed_mean_replicates needs replicates (K, B) and draws (B, K), got {reps.shape} and "
                            f"{draws.shape}")
    k = reps.shape[0]
    if k == 1:
        return reps[0].copy()
    full = reps.mean(axis=0)
    drawn = np.take_along_axis(reps, draws.T, axis=0).mean(axis=0)
    lo, hi = _RANGES.get(metric, (0.0, 1.0))
    return np.clip(full + np.sqrt(k / (k - 1.0)) * (drawn - full), lo, hi)


@dataclass(frozen=True)
class SeedUnits:
    """What ``compare.seeds: combined`` adds to a comparison.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per (metric, seed group of K >= 2 runs), summary.csv's columns; ``run`` is :func:`unit_name`.
    tests : pandas.DataFrame
        tests.csv over the units compared (each seed group once, each run in no group): paired bootstrap over
        objects x seeds for a pair with a group, the single-run tests (bootstrap, DeLong, McNemar) for two runs;
        ``p_holm`` is left to the caller.
    replicates : dict of str -> dict of str -> numpy.ndarray, shape (B,)
        The groups' two-stage replicates ``{unit: {metric: values}}``.
    groups : dict of str -> list of str
        Unit name -> its runs, for the groups of K >= 2.
    """

    summary: pd.DataFrame
    tests: pd.DataFrame
    replicates: dict[str, dict[str, np.ndarray]]
    groups: dict[str, list[str]]


def combined_units(groups: Mapping[str, Sequence[str]], *, summary: pd.DataFrame, tests: pd.DataFrame,
                   replicates: Mapping[str, Mapping[str, np.ndarray]],
                   jackknife: Mapping[str, Mapping[str, np.ndarray]], metrics: Sequence[str], tested: Sequence[str],
                   seed: int, ci: str, confidence: float, min_runs: int = 2) -> SeedUnits:
    """Seed-group rows of summary.csv and the tests among units (see the module docstring).

    Parameters
    ----------
    groups : mapping of str -> sequence of str
        Seed group -> its runs, in comparison order (groups of one run included).
    summary, tests : pandas.DataFrame
        The per-run summary.csv and tests.csv rows (:func:`~agnbench.bootstrap.paired.paired_comparison`).
    replicates, jackknife : mapping of run -> metric -> numpy.ndarray
        The per-run object-resample replicates (B,) and jackknife values (G,).
    tested : sequence of str
        Runs compared pairwise (the majority baseline is not).
    seed : int
        Root seed (the seed draws come from its ``compare/seeds/<group>`` streams).
    ci : str
        ``compare.ci``: ``percentile`` puts the percentile interval in ``lo``/``hi``, any other method the BCa
        interval (both over objects x seeds; the ``ci`` column says which).
    min_runs : int
        Groups of fewer runs stay single runs (1 makes a row for every group: a group of one run has the run's
        own interval and tests, which the tests check).
    """
    est = summary.set_index(["run", "metric"])
    rows, unit_reps, members_of = [], {}, {}
    for group, members in groups.items():
        members = list(members)
        if len(members) < min_runs:
            continue
        name = unit_name(group, len(members))
        members_of[name] = members
        n_boot = next(iter(replicates[members[0]].values())).size
        draws = seed_draws(len(members), n_boot=n_boot, seed=seed, group=group)
        unit_reps[name] = {}
        for m in metrics:
            reps = seed_mean_replicates(np.stack([replicates[r][m] for r in members]), draws, metric=m)
            unit_reps[name][m] = reps
            values = np.array([est.at[(r, m), "estimate"] for r in members], dtype=np.float64)
            rows.append(_summary_row(name, m, reps, values, np.mean([jackknife[r][m] for r in members], axis=0),
                                     ci=ci, confidence=confidence, first=est.loc[(members[0], m)], members=members))
    units = _units(groups, tested, min_runs=min_runs)
    return SeedUnits(summary=pd.DataFrame(rows, columns=summary.columns), groups=members_of, replicates=unit_reps,
                     tests=_unit_tests(units, tests, est, {**replicates, **unit_reps}, metrics, members_of,
                                       confidence=confidence))


def _summary_row(name: str, metric: str, reps: np.ndarray, values: np.ndarray, jackknife: np.ndarray, *, ci: str,
                 confidence: float, first: pd.Series, members: list[str]) -> dict:
    estimate = float(np.mean(values))
    p_lo, p_hi = percentile_interval(reps, confidence=confidence)
    b_lo, b_hi = bca_interval(reps, estimate=estimate, jackknife=jackknife, confidence=confidence)
    method = _method(ci, metric)
    lo, hi = (p_lo, p_hi) if method == "percentile" else (b_lo, b_hi)
    spread = seed_spread(values)
    note = (f"mean of {len(members)} seeds ({', '.join(members)}); seed std {spread['std']:.4g}; interval includes "
            f"object sampling and seed-to-seed variance")
    return {"metric": metric, "run": name, "estimate": estimate, "lo": float(lo), "hi": float(hi),
            "percentile_lo": float(p_lo), "percentile_hi": float(p_hi), "bca_lo": float(b_lo), "bca_hi": float(b_hi),
            "ci": f"{method} {OVER_SEEDS}", "confidence": confidence, "n": int(first["n"]), "n_boot": int(reps.size),
            "n_boot_valid": int(np.isfinite(reps).sum()),
            "note": "; ".join(t for t in (str(first["note"]) if pd.notna(first["note"]) else "", note) if t)}


def _method(ci: str, metric: str) -> str:
    """The bootstrap interval of a seed group for ``compare.ci``: ``percentile`` for ``percentile`` (and, under
    ``newcombe``, for the calibration metrics of :data:`~agnbench.bootstrap.metrics.PERCENTILE_METRICS`), else
    ``bca`` (an analytic single-model interval, e.g. a score interval for the AUC, cannot include the seed
    variance)."""
    return "percentile" if ci == "percentile" or (ci == "newcombe" and metric in PERCENTILE_METRICS) else "bca"


def _units(groups: Mapping[str, Sequence[str]], tested: Sequence[str], *, min_runs: int) -> list[str]:
    """The units compared pairwise, in the order of the runs: a group of ``min_runs`` or more by :func:`unit_name`,
    else the run."""
    order, seen = [], set()
    for run in tested:
        group = next(g for g, members in groups.items() if run in members)
        members = list(groups[group])
        unit = unit_name(group, len(members)) if len(members) >= min_runs else run
        if unit not in seen:
            seen.add(unit)
            order.append(unit)
    return order


def _unit_tests(units: list[str], tests: pd.DataFrame, est: pd.DataFrame, reps: Mapping[str, Mapping[str, np.ndarray]],
                metrics: Sequence[str], members_of: Mapping[str, list[str]], *, confidence: float) -> pd.DataFrame:
    """tests.csv rows among ``units`` (without ``p_holm``)."""
    cols = [c for c in tests.columns if c != "p_holm"]
    estimate = est["estimate"].to_dict()
    means = {(u, m): float(np.mean([estimate[(r, m)] for r in members])) for u, members in members_of.items()
             for m in metrics}
    rows = []
    for a, b in itertools.combinations(units, 2):
        if a not in members_of and b not in members_of:
            rows += tests[(tests["run_a"] == a) & (tests["run_b"] == b)][cols].to_dict("records")
            continue
        what = " and ".join(f"{len(members_of[u])} seeds" if u in members_of else "1 run" for u in (a, b))
        for m in metrics:
            delta = reps[a][m] - reps[b][m]
            lo, hi = percentile_interval(delta, confidence=confidence)
            point = means.get((a, m), estimate.get((a, m))) - means.get((b, m), estimate.get((b, m)))
            rows.append({"run_a": a, "run_b": b, "metric": m, "test": "paired bootstrap", "delta": float(point),
                         "lo": float(lo), "hi": float(hi), "statistic": np.nan, "p_value": bootstrap_pvalue(delta),
                         "p_floor": 2.0 / (np.count_nonzero(np.isfinite(delta)) + 1),
                         "note": f"over objects x seeds ({what}; independent seed draws per group)"})
    return pd.DataFrame(rows, columns=cols)
