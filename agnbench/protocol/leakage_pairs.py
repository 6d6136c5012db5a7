"""The leakage guard's pair checks: two features that define the label together, whatever their names.

The BPT label is a curve in the plane of two line ratios, so each ratio alone may stay below the
single-feature bar (on the real SDSS table log [NII]/Hα and log [OIII]/Hβ reach train AUC 0.96-0.975
each) while the pair reproduces the label exactly. Two behavioural checks look at pairs, on the
training split only (never val or test):

1. :func:`grid_pair_scores` and :func:`tree_pair_scores`: a small 2-D rule on the pair alone - an
   8x8 quantile grid (finds XOR-like rules, whose single features carry nothing) and a depth-3,
   class-balanced decision tree (finds sharp thresholds in the tails, e.g. an AND of two rare
   cuts) - scored out of fold (stratified 3-fold CV *within the training rows*, seeded) by the same
   orientation-free one-vs-rest ROC AUC as the single check. A pair whose rule reproduces the
   label above the single-feature bar (0.98) is flagged: together the two do what a single refused
   feature does. Measured on legitimate inputs the best pair stays well below the bar: on the real
   SDSS table (colours, magnitudes, Dn4000, petroR90, redshift) 0.86-0.92 for the grid over three
   splits; on the mock survey's photometry and physical features 0.93-0.94 (grid and tree, seeds 3
   and 5; tests/data_prep/ingest/test_objects.py checks nothing is flagged there).
2. :func:`bpt_pair_checks`: the pair read as (log [NII]/Hα, log [OIII]/Hβ) - both orders, each axis as
   given or as log10 when positive (linear ratios) - is classified by the Kauffmann et al. (2003)
   and Kewley et al. (2001) lines of :mod:`agnbench.data_prep.bpt`; it is flagged when the side of
   the curve agrees with the label (balanced over classes, best split of the classes into the two
   sides, both sides used) above ``bpt_threshold`` (0.98). Legitimate quantities rarely fall on the
   curve's domain in a way that separates the classes (best legitimate pair: 0.84-0.85 on the real
   table and the mock), while the real ratios agree at 1.000, so the bar sits at the same 0.98.

Both are deterministic and bounded: at most ``max_rows`` training rows (a stratified, seeded
subsample; ``max_tree_rows`` for the tree) and at most ``max_features`` candidates (all features when there are no more, otherwise
the top ones by single-feature AUC; the slower tree looks at the top ``max_tree_features``). Pairs
sharing a feature with a stronger finding are not reported (:func:`explain_away`), so a legitimate
colour is not refused for sitting beside a refused line ratio.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from agnbench.data_prep.bpt import above_kauffmann, above_kewley

log = logging.getLogger(__name__)

#: The demarcation lines tried, by citation: (name, function(x, y) -> above).
BPT_LINES = (("Kauffmann et al. (2003)", above_kauffmann), ("Kewley et al. (2001)", above_kewley))
_BPT_AXES = "(log [NII]/Hα, log [OIII]/Hβ)"
#: Fewest rows of each class a pair check needs (fewer: the pair is not scored).
MIN_CLASS_ROWS = 5


@dataclass(frozen=True)
class PairFinding:
    """One pair of features that reproduces the label.

    ``check`` is ``tree`` (shallow tree, ``score`` = out-of-fold train AUC) or ``bpt`` (``score`` =
    balanced agreement of a demarcation line; ``x``/``y`` the features used as the BPT axes,
    ``transform`` how they were read, ``line`` the demarcation).
    """

    features: tuple[str, str]
    check: str
    score: float
    threshold: float
    reason: str
    line: str = ""
    x: str = ""
    y: str = ""
    transform: str = ""

    def as_dict(self) -> dict:
        out = {"features": list(self.features), "score": round(self.score, 4), "threshold": self.threshold,
               "reason": self.reason}
        if self.check == "bpt":
            out.update(line=self.line, x=self.x, y=self.y, transform=self.transform)
        return out


def subsample_rows(label: np.ndarray, *, max_rows: int, random_state: int) -> np.ndarray:
    """Indices of at most ``max_rows`` rows, stratified by ``label``, seeded, in increasing order."""
    n = label.size
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    keep = []
    for k in np.unique(label):
        members = np.flatnonzero(label == k)
        take = max(MIN_CLASS_ROWS, int(round(max_rows * members.size / n)))
        keep.append(rng.choice(members, size=min(take, members.size), replace=False))
    return np.sort(np.concatenate(keep))


def _ovr_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of ``score`` for ``positive`` (ties count half), via ranks."""
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _quantile_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Bin index 0..bins-1 by quantile edges of the finite values (label-free); NaN -> ``bins``."""
    ok = np.isfinite(values)
    edges = np.unique(np.quantile(values[ok], np.linspace(0, 1, bins + 1)[1:-1])) if ok.any() else np.empty(0)
    return np.where(ok, np.searchsorted(edges, np.where(ok, values, 0.0), side="right"), bins)


def grid_pair_scores(X: np.ndarray, y: np.ndarray, names: list[str], pairs: list[tuple[int, int]], *,
                     bins: int = 8, folds: int = 3, random_state: int = 0,
                     alpha: float = 1.0) -> dict[tuple[str, str], float]:
    """Out-of-fold ROC AUC of a quantile-grid rule on each pair of columns of ``X`` (vectorised).

    Each feature is cut at its ``bins``-quantiles (missing values get a bin of their own); a cell's
    class probabilities are its class counts in the other folds, shrunk towards the class prior
    with weight ``alpha``. Unlike a greedy tree this finds XOR-like rules, whose single features
    carry no signal. Arguments and return value as :func:`tree_pair_scores`.
    """
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2 or counts.min() < max(folds, MIN_CLASS_ROWS):
        return {(names[a], names[b]): float("nan") for a, b in pairs}
    yk = np.searchsorted(classes, y)
    n_cls, side = classes.size, bins + 1
    cells = np.column_stack([_quantile_bins(X[:, j], bins) for j in range(X.shape[1])])
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=random_state).split(X, y))
    prior = counts / y.size
    k_index = range(n_cls) if n_cls > 2 else [1]
    out = {}
    for a, b in pairs:
        cell = cells[:, a] * side + cells[:, b]
        proba = np.zeros((y.size, n_cls))
        for fit_rows, held in splits:
            n = np.bincount(cell[fit_rows] * n_cls + yk[fit_rows], minlength=side * side * n_cls).reshape(-1, n_cls)
            proba[held] = ((n + alpha * prior) / (n.sum(axis=1, keepdims=True) + alpha))[cell[held]]
        out[(names[a], names[b])] = max(_ovr_auc(proba[:, k], yk == k) for k in k_index)
    return out


def tree_pair_scores(X: np.ndarray, y: np.ndarray, names: list[str], pairs: list[tuple[int, int]], *,
                     depth: int = 3, folds: int = 3, random_state: int = 0) -> dict[tuple[str, str], float]:
    """Out-of-fold ROC AUC of a shallow tree on each pair of columns of ``X``.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        Training rows only; NaN allowed (the tree routes missing values).
    y : numpy.ndarray of int, shape (n,)
        Class indices (>= 0).
    names : list of str
        The ``d`` column names.
    pairs : list of (int, int)
        Column index pairs to score.
    depth, folds, random_state : int, keyword-only
        Tree depth, stratified CV folds within these rows, and the seed of folds and trees.

    Returns
    -------
    dict
        ``(name_a, name_b) -> AUC``: the best one-vs-rest AUC over classes of the out-of-fold
        class probabilities (binary: the positive class); NaN when a class has too few rows.
    """
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2 or counts.min() < max(folds, MIN_CLASS_ROWS):
        return {(names[a], names[b]): float("nan") for a, b in pairs}
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=random_state).split(X, y))
    targets = [y == k for k in (classes if classes.size > 2 else classes[1:])]
    out = {}
    for a, b in pairs:
        Xp = X[:, [a, b]]
        proba = np.zeros((y.size, classes.size))
        for fit_rows, held in splits:
            tree = DecisionTreeClassifier(max_depth=depth, class_weight="balanced", random_state=random_state)
            tree.fit(Xp[fit_rows], y[fit_rows])
            cols = np.searchsorted(classes, tree.classes_)
            proba[np.ix_(held, cols)] = tree.predict_proba(Xp[held])
        k_index = range(classes.size) if classes.size > 2 else [1]
        out[(names[a], names[b])] = max(_ovr_auc(proba[:, k], t) for k, t in zip(k_index, targets))
    return out


def side_agreement(above: np.ndarray, y: np.ndarray) -> float:
    """Balanced agreement of a two-sided split with the label, orientation-free, both sides used.

    Each class is assigned to the side holding most of its members, unless that puts every class on
    one side; then the class costing least is moved to the other side. The score is the mean over
    classes of the fraction of members on their assigned side (0.5 for a split unrelated to a binary
    label, 1 when the split is the label).
    """
    classes = np.unique(y)
    frac = np.array([above[y == k].mean() for k in classes])
    side = frac >= 0.5
    fit = np.where(side, frac, 1.0 - frac)
    if side.all() or not side.any():
        k = int(np.argmin(np.abs(2.0 * frac - 1.0)))  # the class least attached to its side
        fit[k] = 1.0 - fit[k]
    return float(fit.mean())


def _axis_versions(values: np.ndarray, *, min_positive: float = 0.9) -> list[tuple[str, np.ndarray]]:
    """The feature as given, and its log10 (non-positive values -> NaN) when at least ``min_positive``
    of its finite values are positive (a linear ratio; measured fluxes can scatter below zero)."""
    out = [("as given", values)]
    finite = values[np.isfinite(values)]
    if finite.size and (finite > 0).mean() >= min_positive:
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(("log10", np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)))
    return out


def bpt_pair_checks(X: np.ndarray, y: np.ndarray, names: list[str], pairs: list[tuple[int, int]], *,
                    threshold: float = 0.98, min_coverage: float = 0.5) -> tuple[list[PairFinding], float, str]:
    """Pairs that reproduce the label through a BPT demarcation line (see module docstring).

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        Training rows only.
    y : numpy.ndarray of int, shape (n,)
        Class indices (>= 0).
    names : list of str
    pairs : list of (int, int)
    threshold : float, keyword-only
        Balanced agreement above which a pair is flagged.
    min_coverage : float, keyword-only
        Fraction of rows that must have both values finite for a pair to be scored.

    Returns
    -------
    findings : list of PairFinding
        One per flagged pair (its best reading).
    best : float
        The highest agreement of any pair (NaN if none was scored).
    best_text : str
        Which pair and line gave ``best``.
    """
    versions = [_axis_versions(X[:, j]) for j in range(X.shape[1])]
    findings, best, best_text = [], float("nan"), ""
    for a, b in pairs:
        top = None
        for xi, yi in ((a, b), (b, a)):
            for (tx, xv), (ty, yv) in itertools.product(versions[xi], versions[yi]):
                ok = np.isfinite(xv) & np.isfinite(yv)
                if ok.mean() < min_coverage or np.unique(y[ok]).size < 2:
                    continue
                if min(np.bincount(y[ok])[np.unique(y[ok])]) < MIN_CLASS_ROWS:
                    continue
                for line, above in BPT_LINES:
                    score = side_agreement(above(xv[ok], yv[ok]), y[ok])
                    if top is None or score > top[0]:
                        top = (score, xi, yi, tx, ty, line)
        if top is None:
            continue
        score, xi, yi, tx, ty, line = top
        transform = "as given" if tx == ty == "as given" else f"x {tx}, y {ty}"
        if not best >= score:
            best, best_text = score, f"({names[xi]}, {names[yi]}) {line}"
        if score > threshold:
            how = "" if transform == "as given" else f" ({transform})"
            reason = (f"pair ({names[xi]}, {names[yi]}) read as {_BPT_AXES}{how}: reconstructs the label through "
                      f"the {line} demarcation (balanced agreement {score:.3f} > {threshold} on the training split)")
            findings.append(PairFinding(features=(names[a], names[b]), check="bpt", score=score, threshold=threshold,
                                        reason=reason, line=line, x=names[xi], y=names[yi], transform=transform))
    return findings, best, best_text


def explain_away(findings: list[PairFinding]) -> list[PairFinding]:
    """The findings that remain once stronger ones are accepted first.

    Findings are taken by decreasing score (BPT before tree on ties); one sharing a feature with an
    accepted finding is dropped: that feature is already refused, and its partner may be innocent
    (e.g. a colour paired with a refused line ratio). What remains after removing every accepted
    pair's features holds no flagged pair, because every pair was scored.
    """
    order = sorted(findings, key=lambda f: (-f.score, f.check != "bpt", f.features))
    covered: set[str] = set()
    kept = []
    for f in order:
        if covered.isdisjoint(f.features):
            kept.append(f)
            covered.update(f.features)
    return kept


def candidate_pairs(names: list[str], single_auc: dict[str, float], *, max_features: int) -> list[tuple[int, int]]:
    """Index pairs of ``names`` to check: all of them, or those among the top ``max_features`` by single AUC."""
    order = list(range(len(names)))
    if len(names) > max_features:
        order = sorted(order, key=lambda j: -np.nan_to_num(single_auc.get(names[j], 0.0), nan=0.0))[:max_features]
        log.info("leakage guard: %d features; pairs are checked among the %d with the highest single AUC",
                 len(names), max_features)
    return list(itertools.combinations(sorted(order), 2))


def check_pairs(X: np.ndarray, y: np.ndarray, names: list[str], single_auc: dict[str, float], *,
                pair_threshold: float = 0.98, bpt_threshold: float = 0.98, depth: int = 3, bins: int = 8,
                folds: int = 3, max_features: int = 40, max_tree_features: int = 15, max_rows: int = 20000,
                max_tree_rows: int = 8000, random_state: int = 0) -> dict:
    """The pair checks on training rows ``X`` (n, d) with labels ``y`` (n,) >= 0 (see module docstring).

    Returns
    -------
    dict
        ``findings``: the flagged pairs (:class:`PairFinding`) left by :func:`explain_away`;
        ``best``: for each check, the highest score and its pair (for the model card when nothing is
        flagged); ``settings``: what was run.
    """
    started = time.perf_counter()
    rows = subsample_rows(y, max_rows=max_rows, random_state=random_state)
    X, y = X[rows], y[rows]
    pairs = candidate_pairs(names, single_auc, max_features=max_features)
    tree_pairs = candidate_pairs(names, single_auc, max_features=max_tree_features)
    tree_rows = subsample_rows(y, max_rows=max_tree_rows, random_state=random_state)  # the slow check sees fewer
    if len(pairs) > 50:
        log.info("leakage guard: checking %d feature pairs on %d training rows", len(pairs), y.size)
    rules = {
        "grid": (grid_pair_scores(X, y, names, pairs, bins=bins, folds=folds, random_state=random_state),
                 f"{bins}x{bins} quantile-grid rule"),
        "tree": (tree_pair_scores(X[tree_rows], y[tree_rows], names, tree_pairs, depth=depth, folds=folds,
                                  random_state=random_state), f"depth-{depth} decision tree"),
    }
    findings, best = [], {}
    for check, (scores, model) in rules.items():
        finite = {p: v for p, v in scores.items() if np.isfinite(v)}
        top = max(finite, key=finite.get) if finite else None
        best[check] = {"pair": list(top) if top else None, "score": round(finite[top], 4) if top else None}
        findings += [PairFinding(features=p, check=check, score=v, threshold=pair_threshold,
                                 reason=(f"pair ({p[0]}, {p[1]}): out-of-fold train ROC AUC {v:.3f} of a {model} on "
                                         f"the pair alone > {pair_threshold}"))
                     for p, v in finite.items() if v > pair_threshold]
    bpt, best_bpt, best_bpt_text = bpt_pair_checks(X, y, names, pairs, threshold=bpt_threshold)
    best["bpt"] = {"pair": best_bpt_text or None, "score": round(best_bpt, 4) if np.isfinite(best_bpt) else None}
    kept = explain_away(bpt + findings)
    log.info("leakage guard: %d pairs checked in %.1f s; flagged: %s", len(pairs), time.perf_counter() - started,
             "; ".join(f.reason for f in kept) or "none")
    return {
        "findings": kept, "best": best,
        "settings": {"n_pairs": len(pairs), "n_tree_pairs": len(tree_pairs), "n_rows": int(y.size),
                     "n_tree_rows": int(tree_rows.size),
                     "tree_depth": depth, "grid_bins": bins, "folds": folds, "pair_threshold": pair_threshold,
                     "bpt_threshold": bpt_threshold, "max_features": max_features,
                     "max_tree_features": max_tree_features, "max_rows": max_rows, "max_tree_rows": max_tree_rows,
                     "random_state": random_state},
    }
