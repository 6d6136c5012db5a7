"""Fitted XGBoost / LightGBM boosters as flat per-node arrays, for :mod:`.fast_treeshap`.

Every tree is stored in pre-order (a parent before its children, the root first), its nodes at
``node_offset[t] : node_offset[t + 1]`` of the node arrays, child indices local to the tree. A
node sends a row left when

* XGBoost (``strict=True``, ``float32_input=True``): ``float32(x) < threshold`` (the threshold is
  the model's float32 value, exactly); NaN follows ``default_left``;
* LightGBM (``strict=False``): ``x <= threshold`` in float64, after LightGBM's own input rules
  (``|x| <= 1e-35`` reads as 0; NaN reads as 0 unless ``missing_type`` is NaN; a missing value,
  NaN for ``missing_type`` NaN or zero for ``missing_type`` Zero, follows ``default_left``).

``cover`` is what the library's TreeSHAP weighs the branches with: XGBoost's hessian sum
(``sum_hessian``), LightGBM's training-row count (``internal_count`` / ``leaf_count``).
``base_margin`` is the intercept in margin space (XGBoost ``base_score`` through the objective's
link, as ``pred_contribs`` adds it; LightGBM keeps its initial score inside the first trees: 0).

Only numerical splits of single-output ``gbtree`` / LightGBM ``tree`` models are represented;
anything else (categorical splits, linear trees, DART, averaged random-forest mode, vector leaves,
unknown objectives) raises :class:`UnsupportedModelError`, so that callers can fall back to the
library's native TreeSHAP.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from agnbench.errors import AgnbenchError

MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
#: LightGBM's ``kZeroThreshold`` (a float literal stored as double).
LIGHTGBM_ZERO = float(np.float32(1e-35))
_LIGHTGBM_MISSING = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}
# XGBoost objectives whose base_score is turned into a margin by the logit / log link, or kept as is
_XGB_LOGIT = frozenset({"binary:logistic", "reg:logistic"})
_XGB_LOG = frozenset({"count:poisson", "reg:gamma", "reg:tweedie"})
_XGB_IDENTITY = frozenset({"binary:logitraw", "binary:hinge", "reg:squarederror", "reg:squaredlogerror",
                           "reg:pseudohubererror", "reg:absoluteerror", "reg:quantileerror", "multi:softprob",
                           "multi:softmax"})


class UnsupportedModelError(AgnbenchError):
    """The model uses something the fast TreeSHAP arrays cannot represent; use the native kernel."""


@dataclass(frozen=True, eq=False)
class TreeArrays:
    """``T`` trees with ``N`` nodes in all, explaining ``n_outputs`` margins of ``n_features`` features.

    Attributes
    ----------
    node_offset : numpy.ndarray, shape (T + 1,), int64
        Tree ``t`` owns nodes ``node_offset[t] : node_offset[t + 1]`` (pre-order, root first).
    left, right : numpy.ndarray, shape (N,), int64
        Children as indices local to the tree; ``-1`` for a leaf.
    feature : numpy.ndarray, shape (N,), int64
        Split feature (column of ``X``); ``-1`` for a leaf.
    threshold : numpy.ndarray, shape (N,), float64
        Split threshold (XGBoost: a float32 value); 0 for a leaf.
    default_left : numpy.ndarray, shape (N,), uint8
        1 if a missing value goes left.
    missing : numpy.ndarray, shape (N,), uint8
        :data:`MISSING_NONE`, :data:`MISSING_ZERO` or :data:`MISSING_NAN`.
    cover : numpy.ndarray, shape (N,), float64
        Training weight of the node (hessian sum or row count).
    value : numpy.ndarray, shape (N,), float64
        Leaf value (0 for an internal node).
    tree_output : numpy.ndarray, shape (T,), int64
        Output (class) each tree adds to.
    base_margin : numpy.ndarray, shape (n_outputs,), float64
        Intercept added to every output.
    n_features : int
    strict : bool
        ``x < threshold`` (XGBoost) rather than ``x <= threshold`` (LightGBM).
    float32_input : bool
        Rows are rounded to float32 before the comparisons (XGBoost).
    library : str
        ``"xgboost"`` or ``"lightgbm"``.
    """

    node_offset: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    missing: np.ndarray
    cover: np.ndarray
    value: np.ndarray
    tree_output: np.ndarray
    base_margin: np.ndarray
    n_features: int
    strict: bool
    float32_input: bool
    library: str

    @property
    def n_trees(self) -> int:
        return int(self.node_offset.size - 1)

    @property
    def n_outputs(self) -> int:
        return int(self.base_margin.size)


def from_fit(fit: Any) -> TreeArrays:
    """Arrays of a catalog booster for the rounds ``0 .. best_iteration`` that ``fit.predict_proba`` uses.

    Parameters
    ----------
    fit : agnbench.baselines.catalog_models.FitResult
        An ``"xgboost"`` or ``"lightgbm"`` fit.

    Raises
    ------
    UnsupportedModelError
        Another model kind, or a booster :func:`from_xgboost` / :func:`from_lightgbm` refuses.
    """
    rounds = None if fit.best_iteration is None else int(fit.best_iteration) + 1
    if fit.kind == "xgboost":
        arrays = from_xgboost(fit.model, iteration_range=(0, rounds or 0))
    elif fit.kind == "lightgbm":
        arrays = from_lightgbm(fit.model, num_iteration=rounds)
    else:
        raise UnsupportedModelError(f"fast TreeSHAP explains xgboost and lightgbm boosters, not {fit.kind!r}")
    if arrays.n_features != len(fit.feature_names):
        raise UnsupportedModelError(f"the {fit.kind} booster has {arrays.n_features} features, the fit names "
                                    f"{len(fit.feature_names)}")
    return arrays


def from_xgboost(booster: Any, *, iteration_range: tuple[int, int] = (0, 0)) -> TreeArrays:
    """Arrays of an ``xgboost.Booster`` for the rounds that ``predict(iteration_range=...)`` uses.

    Parameters
    ----------
    booster : xgboost.Booster
    iteration_range : tuple of int
        ``(0, R)``: rounds ``0 .. R-1``; ``(0, 0)``: all rounds (XGBoost's convention).

    Raises
    ------
    UnsupportedModelError
        Not a single-output ``gbtree`` with numerical splits and a known objective, or a range that
        does not start at 0.
    """
    learner = json.loads(booster.save_raw(raw_format="json"))["learner"]
    gb = learner["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise UnsupportedModelError(f"xgboost booster {gb.get('name')!r} is not supported (only 'gbtree')")
    params = learner["learner_model_param"]
    if int(params.get("num_target", 1)) > 1:
        raise UnsupportedModelError("multi-target xgboost models are not supported")
    if iteration_range[0] != 0:
        raise UnsupportedModelError(f"iteration_range must start at 0, got {iteration_range}")
    model = gb["model"]
    indptr = model.get("iteration_indptr")
    n_par = int(model["gbtree_model_param"].get("num_parallel_tree", 1))
    n_trees = int(model["gbtree_model_param"]["num_trees"])
    n_outputs = max(1, int(params.get("num_class", 0)))
    if iteration_range[1] > 0:
        n_trees = int(indptr[iteration_range[1]]) if indptr else iteration_range[1] * n_outputs * n_par
    if n_trees > len(model["trees"]):
        raise UnsupportedModelError(f"iteration_range {iteration_range} exceeds the {len(model['trees'])} trees")
    trees = model["trees"][:n_trees]
    tree_output = np.asarray(model["tree_info"][:n_trees], dtype=np.int64)
    nodes = [_xgboost_tree(t, i) for i, t in enumerate(trees)]
    base = _xgboost_base_margin(params["base_score"], learner["objective"]["name"], n_outputs)
    return _assemble(nodes, tree_output, base, int(params["num_feature"]), strict=True, float32_input=True,
                     library="xgboost")


def from_lightgbm(booster: Any, *, num_iteration: int | None = None) -> TreeArrays:
    """Arrays of a ``lightgbm.Booster`` for the rounds that ``predict(num_iteration=...)`` uses.

    Parameters
    ----------
    booster : lightgbm.Booster
    num_iteration : int, optional
        Rounds used; ``None``: the booster's ``best_iteration`` if set, else all (LightGBM's rule).

    Raises
    ------
    UnsupportedModelError
        Categorical splits, linear trees, random-forest averaging or an unknown decision type.
    """
    if num_iteration is None:
        best = int(getattr(booster, "best_iteration", 0) or 0)
        num_iteration = best if best > 0 else -1
    dump = booster.dump_model(num_iteration=num_iteration)
    if dump.get("average_output"):
        raise UnsupportedModelError("lightgbm random-forest mode (average_output) is not supported")
    per_round = int(dump["num_tree_per_iteration"])
    nodes, outputs = [], []
    for info in dump["tree_info"]:
        if info.get("num_cat", 0):
            raise UnsupportedModelError(f"lightgbm tree {info['tree_index']} has categorical splits; not supported")
        nodes.append(_lightgbm_tree(info["tree_structure"], info["tree_index"]))
        outputs.append(int(info["tree_index"]) % per_round)
    return _assemble(nodes, np.asarray(outputs, dtype=np.int64), np.zeros(per_round),
                     int(dump["max_feature_idx"]) + 1, strict=False, float32_input=False, library="lightgbm")


# ----------------------------------------------------------------------------- per library
# A tree in the making: one list per node in pre-order,
# [left, right, feature, threshold, default_left, missing, cover, value], children local, -1 for a leaf.
_Node = list


def _xgboost_tree(tree: dict, index: int) -> list[_Node]:
    if int(tree["tree_param"].get("size_leaf_vector", 1)) > 1:
        raise UnsupportedModelError(f"xgboost tree {index} has vector leaves (multi_strategy); not supported")
    if any(tree["split_type"]) or tree.get("categories_nodes"):
        raise UnsupportedModelError(f"xgboost tree {index} has categorical splits; not supported")
    lc, rc, feat = tree["left_children"], tree["right_children"], tree["split_indices"]
    cond, dflt, hess = tree["split_conditions"], tree["default_left"], tree["sum_hessian"]
    out: list[_Node] = []
    pending: list[tuple[int, int, bool]] = [(0, -1, True)]  # (node id, parent position, is left child)
    while pending:
        nid, parent, is_left = pending.pop()
        _link(out, parent, is_left)
        cover = float(hess[nid])
        if lc[nid] == -1:
            out.append([-1, -1, -1, 0.0, 0, MISSING_NAN, cover, float(np.float32(cond[nid]))])
            continue
        if cover <= 0:
            raise UnsupportedModelError(f"xgboost tree {index} node {nid} has zero cover; TreeSHAP is undefined")
        pos = len(out)
        out.append([-1, -1, int(feat[nid]), float(np.float32(cond[nid])), int(dflt[nid]), MISSING_NAN, cover, 0.0])
        pending += [(rc[nid], pos, False), (lc[nid], pos, True)]
    return out


def _lightgbm_tree(root: dict, index: int) -> list[_Node]:
    out: list[_Node] = []
    pending: list[tuple[dict, int, bool]] = [(root, -1, True)]
    while pending:
        node, parent, is_left = pending.pop()
        _link(out, parent, is_left)
        if "leaf_value" in node:
            if "leaf_coeff" in node or "leaf_features" in node:
                raise UnsupportedModelError(f"lightgbm tree {index} has linear leaves (linear_tree); not supported")
            out.append([-1, -1, -1, 0.0, 0, MISSING_NONE, float(node.get("leaf_count", 0)), float(node["leaf_value"])])
            continue
        if node.get("decision_type") != "<=" or node.get("missing_type") not in _LIGHTGBM_MISSING:
            raise UnsupportedModelError(f"lightgbm tree {index}: decision {node.get('decision_type')!r} / missing "
                                        f"type {node.get('missing_type')!r} not supported")
        cover = float(node["internal_count"])
        if cover <= 0:
            raise UnsupportedModelError(f"lightgbm tree {index} has a node with no rows; TreeSHAP is undefined")
        pos = len(out)
        out.append([-1, -1, int(node["split_feature"]), float(node["threshold"]), int(bool(node["default_left"])),
                    _LIGHTGBM_MISSING[node["missing_type"]], cover, 0.0])
        pending += [(node["right_child"], pos, False), (node["left_child"], pos, True)]
    return out


def _link(out: list[_Node], parent: int, is_left: bool) -> None:
    """Point ``out[parent]``'s left or right child at the node about to be appended."""
    if parent >= 0:
        out[parent][0 if is_left else 1] = len(out)


