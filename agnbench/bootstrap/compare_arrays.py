"""``compare_predictions``: the paired comparison of ``agnbench compare`` on a user's own arrays.

No run directories, no files: true labels and each model's class probabilities on the same
objects, in the same order, give the same ``summary`` and ``tests`` tables that ``agnbench
compare`` writes to ``summary.csv`` and ``tests.csv`` (same columns, same seeds, same defaults:
those of the ``compare`` config section, :class:`~agnbench.config.compare.CompareConfig`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from agnbench.bootstrap.paired import PairedComparison, paired_comparison
from agnbench.config.compare import CompareConfig
from agnbench.errors import AgnbenchError


def compare_predictions(y_true: np.ndarray | Sequence, proba: Mapping[str, np.ndarray], *,
                        classes: Sequence[str] | None = None, y_pred: Mapping[str, np.ndarray] | None = None,
                        n_boot: int | None = None, seed: int = 0, confidence: float | None = None,
                        ci: str | None = None, stratify: bool | None = None, jackknife_groups: int | None = None,
                        ece_bins: int | None = None, progress: bool = False) -> PairedComparison:
    """Paired bootstrap intervals and pairwise tests of models scored on the same objects.

    Every model is resampled with ONE shared matrix of bootstrap indices, so the interval on a
    difference between two models is valid; the result is what ``agnbench compare`` computes for
    the same predictions (objects in the same order) and ``seed``.

    Parameters
    ----------
    y_true : array-like, shape (n,)
        True classes: integers ``0 .. K-1`` in the order of the probability columns, or class
        names (then ``classes`` is required).
    proba : mapping of str -> array-like, shape (n, K) or (n,)
        Each model's class probabilities on the same ``n`` objects (rows sum to 1). A 1-D array is
        the probability of class 1 of a binary problem. The keys name the models in the tables.
    classes : sequence of str, optional
        Names of the ``K`` classes, in column order; default ``"0" .. "K-1"``.
    y_pred : mapping of str -> array-like of int, shape (n,), optional
        Each model's decisions; default the most probable class (``argmax`` of ``proba``).
    n_boot : int, optional
        Bootstrap replicates (default: ``compare.n_boot``, 2000; at least 100).
    seed : int
        Root seed (``agnbench compare --seed``); replicate ``b`` depends only on it and the data.
    confidence : float, optional
        Interval level (default 0.95).
    ci : {"newcombe", "bca", "percentile"}, optional
        Which interval goes to ``lo``/``hi`` (percentile and BCa are always given too); default
        ``"newcombe"``: Newcombe's score interval for a binary ROC-AUC, BCa for the other metrics.
    stratify : bool, optional
        Resample within each true class (default True).
    jackknife_groups : int, optional
        Groups of the delete-a-group jackknife for the BCa acceleration (default 200).
    ece_bins : int, optional
        Confidence bins of the expected calibration error (default 15).
    progress : bool
        Show a progress bar over the replicates.

    Returns
    -------
    PairedComparison
        ``summary`` (one row per metric and model: estimate, ``lo``, ``hi``, percentile and BCa
        intervals, ...), ``tests`` (every pair of models: paired bootstrap delta with interval and
        p-value for each metric, DeLong for ROC AUC when binary, McNemar for accuracy, Holm-corrected
        ``p_holm``), ``replicates`` (the raw draws) and :meth:`~PairedComparison.replicates_table`.

    Raises
    ------
    AgnbenchError
        No model, shapes that disagree, labels outside the classes, probabilities that are not
        probabilities, or an option outside its range (the message names the ``compare`` key).
    """
    cc = dataclasses.replace(CompareConfig(), **{k: v for k, v in {
        "n_boot": n_boot, "confidence": confidence, "ci": ci, "stratify": stratify,
        "jackknife_groups": jackknife_groups, "ece_bins": ece_bins}.items() if v is not None})
    cc.validate()
    if not proba:
        raise AgnbenchError("proba is empty: give at least one model's probabilities, {name: (n, K) array}")
    arrays = {str(name): _as_proba(name, p) for name, p in proba.items()}
    n, k = next(iter(arrays.values())).shape
    if bad := {name: p.shape for name, p in arrays.items() if p.shape != (n, k)}:
        raise AgnbenchError(f"every model needs probabilities of the same shape ({n}, {k}); got {bad}")
    if classes is None and np.asarray(y_true).dtype.kind in "USO":
        raise AgnbenchError("y_true holds class names: pass classes=[...] to give the order of the probability columns")
    names = tuple(str(c) for c in range(k)) if classes is None else tuple(str(c) for c in classes)
    if len(names) != k or len(set(names)) != k:
        raise AgnbenchError(f"classes must name the {k} probability columns once each, got {list(names)}")
    y = _as_labels(y_true, names, n, "y_true")
    if y_pred is None:
        decisions = {name: p.argmax(axis=1) for name, p in arrays.items()}
    else:
        if missing := [name for name in arrays if name not in y_pred]:
            raise AgnbenchError(f"y_pred has no decisions for model(s) {missing}; give one array per model of proba")
        decisions = {name: _as_labels(y_pred[name], names, n, f"y_pred[{name!r}]") for name in arrays}
    return paired_comparison(y, arrays, decisions, classes=names, n_boot=cc.n_boot, seed=seed, stratify=cc.stratify,
                             confidence=cc.confidence, ci=cc.ci, jackknife_groups=cc.jackknife_groups,
                             ece_bins=cc.ece_bins, progress=progress)


def _as_proba(name: object, values: np.ndarray) -> np.ndarray:
    """(n, K) float64; a 1-D array is P(class 1) of a binary problem."""
    p = np.asarray(values, dtype=np.float64)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise AgnbenchError(f"proba[{name!r}] must have shape (n, K) with n >= 1 and K >= 2 (or (n,) for P(class 1)"
                            f" of a binary problem), got {np.shape(values)}")
    return p


def _as_labels(values: np.ndarray | Sequence, classes: tuple[str, ...], n: int, what: str) -> np.ndarray:
    """Class indices (n,) int64 from indices or class names."""
    a = np.asarray(values)
    if a.shape != (n,):
        raise AgnbenchError(f"{what} must have shape ({n},) (one label per object), got {a.shape}")
    if a.dtype.kind in "USO":
        lookup = {c: i for i, c in enumerate(classes)}
        if unknown := sorted({str(v) for v in a.tolist()} - set(lookup)):
            raise AgnbenchError(f"{what} holds label(s) {unknown[:5]} that are not among classes {list(classes)}")
        return np.array([lookup[str(v)] for v in a.tolist()], dtype=np.int64)
    if a.dtype.kind not in "iub" or (a.size and (a.min() < 0 or a.max() >= len(classes))):
        raise AgnbenchError(f"{what} must hold class indices 0..{len(classes) - 1} (or class names), got "
                            f"{a.dtype} values {np.unique(a)[:5].tolist()}")
    return a.astype(np.int64)
