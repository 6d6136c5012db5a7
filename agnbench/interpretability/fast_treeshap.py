"""Exact path-dependent TreeSHAP of boosted trees in numba, by per-leaf tables of satisfied-feature patterns.

The values are those of the libraries' native TreeSHAP (Lundberg et al. 2020, Algorithm 2; what
XGBoost ``pred_contribs`` and LightGBM ``pred_contrib`` compute), reorganised as in Fast TreeSHAP
v2 (Yang 2021, arXiv:2109.09847). For a leaf with value ``v`` whose root path splits on the ``d``
distinct features ``F`` (a feature split on twice is merged), let ``z_j`` be the product of the
cover ratios child / parent of the splits on ``j`` along the path, and ``o_j(x)`` = 1 if ``x``
satisfies all of them, else 0. The leaf adds to feature ``i`` in ``F``

    ``v (o_i - z_i) sum_{S in F minus i} |S|! (d - |S| - 1)! / d! prod_{j in S} o_j prod_{j not in S} z_j``

and ``v prod_j z_j`` to the base value. With ``A`` the satisfied features and ``B`` the others,
the sum is ``prod_{B minus i} z`` times ``sum_s w(s, d) e_{|A'| - s}(z_{A'})``, ``A' = A minus i``,
``e_k`` the elementary symmetric polynomials (built in ``O(d |A|)``; ``e(A minus i)`` by deflation);
every ``i`` in ``B`` receives the same ``-v prod_B z sum_s w(s, d) e_{|A| - s}(z_A)``.

Since ``o`` is binary, a leaf's contributions depend on ``x`` only through its ``2^d`` patterns:
they are tabulated once per leaf (``2^d x d`` float64), and each row then costs, per tree, one
comparison per split (the pattern of every node follows from its parent's) and ``d`` additions per
leaf. Leaves with too many distinct features for a table (``d > table_max_features``, ``2^d`` above
the number of rows, or past the memory budget) are evaluated per row by the same routine, so a
value never depends on which way it was computed. Sums are float64, row by row in tree order:
results are bit-identical for any thread count.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from agnbench.errors import AgnbenchError
from agnbench.interpretability.tree_arrays import (
    LIGHTGBM_ZERO,
    MISSING_NAN,
    MISSING_ZERO,
    TreeArrays,
    UnsupportedModelError,
)

MAX_PATH_FEATURES = 62  # patterns are int64 bit sets
TABLE_MAX_FEATURES = 12
TABLE_BUDGET_MIB = 256.0
BLOCK_ROWS = 256


def _jit(**options):
    """``numba.njit`` with the on-disk cache; without it where no cache directory is writable."""
    def wrap(fn):
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            return numba.njit(**options)(fn)
    return wrap


def fast_tree_shap(arrays: TreeArrays, X: np.ndarray, *, threads: int = 1, block_rows: int = BLOCK_ROWS,
                   table_max_features: int = TABLE_MAX_FEATURES,
                   table_budget_mib: float = TABLE_BUDGET_MIB) -> np.ndarray:
    """Path-dependent SHAP values of every row of ``X``, laid out like the native ``pred_contribs``.

    Parameters
    ----------
    arrays : TreeArrays
        The model (:func:`~agnbench.interpretability.tree_arrays.from_xgboost` / ``from_lightgbm``).
    X : numpy.ndarray, shape (n, n_features)
        Features, NaN for missing.
    threads : int
        numba threads (capped at ``numba.config.NUMBA_NUM_THREADS``); the result does not depend on it.
    block_rows : int
        Rows processed together per tree, so that the tree's tables stay in cache.
    table_max_features : int
        Largest ``d`` tabulated (``2^d x d`` entries per leaf).
    table_budget_mib : float
        Memory for all tables; leaves past it are evaluated per row.

    Returns
    -------
    numpy.ndarray, shape (n, n_outputs, n_features + 1), float64
        SHAP values, the base value (the expected margin) in the last column.

    Raises
    ------
    AgnbenchError
        ``X`` of the wrong shape or bad options.
    UnsupportedModelError
        A leaf whose path splits on more than 62 distinct features.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != arrays.n_features:
        raise AgnbenchError(f"X must have shape (n, {arrays.n_features}), got {X.shape}")
    if threads < 1 or block_rows < 1 or table_max_features < 0 or table_budget_mib < 0:
        raise AgnbenchError("threads and block_rows must be >= 1, table options >= 0")
    X = _as_model_input(X, arrays)
    paths = _paths(arrays.node_offset, arrays.left, arrays.right, arrays.feature, arrays.cover, arrays.value)
    node_bit, leaf_offset, leaf_node, leaf_d, leaf_value, feat_offset, leaf_feat, leaf_z, tree_mean = paths
    if leaf_d.max(initial=0) > MAX_PATH_FEATURES:
        raise UnsupportedModelError(f"a leaf's path splits on {int(leaf_d.max())} distinct features; at most "
                                    f"{MAX_PATH_FEATURES} are supported")
    weights = shapley_weights(int(leaf_d.max(initial=0)))
    table_offset, n_entries = _table_layout(leaf_d, n_rows=X.shape[0], max_features=table_max_features,
                                            budget_mib=table_budget_mib)
    n_outputs, d = arrays.n_outputs, arrays.n_features
    out = np.zeros((X.shape[0], n_outputs, d + 1))
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        tables = np.empty(n_entries)
        _fill_tables(leaf_d, leaf_value, feat_offset, leaf_z, table_offset, weights, tables)
        _accumulate(X, arrays.node_offset, arrays.left, arrays.right, arrays.feature, arrays.threshold,
                    arrays.default_left, arrays.missing, node_bit, arrays.tree_output, leaf_offset, leaf_node,
                    leaf_d, leaf_value, feat_offset, leaf_feat, leaf_z, table_offset, tables, weights,
                    arrays.strict, int(block_rows), out)
    finally:
        numba.set_num_threads(previous)
    base = arrays.base_margin.copy()
    for t in range(arrays.n_trees):  # fixed order: deterministic
        base[arrays.tree_output[t]] += tree_mean[t]
    out[:, :, d] = base
    return out


