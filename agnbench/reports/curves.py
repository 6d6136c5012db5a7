"""Performance tables behind the report's curves: ROC and PR with paired bootstrap bands, reliability, confusion.

Every function is a pure function of arrays (one row per object of the comparison split, aligned across runs)
and returns a tidy :class:`pandas.DataFrame` that :mod:`agnbench.reports.fig_performance` draws and the report
saves as CSV. Bands come from ONE matrix of bootstrap resamples shared by every run (paired, as in
``agnbench compare``), optionally stratified by the true class, drawn from :mod:`agnbench.bootstrap.resample`.

Binary problems give curves for the positive class (the last class); multi-class ones give one one-vs-rest curve
per class. Curves follow scikit-learn's conventions exactly: ``roc_curve(..., drop_intermediate=False)`` and
``precision_recall_curve(..., drop_intermediate=False)``, ROC AUC with ties counting 1/2, and average precision as
the step-wise sum, so the trapezoid area of an ROC table equals ``roc_auc_score``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from agnbench.bootstrap.resample import percentile_interval, resample_counts
from agnbench.errors import AgnbenchError
from agnbench.seeding import derive_seed

__all__ = ["confusion_table", "curve_tables", "curve_classes", "reliability_table"]

log = logging.getLogger(__name__)


def curve_classes(classes: Sequence[str]) -> list[int]:
    """Indices of the classes that get a curve: the positive (last) class if binary, else every class."""
    return [len(classes) - 1] if len(classes) == 2 else list(range(len(classes)))


@dataclass(frozen=True)
class _Ranking:
    """Objects sorted by decreasing score, and the last position of each distinct score (a threshold)."""

    order: np.ndarray  # (n,) object indices, decreasing score
    positive: np.ndarray  # (n,) float64 0/1 in that order
    ends: np.ndarray  # (T,) last sorted position of each distinct score
    thresholds: np.ndarray  # (T,) decreasing distinct scores


def _ranking(score: np.ndarray, positive: np.ndarray) -> _Ranking:
    order = np.argsort(-score, kind="mergesort")
    s = score[order]
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    return _Ranking(order, positive[order].astype(np.float64), ends, s[ends])


def _counts(w: np.ndarray, r: _Ranking) -> tuple[np.ndarray, np.ndarray]:
    """Weighted true and false positives at each threshold, with the origin first: two (b, T + 1) arrays."""
    ws = np.take(w, r.order, axis=1).astype(np.float64)
    tp = np.cumsum(ws * r.positive, axis=1)[:, r.ends]
    fp = np.cumsum(ws, axis=1)[:, r.ends] - tp
    zero = np.zeros((w.shape[0], 1))
    return np.hstack([zero, tp]), np.hstack([zero, fp])


def _rowwise_search(rows: np.ndarray, grid: np.ndarray, side: str) -> np.ndarray:
    """``np.searchsorted(rows[b], grid, side)`` for every row of a (b, m) array of non-decreasing values in [0, 1]."""
    b, m = rows.shape
    offset = 2.0 * np.arange(b)[:, None]
    flat = np.nan_to_num(rows, nan=0.0) + offset
    pos = np.searchsorted(flat.ravel(), (grid[None, :] + offset).ravel(), side=side).reshape(b, grid.size)
    return pos - (m * np.arange(b))[:, None]


def _curve_stats(tp: np.ndarray, fp: np.ndarray, fpr_grid: np.ndarray, recall_grid: np.ndarray) -> dict:
    """ROC / PR summaries of (b, T + 1) weighted counts: TPR on the FPR grid, precision on the recall grid,
    AUC and AP per row (NaN where a class has no weight)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p_tot, n_tot = tp[:, -1:], fp[:, -1:]
        tpr, fpr = tp / p_tot, fp / n_tot
        predicted = tp + fp
        precision = np.where(predicted > 0, tp / predicted, 0.0)
    rows = np.arange(tp.shape[0])[:, None]
    at = np.clip(_rowwise_search(fpr, fpr_grid, "right") - 1, 0, tp.shape[1] - 1)
    tpr_grid = tpr[rows, at]
    # precision at the first threshold whose recall reaches r (the step function average precision integrates);
    # r = 0 is taken as 0+ so that it is the precision of the first threshold that admits a positive
    at = np.clip(_rowwise_search(tpr[:, 1:], np.maximum(recall_grid, 1e-12), "left"), 0, tp.shape[1] - 2)
    prec_grid = precision[:, 1:][rows, at]
    auc = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2.0, axis=1)
    ap = np.sum(np.diff(tpr, axis=1) * precision[:, 1:], axis=1)
    bad_p, bad_n = p_tot[:, 0] <= 0, n_tot[:, 0] <= 0
    tpr_grid[bad_p | bad_n] = np.nan
    prec_grid[bad_p] = np.nan
    auc[bad_p | bad_n] = np.nan
    ap[bad_p] = np.nan
    return {"tpr": tpr_grid, "precision": prec_grid, "auc": auc, "ap": ap}


