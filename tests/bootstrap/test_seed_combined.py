"""`compare.seeds: combined`: seed-group rows whose interval includes the seed-to-seed variance (objects x seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agnbench.bootstrap.compare import compare
from agnbench.bootstrap.compare_arrays import compare_predictions
from agnbench.bootstrap.resample import percentile_interval
from agnbench.bootstrap.seed_groups import combined_units, seed_draws, seed_mean_replicates, unit_name
from agnbench.config.core import dump_config, load_config
from agnbench.contracts.run_dir import config_path, seed_free_config_hash
from tests.bootstrap.test_compare import _fake_run, _problem


def test_one_seed_is_the_single_run_interval() -> None:
    """K = 1: the two-stage replicates are the run's own, and the row equals its summary row (percentile and BCa);
    ``lo``/``hi`` are the percentile interval for ``ci: percentile`` and BCa for any other method."""
    y, good, weak = _problem(n=300)
    paired = compare_predictions(y, {"a": good, "b": weak}, n_boot=300, seed=4)
    draws = seed_draws(1, n_boot=300, seed=4, group="g")
    assert np.array_equal(seed_mean_replicates(paired.replicates["a"]["roc_auc"][None], draws),
                          paired.replicates["a"]["roc_auc"])
    for ci, method in (("percentile", "percentile"), ("bca", "bca"), ("newcombe", "bca")):  # any compare.ci
        units = combined_units({"g": ["a"], "h": ["b"]}, summary=paired.summary, tests=paired.tests,
                               replicates=paired.replicates, jackknife=paired.jackknife, metrics=paired.metrics,
                               tested=["a", "b"], seed=4, ci=ci, confidence=0.95, min_runs=1)
        got = units.summary[units.summary["run"] == unit_name("g", 1)].set_index("metric")
        ref = paired.summary[paired.summary["run"] == "a"].set_index("metric")
        cols = ["estimate", "percentile_lo", "percentile_hi", "bca_lo", "bca_hi"]
        pd.testing.assert_frame_equal(got[cols], ref[cols], check_exact=True)
        from agnbench.bootstrap.metrics import PERCENTILE_METRICS

        calib = got.index.isin(PERCENTILE_METRICS) if ci == "newcombe" else np.zeros(len(got), bool)
        for rows, m in ((~calib, method), (calib, "percentile")):
            np.testing.assert_array_equal(got.loc[rows, ["lo", "hi"]].to_numpy(),
                                          ref.loc[got.index[rows], [f"{m}_lo", f"{m}_hi"]].to_numpy())
        assert set(got.loc[~calib, "ci"]) == {f"{method} over objects x seeds"}
        boot = units.tests[units.tests["test"] == "paired bootstrap"].set_index("metric")
        ref_boot = paired.tests[paired.tests["test"] == "paired bootstrap"].set_index("metric")
        np.testing.assert_array_equal(boot.loc[paired.metrics, ["delta", "lo", "hi", "p_value"]].to_numpy(),
                                      ref_boot.loc[paired.metrics, ["delta", "lo", "hi", "p_value"]].to_numpy())


def test_two_stage_replicates_add_the_seed_variance() -> None:
    """Seeds that differ by a constant shift: the object-only spread is the same for all, the two-stage replicates
    add the (K / (K - 1))-corrected variance of the seed mean, and a replicate stays in the metric's range."""
    rng = np.random.default_rng(0)
    base = rng.normal(0.8, 0.01, 4000)
    shifts = np.array([-0.03, 0.0, 0.03])
    reps = base[None] + shifts[:, None]
    two = seed_mean_replicates(reps, seed_draws(3, n_boot=4000, seed=1, group="g"), metric="roc_auc")
    seed_var = shifts.var(ddof=1) / 3
    assert two.var() == pytest.approx(base.var() + seed_var, rel=0.1)
    assert two.mean() == pytest.approx(base.mean(), abs=1e-3)
    high = seed_mean_replicates(np.array([[0.999] * 50, [0.95] * 50]), seed_draws(2, n_boot=50, seed=1, group="g"),
                                metric="roc_auc")
    assert high.max() <= 1.0



@pytest.mark.parametrize("metric", ["calibration_intercept", "calibration_slope", "debiased_ce"])
def test_unbounded_calibration_metrics_are_not_clipped(metric: str) -> None:
    """Calibration intercepts around -0.8 (class-weighted trees), slopes above 1 and negative debiased errors are
    legitimate values: the seed-mean replicates keep them, so the interval contains the seed-mean estimate."""
    rng = np.random.default_rng(2)
    centre = {"calibration_intercept": -0.8, "calibration_slope": 1.1, "debiased_ce": -0.01}[metric]
    reps = centre + rng.normal(0, 0.05, (3, 2000)) + np.array([[-0.02], [0.0], [0.02]])
    two = seed_mean_replicates(reps, seed_draws(3, n_boot=2000, seed=1, group="g"), metric=metric)
    lo, hi = percentile_interval(two, confidence=0.95)
    assert lo < reps.mean() < hi
    assert two.min() < min(centre, 0.0) or two.max() > max(centre, 1.0)  # values outside [0, 1] survive


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[Path], Path]:
    """Two seed groups of 3 runs (a good and a weak model, seed shifts of their scores) and one bare run."""
    root = tmp_path_factory.mktemp("seeds")
    y, good, weak = _problem(n=300)
    rng = np.random.default_rng(5)
    groups = []
    for label, score, extra in (("g", good, []), ("w", weak, ["catalog.features=all"])):
        members = []
        for s in range(3):
            shifted = np.clip(score + rng.normal(0, 0.15) * (2 * y - 1) + rng.normal(0, 0.03, y.size), 0.001, 0.999)
            run = _fake_run(root, f"{label}-s{s}", y=y, seed=s, model=label, score=shifted)
            dump_config(load_config(overrides=[f"seed={s}", *extra]), config_path(run))
            members.append(run)
        groups.append(members)
    bare = _fake_run(root, "bare", y=y, seed=0, model="bare", score=np.clip(weak + 0.1 * (2 * y - 1), 0.001, 0.999))
    return root, groups[0], groups[1], bare


