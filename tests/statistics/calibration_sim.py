"""Simulated classifiers with a known calibration error, shared by the calibration tests and benchmark.

A model reports ``p = sigmoid(x)`` with ``x ~ N(MU, SD)``; the truth is ``P(y = 1 | p) = sigmoid(a + b x)``
(``a = 0, b = 1``: perfectly calibrated). Population values (binned top-label calibration errors on the
comparison's ``ece_bins`` equal-width bins, logistic-recalibration intercept and slope) come from quadrature
over ``x``, not from samples.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import norm

from agnbench.bootstrap.paired import paired_replicates
from agnbench.bootstrap.resample import percentile_interval

MU, SD = -1.5, 1.8  # about 25 % positives, like the AGN fraction of a test split
CLASSES = ("sf", "agn")
METRICS = ["ece", "debiased_ce", "calibration_slope", "calibration_intercept"]


def draw(rng: np.random.Generator, n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) and reported probabilities (n, 2) of one simulated test split."""
    x = rng.normal(MU, SD, n)
    y = (rng.random(n) < expit(a + b * x)).astype(np.int64)
    p = expit(x)
    return y, np.column_stack([1.0 - p, p])


def truth(a: float, b: float, *, bins: int = 15, grid: int = 400_001) -> dict[str, float]:
    """Population values: ``ece`` (binned L1), ``debiased_ce`` (binned L2), slope ``b``, intercept at slope 1."""
    x = np.linspace(MU - 9 * SD, MU + 9 * SD, grid)
    w = norm.pdf(x, MU, SD)
    w /= w.sum()
    p, q = expit(x), expit(a + b * x)
    conf = np.maximum(p, 1.0 - p)
    acc = np.where(p > 0.5, q, 1.0 - q)  # argmax: class 1 only when p > 1/2 (first maximum on ties)
    edges = np.linspace(0.0, 1.0, bins + 1)
    m = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    mass = np.bincount(m, w, bins)
    gap = np.bincount(m, w * (acc - conf), bins)
    l2 = float(np.sum(np.where(mass > 0, gap**2 / np.where(mass > 0, mass, 1.0), 0.0)))
    intercept = brentq(lambda c: float(np.sum(w * (q - expit(c + x)))), -20, 20, xtol=1e-13)
    return {"ece": float(np.abs(gap).sum()), "debiased_ce": float(np.sqrt(l2)), "calibration_slope": b,
            "calibration_intercept": intercept}


def coverage(a: float, b: float, *, n: int, reps: int, n_boot: int, seed: int, confidence: float = 0.95, stratify: bool = True,
             metrics: list[str] = METRICS) -> dict[str, float]:
    """Fraction of ``reps`` simulated test splits whose default comparison interval covers the population value.

    The interval is what ``summary.csv`` reports as ``lo``/``hi`` by default (``compare.ci: percentile``): the
    percentile interval of :func:`paired_replicates` (stratified by class, as ``compare.stratify``).
    """
    target = truth(a, b)
    rng = np.random.default_rng(seed)
    hits = {m: 0 for m in metrics}
    valid = {m: 0 for m in metrics}
    for r in range(reps):
        y, p = draw(rng, n, a, b)
        out = paired_replicates(y, {"m": p}, {"m": p.argmax(axis=1)}, classes=CLASSES, metrics=metrics,
                                n_boot=n_boot, seed=seed * 100_003 + r, stratify=stratify)["m"]
        for m in metrics:
            lo, hi = percentile_interval(out[m], confidence=confidence)
            if np.isfinite(lo) and np.isfinite(hi):
                valid[m] += 1
                hits[m] += int(lo <= target[m] <= hi)
    return {m: hits[m] / max(valid[m], 1) for m in metrics}
