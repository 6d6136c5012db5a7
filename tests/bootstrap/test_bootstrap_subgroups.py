"""Subgroup metrics with paired bootstrap intervals, on a planted per-bin signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnbench.bootstrap.metrics import point_metrics, weighted_metrics
from agnbench.bootstrap.resample import counts_from_indices, index_chunks, percentile_interval
from agnbench.bootstrap.subgroups import quantile_edges, subgroup_metrics
from agnbench.errors import AgnbenchError
from agnbench.seeding import derive_seed

CLASSES = ("sf", "agn")
METRICS = ["accuracy", "roc_auc", "brier", "recall_agn"]
Z_EDGES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


def _random_proba(g: np.random.Generator, n: int) -> np.ndarray:
    p1 = g.random(n)
    return np.column_stack([1 - p1, p1])


@pytest.fixture(scope="module")
def planted() -> dict:
    """Run A perfect for z < 0.25 and random elsewhere; run B random everywhere; 12 NaN z."""
    g = np.random.default_rng(11)
    n = 600
    y = g.integers(0, 2, n)
    z = g.random(n)
    z[:12] = np.nan
    pa, pb = _random_proba(g, n), _random_proba(g, n)
    good = z < 0.25  # NaN compares False
    pa[good] = np.where(y[good, None] == 1, [0.1, 0.9], [0.8, 0.2])
    probas = {"A": pa, "B": pb}
    preds = {"A": pa.argmax(axis=1), "B": pb.argmax(axis=1)}
    q = y + 0.5 * g.random(n)  # bin [0, 1) holds only class 0, [1, 2] only class 1
    variables = {"z": z, "q": q}
    return {"y": y, "z": z, "q": q, "probas": probas, "preds": preds, "variables": variables}


def _table(p: dict, **kwargs) -> pd.DataFrame:
    options = {"edges": {"z": Z_EDGES, "q": np.array([0.0, 1.0, 2.0])}, "n_boot": 400, "seed": 5}
    options.update(kwargs)
    return subgroup_metrics(
        y_true=p["y"], probas=p["probas"], preds=p["preds"], variables=p["variables"],
        classes=CLASSES, metrics=METRICS, **options,
    )


@pytest.fixture(scope="module")
def table(planted: dict) -> pd.DataFrame:
    return _table(planted)


def _members(values: np.ndarray, edges: np.ndarray, b: int) -> np.ndarray:
    last = b == edges.size - 2
    upper = values <= edges[b + 1] if last else values < edges[b + 1]
    return np.flatnonzero((values >= edges[b]) & upper)


def test_columns_and_counts(planted: dict, table: pd.DataFrame) -> None:
    assert list(table.columns) == [
        "variable", "bin", "lo_edge", "hi_edge", "n", "n_sf", "n_agn", "run", "metric",
        "estimate", "lo", "hi", "note",
    ]
    y = planted["y"]
    zt = table[table.variable == "z"]
    for b in range(4):
        sel = _members(planted["z"], Z_EDGES, b)
        rows = zt[zt.bin == b]
        assert len(rows) == 2 * len(METRICS)
        assert (rows.n == sel.size).all()
        assert (rows.n_sf == np.sum(y[sel] == 0)).all()
        assert (rows.n_agn == np.sum(y[sel] == 1)).all()
        assert (rows.lo_edge == Z_EDGES[b]).all() and (rows.hi_edge == Z_EDGES[b + 1]).all()
    nobin = zt[zt.bin == -1]
    assert len(nobin) == 1 and nobin.n.iloc[0] == 12 and "12 non-finite" in nobin.note.iloc[0]
    assert nobin.n_sf.iloc[0] == np.sum(y[:12] == 0)
    per_bin = zt[zt.bin >= 0].drop_duplicates("bin").n.sum()
    assert per_bin + 12 == y.size  # NaN objects in no bin, every other object in exactly one


def test_estimates_match_point_metrics(planted: dict, table: pd.DataFrame) -> None:
    y = planted["y"]
    for var, edges in (("z", Z_EDGES), ("q", np.array([0.0, 1.0, 2.0]))):
        for b in range(edges.size - 1):
            sel = _members(planted["variables"][var], edges, b)
            for run in ("A", "B"):
                want = point_metrics(
                    y[sel], planted["probas"][run][sel], planted["preds"][run][sel],
                    classes=CLASSES, metrics=METRICS,
                )
                got = table[(table.variable == var) & (table.bin == b) & (table.run == run)]
                assert list(got.metric) == METRICS
                np.testing.assert_array_equal(got.estimate.to_numpy(), [want[m] for m in METRICS])


def test_intervals_contain_estimate_and_show_the_planted_signal(table: pd.DataFrame) -> None:
    zt = table[(table.variable == "z") & (table.bin >= 0)]
    assert (zt.lo <= zt.estimate + 1e-12).all() and (zt.estimate <= zt.hi + 1e-12).all()
    acc = zt[zt.metric == "accuracy"].set_index(["bin", "run"])
    assert acc.loc[(0, "A"), "estimate"] == 1.0
    assert acc.loc[(0, "A"), "lo"] > acc.loc[(0, "B"), "hi"]
    for b in (1, 2, 3):  # random elsewhere: the intervals overlap and cover 0.5
        assert acc.loc[(b, "A"), "lo"] < acc.loc[(b, "B"), "hi"]
        assert acc.loc[(b, "A"), "lo"] < 0.5 < acc.loc[(b, "A"), "hi"]


def test_intervals_are_paired_stratified_bootstrap(planted: dict, table: pd.DataFrame) -> None:
    """Bin 2 of z redone by hand: one stratified index matrix from the documented seed."""
    y, sel = planted["y"], _members(planted["z"], Z_EDGES, 2)
    seed = derive_seed(5, "subgroup", "z", 2)
    idx = np.concatenate(
        [i for _, i in index_chunks(sel.size, n_boot=400, seed=seed, strata=y[sel])]
    )
    counts = counts_from_indices(idx, sel.size)
    assert (counts[:, y[sel] == 1].sum(axis=1) == np.sum(y[sel] == 1)).all()
    for run in ("A", "B"):
        reps = weighted_metrics(
            y[sel], planted["probas"][run][sel], planted["preds"][run][sel], counts,
            classes=CLASSES, metrics=METRICS,
        )
        got = table[(table.variable == "z") & (table.bin == 2) & (table.run == run)]
        for metric, lo, hi in zip(got.metric, got.lo, got.hi):
            assert (lo, hi) == percentile_interval(reps[metric])


def test_single_class_bin_gives_nan_with_note(table: pd.DataFrame) -> None:
    qt = table[table.variable == "q"]
    assert set(qt.bin) == {0, 1}
    assert (qt[qt.bin == 0].n_agn == 0).all() and (qt[qt.bin == 1].n_sf == 0).all()
    auc = qt[qt.metric == "roc_auc"]
    assert len(auc) == 4
    assert auc.estimate.isna().all() and auc.lo.isna().all() and auc.hi.isna().all()
    assert auc.note.str.contains("ROC AUC undefined").all()
    acc = qt[qt.metric == "accuracy"]
    assert acc.estimate.notna().all() and acc.lo.notna().all() and (acc.note == "").all()


def test_determinism_and_run_order(planted: dict, table: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(_table(planted), table)
    flipped = dict(planted, probas=dict(reversed(planted["probas"].items())),
                   preds=dict(reversed(planted["preds"].items())))
    other = _table(flipped)
    for run in ("A", "B"):
        pd.testing.assert_frame_equal(
            other[other.run == run].reset_index(drop=True),
            table[table.run == run].reset_index(drop=True),
        )
    reseeded = _table(planted, seed=6)
    assert not np.allclose(reseeded.lo.dropna(), table.lo.dropna())


def test_min_count_gives_estimate_without_interval(planted: dict) -> None:
    t = _table(planted, min_count=10_000, n_boot=50)
    binned = t[(t.bin >= 0) & (t.metric == "accuracy")]
    assert binned.estimate.notna().all()
    assert binned.lo.isna().all() and binned.hi.isna().all()
    assert binned.note.str.contains("n < min_count").all()


def test_quantile_bins_and_edge_cases(planted: dict) -> None:
    edges = quantile_edges(np.r_[np.arange(100.0), np.nan], n_bins=4)
    np.testing.assert_allclose(edges, [0, 24.75, 49.5, 74.25, 99])
    assert quantile_edges(np.r_[np.zeros(70), np.arange(1.0, 31)], n_bins=4).size == 3  # ties
    assert quantile_edges(np.full(5, np.nan), n_bins=4).size == 0
    np.testing.assert_array_equal(quantile_edges(np.full(5, 2.0), n_bins=3), [2.0, 2.0])
    t = subgroup_metrics(
        y_true=planted["y"], probas=planted["probas"], preds=planted["preds"],
        variables={"z": planted["z"]}, classes=CLASSES, metrics=["accuracy"], n_boot=20,
    )
    binned = t[t.bin >= 0].drop_duplicates("bin")
    assert list(binned.bin) == [0, 1, 2, 3]
    assert binned.n.max() - binned.n.min() <= 1  # quantile bins hold equal numbers
    assert binned.hi_edge.iloc[-1] == np.nanmax(planted["z"])  # top value in the last bin
    assert t[t.bin == -1].n.tolist() == [12]  # only the NaN objects are in no bin
    allnan = subgroup_metrics(
        y_true=planted["y"], probas=planted["probas"], preds=planted["preds"],
        variables={"w": np.full(planted["y"].size, np.nan)}, classes=CLASSES,
        metrics=["accuracy"], n_boot=20,
    )
    assert len(allnan) == 1 and allnan.bin.iloc[0] == -1
    assert "no finite values" in allnan.note.iloc[0]


def test_bad_inputs_raise(planted: dict) -> None:
    with pytest.raises(AgnbenchError, match="unknown"):
        _table(planted, edges={"nope": Z_EDGES})
    with pytest.raises(AgnbenchError, match="metric"):
        subgroup_metrics(y_true=planted["y"], probas=planted["probas"], preds=planted["preds"],
                         variables={}, classes=CLASSES, metrics=["auroc"])
    with pytest.raises(AgnbenchError, match="same"):
        subgroup_metrics(y_true=planted["y"], probas=planted["probas"],
                         preds={"A": planted["preds"]["A"]}, variables={}, classes=CLASSES,
                         metrics=["accuracy"])