def _xgboost_base_margin(base_score: str | float, objective: str, n_outputs: int) -> np.ndarray:
    """XGBoost's ``base_score`` (a number or ``"[v0,v1,...]"``) as the float32 margin it adds."""
    text = str(base_score).strip().strip("[]")
    values = [float(np.float32(v)) for v in text.split(",") if v.strip()]
    if len(values) == 1:
        values *= n_outputs
    if len(values) != n_outputs:
        raise UnsupportedModelError(f"xgboost base_score {base_score!r} does not match {n_outputs} outputs")
    if objective in _XGB_LOGIT:
        link = [-math.log(1.0 / v - 1.0) if 0.0 < v < 1.0 else math.nan for v in values]
    elif objective in _XGB_LOG:
        link = [math.log(v) if v > 0.0 else math.nan for v in values]
    elif objective in _XGB_IDENTITY:
        link = values
    else:
        raise UnsupportedModelError(f"xgboost objective {objective!r} is not supported (unknown base-score link)")
    if not all(math.isfinite(v) for v in link):
        raise UnsupportedModelError(f"xgboost base_score {base_score!r} has no finite margin under {objective!r}")
    return np.asarray(link, dtype=np.float32).astype(np.float64)


def _assemble(trees: list[list[_Node]], tree_output: np.ndarray, base: np.ndarray, n_features: int, *,
              strict: bool, float32_input: bool, library: str) -> TreeArrays:
    if not trees:
        raise UnsupportedModelError(f"the {library} model has no trees in the requested rounds")
    sizes = np.fromiter((len(t) for t in trees), dtype=np.int64, count=len(trees))
    flat = [node for tree in trees for node in tree]
    cols = list(zip(*flat))
    arrays = TreeArrays(
        node_offset=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        left=np.asarray(cols[0], dtype=np.int64), right=np.asarray(cols[1], dtype=np.int64),
        feature=np.asarray(cols[2], dtype=np.int64), threshold=np.asarray(cols[3], dtype=np.float64),
        default_left=np.asarray(cols[4], dtype=np.uint8), missing=np.asarray(cols[5], dtype=np.uint8),
        cover=np.asarray(cols[6], dtype=np.float64), value=np.asarray(cols[7], dtype=np.float64),
        tree_output=tree_output, base_margin=np.asarray(base, dtype=np.float64), n_features=n_features,
        strict=strict, float32_input=float32_input, library=library)
    if arrays.feature.max(initial=-1) >= n_features or (tree_output < 0).any() or \
            (tree_output >= arrays.n_outputs).any():
        raise UnsupportedModelError(f"the {library} model refers to features or outputs beyond its declared sizes")
    return arrays
