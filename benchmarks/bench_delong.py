"""Benchmark DeLong's test of two correlated AUCs on 1,000,000 objects (target <= 1 s, one process).

Synthetic data: 1,000,000 objects, 30% positives, two correlated score vectors (shared latent term,
model a slightly better than model b; scores of b rounded to 3 decimals so ties occur). Cases:

(a) :func:`agnbench.bootstrap.delong.delong_test` (Sun & Xu midrank algorithm): AUCs, SE of the
    difference, z and p. Best of ``repeats`` calls; the first (cold) call is reported too.
(b) for reference, two plain ``sklearn.metrics.roc_auc_score`` calls (point estimates only, no
    uncertainty): the floor any approach pays.
(c) the approach a user would otherwise write: a paired bootstrap of the AUC difference with
    ``roc_auc_score`` (200 replicates, resampling objects with replacement; SE = std of the
    replicate differences, normal p-value). All replicates are run and timed, nothing is scaled.
    (The O(n_pos x n_neg) placement computation is not shown: 2.1e11 pairs at this n.)

Reported per case: seconds, SE and p of the AUC difference, the peak RSS of this process so far
(``resource.getrusage``; cumulative, so it only grows down the table) and the peak memory the call
itself allocates (``tracemalloc``, measured in a separate, untimed call). ``speedup`` is (c) / (a),
measured in the same run.

``python -m benchmarks.bench_delong`` writes ``benchmarks/results/delong.json`` and prints a table.
"""

from __future__ import annotations

import logging
import resource
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from scipy.stats import norm

from benchmarks._measure import machine, save, table

TARGET_S = 1.0

logger = logging.getLogger(__name__)


def make_scores(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated scorings.

    Returns
    -------
    y : numpy.ndarray, shape (n,), int64, about 30% ones
    score_a, score_b : numpy.ndarray, shape (n,), float64 (``score_b`` rounded to 3 decimals)
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    latent = rng.normal(size=n)
    score_a = 1.0 * y + 0.7 * latent + rng.normal(size=n)
    score_b = np.round(0.9 * y + 0.7 * latent + rng.normal(size=n), 3)
    return y, score_a, score_b


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _traced_mib(fn: Callable[[], object]) -> float:
    """Peak memory (MiB) allocated by one call of ``fn``, via tracemalloc (not timed)."""
    tracemalloc.start()
    try:
        fn()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()


def _bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray, *, replicates: int, seed: int) -> np.ndarray:
    """AUC differences a - b on ``replicates`` paired resamples of the objects, shape (replicates,)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    out = np.empty(replicates)
    for k in range(replicates):
        idx = rng.integers(0, y.size, y.size)
        out[k] = roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx])
    return out


def main(*, n: int = 1_000_000, replicates: int = 200, repeats: int = 5) -> dict:
    """Run every case; save ``delong.json``, print the table, return the payload."""
    from sklearn.metrics import roc_auc_score

    from agnbench.bootstrap.delong import delong_test

    y, a, b = make_scores(n, seed=0)
    rss_data = _peak_rss_mib()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        res = delong_test(y, a, b)
        times.append(time.perf_counter() - start)
    ours = {"case": "delong_test (Sun & Xu midranks)", "n": n, "seconds": min(times),
            "all_seconds": [round(t, 3) for t in times], "delta_auc": res.delta, "se": res.se,
            "p_value": res.p_value, "peak_rss_mib": _peak_rss_mib(),
            "traced_mib": _traced_mib(lambda: delong_test(y, a, b)), "target_s": TARGET_S,
            "met": min(times) <= TARGET_S}
    logger.info("delong_test done")

    start = time.perf_counter()
    delta = roc_auc_score(y, a) - roc_auc_score(y, b)
    floor = {"case": "reference: 2 x roc_auc_score (no uncertainty)", "n": n,
             "seconds": time.perf_counter() - start, "delta_auc": delta, "peak_rss_mib": _peak_rss_mib(),
             "traced_mib": _traced_mib(lambda: roc_auc_score(y, a) - roc_auc_score(y, b))}

    start = time.perf_counter()
    diffs = _bootstrap(y, a, b, replicates=replicates, seed=1)
    boot_s = time.perf_counter() - start
    se_boot = float(diffs.std(ddof=1))
    naive = {"case": f"simple: paired bootstrap, {replicates} x 2 roc_auc_score", "n": n, "seconds": boot_s,
             "delta_auc": delta, "se": se_boot, "p_value": float(2 * norm.sf(abs(delta) / se_boot)),
             "peak_rss_mib": _peak_rss_mib(),
             "traced_mib": _traced_mib(lambda: _bootstrap(y, a, b, replicates=1, seed=1))}
    logger.info("bootstrap done")

    rows = [ours, floor, naive]
    for r in rows:
        r["seconds"] = round(r["seconds"], 3)
        r["delta_auc"] = round(float(r["delta_auc"]), 6)
        if "se" in r:
            r["se"] = float(f"{r['se']:.3g}")
            r["p_value"] = float(f"{r['p_value']:.3g}")
    speedup = round(boot_s / min(times), 1)
    payload = {"benchmark": "delong", "machine": machine(),
               "data": {"n": n, "positive_fraction": round(float(y.mean()), 4),
                        "distinct_scores_b": int(np.unique(b).size), "rss_after_data_mib": rss_data},
               "rows": rows, "speedup_vs_bootstrap": speedup,
               "se_ratio_bootstrap_over_delong": round(se_boot / res.se, 3),
               "targets": {"delong_test_1e6_s": TARGET_S}, "targets_met": ours["met"]}
    path = save("delong", payload)
    print(table(rows, ["case", "n", "seconds", "delta_auc", "se", "p_value", "peak_rss_mib", "traced_mib", "met"]))
    print(f"delong_test on {n:,} objects: {ours['seconds']} s (target <= {TARGET_S:.0f} s -> "
          f"{'met' if ours['met'] else 'NOT met'}); {speedup}x faster than the {replicates}-replicate bootstrap, "
          f"bootstrap SE / DeLong SE = {payload['se_ratio_bootstrap_over_delong']}")
    print(f"written {path}")
    return payload


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
