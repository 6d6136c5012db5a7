"""Decision rules chosen on val and applied to test, and abstention at a target coverage.

* :func:`threshold_table`: every run's decision rules (:data:`THRESHOLD_RULES`) fitted on val with
  :func:`~agnbench.protocol.thresholds.fit_threshold` and scored on test.
* :func:`abstention_table`: the model answers only when its top probability reaches a confidence
  threshold chosen on val for a target coverage; accuracy on the answered test objects.

Both return long tables of raw numbers, one row per run and rule (or coverage).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from agnbench.protocol.thresholds import THRESHOLD_RULES, apply_threshold, fit_threshold
from agnbench.errors import AgnbenchError

__all__ = ["abstention_table", "threshold_table"]

logger = logging.getLogger(__name__)

Split = tuple[np.ndarray, np.ndarray]  # (y (n,) int, proba (n, K) float)


def _check_split(run: str, what: str, pair: Split, k: int) -> Split:
    """Checked ``(y (n,) int64, proba (n, K) float64)`` of one run on one split."""
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise AgnbenchError(f"{what}[{run!r}] must be a pair (y, proba)")
    y, p = np.asarray(pair[0]), np.asarray(pair[1], dtype=np.float64)
    if y.ndim != 1 or y.size == 0 or y.dtype.kind not in "iub" or p.shape != (y.size, k):
        raise AgnbenchError(
            f"{what}[{run!r}] needs y (n,) int and proba (n, {k}), n > 0; got {y.dtype} "
            f"{y.shape} and {p.shape}"
        )
    if y.min() < 0 or y.max() >= k or not np.all(np.isfinite(p)):
        raise AgnbenchError(f"{what}[{run!r}]: labels must be in 0..{k - 1}, proba finite")
    return y.astype(np.int64), p


def _check_runs(
    val: Mapping[str, Split], test: Mapping[str, Split], classes: Sequence[str]
) -> dict[str, tuple[Split, Split]]:
    k = len(classes)
    if k < 2:
        raise AgnbenchError(f"need at least 2 classes, got {tuple(classes)}")
    if not val or set(val) != set(test):
        raise AgnbenchError(
            f"val and test need the same non-empty run names, got {sorted(val)} and {sorted(test)}"
        )
    return {run: (_check_split(run, "val", val[run], k), _check_split(run, "test", test[run], k))
            for run in val}


def _precision_recall_f1(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[float, float, float]:
    """Positive-class (binary) or macro (multi-class) precision, recall, F1 with zero_division=0."""
    average = "binary" if k == 2 else "macro"
    p, r, f, _ = precision_recall_fscore_support(
        y, pred, labels=list(range(k)) if k > 2 else None, pos_label=1, average=average,
        zero_division=0,
    )
    return float(p), float(r), float(f)


def threshold_table(
    *,
    val: Mapping[str, Split],
    test: Mapping[str, Split],
    classes: Sequence[str],
    rules: Sequence[str] = THRESHOLD_RULES,
    target_precision: float = 0.9,
) -> pd.DataFrame:
    """Decision rules fitted on val, applied to test, for every run.

    Parameters
    ----------
    val, test : mapping of str to (ndarray (n,), ndarray (n, K))
        ``(y, proba)`` of each run on the val and on the test split; same run names.
    classes : sequence of str, length K
        Class names; binary (``K == 2``) has class 1 the positive class.
    rules : sequence of str, default ("argmax", "max_f1", "target_precision")
        Rules of :func:`~agnbench.protocol.thresholds.fit_threshold`. ``max_f1`` and
        ``target_precision`` need ``K == 2``; for ``K > 2`` only the argmax rows are returned and
        their note names the skipped rules.
    target_precision : float, default 0.9
        Val precision wanted by the ``target_precision`` rule.

    Returns
    -------
    pandas.DataFrame
        Columns ``run, rule, threshold, val_precision, val_recall, test_precision, test_recall,
        test_f1, test_accuracy, test_n, note``. ``threshold`` is the positive-class probability
        cut (NaN for argmax). Precision, recall and F1 are of the positive class (binary) or
        macro-averaged over classes (multi-class), with ``zero_division=0``. When no val threshold
        reaches the target precision, fit_threshold's fallback (the threshold of maximum val
        precision) is used and ``note`` says so; a val split without positives gives NaN.
    """
    runs = _check_runs(val, test, classes)
    rules = [rules] if isinstance(rules, str) else list(dict.fromkeys(rules))
    unknown = [r for r in rules if r not in THRESHOLD_RULES]
    if unknown or not rules:
        raise AgnbenchError(f"unknown or no rule(s) {unknown}; valid: {', '.join(THRESHOLD_RULES)}")
    k = len(classes)
    skipped = [r for r in rules if r != "argmax"] if k != 2 else []
    if skipped:
        logger.info("rules %s skipped: %d classes (binary label schemes only)", skipped, k)
        rules = [r for r in rules if r == "argmax"]
        if not rules:
            raise AgnbenchError(
                f"rules {skipped} need a binary label scheme, {k} classes here; add 'argmax'"
            )
    rows = []
    for run, ((y_val, p_val), (y_test, p_test)) in runs.items():
        for rule in rules:
            row = {"run": run, "rule": rule, "threshold": np.nan, "test_n": int(y_test.size)}
            notes = [f"{', '.join(skipped)} skipped: binary label schemes only"] if skipped else []
            if rule != "argmax" and not np.any(y_val == 1):
                notes.append(f"val has no {classes[1]} (positive) object: no threshold")
                rows.append({**row, "note": "; ".join(notes)})
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit = fit_threshold(p_val, y_val, rule=rule, target_precision=target_precision)
            if fit.get("reached") is False:
                notes.append(
                    f"val precision {target_precision} not reached: threshold of maximum val "
                    f"precision ({fit['val_precision']:.4f}) used"
                )
            notes.extend(str(w.message) for w in caught if fit.get("reached") is not False)
            if fit["threshold"] is not None:
                row["threshold"] = float(fit["threshold"])
            row["val_precision"], row["val_recall"], _ = _precision_recall_f1(
                y_val, apply_threshold(p_val, fit), k
            )
            pred = apply_threshold(p_test, fit)
            row["test_precision"], row["test_recall"], row["test_f1"] = _precision_recall_f1(
                y_test, pred, k
            )
            row["test_accuracy"] = float(accuracy_score(y_test, pred))
            rows.append({**row, "note": "; ".join(notes)})
    columns = ["run", "rule", "threshold", "val_precision", "val_recall", "test_precision",
               "test_recall", "test_f1", "test_accuracy", "test_n", "note"]
    return pd.DataFrame(rows, columns=columns).astype({"test_n": np.int64})


def _coverage_threshold(conf_val: np.ndarray, coverage: float) -> float:
    """Largest ``t`` with ``mean(conf_val >= t) >= coverage``; 0 for coverage 1."""
    if coverage >= 1.0:
        return 0.0
    need = max(1, int(np.ceil(coverage * conf_val.size * (1 - 1e-12))))  # 0.55 * 100 > 55
    return float(np.sort(conf_val)[::-1][need - 1])


def abstention_table(
    *,
    val: Mapping[str, Split],
    test: Mapping[str, Split],
    classes: Sequence[str],
    coverages: Sequence[float] = (1.0, 0.9, 0.8, 0.7),
) -> pd.DataFrame:
    """Accuracy when the model answers only above a confidence threshold chosen on val.

    The answer is the argmax class; the model says "unknown" when its top probability is below
    ``t``. For each target coverage ``c``, ``t`` is the largest value whose val coverage (fraction
    of val objects with top probability ``>= t``) is at least ``c``; ``c == 1`` gives ``t = 0``
    (every object answered, on test too).

    Parameters
    ----------
    val, test : mapping of str to (ndarray (n,), ndarray (n, K))
        ``(y, proba)`` of each run on the val and on the test split; same run names.
    classes : sequence of str, length K
        Class names (any ``K >= 2``).
    coverages : sequence of float, default (1.0, 0.9, 0.8, 0.7)
        Target coverages in (0, 1].

    Returns
    -------
    pandas.DataFrame
        Columns ``run, target_coverage, confidence_threshold, val_coverage, test_coverage,
        test_accuracy_answered, test_n_answered, test_n, note``; ``test_accuracy_answered`` is
        NaN (with a note) when no test object is answered.
    """
    runs = _check_runs(val, test, classes)
    cov = [float(c) for c in coverages]
    if not cov or not all(0.0 < c <= 1.0 for c in cov):
        raise AgnbenchError(f"coverages must be non-empty and in (0, 1], got {list(coverages)}")
    rows = []
    for run, ((_, p_val), (y_test, p_test)) in runs.items():
        conf_val, conf_test = p_val.max(axis=1), p_test.max(axis=1)
        correct = p_test.argmax(axis=1) == y_test
        for c in cov:
            t = _coverage_threshold(conf_val, c)
            answered = conf_test >= t
            n_ans = int(answered.sum())
            rows.append({
                "run": run, "target_coverage": c, "confidence_threshold": t,
                "val_coverage": float(np.mean(conf_val >= t)),
                "test_coverage": n_ans / y_test.size,
                "test_accuracy_answered": float(correct[answered].mean()) if n_ans else np.nan,
                "test_n_answered": n_ans, "test_n": int(y_test.size),
                "note": "" if n_ans else "no test object answered: accuracy undefined (NaN)",
            })
    columns = ["run", "target_coverage", "confidence_threshold", "val_coverage", "test_coverage",
               "test_accuracy_answered", "test_n_answered", "test_n", "note"]
    return pd.DataFrame(rows, columns=columns)
