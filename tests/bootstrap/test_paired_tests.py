"""Tests for agnbench.bootstrap.paired_tests: closed forms, hand-worked examples, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, chi2

from agnbench.bootstrap.paired_tests import holm, mcnemar_test, seed_spread
from agnbench.errors import AgnbenchError


def table(n11: int, n01: int, n10: int, n00: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correctness vectors (n,) with the given 2x2 counts (1 = right), shuffled."""
    a = np.r_[np.ones(n11), np.zeros(n01), np.ones(n10), np.zeros(n00)].astype(bool)
    b = np.r_[np.ones(n11), np.ones(n01), np.zeros(n10), np.zeros(n00)].astype(bool)
    perm = np.random.default_rng(seed).permutation(a.size)
    return a[perm], b[perm]


def test_mcnemar_exact_closed_form() -> None:
    res = mcnemar_test(*table(50, 10, 3, 7))
    assert (res.n01, res.n10) == (10, 3)
    assert res.method == "exact binomial" and res.statistic == 3.0
    assert res.p_value == pytest.approx(2 * binom.cdf(3, 13, 0.5), rel=1e-12)
    assert res.p_value == pytest.approx(0.0922851562, abs=1e-9)  # 2 * 378 / 8192


def test_mcnemar_chi2_closed_form() -> None:
    res = mcnemar_test(*table(100, 40, 20, 5))
    assert (res.n01, res.n10) == (40, 20) and res.method == "chi-square with continuity correction"
    assert res.statistic == pytest.approx(19**2 / 60, rel=1e-12)
    assert res.p_value == pytest.approx(chi2.sf(19**2 / 60, 1), rel=1e-12)


def test_mcnemar_auto_switch_and_forced_method() -> None:
    below = table(5, 14, 10, 5)  # 24 discordant -> exact
    at = table(5, 15, 10, 5)  # 25 discordant -> chi-square
    assert mcnemar_test(*below).method == "exact binomial"
    assert mcnemar_test(*at).method.startswith("chi-square")
    forced = mcnemar_test(*at, exact=True)
    assert forced.method == "exact binomial" and forced.p_value == pytest.approx(2 * binom.cdf(10, 25, 0.5))
    assert mcnemar_test(*below, exact=False).statistic == pytest.approx(9 / 24)


def test_mcnemar_symmetric_and_capped() -> None:
    a, b = table(20, 9, 4, 3)
    ab, ba = mcnemar_test(a, b), mcnemar_test(b, a)
    assert (ab.n01, ab.n10) == (ba.n10, ba.n01) and ab.p_value == ba.p_value
    balanced = mcnemar_test(*table(3, 4, 4, 3))
    assert balanced.p_value == 1.0  # 2 * cdf(4, 8, .5) > 1 -> capped


def test_mcnemar_no_discordant_pairs() -> None:
    a = np.array([True, False, True])
    for exact in (None, True, False):
        res = mcnemar_test(a, a.copy(), exact=exact)
        assert (res.n01, res.n10, res.statistic, res.p_value) == (0, 0, 0.0, 1.0)
        assert res.method == "no discordant pairs"


def test_mcnemar_bad_input() -> None:
    with pytest.raises(AgnbenchError, match="same objects"):
        mcnemar_test(np.ones(4, bool), np.ones(5, bool))
    with pytest.raises(AgnbenchError, match=r"boolean.*\[2\]"):
        mcnemar_test(np.array([0, 1, 2]), np.ones(3, bool))
    assert mcnemar_test(np.array([0, 1, 1]), np.array([1, 1, 0])) == mcnemar_test(
        np.array([False, True, True]), np.array([True, True, False]))


@pytest.mark.parametrize(("counts", "exact"), [((50, 10, 3, 7), True), ((100, 40, 20, 5), False),
                                               ((30, 12, 12, 4), False), ((9, 1, 6, 2), True)])
def test_mcnemar_matches_statsmodels(counts: tuple[int, int, int, int], exact: bool) -> None:
    ct = pytest.importorskip("statsmodels.stats.contingency_tables",
                             reason="statsmodels not installed; closed-form tests cover the same values")
    n11, n01, n10, n00 = counts
    ref = ct.mcnemar(np.array([[n11, n10], [n01, n00]]), exact=exact, correction=True)
    res = mcnemar_test(*table(*counts), exact=exact)
    assert res.statistic == pytest.approx(ref.statistic) and res.p_value == pytest.approx(ref.pvalue)


def test_holm_hand_worked() -> None:
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02], atol=1e-15)
    np.testing.assert_allclose(holm(np.array([0.5, 0.2])), [0.5, 0.4])  # step-down max keeps 0.5
    np.testing.assert_allclose(holm(np.array([0.3, 0.6, 0.9])), [0.9, 1.0, 1.0])  # clipped at 1


def test_holm_nan_excluded_from_m() -> None:
    out = holm(np.array([0.01, np.nan, 0.04, np.nan]))
    np.testing.assert_allclose(out, [0.02, np.nan, 0.04, np.nan])
    assert np.isnan(holm(np.array([np.nan, np.nan]))).all()
    assert holm(np.array([])).shape == (0,)


def test_holm_monotone_and_matches_definition() -> None:
    rng = np.random.default_rng(0)
    p = np.r_[rng.random(30) ** 3, 0.2, 0.2]  # includes a tie
    adj = holm(p)
    order = np.argsort(p, kind="stable")
    m = p.size
    ref = np.array([max(min(1.0, (m - j) * p[order[j]]) for j in range(i + 1)) for i in range(m)])
    np.testing.assert_allclose(adj[order], ref, rtol=1e-15)
    assert np.all(np.diff(adj[order]) >= 0) and np.all(adj >= p) and np.all(adj <= 1)
    assert adj[-1] == adj[-2]


def test_holm_rejects_out_of_range() -> None:
    with pytest.raises(AgnbenchError, match=r"\[0, 1\]"):
        holm(np.array([0.1, 1.5]))
    with pytest.raises(AgnbenchError, match="1-D"):
        holm(np.zeros((2, 2)))


def test_seed_spread() -> None:
    assert seed_spread(np.array([1.0, 2.0, np.nan, 3.0])) == {"mean": 2.0, "std": 1.0, "n": 3}
    one = seed_spread(np.array([0.7, np.nan]))
    assert one["mean"] == 0.7 and np.isnan(one["std"]) and one["n"] == 1
    none = seed_spread(np.array([np.nan]))
    assert np.isnan(none["mean"]) and np.isnan(none["std"]) and none["n"] == 0
    vals = np.random.default_rng(1).normal(size=7)
    assert seed_spread(vals)["std"] == pytest.approx(np.std(vals, ddof=1))
    with pytest.raises(AgnbenchError, match="1-D"):
        seed_spread(np.zeros((3, 2)))