def _check(y_true: np.ndarray, proba: Mapping[str, np.ndarray], classes: Sequence[str]) -> np.ndarray:
    y = np.asarray(y_true)
    k = len(classes)
    if y.ndim != 1 or y.size == 0 or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= k:
        raise AgnbenchError(f"y_true must be a non-empty (n,) integer array of class indices 0..{k - 1}")
    if not proba:
        raise AgnbenchError("no runs given: proba must map at least one run name to an (n, K) array")
    for run, p in proba.items():
        if np.shape(p) != (y.size, k):
            raise AgnbenchError(f"proba of run {run!r} has shape {np.shape(p)}, expected ({y.size}, {k}) "
                                f"(one column per class {list(classes)}, objects aligned with y_true)")
    return y.astype(np.int64)


def curve_tables(y_true: np.ndarray, proba: Mapping[str, np.ndarray], *, classes: Sequence[str], n_boot: int = 500,
                 seed: int = 0, stratify: bool = True, confidence: float = 0.95,
                 grid_points: int = 101) -> dict[str, pd.DataFrame]:
    """ROC and precision-recall curves of every run with paired bootstrap percentile bands.

    Parameters
    ----------
    y_true : numpy.ndarray of int, shape (n,)
        True class indices of the comparison split, aligned across runs.
    proba : mapping of run name to numpy.ndarray, shape (n, K)
        Class probabilities of each run, rows aligned with ``y_true``.
    classes : sequence of str, length K
        Class names in label order; binary problems use the last one as the positive class.
    n_boot : int, default 500
        Bootstrap replicates; the same resampled objects are used for every run (paired). 0: no bands (the band
        columns are NaN).
    seed : int, default 0
        Root seed; the resamples come from the stream ``derive_seed(seed, "report", "curves")``.
    stratify : bool, default True
        Resample within each true class (class counts fixed in every replicate).
    confidence : float, default 0.95
        Coverage of the percentile bands (the replicates' ``(1 -/+ confidence) / 2`` quantiles at each grid point).
    grid_points : int, default 101
        Points of the fixed FPR and recall grids on [0, 1].

    Returns
    -------
    dict with keys ``"roc"`` and ``"pr"``, pandas.DataFrame each
        Rows with ``kind == "curve"`` are the exact full-sample curve (scikit-learn's points, ``threshold``
        filled); rows with ``kind == "band"`` are the grid: the full-sample value evaluated on the grid and the
        band ``*_lo``/``*_hi``. ROC columns: run, class, kind, fpr, tpr, tpr_lo, tpr_hi, threshold, auc, auc_lo,
        auc_hi, n, n_pos, n_boot, confidence. PR columns: run, class, kind, recall, precision, precision_lo,
        precision_hi, threshold, ap, ap_lo, ap_hi, prevalence, n, n_pos, n_boot, confidence. On the grid, TPR at
        FPR ``g`` is the largest TPR reached with FPR <= ``g``; precision at recall ``r`` is that of the first
        threshold (by decreasing score) whose recall reaches ``r``, the step function average precision sums.
    """
    y = _check(y_true, proba, classes)
    if isinstance(grid_points, bool) or not isinstance(grid_points, (int, np.integer)) or grid_points < 2:
        raise AgnbenchError(f"grid_points must be an integer >= 2, got {grid_points!r}")
    grid = np.linspace(0.0, 1.0, int(grid_points))
    keys = [(run, c) for run in proba for c in curve_classes(classes)]
    ranks = {(run, c): _ranking(np.asarray(proba[run], dtype=np.float64)[:, c], y == c) for run, c in keys}
    reps = {key: {s: np.full((max(n_boot, 1), grid.size) if s in ("tpr", "precision") else max(n_boot, 1), np.nan)
                  for s in ("tpr", "precision", "auc", "ap")} for key in keys}  # all-NaN rows: no band
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise AgnbenchError(f"n_boot must be an integer >= 0 (0: no bands), got {n_boot!r}")
    stream = derive_seed(seed, "report", "curves")
    chunks = resample_counts(y.size, n_boot=n_boot, seed=stream, strata=y if stratify else None) if n_boot else ()
    for first, w in chunks:
        for key in keys:
            stats = _curve_stats(*_counts(w, ranks[key]), grid, grid)
            for s, v in stats.items():
                reps[key][s][first: first + w.shape[0]] = v
    log.debug("curve bands: %d runs x %d classes, %d paired replicates of %d objects", len(proba),
              len(curve_classes(classes)), n_boot, y.size)
    roc, pr = [], []
    for (run, c), r in ranks.items():
        tp, fp = _counts(np.ones((1, y.size)), r)
        full = _curve_stats(tp, fp, grid, grid)
        rep = reps[(run, c)]
        n_pos = int(tp[0, -1])
        common = {"run": run, "class": classes[c], "n": int(y.size), "n_pos": n_pos, "n_boot": int(n_boot),
                  "confidence": confidence}
        auc_lo, auc_hi = percentile_interval(rep["auc"], confidence=confidence)
        ap_lo, ap_hi = percentile_interval(rep["ap"], confidence=confidence)
        roc_area = {"auc": float(full["auc"][0]), "auc_lo": auc_lo, "auc_hi": auc_hi}
        pr_area = {"ap": float(full["ap"][0]), "ap_lo": ap_lo, "ap_hi": ap_hi, "prevalence": n_pos / y.size}
        with np.errstate(divide="ignore", invalid="ignore"):
            tpr, fpr = tp[0] / tp[0, -1], fp[0] / fp[0, -1]
            prec = np.where(tp[0] + fp[0] > 0, tp[0] / (tp[0] + fp[0]), 0.0)
        thr = np.r_[np.inf, r.thresholds]
        roc.append(pd.DataFrame({**common, "kind": "curve", "fpr": fpr, "tpr": tpr, "threshold": thr, **roc_area}))
        lo, hi = percentile_interval(rep["tpr"], confidence=confidence, axis=0)
        roc.append(pd.DataFrame({**common, "kind": "band", "fpr": grid, "tpr": full["tpr"][0], "tpr_lo": lo,
                                 "tpr_hi": hi, "threshold": np.nan, **roc_area}))
        pr.append(pd.DataFrame({**common, "kind": "curve", "recall": tpr, "precision": np.r_[1.0, prec[1:]],
                                "threshold": np.r_[np.nan, r.thresholds], **pr_area}))
        lo, hi = percentile_interval(rep["precision"], confidence=confidence, axis=0)
        pr.append(pd.DataFrame({**common, "kind": "band", "recall": grid, "precision": full["precision"][0],
                                "precision_lo": lo, "precision_hi": hi, "threshold": np.nan, **pr_area}))
    roc_cols = ["run", "class", "kind", "fpr", "tpr", "tpr_lo", "tpr_hi", "threshold", "auc", "auc_lo", "auc_hi",
                "n", "n_pos", "n_boot", "confidence"]
    pr_cols = ["run", "class", "kind", "recall", "precision", "precision_lo", "precision_hi", "threshold", "ap",
               "ap_lo", "ap_hi", "prevalence", "n", "n_pos", "n_boot", "confidence"]
    return {"roc": pd.concat(roc, ignore_index=True).reindex(columns=roc_cols),
            "pr": pd.concat(pr, ignore_index=True).reindex(columns=pr_cols)}


