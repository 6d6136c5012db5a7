"""Weighted bootstrap metrics against scikit-learn, on the full sample and on replicates."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from agnbench.bootstrap.metrics import (
    METRIC_NAMES,
    class_metric_names,
    metric_notes,
    point_metrics,
    weighted_metrics,
)
from agnbench.bootstrap.resample import counts_from_indices, index_chunks
from agnbench.errors import AgnbenchError

TOL = 1e-9


def _classes(k: int) -> list[str]:
    return [f"c{i}" for i in range(k)]


def _problem(k: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, tied probabilities (multiples of 1/10) and decisions that differ from argmax."""
    g = np.random.default_rng(seed)
    y = g.integers(0, k, n)
    pvals = np.full((n, k), 1.0) + 2.5 * np.eye(k)[y]
    pvals /= pvals.sum(axis=1, keepdims=True)
    proba = np.array([g.multinomial(10, row) for row in pvals]) / 10.0
    y_pred = np.where(g.random(n) < 0.25, g.integers(0, k, n), proba.argmax(axis=1))
    return y, proba, y_pred


def _sklearn(y, proba, y_pred, k, w=None) -> dict[str, float]:
    labels = list(range(k))
    out = {
        "accuracy": skm.accuracy_score(y, y_pred, sample_weight=w),
        "balanced_accuracy": skm.balanced_accuracy_score(y, y_pred, sample_weight=w),
        "macro_f1": skm.f1_score(
            y, y_pred, average="macro", labels=labels, zero_division=0, sample_weight=w
        ),
        "mcc": skm.matthews_corrcoef(y, y_pred, sample_weight=w),
        "log_loss": skm.log_loss(y, proba, labels=labels, sample_weight=w),
    }
    if k == 2:
        out["roc_auc"] = skm.roc_auc_score(y == 1, proba[:, 1], sample_weight=w)
        out["pr_auc"] = skm.average_precision_score(y == 1, proba[:, 1], sample_weight=w)
        out["brier"] = skm.brier_score_loss(y == 1, proba[:, 1], sample_weight=w)
    else:
        out["roc_auc"] = skm.roc_auc_score(
            y, proba, multi_class="ovr", average="macro", labels=labels, sample_weight=w
        )
        out["pr_auc"] = skm.average_precision_score(
            label_binarize(y, classes=labels), proba, average="macro", sample_weight=w
        )
        out["brier"] = skm.brier_score_loss(y, proba, labels=labels, sample_weight=w)
    prec, rec, f1, _ = skm.precision_recall_fscore_support(
        y, y_pred, labels=labels, zero_division=0, sample_weight=w
    )
    for c, name in enumerate(_classes(k)):
        out[f"precision_{name}"] = prec[c]
        out[f"recall_{name}"] = rec[c]
        out[f"f1_{name}"] = f1[c]
    return out


def _assert_close(ours: dict[str, float], ref: dict[str, float], where: str) -> None:
    for name, value in ref.items():
        assert abs(ours[name] - value) <= TOL, f"{where} {name}: {ours[name]!r} vs {value!r}"


@pytest.mark.parametrize("k", [2, 3])
def test_point_metrics_match_sklearn(k: int) -> None:
    y, proba, y_pred = _problem(k, 500, seed=k)
    assert np.any(y_pred != proba.argmax(axis=1))
    ours = point_metrics(y, proba, y_pred, classes=_classes(k))
    assert set(ours) == set(METRIC_NAMES) | set(class_metric_names(_classes(k)))
    assert all(isinstance(v, float) for v in ours.values())
    _assert_close(ours, _sklearn(y, proba, y_pred, k), f"K={k} point")