def shapley_weights(max_d: int) -> np.ndarray:
    """``W[d, s] = s! (d - s - 1)! / d!`` for ``0 <= s < d <= max_d``.

    Returns
    -------
    numpy.ndarray, shape (max_d + 1, max(max_d, 1)), float64
        Zero outside ``s < d``.
    """
    w = np.zeros((max_d + 1, max(max_d, 1)))
    for d in range(1, max_d + 1):
        for s in range(d):
            w[d, s] = 1.0 / (d * math.comb(d - 1, s))
    return w


def _as_model_input(X: np.ndarray, arrays: TreeArrays) -> np.ndarray:
    """The row values the library compares: float32-rounded (XGBoost) or tiny values zeroed (LightGBM)."""
    if arrays.float32_input:
        return np.ascontiguousarray(X.astype(np.float32).astype(np.float64))
    return np.ascontiguousarray(np.where(np.abs(X) <= LIGHTGBM_ZERO, 0.0, X))


def _table_layout(leaf_d: np.ndarray, *, n_rows: int, max_features: int, budget_mib: float) -> tuple[np.ndarray, int]:
    """Start of each leaf's table in the flat table array (``-1``: evaluated per row), and its length.

    A leaf is tabulated if ``1 <= d <= max_features``, its ``2^d`` patterns are not more than
    ``max(n_rows, 64)`` (building costs about as much as ``2^d`` rows), and the running total fits
    ``budget_mib``; leaves are taken in model order.
    """
    d = np.minimum(leaf_d, 40)  # no overflow below; larger d are never tabulated
    patterns = np.left_shift(np.int64(1), d)
    size = patterns * d
    wanted = (leaf_d >= 1) & (leaf_d <= max_features) & (patterns <= max(n_rows, 64))
    cum = np.cumsum(np.where(wanted, size, 0))
    wanted &= cum <= int(budget_mib * 2**20 // 8)
    sizes = np.where(wanted, size, 0)
    starts = np.cumsum(sizes) - sizes
    return np.where(wanted, starts, -1).astype(np.int64), int(sizes.sum())


# ----------------------------------------------------------------------------- numba kernels
@_jit()
def _paths(node_offset, left, right, feature, cover, value):
    """Per-node pattern bit and per-leaf merged paths of every tree.

    Returns ``node_bit`` (N,) (``1 << slot`` of the node's split feature, slots numbered by first
    appearance on the root path), ``leaf_offset`` (T+1,) (tree ``t``'s leaves), and per leaf: node
    (local index), ``d``, value, offset into the (feature, z) lists, the lists, and each tree's
    expected value ``sum_leaf v prod z`` (T,).
    """
    n_trees, n_nodes = node_offset.size - 1, left.size
    parent = np.full(n_nodes, -1, np.int64)
    depth = np.zeros(n_nodes, np.int64)
    n_leaves = 0
    for t in range(n_trees):
        o = node_offset[t]
        for j in range(node_offset[t + 1] - o):
            if left[o + j] >= 0:
                for c in (left[o + j], right[o + j]):
                    parent[o + c] = o + j
                    depth[o + c] = depth[o + j] + 1
            else:
                n_leaves += 1
    max_depth = depth.max() if n_nodes else 0
    path = np.empty(max_depth + 1, np.int64)
    slot_feat = np.empty(max_depth + 1, np.int64)
    node_bit = np.zeros(n_nodes, np.int64)
    leaf_offset = np.zeros(n_trees + 1, np.int64)
    leaf_node = np.empty(n_leaves, np.int64)
    leaf_d = np.empty(n_leaves, np.int64)
    leaf_value = np.empty(n_leaves)
    feat_offset = np.zeros(n_leaves + 1, np.int64)
    leaf_feat = np.empty(n_leaves * max(max_depth, 1), np.int64)
    leaf_z = np.empty(n_leaves * max(max_depth, 1))
    tree_mean = np.zeros(n_trees)
    li = 0
    for t in range(n_trees):
        o = node_offset[t]
        for j in range(node_offset[t + 1] - o):
            g = o + j
            k = depth[g]
            a = g
            while a >= 0:  # path[0] = root ... path[k] = g
                path[depth[a]] = a
                a = parent[a]
            n_slots = 0
            fo = feat_offset[li]
            prob = 1.0
            for m in range(k + (1 if left[g] >= 0 else 0)):
                f = feature[path[m]]
                s = 0
                while s < n_slots and slot_feat[s] != f:
                    s += 1
                if s == n_slots:
                    slot_feat[s] = f
                    n_slots += 1
                    if left[g] < 0:
                        leaf_feat[fo + s] = f
                        leaf_z[fo + s] = 1.0
                if left[g] >= 0:
                    if m == k:
                        node_bit[g] = np.int64(1) << min(s, 62)
                else:
                    ratio = cover[path[m + 1]] / cover[path[m]]
                    leaf_z[fo + s] *= ratio
                    prob *= ratio
            if left[g] < 0:
                leaf_node[li] = j
                leaf_d[li] = n_slots
                leaf_value[li] = value[g]
                feat_offset[li + 1] = fo + n_slots
                tree_mean[t] += value[g] * prob
                li += 1
        leaf_offset[t + 1] = li
    n_feat = feat_offset[n_leaves]
    return (node_bit, leaf_offset, leaf_node, leaf_d, leaf_value, feat_offset, leaf_feat[:n_feat].copy(),
            leaf_z[:n_feat].copy(), tree_mean)


@_jit(inline="always")
def _pattern_contrib(z, fo, d, v, pattern, weights, e, res):
    """Contributions ``res[:d]`` of a leaf (value ``v``, ``z[fo:fo+d]``) to its features for a pattern."""
    a = 0
    prod_b = 1.0
    e[0] = 1.0
    for k in range(d):
        zk = z[fo + k]
        if (pattern >> k) & 1:
            a += 1
            e[a] = 0.0
            for m in range(a, 0, -1):
                e[m] += zk * e[m - 1]
        else:
            prod_b *= zk
    total = 0.0
    for s in range(a + 1):
        total += weights[d, s] * e[a - s]
    unsatisfied = -v * prod_b * total
    for k in range(d):
        if (pattern >> k) & 1:
            zk = z[fo + k]
            prev = 1.0
            acc = weights[d, a - 1]
            for m in range(1, a):
                prev = e[m] - zk * prev
                acc += weights[d, a - 1 - m] * prev
            res[k] = v * (1.0 - zk) * prod_b * acc
        else:
            res[k] = unsatisfied


@_jit(parallel=True)
def _fill_tables(leaf_d, leaf_value, feat_offset, leaf_z, table_offset, weights, tables):
    """Tabulate ``_pattern_contrib`` for every pattern of every tabulated leaf (``table_offset >= 0``)."""
    n_leaves = leaf_d.size
    n_chunks = (n_leaves + 255) // 256
    width = weights.shape[0] + 1
    for c in numba.prange(n_chunks):
        e = np.empty(width)
        for li in range(c * 256, min(n_leaves, (c + 1) * 256)):
            start = table_offset[li]
            if start < 0:
                continue
            d = leaf_d[li]
            for p in range(np.int64(1) << d):
                _pattern_contrib(leaf_z, feat_offset[li], d, leaf_value[li], p, weights, e, tables[start + p * d:])


@_jit(parallel=True)
def _accumulate(X, node_offset, left, right, feature, threshold, default_left, missing, node_bit, tree_output,
                leaf_offset, leaf_node, leaf_d, leaf_value, feat_offset, leaf_feat, leaf_z, table_offset, tables,
                weights, strict, block, out):
    """``out[r, output, feature]`` = the sum of every leaf's contributions: row blocks in parallel.

    Per block, rows run innermost (branch-free, vectorisable): the node patterns of all the block's
    rows for one tree, then each leaf's table entries gathered into a per-block accumulator.
    """
    n, n_feat = X.shape
    n_out = out.shape[1]
    n_trees = node_offset.size - 1
    max_nodes = 1
    for t in range(n_trees):
        max_nodes = max(max_nodes, node_offset[t + 1] - node_offset[t])
    width = weights.shape[0] + 1
    for b in numba.prange((n + block - 1) // block):
        r0, r1 = b * block, min(n, (b + 1) * block)
        m = r1 - r0
        xt = np.empty((n_feat, m))
        for r in range(m):
            for f in range(n_feat):
                xt[f, r] = X[r0 + r, f]
        pat = np.empty((max_nodes, m), np.int64)
        acc = np.zeros((n_out, n_feat, m))
        idx = np.empty(m, np.int64)
        e = np.empty(width)
        res = np.empty(width)
        for t in range(n_trees):
            o, n0, nn = tree_output[t], node_offset[t], node_offset[t + 1] - node_offset[t]
            pat[0, :] = -1
            for j in range(nn):
                g = n0 + j
                lj = left[g]
                if lj < 0:
                    continue
                rj = right[g]
                f = feature[g]
                thr = threshold[g]
                bit = node_bit[g]
                dflt = np.int64(default_left[g])
                mt = missing[g]
                zero_go = np.int64((0.0 < thr) if strict else (0.0 <= thr))
                for r in range(m):
                    x = xt[f, r]
                    isnan = np.int64(x != x)
                    cmp = np.int64(x < thr) if strict else np.int64(x <= thr)
                    if mt == MISSING_NAN:
                        gl = cmp | (isnan & dflt)
                    elif mt == MISSING_ZERO:
                        miss = isnan | np.int64(x == 0.0)
                        gl = (miss & dflt) | ((1 - miss) & cmp)
                    else:
                        gl = cmp | (isnan & zero_go)
                    p = pat[j, r]
                    pat[lj, r] = p & ~(bit & (gl - 1))
                    pat[rj, r] = p & ~(bit & -gl)
            for li in range(leaf_offset[t], leaf_offset[t + 1]):
                d = leaf_d[li]
                if d == 0:
                    continue
                mask = (np.int64(1) << d) - 1
                node = leaf_node[li]
                fo = feat_offset[li]
                start = table_offset[li]
                if start >= 0:
                    for r in range(m):
                        idx[r] = start + (pat[node, r] & mask) * d
                    for k in range(d):
                        f = leaf_feat[fo + k]
                        for r in range(m):
                            acc[o, f, r] += tables[idx[r] + k]
                else:
                    for r in range(m):
                        _pattern_contrib(leaf_z, fo, d, leaf_value[li], pat[node, r] & mask, weights, e, res)
                        for k in range(d):
                            acc[o, leaf_feat[fo + k], r] += res[k]
        for r in range(m):
            for k in range(n_out):
                for f in range(n_feat):
                    out[r0 + r, k, f] = acc[k, f, r]
