"""Holm families of tests.csv are (metric, test kind): McNemar's exact and chi-square rows form ONE family.

McNemar's test uses the exact binomial form below 25 discordant pairs and the chi-square form above, and
names the form in ``test`` ("McNemar (exact binomial)", "McNemar (chi-square with continuity correction)").
Grouping Holm by that string split the 10 pairs of 5 runs into two smaller families, each with a smaller
multiplier: the adjusted p-values were too small (issue 17 item 7).
"""

from __future__ import annotations

import numpy as np
import pytest

from agnbench.bootstrap.compare_arrays import compare_predictions
from agnbench.bootstrap.paired_tests import EXACT_BELOW, holm

N = 400
ERRORS = {"a": 4, "b": 12, "c": 30, "d": 60, "e": 75}  # wrong answers of each run (objects drawn at random)


@pytest.fixture(scope="module")
def tests_table():
    rng = np.random.default_rng(17)
    y = (np.arange(N) % 2).astype(np.int64)
    proba = {}
    for run, k in ERRORS.items():
        pred = y.copy()
        wrong = rng.choice(N, size=k, replace=False)
        pred[wrong] = 1 - pred[wrong]
        p1 = np.where(pred == 1, 0.8, 0.2)
        proba[run] = np.stack([1.0 - p1, p1], axis=1)
    return compare_predictions(y, proba, n_boot=100, seed=0).tests


def test_mcnemar_holm_is_over_all_pairs_whatever_form_each_pair_used(tests_table):
    mc = tests_table[tests_table["test"].str.startswith("McNemar")]
    assert len(mc) == 10  # 5 runs: every pair once
    discordant = mc["note"].str.findall(r"\d+").map(lambda v: sum(map(int, v)))
    # the constructed runs give both forms of the test: some pairs exact, others chi-square
    assert (discordant < EXACT_BELOW).any() and (discordant >= EXACT_BELOW).any()
    assert set(mc["test"]) == {"McNemar (exact binomial)", "McNemar (chi-square with continuity correction)"}
    np.testing.assert_allclose(mc["p_holm"].to_numpy(), holm(mc["p_value"].to_numpy()), rtol=0, atol=1e-15)
    # the smallest raw p is multiplied by 10 (the whole family), not by the size of its method's sub-family
    i = int(mc["p_value"].to_numpy().argmin())
    assert mc["p_holm"].iloc[i] == pytest.approx(min(1.0, 10 * mc["p_value"].iloc[i]), rel=1e-12)


def test_other_families_are_metric_by_test(tests_table):
    for (metric, test), rows in tests_table.groupby(["metric", "test"]):
        if test.startswith("McNemar"):
            continue
        assert len(rows) == 10, (metric, test)
        np.testing.assert_allclose(rows["p_holm"].to_numpy(), holm(rows["p_value"].to_numpy()), rtol=0, atol=1e-15)
