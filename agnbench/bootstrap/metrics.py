"""Weighted classification metrics for many bootstrap replicates at once.

A bootstrap replicate ``b`` of ``n`` objects is a weight vector ``w_b`` of shape ``(n,)``: how
many times each object is drawn (or any non-negative weight, e.g. a jackknife row). Every metric
is the scikit-learn metric with ``sample_weight=w_b``, which equals the metric on the resampled
arrays ``y[idx_b]``. ``B`` replicates form a ``(B, n)`` matrix; all metrics follow from gathers,
segment sums and cumulative sums over it, in blocks of replicates, with no Python loop over
replicates or objects and no multi-threaded BLAS call (one single-threaded product for the
logistic recalibration terms).

Conventions (``K`` classes; binary means ``K == 2`` with class 1 the positive class):

* accuracy, balanced accuracy, per-class precision/recall/F1 (``zero_division=0``), macro F1
  over all ``K`` labels and MCC (0.0 when undefined) follow scikit-learn and come from one
  weighted confusion matrix per replicate.
* roc_auc: binary ROC AUC of ``proba[:, 1]``; multi-class: unweighted mean over classes of the
  one-vs-rest AUC of ``proba[:, k]``. Tied scores count 1/2. NaN when a needed class is absent.
* pr_auc: average precision (scikit-learn's step-wise sum over distinct thresholds);
  multi-class: mean over classes of the one-vs-rest value. NaN when a needed class has no
  positive weight (scikit-learn returns 0.0 with a warning; NaN keeps such replicates out of
  intervals).
* brier: binary ``mean (p_1 - [y == 1])^2``; multi-class ``mean sum_k (p_k - [y == k])^2``,
  i.e. scikit-learn's ``brier_score_loss(y, proba, labels=range(K))`` (unscaled for ``K >= 3``).
* log_loss: ``mean -log(clip(p_y, eps, 1 - eps))`` with ``eps`` the machine epsilon of the
  dtype of ``proba`` as passed (scikit-learn 1.9; no renormalisation after clipping), computed
  in float64.
* ece: ``sum_m (W_m / W) |acc_m - conf_m|`` with confidence ``max_k p_k``, correctness
  ``argmax_k p_k == y`` (first maximum on ties) and ``ece_bins`` equal-width bins
  ``[e_m, e_{m+1})`` on ``[0, 1]``, the last bin closed ``[e_{M-1}, 1]``. Biased upward (about
  0.04 for a perfectly calibrated model at n ~ 360): shown, never ranked.
* debiased_ce (same bins; Kumar et al. 2019), calibration_slope and calibration_intercept (logistic
  recalibration of ``proba[:, 1]``, binary only; replicates are two Newton steps from the full-sample
  fit, from fixed per-object terms): see :mod:`agnbench.bootstrap.calibration`.

A replicate whose total weight is zero gets NaN for every metric.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agnbench.bootstrap.calibration import (RecalibrationPlan, debiased_ce, recalibration_plan, recalibration_sums,
                                           recalibration_values)
from agnbench.errors import AgnbenchError

__all__ = [
    "BINARY_ONLY_METRICS", "METRIC_NAMES", "class_metric_names", "metric_notes", "point_metrics", "weighted_metrics"
]

logger = logging.getLogger(__name__)

METRIC_NAMES: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "macro_f1", "mcc", "roc_auc", "pr_auc", "brier", "log_loss",
    "ece", "debiased_ce", "calibration_slope", "calibration_intercept",
)
#: Metrics defined for binary problems only (NaN for K > 2 classes).
BINARY_ONLY_METRICS = ("calibration_slope", "calibration_intercept")
#: Metrics whose default interval is the percentile one: BCa covered 0.65-0.78 for them in simulation
#: (benchmarks/bench_calibration_coverage.py), the percentile interval 0.91-0.95.
PERCENTILE_METRICS = ("debiased_ce", "calibration_slope", "calibration_intercept")
_BINNED = ("ece", "debiased_ce")
_RECALIBRATION = ("calibration_slope", "calibration_intercept")
_CLASS_PREFIXES = ("precision", "recall", "f1")
_BLOCK_ELEMENTS = 1 << 18  # replicates per block: about 256k weights (2 MB) per temporary array


def class_metric_names(classes: Sequence[str]) -> list[str]:
    """Per-class metric names.

    Parameters
    ----------
    classes : sequence of str, length K
        Class names in label order.

    Returns
    -------
    list of str, length 3 K
        ``precision_<c>``, ``recall_<c>``, ``f1_<c>`` for each class ``c``.
    """
    return [f"{prefix}_{c}" for c in classes for prefix in _CLASS_PREFIXES]


@dataclass(frozen=True)
class _RankOrder:
    """One one-vs-rest ranking problem, independent of the weights.

    Positives and negatives each sorted by ascending score; for every positive ``i``,
    ``neg_lt``/``neg_le`` count the negatives scoring below / not above it and ``pos_lt`` the
    positives scoring below it. ``None``: same as ``neg_lt`` (no positive ties a negative) or
    ``arange`` (no two positives tie).
    """

    pos_idx: np.ndarray  # (n_pos,)
    neg_idx: np.ndarray  # (n_neg,)
    neg_lt: np.ndarray  # (n_pos,)
    neg_le: np.ndarray | None  # (n_pos,)
    pos_lt: np.ndarray | None  # (n_pos,)


def _rank_order(score: np.ndarray, positive: np.ndarray) -> _RankOrder:
    pos_idx, neg_idx = np.flatnonzero(positive), np.flatnonzero(~positive)
    pos_idx = pos_idx[np.argsort(score[pos_idx], kind="stable")]
    neg_idx = neg_idx[np.argsort(score[neg_idx], kind="stable")]
    sp, sn = score[pos_idx], score[neg_idx]
    neg_lt = np.searchsorted(sn, sp, side="left")
    neg_le = np.searchsorted(sn, sp, side="right")
    pos_lt = np.searchsorted(sp, sp, side="left")
    same_lt = np.array_equal(pos_lt, np.arange(sp.size))
    return _RankOrder(
        pos_idx, neg_idx, neg_lt, None if np.array_equal(neg_le, neg_lt) else neg_le,
        None if same_lt else pos_lt,
    )


def _cumsum0(values: np.ndarray) -> np.ndarray:
    """Row-wise cumulative sums with a leading zero column: (b, m) -> (b, m + 1)."""
    out = np.empty((values.shape[0], values.shape[1] + 1), dtype=values.dtype)
    out[:, 0] = 0
    np.cumsum(values, axis=1, dtype=values.dtype, out=out[:, 1:])
    return out


def _rank_block(
    wv: np.ndarray, order: _RankOrder, *, auc: bool, ap: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Weighted ROC AUC and average precision of one one-vs-rest problem.

    With ``N(<s)`` the negative weight scoring below ``s``, ``P(<s)`` likewise and totals
    ``P``, ``N``: ``AUC = sum_pos w_i (N(<s_i) + N(<=s_i)) / (2 P N)`` and
    ``AP = sum_pos w_i TP_i / (TP_i + FP_i) / P`` with ``TP_i = P - P(<s_i)`` and
    ``TP_i + FP_i = P + N - P(<s_i) - N(<s_i)``, the weight scoring at least ``s_i``.
    ``wv`` (b, n) is int32 (when every cumulative sum fits) or float64. Returns two (b,) arrays
    (None where not requested), meaningless where ``P == 0`` (AUC: or ``N == 0``).
    """
    cum_neg = _cumsum0(np.take(wv, order.neg_idx, axis=1))
    wpos = np.take(wv, order.pos_idx, axis=1)
    neg_below = np.take(cum_neg, order.neg_lt, axis=1).astype(np.float64)
    ntot = cum_neg[:, -1].astype(np.float64)
    wpos_f = wpos.astype(np.float64)
    auc_out = ap_out = None
    with np.errstate(divide="ignore", invalid="ignore"):
        if auc:
            num = np.einsum("ij,ij->i", wpos_f, neg_below)
            if order.neg_le is not None:
                tied = np.take(cum_neg, order.neg_le, axis=1).astype(np.float64)
                num = 0.5 * (num + np.einsum("ij,ij->i", wpos_f, tied))
            auc_out = num / (wpos_f.sum(axis=1) * ntot)
        if ap:
            cum_pos = _cumsum0(wpos)
            ptot = cum_pos[:, -1:].astype(np.float64)
            pos_below = (
                cum_pos[:, :-1] if order.pos_lt is None else np.take(cum_pos, order.pos_lt, axis=1)
            )
            tp = ptot - pos_below
            at_least = neg_below  # becomes TP + FP
            at_least += pos_below
            np.subtract(ptot + ntot[:, None], at_least, out=at_least)
            np.divide(tp, at_least, out=tp, where=at_least > 0)  # TP == 0 where TP + FP == 0
            ap_out = np.einsum("ij,ij->i", wpos_f, tp) / ptot[:, 0]
    return auc_out, ap_out


