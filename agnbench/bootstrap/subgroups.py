"""Metrics with paired bootstrap intervals in bins of a physical quantity (redshift, mass, S/N).

For every variable and bin, the objects of the bin are resampled with one index matrix shared by
all runs (paired), stratified by the true class by default, and every run's metrics follow from
:func:`~agnbench.bootstrap.metrics.weighted_metrics` on the replicate counts. The result is a long
table of raw numbers (one row per variable, bin, run and metric); summaries come later.

Bins are ``[e_i, e_{i+1})``, the last one closed ``[e_{M-1}, e_M]``. Objects whose value is
non-finite or outside the edges are in no bin; each variable with such objects gets one extra row
with ``bin == -1``, empty ``run`` and ``metric``, their counts in ``n`` / ``n_<class>`` and the
reason in ``note``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from agnbench.bootstrap.metrics import (
    METRIC_NAMES, class_metric_names, metric_notes, point_metrics, weighted_metrics,
)
from agnbench.bootstrap.resample import counts_from_indices, index_chunks, percentile_interval
from agnbench.errors import AgnbenchError
from agnbench.seeding import derive_seed

__all__ = ["quantile_edges", "subgroup_metrics"]

logger = logging.getLogger(__name__)

_CHUNK_ELEMENTS = 1 << 22  # replicate counts per chunk: about 4M entries (16 MB of float32)


def quantile_edges(values: np.ndarray, *, n_bins: int) -> np.ndarray:
    """Bin edges at equally spaced quantiles of the finite values.

    Parameters
    ----------
    values : ndarray, shape (n,)
        The quantity to bin; NaN and infinite values are ignored.
    n_bins : int
        Number of bins wanted (>= 1).

    Returns
    -------
    ndarray, shape (M + 1,), float64
        Increasing edges from the minimum to the maximum finite value, ``M <= n_bins`` after
        removing duplicate quantiles (many tied values give fewer bins). A single distinct value
        gives ``[v, v]`` (one bin); no finite value gives an empty array.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise AgnbenchError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.empty(0, dtype=np.float64)
    edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, int(n_bins) + 1)))
    return np.repeat(edges, 2) if edges.size == 1 else edges


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value (n,), int64; -1 for non-finite values and values outside the edges."""
    n_bins = edges.size - 1
    if n_bins < 1:
        return np.full(values.shape, -1, dtype=np.int64)
    finite = np.isfinite(values)
    safe = np.where(finite, values, edges[0] - 1.0)
    idx = np.searchsorted(edges, safe, side="right") - 1
    idx[safe == edges[-1]] = n_bins - 1
    idx[~finite | (idx < 0) | (idx >= n_bins)] = -1
    return idx.astype(np.int64)


def _check_edges(var: str, edges: np.ndarray) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) < 0):
        raise AgnbenchError(
            f"edges[{var!r}] must be at least 2 finite non-decreasing bin edges, got {edges!r}"
        )
    return e


def _check_inputs(
    y_true: np.ndarray,
    probas: Mapping[str, np.ndarray],
    preds: Mapping[str, np.ndarray],
    variables: Mapping[str, np.ndarray],
    classes: Sequence[str],
    metrics: Sequence[str],
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Checked labels (n,), probabilities (n, K) and decisions (n,) per run, and metric names."""
    y = np.asarray(y_true)
    k = len(classes)
    if y.ndim != 1 or y.dtype.kind not in "iub" or y.size == 0:
        raise AgnbenchError(f"y_true must be a non-empty int array (n,), got {y.dtype} {y.shape}")
    if k < 2 or y.min() < 0 or y.max() >= k:
        raise AgnbenchError(f"y_true must hold labels in 0..{k - 1} for classes {tuple(classes)}")
    if not probas or set(probas) != set(preds):
        raise AgnbenchError(
            f"probas and preds need the same non-empty run names, got {sorted(probas)} and "
            f"{sorted(preds)}"
        )
    n = y.size
    p_out, d_out = {}, {}
    for run in probas:
        p, d = np.asarray(probas[run]), np.asarray(preds[run])
        if p.shape != (n, k) or d.shape != (n,):
            raise AgnbenchError(
                f"run {run!r}: proba must be ({n}, {k}) and pred ({n},) (aligned with y_true), "
                f"got {p.shape} and {d.shape}"
            )
        p_out[run], d_out[run] = p, d
    for var, values in variables.items():
        if np.shape(values) != (n,):
            raise AgnbenchError(f"variable {var!r} must have shape ({n},), got {np.shape(values)}")
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    valid = list(METRIC_NAMES) + class_metric_names(classes)
    unknown = [m for m in names if m not in valid]
    if unknown or not names:
        raise AgnbenchError(f"unknown or no metric(s) {unknown}; choose from {valid}")
    return y.astype(np.int64), p_out, d_out, list(dict.fromkeys(names))


