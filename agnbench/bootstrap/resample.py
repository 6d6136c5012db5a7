"""Paired bootstrap resampling, jackknife weights, confidence intervals and p-values.

One resample matrix over the ``n`` shared objects is applied to every run (model), so that
differences between runs are paired. Replicate ``b`` is drawn from the random stream
``rng(seed, "bootstrap", b // 250)`` (stratified: one stream per unit and stratum), whatever
chunk size the caller asks for, so the replicates depend only on the seed (and on ``n`` and
the strata), never on how they are consumed.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import numpy as np
from scipy.special import ndtr, ndtri

from agnbench.errors import AgnbenchError
from agnbench.seeding import rng

__all__ = [
    "bca_interval", "bootstrap_pvalue", "counts_from_indices", "index_chunks",
    "jackknife_weights", "percentile_interval", "resample_counts",
]

logger = logging.getLogger(__name__)

_UNIT = 250  # replicates per random stream; fixed so that replicates never depend on chunking
_BINCOUNT_ELEMENTS = 1 << 18  # counts computed in row blocks of about this many entries
_MAX_JACKKNIFE_ELEMENTS = 1 << 27  # 512 MB of float32 jackknife weights


def _check_int(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise AgnbenchError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _unit_indices(
    n: int, rows: int, seed: int, unit: int, strata: list[np.ndarray] | None
) -> np.ndarray:
    """Indices (rows, n), int32, of the first ``rows`` replicates of random unit ``unit``."""
    if strata is None:
        return rng(seed, "bootstrap", unit).integers(0, n, size=(rows, n), dtype=np.int32)
    idx = np.empty((rows, n), dtype=np.int32)
    for s, members in enumerate(strata):
        draw = rng(seed, "bootstrap", unit, "stratum", s).integers(
            0, members.size, size=(rows, members.size), dtype=np.int32
        )
        idx[:, members] = members[draw]
    return idx


def index_chunks(
    n: int,
    *,
    n_boot: int,
    seed: int,
    strata: np.ndarray | None = None,
    chunk_size: int = 250,
) -> Iterator[tuple[int, np.ndarray]]:
    """Bootstrap resample indices of ``n`` objects, ``chunk_size`` replicates at a time.

    Parameters
    ----------
    n : int
        Number of objects.
    n_boot : int
        Number of replicates B.
    seed : int
        Root seed; replicate ``b`` depends only on ``seed``, ``n``, ``strata`` and ``b``.
    strata : ndarray, shape (n,), optional
        Stratum of each object (e.g. ``y_true``). Each replicate then draws, within every
        stratum, as many objects as the stratum holds, with replacement, from that stratum.
    chunk_size : int, default 250
        Replicates per yielded chunk (any positive value; results do not depend on it).

    Yields
    ------
    first : int
        Index of the first replicate of the chunk.
    idx : ndarray, shape (chunk, n), int32
        ``idx[i]`` are the object indices of replicate ``first + i``.
    """
    n = _check_int("n", n)
    n_boot = _check_int("n_boot", n_boot)
    chunk_size = _check_int("chunk_size", chunk_size)
    seed = _check_int("seed", seed, 0)
    if n >= 2**31:
        raise AgnbenchError(f"n = {n} objects exceeds the int32 index range; split the sample")
    groups = None
    if strata is not None:
        s = np.asarray(strata)
        if s.shape != (n,):
            raise AgnbenchError(f"strata must have shape ({n},) (one per object), got {s.shape}")
        _, inverse = np.unique(s, return_inverse=True)
        order = np.argsort(inverse, kind="stable").astype(np.int32)
        groups = np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)
    return _chunks(n, n_boot, seed, groups, chunk_size)


def _chunks(
    n: int, n_boot: int, seed: int, groups: list[np.ndarray] | None, chunk_size: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Regroup the fixed random units of :data:`_UNIT` replicates into chunks."""
    cached_unit, cached = -1, np.empty((0, n), dtype=np.int32)
    for first in range(0, n_boot, chunk_size):
        stop = min(first + chunk_size, n_boot)
        parts = []
        for unit in range(first // _UNIT, (stop - 1) // _UNIT + 1):
            if unit != cached_unit:
                rows = min(_UNIT, n_boot - unit * _UNIT)
                cached_unit, cached = unit, _unit_indices(n, rows, seed, unit, groups)
            lo = max(first, unit * _UNIT) - unit * _UNIT
            hi = min(stop, (unit + 1) * _UNIT) - unit * _UNIT
            parts.append(cached[lo:hi])
        yield first, parts[0] if len(parts) == 1 else np.concatenate(parts)


def counts_from_indices(idx: np.ndarray, n: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """How many times each object is drawn in each replicate.

    ``idx`` (chunk, m) holds resample indices in ``0..n-1`` (usually ``m == n``). Returns
    ``counts`` (chunk, n) of ``dtype`` (float32 holds counts exactly up to 2**24) with
    ``counts[i, j] == (idx[i] == j).sum()``, from np.bincount of row-offset indices, in row
    blocks of about 256k entries (cache-sized temporaries).
    """
    n = _check_int("n", n)
    a = np.asarray(idx)
    if a.ndim != 2 or a.dtype.kind not in "iu":
        raise AgnbenchError(f"idx must be a 2-D integer array (chunk, m), got {a.dtype} {a.shape}")
    if a.size and (a.min() < 0 or a.max() >= n):
        raise AgnbenchError(f"idx must hold object indices in 0..{n - 1}")
    out = np.empty((a.shape[0], n), dtype=dtype)
    block = max(1, _BINCOUNT_ELEMENTS // max(n, a.shape[1], 1))
    for lo in range(0, a.shape[0], block):
        hi = min(lo + block, a.shape[0])
        offset = (np.arange(hi - lo, dtype=np.int64) * n)[:, None]
        flat = (a[lo:hi] + offset).ravel()
        out[lo:hi] = np.bincount(flat, minlength=(hi - lo) * n).reshape(hi - lo, n)
    return out


def resample_counts(
    n: int,
    *,
    n_boot: int,
    seed: int,
    strata: np.ndarray | None = None,
    chunk_size: int = 250,
    dtype: np.dtype | type = np.float32,
) -> Iterator[tuple[int, np.ndarray]]:
    """Bootstrap count matrices: :func:`index_chunks` followed by :func:`counts_from_indices`.

    Yields ``(first, counts)``: the first replicate of the chunk and the (chunk, n) replicate
    weights of ``dtype``, ready for ``weighted_metrics(..., weights=counts)``.
    """
    chunks = index_chunks(n, n_boot=n_boot, seed=seed, strata=strata, chunk_size=chunk_size)
    for first, idx in chunks:
        yield first, counts_from_indices(idx, n, dtype)


def _alpha(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise AgnbenchError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return (1.0 - confidence) / 2.0


def _nanquantile(values: np.ndarray, q: np.ndarray | float, axis: int = -1) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        return np.nanquantile(values, q, axis=axis, method="linear")


def _scalar_or_array(value: np.ndarray) -> np.ndarray | float:
    return float(value) if np.ndim(value) == 0 else value


def percentile_interval(
    replicates: np.ndarray, *, confidence: float = 0.95, axis: int = -1
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Percentile bootstrap interval, ignoring NaN replicates.

    The ``alpha/2`` and ``1 - alpha/2`` quantiles (linear interpolation) of ``replicates``
    (..., B, ...) along ``axis``, as ``scipy.stats.bootstrap(method="percentile")``. Returns
    ``(lo, hi)``, floats or arrays with ``axis`` removed; NaN where every replicate is NaN.
    """
    alpha = _alpha(confidence)
    r = np.asarray(replicates, dtype=np.float64)
    q = _nanquantile(r, np.array([alpha, 1.0 - alpha]), axis=axis)
    return _scalar_or_array(q[0]), _scalar_or_array(q[1])


def bca_interval(
    replicates: np.ndarray,
    *,
    estimate: np.ndarray | float,
    jackknife: np.ndarray,
    confidence: float = 0.95,
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Bias-corrected and accelerated (BCa) bootstrap interval (Efron 1987).

    Follows ``scipy.stats.bootstrap(method="BCa")``: ``z0 = ndtri(p)`` with ``p`` the
    fraction of replicates below the estimate (ties count 1/2), acceleration
    ``a = sum(d**3) / (6 * sum(d**2) ** 1.5)`` with ``d = mean(jackknife) - jackknife``, and
    the interval is the linear-interpolation quantiles of the replicates at
    ``ndtr(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = ndtri(alpha/2), ndtri(1 - alpha/2)``.
    Conventions where scipy would return NaN: NaN replicates and NaN jackknife values are
    ignored; ``a = 0`` when every jackknife value is equal; NaN when the estimate lies outside
    the bootstrap distribution (``z0`` infinite) or every replicate is NaN.

    Parameters
    ----------
    replicates : ndarray, shape (..., B)
        Bootstrap values of the statistic.
    estimate : float or ndarray, shape (...)
        The statistic on the full sample.
    jackknife : ndarray, shape (..., G)
        Leave-one-out (or delete-a-group, see :func:`jackknife_weights`) statistic values.
    confidence : float, default 0.95

    Returns
    -------
    (lo, hi) : float or ndarray, shape (...)
    """
    alpha = _alpha(confidence)
    r = np.asarray(replicates, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    jk = np.asarray(jackknife, dtype=np.float64)
    if r.ndim < 1 or est.shape != r.shape[:-1] or jk.shape[:-1] != r.shape[:-1]:
        raise AgnbenchError(
            "bca_interval needs replicates (..., B), estimate (...) and jackknife (..., G) with "
            f"the same leading shape, got {r.shape}, {est.shape}, {jk.shape}"
        )
    n_valid = np.sum(~np.isnan(r), axis=-1)
    below = np.sum(r < est[..., None], axis=-1) + np.sum(r <= est[..., None], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = ndtri(below / (2.0 * n_valid))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            d = np.nanmean(jk, axis=-1, keepdims=True) - jk
        s2 = np.nansum(d**2, axis=-1)
        a_hat = np.where(s2 > 0, np.nansum(d**3, axis=-1) / (6.0 * s2**1.5), 0.0)
        z = ndtri(alpha)
        levels = []
        for zz in (z, -z):
            num = z0 + zz
            levels.append(ndtr(z0 + num / (1 - a_hat * num)))
    lo, hi = np.full(est.shape, np.nan), np.full(est.shape, np.nan)
    for pos in np.ndindex(est.shape):
        l1, l2 = levels[0][pos], levels[1][pos]
        if n_valid[pos] and np.isfinite(z0[pos]) and np.isfinite(l1) and np.isfinite(l2):
            lo[pos], hi[pos] = _nanquantile(r[pos], np.array([l1, l2]))
    return _scalar_or_array(lo), _scalar_or_array(hi)


def jackknife_weights(n: int, *, n_groups: int | None = None, seed: int = 0) -> np.ndarray:
    """Jackknife rows to pass as ``weights`` to ``weighted_metrics`` (e.g. for BCa).

    Parameters
    ----------
    n : int
        Number of objects.
    n_groups : int, optional
        ``None`` or ``>= n``: leave-one-out, row ``i`` is all ones with a zero at ``i``.
        Otherwise the delete-a-group jackknife used for large ``n``: the objects are split at
        random (from ``seed``) into ``n_groups`` groups whose sizes differ by at most one and
        row ``g`` zeroes group ``g``. The acceleration in :func:`bca_interval` is scale-free,
        so these rows estimate the same quantity with ``n_groups`` statistic evaluations.
    seed : int, default 0
        Root seed of the random grouping.

    Returns
    -------
    ndarray, shape (G, n), float32
        ``G = n`` (leave-one-out) or ``n_groups``.
    """
    n = _check_int("n", n)
    seed = _check_int("seed", seed, 0)
    g = n if n_groups is None or _check_int("n_groups", n_groups, 2) >= n else int(n_groups)
    if g * n > _MAX_JACKKNIFE_ELEMENTS:
        raise AgnbenchError(
            f"a {g} x {n} jackknife matrix is too large; pass n_groups (e.g. 200) to use the "
            "delete-a-group jackknife"
        )
    w = np.ones((g, n), dtype=np.float32)
    if g == n:
        np.fill_diagonal(w, 0.0)
        return w
    group = np.empty(n, dtype=np.int64)
    group[rng(seed, "jackknife-groups", n, g).permutation(n)] = np.arange(n) % g
    w[group, np.arange(n)] = 0.0
    logger.debug("delete-a-group jackknife: %d groups of %d objects", g, n)
    return w


def bootstrap_pvalue(delta_replicates: np.ndarray, *, null: float = 0.0) -> float:
    """Two-sided bootstrap p-value for a paired difference (e.g. metric of run A minus run B).

    ``p = min(1, 2 * min((1 + #(d <= null)) / (1 + B), (1 + #(d >= null)) / (1 + B)))`` over
    the ``B`` non-NaN replicates ``d`` of ``delta_replicates`` (B,): twice the smaller tail
    fraction of the bootstrap distribution beyond the null value, with the +1 correction so
    that ``p >= 2 / (B + 1)``. NaN when every replicate is NaN.
    """
    d = np.asarray(delta_replicates, dtype=np.float64)
    if d.ndim != 1:
        raise AgnbenchError(f"delta_replicates must be 1-D (B,), got shape {d.shape}")
    d = d[~np.isnan(d)]
    if d.size == 0:
        return float("nan")
    b = d.size
    low = (1 + np.count_nonzero(d <= null)) / (1 + b)
    high = (1 + np.count_nonzero(d >= null)) / (1 + b)
    return float(min(1.0, 2.0 * min(low, high)))