@dataclass(frozen=True)
class _Additive:
    """Objects grouped by (confusion cell, ECE bin, argmax correct) for segment sums."""

    perm: np.ndarray  # (n,) objects ordered by group
    starts: np.ndarray  # (G,) first position of each group
    cell_map: np.ndarray  # (G, K*K) 0/1: confusion cell of each group
    values: dict[str, np.ndarray]  # per-object brier / log-loss terms, (n,) in perm order
    conf: np.ndarray | None  # (n,) confidence in perm order (ECE only)
    correct: np.ndarray | None  # (G,) 0/1 argmax correctness of each group (ECE only)
    bin_map: np.ndarray | None  # (G, M) 0/1: confidence bin of each group (ECE only)
    recal: RecalibrationPlan | None  # logistic recalibration terms (n, 12) (binary only)


def _additive_plan(
    y: np.ndarray, p: np.ndarray, yp: np.ndarray, eps: float, wanted: set[str], ece_bins: int
) -> _Additive:
    n, k = p.shape
    rows = np.arange(n)
    key = y * k + yp
    binned = bool(wanted.intersection(_BINNED))
    if binned:
        conf = p.max(axis=1)
        edges = np.linspace(0.0, 1.0, ece_bins + 1)
        bins = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, ece_bins - 1)
        key = (key * ece_bins + bins) * 2 + (p.argmax(axis=1) == y)
    perm = np.argsort(key, kind="stable")
    key_sorted = key[perm]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    group_key = key_sorted[starts]
    cell = group_key // (2 * ece_bins) if binned else group_key
    values: dict[str, np.ndarray] = {}
    if "brier" in wanted:
        onehot = np.zeros_like(p)
        onehot[rows, y] = 1.0
        brier = (p[:, 1] - onehot[:, 1]) ** 2 if k == 2 else ((p - onehot) ** 2).sum(axis=1)
        values["brier"] = brier[perm]
    if "log_loss" in wanted:
        values["log_loss"] = -np.log(np.clip(p[rows, y], eps, 1 - eps))[perm]
    recal = None
    if k == 2 and wanted.intersection(_RECALIBRATION):
        plan = recalibration_plan(p[:, 1], (y == 1).astype(np.float64), eps)
        recal = RecalibrationPlan(np.ascontiguousarray(plan.terms), plan.joint, plan.intercept)
    if not binned:
        return _Additive(perm, starts, np.eye(k * k)[cell], values, None, None, None, recal)
    correct = (group_key % 2).astype(np.float64)
    bin_map = np.eye(ece_bins)[(group_key // 2) % ece_bins]
    return _Additive(perm, starts, np.eye(k * k)[cell], values, conf[perm], correct, bin_map, recal)


def _additive_block(wv: np.ndarray, plan: _Additive, out: dict[str, np.ndarray]) -> None:
    """Fill ``out`` (arrays with ``b`` rows) with the confusion matrix and additive sums."""
    ws = np.take(wv, plan.perm, axis=1)
    counts = np.add.reduceat(ws, plan.starts, axis=1).astype(np.float64)  # (b, G)
    out["conf"][:] = np.einsum("ig,gc->ic", counts, plan.cell_map)
    for name, v in plan.values.items():
        out[name][:, 0] = np.einsum("ij,j->i", ws, v)
    if plan.conf is not None:
        signed = counts * plan.correct - np.add.reduceat(ws * plan.conf, plan.starts, axis=1)
        out["ece"][:] = np.einsum("ig,gm->im", signed, plan.bin_map)
        if "bin_w" in out:
            out["bin_w"][:] = np.einsum("ig,gm->im", counts, plan.bin_map)
            out["bin_c"][:] = np.einsum("ig,gm->im", counts * plan.correct, plan.bin_map)


def _block_weights(block: np.ndarray) -> np.ndarray:
    """The checked block (b, n) as int32 when it holds integers whose row sums fit, else float64.

    Integer cumulative sums are exact and several times faster than float ones.
    """
    high, low = (float(block.max()), float(block.min())) if block.size else (0.0, 0.0)
    if not (low >= 0 and np.isfinite(high)):
        raise AgnbenchError("weights must be finite and non-negative (replicate counts)")
    if high * block.shape[1] < 2**31:
        as_int = block.astype(np.int32)
        if block.dtype.kind in "iu" or np.array_equal(as_int.astype(block.dtype), block):
            return as_int
    return block.astype(np.float64)


def _resolve_metrics(metrics: Sequence[str] | None, classes: Sequence[str]) -> list[str]:
    valid = list(METRIC_NAMES) + class_metric_names(classes)
    if metrics is None:
        return valid
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in metrics if m not in valid]
    if unknown:
        raise AgnbenchError(f"unknown metric(s) {unknown}; choose from {valid}")
    return list(dict.fromkeys(metrics))


def _validate(
    y_true: np.ndarray, proba: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Checked ``y_true`` (n,), ``proba`` (n, K) float64, ``y_pred`` (n,) and the clip epsilon."""
    proba_in = np.asarray(proba)
    if proba_in.ndim != 2 or proba_in.shape[1] < 2 or proba_in.dtype.kind not in "iuf":
        raise AgnbenchError(
            f"proba must be a float array of shape (n, K) with K >= 2 classes, got "
            f"{proba_in.dtype} {proba_in.shape}; pass one probability column per class"
        )
    n, k = proba_in.shape
    if n == 0:
        raise AgnbenchError("no objects: proba has 0 rows; metrics need at least one object")
    eps = float(np.finfo(proba_in.dtype if proba_in.dtype.kind == "f" else np.float64).eps)
    p = proba_in.astype(np.float64, copy=False)
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise AgnbenchError("proba must contain finite probabilities in [0, 1]; check the model")
    if np.max(np.abs(p.sum(axis=1) - 1.0)) > 1e-4:
        raise AgnbenchError("proba rows must sum to 1; normalise the predicted probabilities")
    if len(classes) != k or len(set(classes)) != k:
        raise AgnbenchError(f"classes must name the {k} proba columns once each, got {classes}")
    labels = []
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        a = np.asarray(arr)
        if a.shape != (n,) or a.dtype.kind not in "iub":
            raise AgnbenchError(
                f"{name} must be an integer array of shape ({n},), got {a.dtype} {a.shape}; "
                "encode classes as 0..K-1 in the order of the proba columns"
            )
        a = a.astype(np.int64, copy=False)
        if a.min() < 0 or a.max() >= k:
            raise AgnbenchError(f"{name} must hold class labels in 0..{k - 1}")
        labels.append(a)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise AgnbenchError(f"ece_bins must be a positive integer, got {bins!r}")
    return labels[0], p, labels[1], eps


def weighted_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    y_pred: np.ndarray,
    weights: np.ndarray,
    *,
    classes: Sequence[str],
    metrics: Sequence[str] | None = None,
    ece_bins: int = 15,
) -> dict[str, np.ndarray]:
    """Classification metrics under each of ``B`` weightings of the same ``n`` objects.

    Row ``b`` equals the scikit-learn metric with ``sample_weight=weights[b]``; see the module
    docstring for the definitions and NaN conventions.

    Parameters
    ----------
    y_true : ndarray, shape (n,), int
        True classes in ``0..K-1``.
    proba : ndarray, shape (n, K), float
        Predicted class probabilities; rows sum to 1.
    y_pred : ndarray, shape (n,), int
        The model's decisions (need not be ``argmax proba``).
    weights : ndarray, shape (B, n)
        Non-negative replicate weights, e.g. bootstrap counts or jackknife rows.
    classes : sequence of str, length K
        Class names, used in the per-class metric names.
    metrics : sequence of str, optional
        Names from :data:`METRIC_NAMES` and :func:`class_metric_names`; default all.
    ece_bins : int, default 15
        Number of equal-width confidence bins of the ECE.

    Returns
    -------
    dict of str to ndarray, each of shape (B,), float64

    Raises
    ------
    AgnbenchError
        On unknown metric names or malformed inputs.
    """
    y, p, yp, eps = _validate(y_true, proba, y_pred, classes, ece_bins)
    names = _resolve_metrics(metrics, classes)
    w = np.asarray(weights)
    n, k = p.shape
    if w.ndim != 2 or w.shape[1] != n:
        raise AgnbenchError(f"weights must have shape (B, {n}), one row per replicate: {w.shape}")
    if w.dtype.kind not in "iuf":
        raise AgnbenchError(f"weights must be numeric replicate counts, got dtype {w.dtype}")
    wanted = set(names)
    plan = _additive_plan(y, p, yp, eps, wanted, ece_bins)
    rank_classes = [1] if k == 2 else list(range(k))
    need_auc, need_ap = "roc_auc" in wanted, "pr_auc" in wanted
    orders = [_rank_order(p[:, c], y == c) for c in rank_classes] if need_auc or need_ap else []
    n_rep = w.shape[0]
    sums = {"conf": np.empty((n_rep, k * k))}
    sums.update({name: np.empty((n_rep, 1)) for name in plan.values})
    if plan.bin_map is not None:
        sums["ece"] = np.empty((n_rep, ece_bins))
    if "debiased_ce" in wanted:
        sums["bin_w"], sums["bin_c"] = np.empty((n_rep, ece_bins)), np.empty((n_rep, ece_bins))
    auc = np.full((n_rep, len(orders)), np.nan)
    ap = np.full((n_rep, len(orders)), np.nan)
    block = max(1, _BLOCK_ELEMENTS // max(n, 1))
    for lo in range(0, n_rep, block):
        hi = min(lo + block, n_rep)
        wv = _block_weights(w[lo:hi])
        _additive_block(wv, plan, {name: s[lo:hi] for name, s in sums.items()})
        for j, order in enumerate(orders):
            auc[lo:hi, j], ap[lo:hi, j] = (
                np.nan if v is None else v for v in _rank_block(wv, order, auc=need_auc, ap=need_ap)
            )
    if plan.recal is not None:
        sums["recal"] = recalibration_sums(w, plan.recal.terms)
    logger.debug("weighted metrics: %d replicates x %d objects, %d metrics", n_rep, n, len(names))
    return _finish(names, sums, auc, ap, k, rank_classes, classes, plan.recal)


def _finish(
    names: list[str],
    sums: dict[str, np.ndarray],
    auc: np.ndarray,
    ap: np.ndarray,
    k: int,
    rank_classes: list[int],
    classes: Sequence[str],
    recal: RecalibrationPlan | None,
) -> dict[str, np.ndarray]:
    """Metric values from the per-replicate sums and the rank results (B, R)."""
    cm = sums["conf"].reshape(-1, k, k)  # [b, true, pred]
    true_sum, pred_sum = cm.sum(axis=2), cm.sum(axis=1)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    total = true_sum.sum(axis=1)
    present = true_sum > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(present, tp / true_sum, 0.0)
        precision = np.where(pred_sum > 0, tp / pred_sum, 0.0)
        f1 = np.where(true_sum + pred_sum > 0, 2 * tp / (true_sum + pred_sum), 0.0)
        cov_pp = total**2 - np.einsum("ij,ij->i", pred_sum, pred_sum)
        cov_tt = total**2 - np.einsum("ij,ij->i", true_sum, true_sum)
        cov_tp = tp.sum(axis=1) * total - np.einsum("ij,ij->i", true_sum, pred_sum)
        denom = cov_pp * cov_tt
        values: dict[str, np.ndarray] = {
            "accuracy": tp.sum(axis=1) / total,
            "balanced_accuracy": np.where(present, recall, 0.0).sum(axis=1) / present.sum(axis=1),
            "macro_f1": f1.mean(axis=1),
            "mcc": np.where(denom == 0, 0.0, cov_tp / np.sqrt(np.where(denom == 0, 1.0, denom))),
        }
        for name in ("brier", "log_loss"):
            if name in sums:
                values[name] = sums[name][:, 0] / total
        if "ece" in sums:
            values["ece"] = np.abs(sums["ece"]).sum(axis=1) / total
        if "bin_w" in sums:
            values["debiased_ce"] = debiased_ce(sums["ece"], sums["bin_w"], sums["bin_c"], total)
        nan = np.full(total.shape, np.nan)
        slope, intercept = (nan, nan) if recal is None else recalibration_values(sums["recal"], recal)
        values["calibration_slope"], values["calibration_intercept"] = slope, intercept
        if auc.shape[1]:
            pos = true_sum[:, rank_classes]
            values["roc_auc"] = np.where((pos > 0) & (total[:, None] > pos), auc, np.nan).mean(1)
            values["pr_auc"] = np.where(pos > 0, ap, np.nan).mean(axis=1)
    for c, name in enumerate(classes):
        values[f"precision_{name}"] = precision[:, c]
        values[f"recall_{name}"] = recall[:, c]
        values[f"f1_{name}"] = f1[:, c]
    out = {name: np.array(values[name], dtype=np.float64) for name in names}
    for value in out.values():
        value[total <= 0] = np.nan
    return out


def point_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    y_pred: np.ndarray,
    *,
    classes: Sequence[str],
    metrics: Sequence[str] | None = None,
    ece_bins: int = 15,
) -> dict[str, float]:
    """Metrics of the full sample (every weight 1) as Python floats.

    Parameters
    ----------
    y_true : ndarray, shape (n,), int
    proba : ndarray, shape (n, K), float
    y_pred : ndarray, shape (n,), int
    classes, metrics, ece_bins
        As in :func:`weighted_metrics`.

    Returns
    -------
    dict of str to float
        NaN where a metric is undefined; :func:`metric_notes` says why.
    """
    n = np.shape(proba)[0] if np.ndim(proba) == 2 else 0
    values = weighted_metrics(
        y_true, proba, y_pred, np.ones((1, n)), classes=classes, metrics=metrics,
        ece_bins=ece_bins,
    )
    return {name: float(v[0]) for name, v in values.items()}


def metric_notes(
    y_true: np.ndarray,
    *,
    n_classes: int,
    y_pred: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
) -> dict[str, str]:
    """Why metrics are undefined (NaN) or set by convention on one (weighted) sample.

    Parameters
    ----------
    y_true : ndarray, shape (n,), int
        True classes in ``0..n_classes-1``.
    n_classes : int
        Number of classes K (>= 2).
    y_pred : ndarray, shape (n,), int, optional
        Decisions; when given, notes on the precision, F1 and MCC conventions are added.
    weights : ndarray, shape (n,), optional
        Weights of one replicate (default: every object once).
    classes : sequence of str, optional
        Class names (default ``"0".."K-1"``).

    Returns
    -------
    dict of str to str
        Metric name to reason; metrics defined in the ordinary way are absent.
    """
    names = [str(c) for c in (range(n_classes) if classes is None else classes)]
    y = np.asarray(y_true)
    w = np.ones(y.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    if n_classes < 2 or len(names) != n_classes or y.ndim != 1 or w.shape != y.shape:
        raise AgnbenchError(
            "metric_notes needs n_classes >= 2, one class name per class, and y_true and "
            f"weights of the same shape (n,); got {n_classes}, {names}, {y.shape}, {w.shape}"
        )

    def class_weights(labels: np.ndarray, what: str) -> np.ndarray:
        a = np.asarray(labels)
        if a.shape != y.shape or (a.size and (a.min() < 0 or a.max() >= n_classes)):
            raise AgnbenchError(f"{what} must hold one label in 0..{n_classes - 1} per object")
        return np.bincount(a.astype(np.int64), weights=w, minlength=n_classes)

    true_w = class_weights(y, "y_true")
    if true_w.sum() <= 0:
        reason = "no objects with positive weight: every metric undefined (NaN)"
        return {name: reason for name in list(METRIC_NAMES) + class_metric_names(names)}
    absent = [names[c] for c in range(n_classes) if true_w[c] <= 0]
    notes = {f"recall_{c}": f"class {c} absent: recall set to 0 (zero_division=0)" for c in absent}
    if absent:
        notes["roc_auc"] = f"class(es) {absent} absent: ROC AUC undefined (NaN)"
    for m in BINARY_ONLY_METRICS:
        if n_classes > 2 or absent:
            notes[m] = "binary problems only" if n_classes > 2 else f"class(es) {absent} absent: no fit (NaN)"
    no_pos = absent if n_classes > 2 else [c for c in absent if c == names[1]]
    if no_pos:
        notes["pr_auc"] = f"no positives of class(es) {no_pos}: average precision undefined (NaN)"
    if y_pred is not None:
        pred_w = class_weights(y_pred, "y_pred")
        for c in range(n_classes):
            if pred_w[c] <= 0:
                notes[f"precision_{names[c]}"] = f"class {names[c]} never predicted: precision 0"
            if pred_w[c] <= 0 and true_w[c] <= 0:
                notes[f"f1_{names[c]}"] = f"class {names[c]} absent and never predicted: F1 0"
        if min((true_w > 0).sum(), (pred_w > 0).sum()) < 2:
            notes["mcc"] = "one class only in y_true or y_pred: MCC set to 0 (sklearn convention)"
    return notes
