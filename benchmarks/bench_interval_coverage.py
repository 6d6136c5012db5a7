"""Coverage of agnbench's confidence intervals by regime, from AUC 0.75 up to the ceiling (AUC 0.999).

Binormal simulation (tests/statistics/_simulate.py) of the referee's design: 100 positives (AGN) and
400 negatives (SF) per test set, fixed class counts. Each of ``R`` repetitions draws a fresh test set,
runs the paired bootstrap exactly as ``agnbench compare`` does (``index_chunks`` stratified by class,
``weighted_metrics``, ``B`` replicates; BCa acceleration from the 200-group jackknife of
``jackknife_weights``) and records whether each interval method covers the population value:

* ROC-AUC: ``percentile``, ``bca`` (bootstrap), ``delong-wald`` (DeLong SE, normal, clipped to [0, 1]),
  ``logit-delong`` (DeLong SE, normal on the logit scale, Pepe 2003), ``newcombe`` (the default
  ``compare.ci``: score interval, Hanley-McNeil variance at theta, Newcombe 2006 method 5).
* balanced accuracy (decision ``score > mu / 2``) and PR-AUC (average precision): ``percentile``, ``bca``.
* paired ROC-AUC difference A - B (two scorings of the same objects, noise correlation ``RHO``):
  ``percentile`` (tests.csv's paired bootstrap row), ``bca`` (bootstrap of the difference, jackknife of
  the difference), ``delong-wald`` (tests.csv's DeLong row) and ``mover-newcombe`` (MOVER, Zou & Donner
  2008, from the two Newcombe intervals and the DeLong correlation).

Monte-Carlo standard error of a coverage ``c`` is ``sqrt(c (1 - c) / R)`` (0.007 at 0.95, R = 1000).

``python -m benchmarks.bench_interval_coverage [R] [B]`` (default R = 1000, B = 1000) writes
``benchmarks/results/interval_coverage.json`` and prints the table quoted in docs/statistics.md.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.stats import norm

from scipy.special import expit, logit

from agnbench.bootstrap.auc_intervals import newcombe_auc_interval
from agnbench.bootstrap.delong import delong_auc_covariance, delong_test
from agnbench.bootstrap.metrics import weighted_metrics
from agnbench.bootstrap.resample import (bca_interval, counts_from_indices, index_chunks, jackknife_weights,
                                         percentile_interval)
from benchmarks._measure import machine, save, table
from tests.statistics._simulate import (binormal_pair, binormal_scores, labels, mu_for_auc, proba_from_scores,
                                        true_average_precision, true_balanced_accuracy)

N_POS, N_NEG = 100, 400
CONFIDENCE = 0.95
AUC_REGIMES = (0.75, 0.9, 0.98, 0.998, 0.999)
DELTA_REGIMES = ((0.75, 0.73), (0.9, 0.88), (0.98, 0.97), (0.999, 0.998), (0.999, 0.999))
RHO = 0.5
JACKKNIFE_GROUPS = 200
CLASSES = ("sf", "agn")
METRICS = ("roc_auc", "balanced_accuracy", "pr_auc")
Z = float(norm.ppf(0.5 + CONFIDENCE / 2))


def _boot(y: np.ndarray, proba: list[np.ndarray], y_pred: list[np.ndarray], *, n_boot: int, seed: int,
          jack: np.ndarray) -> tuple[list[dict], list[dict], list[dict]]:
    """Replicates (B,), jackknife values (G,) and full-sample values of METRICS for each scoring."""
    (_, idx), = index_chunks(y.size, n_boot=n_boot, seed=seed, strata=y, chunk_size=n_boot)
    counts = counts_from_indices(idx, y.size)
    ones = np.ones((1, y.size), dtype=np.float32)
    reps, jk, point = [], [], []
    for p, yp in zip(proba, y_pred):
        reps.append(weighted_metrics(y, p, yp, counts, classes=CLASSES, metrics=METRICS))
        jk.append(weighted_metrics(y, p, yp, jack, classes=CLASSES, metrics=METRICS))
        point.append({k: float(v[0]) for k, v in weighted_metrics(y, p, yp, ones, classes=CLASSES,
                                                                  metrics=METRICS).items()})
    return reps, jk, point


def logit_wald_interval(auc: float, se: float) -> tuple[float, float]:
    """``expit(logit(A) +/- z se / (A (1 - A)))`` (Pepe 2003); NaN when A is 0 or 1 or se is 0."""
    if not (0.0 < auc < 1.0 and se > 0.0):
        return float("nan"), float("nan")
    half = Z * se / (auc * (1.0 - auc))
    return float(expit(logit(auc) - half)), float(expit(logit(auc) + half))


def mover_difference(a: float, ci_a: tuple, b: float, ci_b: tuple, r: float) -> tuple[float, float]:
    """MOVER interval of ``a - b`` from intervals of each and their correlation ``r`` (Zou & Donner 2008)."""
    (la, ua), (lb, ub) = ci_a, ci_b
    down = (a - la) ** 2 + (ub - b) ** 2 - 2.0 * r * (a - la) * (ub - b)
    up = (ua - a) ** 2 + (b - lb) ** 2 - 2.0 * r * (ua - a) * (b - lb)
    return float(a - b - np.sqrt(max(down, 0.0))), float(a - b + np.sqrt(max(up, 0.0)))


def _covered(lo: float, hi: float, truth: float) -> bool:
    return bool(np.isfinite(lo) and np.isfinite(hi) and lo <= truth <= hi)


def single(auc: float, *, reps: int, n_boot: int, seed: int) -> dict[str, dict[str, float]]:
    """Coverage and mean width of every method for ROC-AUC, balanced accuracy and PR-AUC at one AUC."""
    rng = np.random.default_rng([seed, int(auc * 10_000)])
    y, mu = labels(N_POS, N_NEG), mu_for_auc(auc)
    scores = binormal_scores(rng, auc=auc, n_pos=N_POS, n_neg=N_NEG, reps=reps)
    jack = jackknife_weights(y.size, n_groups=JACKKNIFE_GROUPS, seed=seed)
    truth = {"roc_auc": auc, "balanced_accuracy": true_balanced_accuracy(auc),
             "pr_auc": true_average_precision(auc, N_POS / (N_POS + N_NEG))}
    hits: dict[str, list[tuple[bool, float]]] = {}
    for r in range(reps):
        s = scores[r]
        (boot,), (jk,), (pt,) = _boot(y, [proba_from_scores(s, mu)], [(s > mu / 2).astype(np.int64)],
                                      n_boot=n_boot, seed=seed * 100_000 + r, jack=jack)
        bounds = {}
        for m in METRICS:
            bounds[f"{m}/percentile"] = percentile_interval(boot[m], confidence=CONFIDENCE)
            bounds[f"{m}/bca"] = bca_interval(boot[m], estimate=pt[m], jackknife=jk[m], confidence=CONFIDENCE)
        aucs, cov = delong_auc_covariance(y, s)
        a, se = float(aucs[0]), float(np.sqrt(max(cov[0, 0], 0.0)))
        half = Z * se
        bounds["roc_auc/delong-wald"] = (max(a - half, 0.0), min(a + half, 1.0))
        bounds["roc_auc/logit-delong"] = logit_wald_interval(a, se)
        bounds["roc_auc/newcombe"] = tuple(float(v) for v in newcombe_auc_interval(a, N_POS, N_NEG,
                                                                                    confidence=CONFIDENCE))
        for key, (lo, hi) in bounds.items():
            hits.setdefault(key, []).append((_covered(lo, hi, truth[key.split("/")[0]]), hi - lo))
    return {key: {"coverage": float(np.mean([h for h, _ in v])),
                  "mean_width": float(np.nanmean([w for _, w in v])),
                  "truth": truth[key.split("/")[0]]} for key, v in hits.items()}


def paired(auc_a: float, auc_b: float, *, reps: int, n_boot: int, seed: int) -> dict[str, dict[str, float]]:
    """Coverage of the paired ROC-AUC difference ``auc_a - auc_b`` by each method."""
    rng = np.random.default_rng([seed, int(auc_a * 10_000), int(auc_b * 10_000), 7])
    y = labels(N_POS, N_NEG)
    sa, sb = binormal_pair(rng, auc_a=auc_a, auc_b=auc_b, rho=RHO, n_pos=N_POS, n_neg=N_NEG, reps=reps)
    jack = jackknife_weights(y.size, n_groups=JACKKNIFE_GROUPS, seed=seed)
    truth = auc_a - auc_b
    hits: dict[str, list[tuple[bool, float]]] = {}
    for r in range(reps):
        proba = [proba_from_scores(sa[r], 0.0), proba_from_scores(sb[r], 0.0)]
        preds = [(sa[r] > 0).astype(np.int64), (sb[r] > 0).astype(np.int64)]
        boot, jk, pt = _boot(y, proba, preds, n_boot=n_boot, seed=seed * 100_000 + r, jack=jack)
        d_boot = boot[0]["roc_auc"] - boot[1]["roc_auc"]
        d_jk = jk[0]["roc_auc"] - jk[1]["roc_auc"]
        d = pt[0]["roc_auc"] - pt[1]["roc_auc"]
        dl = delong_test(y, sa[r], sb[r])
        bounds = {"delta_roc_auc/percentile": percentile_interval(d_boot, confidence=CONFIDENCE),
                  "delta_roc_auc/bca": bca_interval(d_boot, estimate=d, jackknife=d_jk, confidence=CONFIDENCE),
                  "delta_roc_auc/delong-wald": (dl.delta - Z * dl.se,
                                                dl.delta + Z * dl.se)}
        aucs, cov = delong_auc_covariance(y, np.stack([sa[r], sb[r]]))
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
        corr = cov[0, 1] / (se[0] * se[1]) if se[0] > 0 and se[1] > 0 else 0.0
        ci = [newcombe_auc_interval(aucs[k], N_POS, N_NEG, confidence=CONFIDENCE) for k in (0, 1)]
        bounds["delta_roc_auc/mover-newcombe"] = tuple(float(v) for v in mover_difference(
            aucs[0], ci[0], aucs[1], ci[1], corr))
        for key, (lo, hi) in bounds.items():
            hits.setdefault(key, []).append((_covered(lo, hi, truth), hi - lo))
    return {key: {"coverage": float(np.mean([h for h, _ in v])), "mean_width": float(np.nanmean([w for _, w in v])),
                  "truth": truth} for key, v in hits.items()}


def markdown(rows: list[dict]) -> str:
    """docs/statistics.md's tables: one per quantity, method x regime -> coverage (mean width)."""
    out = []
    for quantity in dict.fromkeys(r["quantity"] for r in rows):
        sel = [r for r in rows if r["quantity"] == quantity]
        regimes = list(dict.fromkeys(r["regime"] for r in sel))
        out.append(f"**{quantity}**\n")
        out.append("| method | " + " | ".join(regimes) + " |")
        out.append("|---|" + "---|" * len(regimes))
        for method in dict.fromkeys(r["method"] for r in sel):
            cells = {r["regime"]: f"{r['coverage']:.3f} ({r['mean_width']:.4f})" for r in sel if r["method"] == method}
            out.append(f"| {method} | " + " | ".join(cells.get(g, "") for g in regimes) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    reps = int(args[0]) if args else 1000
    n_boot = int(args[1]) if len(args) > 1 else 1000
    start = time.perf_counter()
    rows = []
    for auc in AUC_REGIMES:
        for key, v in single(auc, reps=reps, n_boot=n_boot, seed=1).items():
            metric, method = key.split("/")
            rows.append({"quantity": metric, "regime": f"AUC {auc}", "method": method, **v})
    for a, b in DELTA_REGIMES:
        for key, v in paired(a, b, reps=reps, n_boot=n_boot, seed=2).items():
            metric, method = key.split("/")
            rows.append({"quantity": metric, "regime": f"AUC {a} vs {b}", "method": method, **v})
    mc = float(np.sqrt(CONFIDENCE * (1 - CONFIDENCE) / reps))
    payload = {"design": {"n_pos": N_POS, "n_neg": N_NEG, "R": reps, "B": n_boot, "confidence": CONFIDENCE,
                          "rho": RHO, "jackknife_groups": JACKKNIFE_GROUPS, "stratified": True,
                          "mc_se_at_nominal": mc},
               "rows": rows, "seconds": time.perf_counter() - start, "machine": machine()}
    path = save("interval_coverage", payload)
    shown = [{**r, "coverage": f"{r['coverage']:.3f}", "mean_width": f"{r['mean_width']:.4f}",
              "truth": f"{r['truth']:.4f}"} for r in rows]
    print(table(shown, ["quantity", "regime", "method", "coverage", "mean_width", "truth"]))
    print(f"R = {reps}, B = {n_boot}, MC s.e. at 0.95: {mc:.4f}; {payload['seconds']:.0f} s; written to {path}")
    print(markdown(rows))


if __name__ == "__main__":
    main()
