"""Paired bootstrap resampling, intervals against scipy, coverage and p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from agnbench.bootstrap.metrics import weighted_metrics
from agnbench.bootstrap.resample import (
    bca_interval,
    bootstrap_pvalue,
    counts_from_indices,
    index_chunks,
    jackknife_weights,
    percentile_interval,
    resample_counts,
)
from agnbench.errors import AgnbenchError


def _all_indices(n: int, **kwargs) -> np.ndarray:
    chunks = list(index_chunks(n, **kwargs))
    firsts = [first for first, _ in chunks]
    assert firsts == sorted(firsts) and firsts[0] == 0
    return np.concatenate([idx for _, idx in chunks])


def test_indices_are_deterministic_and_independent_of_chunking() -> None:
    ref = _all_indices(50, n_boot=700, seed=3)
    assert ref.shape == (700, 50) and ref.dtype == np.int32
    assert ref.min() >= 0 and ref.max() < 50
    for chunk_size in (1, 100, 250, 333, 1000):
        np.testing.assert_array_equal(
            _all_indices(50, n_boot=700, seed=3, chunk_size=chunk_size), ref
        )
    np.testing.assert_array_equal(_all_indices(50, n_boot=300, seed=3), ref[:300])
    assert not np.array_equal(_all_indices(50, n_boot=700, seed=4), ref)
    assert len({row.tobytes() for row in ref}) == 700


def test_chunk_shapes() -> None:
    chunks = list(index_chunks(20, n_boot=610, seed=0, chunk_size=250))
    assert [(first, idx.shape[0]) for first, idx in chunks] == [(0, 250), (250, 250), (500, 110)]


def test_stratified_resampling_keeps_stratum_counts() -> None:
    g = np.random.default_rng(0)
    strata = g.choice(np.array(["agn", "sf", "comp"]), size=97, p=[0.1, 0.6, 0.3])
    idx = _all_indices(97, n_boot=400, seed=1, strata=strata, chunk_size=150)
    np.testing.assert_array_equal(
        idx, _all_indices(97, n_boot=400, seed=1, strata=strata, chunk_size=400)
    )
    np.testing.assert_array_equal(strata[idx], np.broadcast_to(strata, idx.shape))
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        drawn = np.unique(idx[:, members])
        assert set(drawn) <= set(members) and drawn.size == members.size  # all get drawn


def test_counts_from_indices_equals_rowwise_bincount() -> None:
    g = np.random.default_rng(2)
    idx = g.integers(0, 30, size=(7, 45), dtype=np.int32)
    counts = counts_from_indices(idx, 30)
    assert counts.shape == (7, 30) and counts.dtype == np.float32
    expected = np.stack([np.bincount(row, minlength=30) for row in idx])
    np.testing.assert_array_equal(counts, expected)
    assert counts_from_indices(idx, 30, dtype=np.int64).dtype == np.int64
    with pytest.raises(AgnbenchError, match="indices in 0..29"):
        counts_from_indices(np.array([[0, 30]]), 30)
    with pytest.raises(AgnbenchError, match="indices"):
        counts_from_indices(np.array([[-1, 3]]), 30)
    with pytest.raises(AgnbenchError, match="2-D"):
        counts_from_indices(idx[0], 30)


def test_resample_counts_composes_index_chunks() -> None:
    got = list(resample_counts(40, n_boot=300, seed=9, chunk_size=120))
    ref = list(index_chunks(40, n_boot=300, seed=9, chunk_size=120))
    assert [f for f, _ in got] == [f for f, _ in ref]
    for (_, counts), (_, idx) in zip(got, ref, strict=True):
        np.testing.assert_array_equal(counts, counts_from_indices(idx, 40))
        assert np.all(counts.sum(axis=1) == 40)


def _loo_means(x: np.ndarray) -> np.ndarray:
    return (x.sum() - x) / (x.size - 1)


def test_intervals_equal_scipy_on_scipy_replicates() -> None:
    x = np.random.default_rng(4).exponential(size=60)
    for method in ("percentile", "BCa"):
        res = stats.bootstrap(
            (x,), np.mean, n_resamples=999, method=method, rng=np.random.default_rng(5)
        )
        dist = res.bootstrap_distribution
        if method == "percentile":
            lo, hi = percentile_interval(dist, confidence=0.95)
        else:
            lo, hi = bca_interval(dist, estimate=x.mean(), jackknife=_loo_means(x))
        assert lo == pytest.approx(res.confidence_interval.low, abs=1e-12)
        assert hi == pytest.approx(res.confidence_interval.high, abs=1e-12)


def test_intervals_agree_with_scipy_within_monte_carlo_error() -> None:
    x = np.random.default_rng(6).lognormal(sigma=0.8, size=150)
    n, n_boot = x.size, 4000
    reps = np.concatenate(
        [counts_from_indices(idx, n, np.float64) @ x / n for _, idx in index_chunks(
            n, n_boot=n_boot, seed=7, chunk_size=1000
        )]
    )
    ours = {
        "percentile": percentile_interval(reps),
        "BCa": bca_interval(reps, estimate=x.mean(), jackknife=_loo_means(x)),
    }
    for method, (lo, hi) in ours.items():
        res = stats.bootstrap(
            (x,), np.mean, n_resamples=n_boot, method=method, rng=np.random.default_rng(8)
        )
        s_lo, s_hi = res.confidence_interval
        width = s_hi - s_lo
        assert abs(lo - s_lo) < 0.15 * width and abs(hi - s_hi) < 0.15 * width, method
    assert ours["BCa"][1] > ours["percentile"][1]  # right-skewed: BCa shifts up


def test_intervals_ignore_nan_and_broadcast() -> None:
    g = np.random.default_rng(10)
    reps = g.normal(size=(3, 500))
    with_nan = np.concatenate([reps, np.full((3, 40), np.nan)], axis=1)
    lo, hi = percentile_interval(with_nan, confidence=0.9)
    ref_lo, ref_hi = percentile_interval(reps, confidence=0.9)
    np.testing.assert_allclose(lo, ref_lo)
    np.testing.assert_allclose(hi, ref_hi)
    np.testing.assert_allclose(lo, np.quantile(reps, 0.05, axis=1))
    lo, hi = percentile_interval(np.full(10, np.nan))
    assert np.isnan(lo) and np.isnan(hi)
    jk = g.normal(size=(3, 50))
    lo, hi = bca_interval(with_nan, estimate=np.zeros(3), jackknife=jk)
    for j in range(3):
        assert (lo[j], hi[j]) == bca_interval(reps[j], estimate=0.0, jackknife=jk[j])
    lo, hi = bca_interval(np.ones(20), estimate=1.0, jackknife=np.ones(5))  # degenerate
    assert (lo, hi) == (1.0, 1.0)
    lo, hi = bca_interval(np.arange(20.0), estimate=-1.0, jackknife=np.arange(5.0))
    assert np.isnan(lo) and np.isnan(hi)  # estimate outside the bootstrap distribution
    with pytest.raises(AgnbenchError, match="confidence"):
        percentile_interval(reps, confidence=95)


def test_jackknife_weights() -> None:
    loo = jackknife_weights(6)
    np.testing.assert_array_equal(loo, 1 - np.eye(6))
    assert jackknife_weights(6, n_groups=10).shape == (6, 6)
    grouped = jackknife_weights(103, n_groups=10, seed=1)
    assert grouped.shape == (10, 103)
    assert np.all((grouped == 0).sum(axis=0) == 1)  # every object left out exactly once
    sizes = (grouped == 0).sum(axis=1)
    assert sizes.max() - sizes.min() <= 1
    np.testing.assert_array_equal(grouped, jackknife_weights(103, n_groups=10, seed=1))
    assert not np.array_equal(grouped, jackknife_weights(103, n_groups=10, seed=2))
    with pytest.raises(AgnbenchError, match="n_groups"):
        jackknife_weights(100_000)


def test_bca_with_jackknife_rows_through_weighted_metrics() -> None:
    g = np.random.default_rng(11)
    n = 2000
    y = g.integers(0, 2, n)
    p1 = 1 / (1 + np.exp(-(g.normal(size=n) + 1.5 * y)))
    proba = np.stack([1 - p1, p1], axis=1)
    y_pred = (p1 > 0.5).astype(int)
    args = (y, proba, y_pred)
    kw = {"classes": ["sf", "agn"], "metrics": ["accuracy", "roc_auc"]}
    point = weighted_metrics(*args, np.ones((1, n)), **kw)
    reps = {m: [] for m in kw["metrics"]}
    for _, counts in resample_counts(n, n_boot=1000, seed=12, chunk_size=500):
        for m, v in weighted_metrics(*args, counts, **kw).items():
            reps[m].append(v)
    full = weighted_metrics(*args, jackknife_weights(n), **kw)
    grouped = weighted_metrics(*args, jackknife_weights(n, n_groups=100, seed=3), **kw)
    for m in kw["metrics"]:
        r = np.concatenate(reps[m])
        lo, hi = bca_interval(r, estimate=point[m][0], jackknife=full[m])
        g_lo, g_hi = bca_interval(r, estimate=point[m][0], jackknife=grouped[m])
        p_lo, p_hi = percentile_interval(r)
        assert lo < point[m][0] < hi
        width = hi - lo
        assert abs(g_lo - lo) < 0.05 * width and abs(g_hi - hi) < 0.05 * width, m
        assert abs(p_lo - lo) < 0.2 * width and abs(p_hi - hi) < 0.2 * width, m


def test_bootstrap_pvalue() -> None:
    d = np.random.default_rng(13).normal(size=500)
    assert bootstrap_pvalue(np.concatenate([d, -d])) == 1.0
    assert bootstrap_pvalue(np.abs(d) + 0.1) == pytest.approx(2 / 501)
    assert bootstrap_pvalue(-np.abs(d) - 0.1) == pytest.approx(2 / 501)
    assert bootstrap_pvalue(np.append(np.abs(d) + 0.1, np.nan)) == pytest.approx(2 / 501)
    assert bootstrap_pvalue(d + 0.5, null=0.5) > 0.5
    assert 0.0 < bootstrap_pvalue(d + 2.0) < 0.1
    assert np.isnan(bootstrap_pvalue(np.full(5, np.nan)))


def test_percentile_interval_coverage() -> None:
    """95% intervals of accuracy and AUC cover the known truth 92-98% of the time."""
    n, n_boot, n_sets, shift = 400, 500, 300, 1.0
    true_acc = 0.8
    true_auc = stats.norm.cdf(shift / np.sqrt(2))  # positives N(shift, 1), negatives N(0, 1)
    g = np.random.default_rng(14)
    hits = {"accuracy": 0, "roc_auc": 0}
    for s in range(n_sets):
        y = g.integers(0, 2, n)
        y_pred = np.where(g.random(n) < true_acc, y, 1 - y)
        p1 = stats.norm.cdf(g.normal(size=n) + shift * y - shift / 2)
        proba = np.stack([1 - p1, p1], axis=1)
        counts = next(resample_counts(n, n_boot=n_boot, seed=s, chunk_size=n_boot))[1]
        values = weighted_metrics(
            y, proba, y_pred, counts, classes=["neg", "pos"], metrics=list(hits)
        )
        for m, truth in (("accuracy", true_acc), ("roc_auc", true_auc)):
            lo, hi = percentile_interval(values[m])
            hits[m] += int(lo <= truth <= hi)
    for m, count in hits.items():  # about 0.95 for both over 1500 data sets
        assert 0.92 <= count / n_sets <= 0.98, (m, count / n_sets)
