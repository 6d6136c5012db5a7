"""Tests for agnbench.bootstrap.delong against sklearn, scipy and a brute-force DeLong (1988)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from agnbench.bootstrap.delong import delong_auc_covariance, delong_ci, delong_test, midrank
from agnbench.errors import AgnbenchError


def brute_delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) by definition: psi over all n_pos x n_neg pairs, shape (m, n) -> (m,), (m, m)."""
    x, w = scores[:, y == 1], scores[:, y == 0]
    n_pos, n_neg = x.shape[1], w.shape[1]
    v10 = np.empty((len(scores), n_pos))
    v01 = np.empty((len(scores), n_neg))
    for r in range(len(scores)):
        for i in range(n_pos):
            v10[r, i] = np.mean([1.0 if x[r, i] > yj else 0.5 if x[r, i] == yj else 0.0 for yj in w[r]])
        for j in range(n_neg):
            v01[r, j] = np.mean([1.0 if xi > w[r, j] else 0.5 if xi == w[r, j] else 0.0 for xi in x[r]])
    aucs = v10.mean(axis=1)
    s10 = np.array([[np.sum((v10[a] - aucs[a]) * (v10[b] - aucs[b])) / (n_pos - 1) for b in range(len(scores))]
                    for a in range(len(scores))])
    s01 = np.array([[np.sum((v01[a] - aucs[a]) * (v01[b] - aucs[b])) / (n_neg - 1) for b in range(len(scores))]
                    for a in range(len(scores))])
    return aucs, s10 / n_pos + s01 / n_neg