@pytest.mark.parametrize("k", [2, 3])
def test_replicates_match_sklearn_on_resampled_arrays(k: int) -> None:
    n = 400
    y, proba, y_pred = _problem(k, n, seed=10 + k)
    _, idx = next(index_chunks(n, n_boot=1500, seed=5, chunk_size=1500))  # several row blocks
    counts = counts_from_indices(idx, n)
    values = weighted_metrics(y, proba, y_pred, counts, classes=_classes(k))
    not_integer = counts + np.float64(1e-300)  # float64 and not integral: the float code path
    as_float = weighted_metrics(y, proba, y_pred, not_integer, classes=_classes(k))
    as_int = weighted_metrics(y, proba, y_pred, counts.astype(np.int64), classes=_classes(k))
    for name, v in values.items():  # integer and float code paths agree
        np.testing.assert_allclose(as_float[name], v, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(as_int[name], v)
    for b in (0, 1, 2, 3, 654, 655, 656, 1310, 1311, 1499):
        i = idx[b]
        ours = {name: float(v[b]) for name, v in values.items()}
        _assert_close(ours, _sklearn(y[i], proba[i], y_pred[i], k), f"K={k} replicate {b}")


@pytest.mark.parametrize("k", [2, 3])
def test_float_weights_match_sklearn_sample_weight(k: int) -> None:
    n = 300
    y, proba, y_pred = _problem(k, n, seed=20 + k)
    g = np.random.default_rng(1)
    weights = g.gamma(1.0, size=(3, n)) * (g.random((3, n)) > 0.2)
    values = weighted_metrics(y, proba, y_pred, weights, classes=_classes(k))
    for b in range(3):
        ours = {name: float(v[b]) for name, v in values.items()}
        _assert_close(ours, _sklearn(y, proba, y_pred, k, weights[b]), f"K={k} weights {b}")


def test_continuous_scores_and_float32_proba() -> None:
    g = np.random.default_rng(3)
    n = 1000
    y = g.integers(0, 2, n)
    y[:5] = 1
    p1 = 1 / (1 + np.exp(-(g.normal(size=n) + 1.2 * y)))
    p1[:5] = 0.0  # true-class probability 0: log-loss clipping at the float32 epsilon
    proba = np.stack([1 - p1, p1], axis=1).astype(np.float32)
    y_pred = (p1 > 0.3).astype(int)
    ours = point_metrics(y, proba, y_pred, classes=["sf", "agn"])
    # sklearn clips at the float32 epsilon and then works in float32; we clip alike in float64
    eps = np.finfo(np.float32).eps
    p_true = np.clip(proba[np.arange(n), y].astype(np.float64), eps, 1 - eps)
    assert ours["log_loss"] == pytest.approx(-np.log(p_true).mean(), abs=1e-12)
    assert ours["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1]), abs=1e-6)
    assert ours["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), abs=TOL)
    assert ours["pr_auc"] == pytest.approx(skm.average_precision_score(y, proba[:, 1]), abs=TOL)
    # the two-column (labels=) form of sklearn's Brier score is halved for K == 2
    assert ours["brier"] == pytest.approx(skm.brier_score_loss(y, proba, labels=[0, 1]), abs=1e-6)


def test_single_class_replicate_gives_nan_with_reason() -> None:
    y, proba, y_pred = _problem(2, 200, seed=4)
    weights = np.ones((2, y.size))
    weights[1, y == 1] = 0.0  # replicate 1 holds only class 0
    values = weighted_metrics(y, proba, y_pred, weights, classes=["sf", "agn"])
    assert np.isfinite(values["roc_auc"][0]) and np.isfinite(values["pr_auc"][0])
    assert np.isnan(values["roc_auc"][1]) and np.isnan(values["pr_auc"][1])
    keep = weights[1] > 0
    assert values["accuracy"][1] == pytest.approx(skm.accuracy_score(y[keep], y_pred[keep]))
    assert values["mcc"][1] == 0.0  # sklearn's convention for a single true class
    notes = metric_notes(y, n_classes=2, weights=weights[1], classes=["sf", "agn"])
    assert "absent" in notes["roc_auc"] and "agn" in notes["roc_auc"]
    assert "agn" in notes["pr_auc"]
    assert "accuracy" not in notes
    assert metric_notes(y, n_classes=2) == {}

    only_sf = y == 0
    point = point_metrics(y[only_sf], proba[only_sf], y_pred[only_sf], classes=["sf", "agn"])
    assert np.isnan(point["roc_auc"]) and np.isnan(point["pr_auc"])
    assert np.isfinite(point["log_loss"])
    notes = metric_notes(y[only_sf], n_classes=2, y_pred=y_pred[only_sf], classes=["sf", "agn"])
    assert {"roc_auc", "pr_auc", "recall_agn", "mcc"} <= set(notes)


def test_absent_class_in_multiclass() -> None:
    y, proba, y_pred = _problem(3, 300, seed=6)
    keep = y != 2
    ours = point_metrics(y[keep], proba[keep], y_pred[keep], classes=_classes(3))
    assert np.isnan(ours["roc_auc"]) and np.isnan(ours["pr_auc"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _sklearn(y[keep], proba[keep], y_pred[keep], 3)
    for name in ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "brier", "log_loss"):
        assert ours[name] == pytest.approx(ref[name], abs=TOL), name
    notes = metric_notes(y[keep], n_classes=3, classes=_classes(3))
    assert "c2" in notes["roc_auc"] and "c2" in notes["pr_auc"]


def test_zero_weight_replicate_is_all_nan() -> None:
    y, proba, y_pred = _problem(2, 50, seed=7)
    values = weighted_metrics(y, proba, y_pred, np.zeros((1, 50)), classes=["a", "b"])
    assert all(np.isnan(v[0]) for v in values.values())


def _ece_loop(y, proba, w, bins):
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total, ece = w.sum(), 0.0
    for m in range(bins):
        last = m == bins - 1
        inside = (conf >= edges[m]) & ((conf <= edges[m + 1]) if last else (conf < edges[m + 1]))
        wm = w[inside].sum()
        if wm > 0:
            acc = (w[inside] * correct[inside]).sum() / wm
            mean_conf = (w[inside] * conf[inside]).sum() / wm
            ece += wm / total * abs(acc - mean_conf)
    return ece


@pytest.mark.parametrize(("k", "bins"), [(2, 15), (3, 10), (3, 7)])
def test_ece_matches_loop_reference(k: int, bins: int) -> None:
    n = 400
    y, proba, y_pred = _problem(k, n, seed=30 + bins)  # confidences on the bin edges 0.1 * j
    g = np.random.default_rng(bins)
    weights = np.vstack([np.ones(n), g.integers(0, 3, (3, n))]).astype(float)
    ours = weighted_metrics(
        y, proba, y_pred, weights, classes=_classes(k), metrics=["ece"], ece_bins=bins
    )
    assert list(ours) == ["ece"]
    for b in range(weights.shape[0]):
        assert ours["ece"][b] == pytest.approx(_ece_loop(y, proba, weights[b], bins), abs=1e-12)


def test_ece_bin_edges_are_left_closed_and_last_bin_right_closed() -> None:
    rows = np.array([[0.4, 0.3, 0.3], [0.5, 0.25, 0.25], [0.6, 0.2, 0.2], [0.75, 0.125, 0.125],
                     [0.8, 0.1, 0.1], [1.0, 0.0, 0.0]])  # confidences on the edges of 4 bins
    g = np.random.default_rng(5)
    pick = g.integers(0, len(rows), 300)
    proba = rows[pick]
    # accurate above conf 0.5, near chance at 0.4: calibration gaps of both signs
    y = np.where((pick > 0) & (g.random(300) < 0.95), 0, g.integers(0, 3, 300))
    ours = point_metrics(y, proba, y, classes=_classes(3), metrics=["ece"], ece_bins=4)
    assert ours["ece"] == pytest.approx(_ece_loop(y, proba, np.ones(300), 4), abs=1e-12)
    # 0.5 shares the bin [0.5, 0.75) with 0.6, and 1.0 shares [0.75, 1] with 0.75 and 0.8
    moved = _ece_loop(y, proba * np.where(proba == 0.5, 0.999, 1.0), np.ones(300), 4)
    assert abs(ours["ece"] - moved) > 1e-6


def test_metric_selection_and_errors() -> None:
    y, proba, y_pred = _problem(2, 40, seed=8)
    ours = point_metrics(y, proba, y_pred, classes=["sf", "agn"], metrics=["f1_agn", "mcc"])
    assert list(ours) == ["f1_agn", "mcc"]
    assert class_metric_names(["sf", "agn"]) == [
        "precision_sf", "recall_sf", "f1_sf", "precision_agn", "recall_agn", "f1_agn"
    ]
    with pytest.raises(AgnbenchError, match="unknown metric.*roc_auc"):
        point_metrics(y, proba, y_pred, classes=["sf", "agn"], metrics=["auc"])
    with pytest.raises(AgnbenchError, match="classes"):
        point_metrics(y, proba, y_pred, classes=["sf"])
    with pytest.raises(AgnbenchError, match="weights"):
        weighted_metrics(y, proba, y_pred, -np.ones((1, 40)), classes=["sf", "agn"])
    with pytest.raises(AgnbenchError, match="weights"):
        weighted_metrics(y, proba, y_pred, np.ones(40), classes=["sf", "agn"])
    with pytest.raises(AgnbenchError, match="y_true"):
        point_metrics(y + 1, proba, y_pred, classes=["sf", "agn"])
    with pytest.raises(AgnbenchError, match="sum to 1"):
        point_metrics(y, proba * 0.5, y_pred, classes=["sf", "agn"])


def test_speed_sanity_250_replicates_20k_objects() -> None:
    n = 20_000
    y, proba, y_pred = _problem(3, n, seed=9)
    _, idx = next(index_chunks(n, n_boot=250, seed=1))
    values = weighted_metrics(y, proba, y_pred, counts_from_indices(idx, n), classes=_classes(3))
    assert all(v.shape == (250,) for v in values.values())
    assert np.all(np.isfinite(values["roc_auc"]))