def test_compare_combined_rows_tests_and_replicates(seed_runs) -> None:
    root, good, weak, bare = seed_runs
    cfg = load_config(overrides=["compare.n_boot=300", "compare.subgroup_boot=100", "compare.ci=bca"])
    assert cfg.compare.seeds == "combined"  # the default
    out = compare(cfg, runs=[*good, *weak, bare], out=root / "cmp", progress=False)
    summary, tests = pd.read_csv(out / "summary.csv"), pd.read_csv(out / "tests.csv")
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    g_unit = unit_name(f"user-g-{seed_free_config_hash(good[0])[:8]}", 3)
    w_unit = unit_name(f"user-w-{seed_free_config_hash(weak[0])[:8]}", 3)
    assert inputs["seed_groups"] == {g_unit: ["g-s0", "g-s1", "g-s2"], w_unit: ["w-s0", "w-s1", "w-s2"]}
    auc = summary[summary["metric"] == "roc_auc"].set_index("run")
    row = auc.loc[g_unit]
    assert row["estimate"] == pytest.approx(auc.loc[["g-s0", "g-s1", "g-s2"], "estimate"].mean())
    assert row["ci"] == "bca over objects x seeds" and (row["lo"], row["hi"]) == (row["bca_lo"], row["bca_hi"])
    assert auc.loc["g-s0", "ci"] == "bca"
    # wider than the object-only interval of the seed-averaged replicates (main's old `combined`)
    reps = pd.read_parquet(out / "replicates.parquet")
    auc_reps = reps[reps["metric"] == "roc_auc"].pivot(index="replicate", columns="run", values="value")
    lo, hi = percentile_interval(auc_reps[["g-s0", "g-s1", "g-s2"]].mean(axis=1).to_numpy())
    assert row["percentile_hi"] - row["percentile_lo"] > 1.2 * (hi - lo)
    assert (row["percentile_lo"], row["percentile_hi"]) == pytest.approx(percentile_interval(auc_reps[g_unit]))
    # the tests compare units: the two groups and the bare run, Holm over those three pairs
    pairs = set(zip(tests["run_a"], tests["run_b"]))
    assert pairs == {(g_unit, w_unit), (g_unit, "bare"), (w_unit, "bare")}
    boot = tests[(tests["metric"] == "roc_auc") & (tests["test"] == "paired bootstrap")].set_index(["run_a", "run_b"])
    assert boot.loc[(g_unit, w_unit), "delta"] == pytest.approx(auc.loc[g_unit, "estimate"] - auc.loc[w_unit, "estimate"])
    assert "objects x seeds" in boot.loc[(g_unit, "bare"), "note"]
    assert set(tests.loc[tests["run_a"].eq(g_unit), "test"]) == {"paired bootstrap"}
    assert boot["p_holm"].max() <= 1 and (boot["p_holm"] >= boot["p_value"]).all()
    delta = auc_reps[g_unit] - auc_reps[w_unit]
    assert (boot.loc[(g_unit, w_unit), "lo"], boot.loc[(g_unit, w_unit), "hi"]) == pytest.approx(
        percentile_interval(delta.to_numpy()))


def test_separate_keeps_every_run_apart(seed_runs) -> None:
    root, good, weak, bare = seed_runs
    cfg = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100", "compare.seeds=separate"])
    out = compare(cfg, runs=[*good[:2], bare], out=root / "sep", progress=False)
    summary, tests = pd.read_csv(out / "summary.csv"), pd.read_csv(out / "tests.csv")
    assert set(summary["run"]) == {"g-s0", "g-s1", "bare", "majority-baseline"}
    assert set(zip(tests["run_a"], tests["run_b"])) == {("g-s0", "g-s1"), ("g-s0", "bare"), ("g-s1", "bare")}
    assert yaml.safe_load((out / "inputs.yaml").read_text())["seed_groups"] == {}


def test_report_leads_with_the_seed_groups(seed_runs) -> None:
    """The report's headline table and summary use each group's combined row; its caption says what the interval
    includes; the paired-difference figure shows the group pairs that tests.csv holds."""
    from agnbench.reports.report import build_report

    root, good, weak, bare = seed_runs
    cfg = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100", "report.curve_boot=20",
                                 "report.mistakes=0"])
    out = compare(cfg, runs=[*good[:2], *weak[:2], bare], out=root / "rep", progress=False)
    report = build_report(cfg, comparison=out, progress=False)
    groups = yaml.safe_load((out / "inputs.yaml").read_text())["seed_groups"]
    headline = pd.read_csv(report / "tables" / "headline.csv")
    assert list(headline["run"]) == [*groups, "bare", "majority-baseline"]
    md = (report / "report.md").read_text()
    assert "two-stage bootstrap over objects x seeds" in md
    summary_text = (report / "summary.txt").read_text()
    assert "mean of 2 seeds" in summary_text and "g-s0" not in summary_text
    assert "include the seed-to-seed variance" in summary_text
    deltas = pd.read_csv(report / "tables" / "paired_differences.csv")
    assert set(zip(deltas["run_a"], deltas["run_b"])) == set(zip(pd.read_csv(out / "tests.csv")["run_a"],
                                                                  pd.read_csv(out / "tests.csv")["run_b"]))