def correlated_scores(rng: np.random.Generator, n: int, m: int, *, decimals: int | None = 1,
                      shifts: tuple[float, ...] = (1.0, 0.7, 0.4)) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) and m scores (m, n) sharing a latent term, rounded to create ties."""
    y = (rng.random(n) < 0.4).astype(int)
    latent = rng.normal(size=n)
    s = np.stack([shifts[k] * y + 0.6 * latent + rng.normal(size=n) for k in range(m)])
    return y, (np.round(s, decimals) if decimals is not None else s)


def test_midrank_matches_scipy_rankdata_with_ties() -> None:
    rng = np.random.default_rng(0)
    for x in (rng.integers(0, 5, 300).astype(float), rng.normal(size=50), np.array([2.0]), np.ones(4)):
        np.testing.assert_array_equal(midrank(x), rankdata(x, method="average"))
    np.testing.assert_array_equal(midrank(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])


@pytest.mark.parametrize("decimals", [1, None])
def test_aucs_equal_sklearn(decimals: int | None) -> None:
    rng = np.random.default_rng(1)
    y, s = correlated_scores(rng, 2000, 3, decimals=decimals)
    aucs, _ = delong_auc_covariance(y, s)
    assert np.unique(s[0]).size < 200 or decimals is None  # many ties when rounded
    for k in range(3):
        assert aucs[k] == pytest.approx(roc_auc_score(y, s[k]), abs=1e-12)


@pytest.mark.parametrize("m", [2, 3])
def test_covariance_equals_brute_force(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    y, s = correlated_scores(rng, 90, m)
    aucs, cov = delong_auc_covariance(y, s)
    ref_aucs, ref_cov = brute_delong(y, s)
    np.testing.assert_allclose(aucs, ref_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=0, atol=1e-12)
    assert cov.shape == (m, m)
    assert np.linalg.eigvalsh(cov).min() > -1e-15  # a covariance matrix


def test_delong_test_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    y, s = correlated_scores(rng, 120, 2, shifts=(1.2, 0.5))
    res = delong_test(y, s[0], s[1])
    aucs, cov = brute_delong(y, s)
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    z = (aucs[0] - aucs[1]) / se
    assert (res.n_pos, res.n_neg) == (int(y.sum()), int((1 - y).sum()))
    assert res.auc_a == pytest.approx(aucs[0], abs=1e-12) and res.auc_b == pytest.approx(aucs[1], abs=1e-12)
    assert res.delta == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    assert res.se == pytest.approx(se, rel=1e-10)
    assert res.z == pytest.approx(z, rel=1e-10)
    assert res.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert res.note == ""
    swapped = delong_test(y, s[1], s[0])
    assert swapped.z == pytest.approx(-res.z) and swapped.p_value == pytest.approx(res.p_value)


def test_identical_scores_give_p_one() -> None:
    rng = np.random.default_rng(2)
    y, s = correlated_scores(rng, 300, 1)
    res = delong_test(y, s[0], s[0].copy())
    assert res.delta == 0.0 and res.se == 0.0 and np.isnan(res.z) and res.p_value == 1.0
    assert "identical" in res.note


def test_zero_variance_with_difference_gives_nan() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    res = delong_test(y, y.astype(float), -y.astype(float))  # AUC 1 vs AUC 0, all placements constant
    assert (res.auc_a, res.auc_b, res.se) == (1.0, 0.0, 0.0)
    assert np.isnan(res.z) and np.isnan(res.p_value) and "zero variance" in res.note


def test_strongly_different_models_detected() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.5).astype(int)
    res = delong_test(y, 2.0 * y + rng.normal(size=2000), 0.3 * y + rng.normal(size=2000))
    assert res.delta > 0.2 and res.p_value < 1e-6


def test_equal_models_p_values_roughly_uniform() -> None:
    rng = np.random.default_rng(4)
    p = []
    for _ in range(200):
        y = (rng.random(300) < 0.5).astype(int)
        p.append(delong_test(y, y + rng.normal(size=300), y + rng.normal(size=300)).p_value)
    p = np.array(p)
    assert 0.02 <= np.mean(p < 0.05) <= 0.09
    assert 0.4 <= np.mean(p < 0.5) <= 0.6


def test_ci_coverage_binormal() -> None:
    rng = np.random.default_rng(6)
    d = 1.5
    true_auc = norm.cdf(d / np.sqrt(2))
    y = np.r_[np.zeros(150, int), np.ones(150, int)]
    hits = 0
    for _ in range(300):
        auc, lo, hi = delong_ci(y, np.r_[rng.normal(size=150), d + rng.normal(size=150)])
        assert 0.0 <= lo <= auc <= hi <= 1.0
        hits += lo <= true_auc <= hi
    assert 0.92 <= hits / 300 <= 0.98


def test_ci_width_and_clipping() -> None:
    rng = np.random.default_rng(7)
    y, s = correlated_scores(rng, 400, 1, decimals=None)
    auc, lo95, hi95 = delong_ci(y, s[0])
    _, lo80, hi80 = delong_ci(y, s[0], confidence=0.80)
    se = np.sqrt(delong_auc_covariance(y, s[0]).cov[0, 0])
    assert hi95 - lo95 == pytest.approx(2 * norm.ppf(0.975) * se, rel=1e-9)
    assert lo95 < lo80 < auc < hi80 < hi95
    perfect = delong_ci(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect == (1.0, 1.0, 1.0)
    with pytest.raises(AgnbenchError, match="confidence"):
        delong_ci(y, s[0], confidence=95)


def test_one_class_returns_nan_with_note(caplog: pytest.LogCaptureFixture) -> None:
    y = np.ones(10, dtype=int)
    res = delong_test(y, np.arange(10.0), np.arange(10.0)[::-1])
    assert np.isnan([res.auc_a, res.auc_b, res.delta, res.se, res.z, res.p_value]).all()
    assert (res.n_pos, res.n_neg) == (10, 0) and "one class present" in res.note
    with caplog.at_level(logging.WARNING):
        assert np.isnan(delong_ci(1 - y, np.arange(10.0))).all()
    assert "one class" in caplog.text
    with pytest.raises(AgnbenchError, match="one class"):
        delong_auc_covariance(y, np.arange(10.0))


def test_single_positive_gives_auc_but_no_variance() -> None:
    y = np.array([0, 0, 0, 0, 1])
    res = delong_test(y, np.array([0.1, 0.2, 0.3, 0.9, 0.5]), np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    assert (res.auc_a, res.auc_b) == (0.75, 1.0)
    assert np.isnan(res.se) and np.isnan(res.p_value) and "fewer than 2" in res.note


def test_bool_labels_accepted_and_equal_to_int() -> None:
    rng = np.random.default_rng(8)
    y, s = correlated_scores(rng, 200, 2)
    assert delong_test(y.astype(bool), s[0], s[1]) == delong_test(y, s[0], s[1])
    assert delong_test(y.astype(float), s[0], s[1]) == delong_test(y, s[0], s[1])


@pytest.mark.parametrize(("labels", "shown"), [([0, 1, 2, 1], "[2]"), ([-1, 1, 1, -1], "[-1]"),
                                                (["a", "b", "a", "b"], "'a'")])
def test_non_binary_labels_rejected(labels: list, shown: str) -> None:
    with pytest.raises(AgnbenchError, match="binary") as err:
        delong_test(np.array(labels), np.arange(4.0), np.arange(4.0))
    assert shown in str(err.value)


def test_bad_scores_rejected() -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(AgnbenchError, match="NaN"):
        delong_test(y, np.array([0.1, np.nan, 0.2, 0.3]), np.arange(4.0))
    with pytest.raises(AgnbenchError, match="equal length"):
        delong_test(y, np.arange(4.0), np.arange(5.0))
    with pytest.raises(AgnbenchError, match="shape"):
        delong_auc_covariance(y, np.zeros((2, 5)))


def test_large_n_is_stable() -> None:
    rng = np.random.default_rng(9)
    n = 300_000
    y = (rng.random(n) < 0.2).astype(int)
    s = np.stack([y + rng.normal(size=n), np.round(0.8 * y + rng.normal(size=n), 2)])
    aucs, cov = delong_auc_covariance(y, s)
    for k in range(2):
        assert aucs[k] == pytest.approx(roc_auc_score(y, s[k]), abs=1e-12)
    # binormal closed form for the variance of the AUC scale: se ~ 1e-3 at this n, never negative/NaN
    assert np.all(np.isfinite(cov)) and 1e-4 < np.sqrt(cov[0, 0]) < 2e-3