def _replicates(
    y: np.ndarray,
    probas: dict[str, np.ndarray],
    preds: dict[str, np.ndarray],
    *,
    classes: Sequence[str],
    metrics: list[str],
    n_boot: int,
    seed: int,
    stratify: bool,
) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap values ``out[run][metric]`` (n_boot,) of one subgroup, one index matrix for all."""
    m = y.size
    out = {run: {name: np.empty(n_boot) for name in metrics} for run in probas}
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // m))
    strata = y if stratify else None
    for first, idx in index_chunks(m, n_boot=n_boot, seed=seed, strata=strata, chunk_size=chunk):
        counts = counts_from_indices(idx, m)
        stop = first + counts.shape[0]
        for run in probas:
            values = weighted_metrics(
                y, probas[run], preds[run], counts, classes=classes, metrics=metrics
            )
            for name in metrics:
                out[run][name][first:stop] = values[name]
    return out


def subgroup_metrics(
    *,
    y_true: np.ndarray,
    probas: Mapping[str, np.ndarray],
    preds: Mapping[str, np.ndarray],
    variables: Mapping[str, np.ndarray],
    classes: Sequence[str],
    metrics: Sequence[str],
    n_bins: int = 4,
    edges: Mapping[str, np.ndarray] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    stratify: bool = True,
    min_count: int = 10,
) -> pd.DataFrame:
    """Every run's metrics with paired percentile bootstrap intervals in bins of each variable.

    Parameters
    ----------
    y_true : ndarray, shape (n,), int
        True classes in ``0..K-1``, shared by all runs.
    probas : mapping of str to ndarray, shape (n, K)
        Predicted probabilities of each run (model) on the same objects.
    preds : mapping of str to ndarray, shape (n,), int
        Decisions of each run; same keys as ``probas``.
    variables : mapping of str to ndarray, shape (n,), float
        Quantities to bin by (e.g. ``"z"``, ``"q_logmass"``); NaN means no bin.
    classes : sequence of str, length K
        Class names; the output has one ``n_<class>`` column per class.
    metrics : sequence of str
        Names from :data:`~agnbench.bootstrap.metrics.METRIC_NAMES` and
        :func:`~agnbench.bootstrap.metrics.class_metric_names`.
    n_bins : int, default 4
        Quantile bins per variable (:func:`quantile_edges`) where ``edges`` has none.
    edges : mapping of str to ndarray, shape (M + 1,), optional
        Explicit non-decreasing bin edges per variable.
    n_boot : int, default 2000
        Bootstrap replicates per bin.
    seed : int, default 0
        Root seed; bin ``b`` of ``var`` uses ``derive_seed(seed, "subgroup", var, b)``.
    confidence : float, default 0.95
        Level of the percentile intervals (NaN replicates ignored).
    stratify : bool, default True
        Resample within each true class, keeping the bin's class counts fixed.
    min_count : int, default 10
        Bins with fewer objects get estimates but no interval (``lo``/``hi`` NaN).

    Returns
    -------
    pandas.DataFrame
        Columns ``variable, bin, lo_edge, hi_edge, n, n_<class>..., run, metric, estimate, lo,
        hi, note``; one row per variable, bin, run and metric (in input order), plus one
        ``bin == -1`` row per variable with objects in no bin. ``note`` is empty or says why a
        value is NaN or set by convention, or why there is no interval.
    """
    y, p_all, d_all, names = _check_inputs(y_true, probas, preds, variables, classes, metrics)
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 0:
        raise AgnbenchError(f"min_count must be an integer >= 0, got {min_count!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise AgnbenchError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise AgnbenchError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    edges = dict(edges or {})
    if set(edges) - set(variables):
        extra = sorted(set(edges) - set(variables))
        raise AgnbenchError(f"edges given for unknown variable(s) {extra}")
    k = len(classes)
    count_cols = [f"n_{c}" for c in classes]
    rows: list[dict] = []

    def base(var: str, b: int, lo_e: float, hi_e: float, sel: np.ndarray) -> dict:
        counts = np.bincount(y[sel], minlength=k)
        return {"variable": var, "bin": b, "lo_edge": lo_e, "hi_edge": hi_e, "n": int(sel.size),
                **{col: int(c) for col, c in zip(count_cols, counts)}}

    for var, raw in variables.items():
        values = np.asarray(raw, dtype=np.float64)
        e = _check_edges(var, edges[var]) if var in edges else quantile_edges(values, n_bins=n_bins)
        bins = _bin_index(values, e)
        outside = np.flatnonzero(bins < 0)
        if outside.size:
            n_bad = int(np.count_nonzero(~np.isfinite(values)))
            why = f"{n_bad} non-finite, {outside.size - n_bad} outside the edges: in no bin"
            if e.size == 0:
                why = f"no finite values of {var}: no bins; " + why
            rows.append({**base(var, -1, np.nan, np.nan, outside), "run": "", "metric": "",
                         "estimate": np.nan, "lo": np.nan, "hi": np.nan, "note": why})
        for b in range(e.size - 1):
            sel = np.flatnonzero(bins == b)
            head = base(var, b, float(e[b]), float(e[b + 1]), sel)
            if sel.size == 0:
                rows.extend({**head, "run": run, "metric": name, "estimate": np.nan, "lo": np.nan,
                             "hi": np.nan, "note": "empty bin"} for run in p_all for name in names)
                continue
            ys = y[sel]
            probas_b = {run: p_all[run][sel] for run in p_all}
            preds_b = {run: d_all[run][sel] for run in d_all}
            reps = None
            if sel.size >= min_count:
                reps = _replicates(
                    ys, probas_b, preds_b, classes=classes, metrics=names, n_boot=n_boot,
                    seed=derive_seed(seed, "subgroup", var, b), stratify=stratify,
                )
            for run in p_all:
                est = point_metrics(ys, probas_b[run], preds_b[run], classes=classes, metrics=names)
                notes = metric_notes(ys, n_classes=k, y_pred=preds_b[run], classes=classes)
                for name in names:
                    note = [notes[name]] if name in notes else []
                    lo = hi = np.nan
                    if reps is None:
                        note.append(f"n < min_count ({sel.size} < {min_count}): no interval")
                    else:
                        r = reps[run][name]
                        lo, hi = percentile_interval(r, confidence=confidence)
                        n_nan = int(np.count_nonzero(np.isnan(r)))
                        if 0 < n_nan < r.size:
                            note.append(f"{n_nan}/{r.size} replicates undefined, ignored")
                    rows.append({**head, "run": run, "metric": name, "estimate": est[name],
                                 "lo": float(lo), "hi": float(hi), "note": "; ".join(note)})
        logger.debug("%s: %d bins, %d objects in no bin", var, e.size - 1, outside.size)
    columns = ["variable", "bin", "lo_edge", "hi_edge", "n", *count_cols, "run", "metric",
               "estimate", "lo", "hi", "note"]
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({"bin": np.int64, "n": np.int64, **{c: np.int64 for c in count_cols},
                         "lo_edge": np.float64, "hi_edge": np.float64, "estimate": np.float64,
                         "lo": np.float64, "hi": np.float64})