def _wilson(k: np.ndarray, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``k / n`` (NaN where ``n == 0``)."""
    z = float(norm.ppf(0.5 + confidence / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    lo, hi = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    lo[k == 0], hi[k == n] = 0.0, 1.0  # exact ends (rounding would leave 1 - 1e-16 below an observed 1)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def reliability_table(y_true: np.ndarray, proba: Mapping[str, np.ndarray], *, classes: Sequence[str],
                      n_bins: int = 15, confidence: float = 0.95) -> pd.DataFrame:
    """Top-label reliability diagram of every run, binned as the ECE of :mod:`agnbench.bootstrap.metrics`.

    Confidence is ``max_k p_k``, correctness ``argmax_k p_k == y`` (first maximum on ties), bins are
    ``n_bins`` equal-width bins ``[e_m, e_{m+1})`` on [0, 1] with the last one closed.

    Parameters
    ----------
    y_true : numpy.ndarray of int, shape (n,)
    proba : mapping of run name to numpy.ndarray, shape (n, K)
    classes : sequence of str, length K
    n_bins : int, default 15
        Use the comparison's ``compare.ece_bins`` so the ECE matches ``summary.csv``.
    confidence : float, default 0.95
        Coverage of the Wilson score interval on each bin's accuracy.

    Returns
    -------
    pandas.DataFrame
        One row per run and bin: run, bin, lo_edge, hi_edge, count, mean_confidence, accuracy, accuracy_lo,
        accuracy_hi (NaN for empty bins), gap (``count * |accuracy - mean_confidence| / n``, the bin's share of the
        ECE), ece (the run's ECE, repeated), n.
    """
    y = _check(y_true, proba, classes)
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise AgnbenchError(f"n_bins must be a positive integer (compare.ece_bins), got {n_bins!r}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    parts = []
    for run, p in proba.items():
        p = np.asarray(p, dtype=np.float64)
        conf = p.max(axis=1)
        correct = (p.argmax(axis=1) == y).astype(np.float64)
        b = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
        count = np.bincount(b, minlength=n_bins).astype(np.float64)
        sum_conf = np.bincount(b, weights=conf, minlength=n_bins)
        sum_ok = np.bincount(b, weights=correct, minlength=n_bins)
        gap = np.abs(sum_ok - sum_conf) / y.size
        lo, hi = _wilson(sum_ok, count, confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append(pd.DataFrame({
                "run": run, "bin": np.arange(n_bins), "lo_edge": edges[:-1], "hi_edge": edges[1:],
                "count": count.astype(np.int64), "mean_confidence": sum_conf / count, "accuracy": sum_ok / count,
                "accuracy_lo": lo, "accuracy_hi": hi, "gap": gap, "ece": float(gap.sum()), "n": int(y.size)}))
    return pd.concat(parts, ignore_index=True)


def confusion_table(y_true: np.ndarray, y_pred: Mapping[str, np.ndarray], *, classes: Sequence[str]) -> pd.DataFrame:
    """Confusion matrix of every run's decisions, as counts and row-normalised fractions.

    Parameters
    ----------
    y_true : numpy.ndarray of int, shape (n,)
    y_pred : mapping of run name to numpy.ndarray of int, shape (n,)
        Each run's decisions (its ``y_pred`` column; need not be the argmax).
    classes : sequence of str, length K

    Returns
    -------
    pandas.DataFrame
        One row per run, true class and predicted class: run, true, pred, count, fraction (count over the
        true class's total: each row of the matrix sums to 1; NaN for an absent class), n_true.
    """
    k = len(classes)
    y = _check(y_true, {r: np.zeros((np.size(y_true), k)) for r in y_pred}, classes)
    rows = []
    for run, pred in y_pred.items():
        pred = np.asarray(pred)
        if pred.shape != y.shape or pred.dtype.kind not in "iu" or pred.min() < 0 or pred.max() >= k:
            raise AgnbenchError(f"y_pred of run {run!r} must be an ({y.size},) integer array in 0..{k - 1}")
        cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
        totals = cm.sum(axis=1)
        for t in range(k):
            for q in range(k):
                rows.append({"run": run, "true": classes[t], "pred": classes[q], "count": int(cm[t, q]),
                             "fraction": cm[t, q] / totals[t] if totals[t] else np.nan, "n_true": int(totals[t])})
    return pd.DataFrame(rows)
