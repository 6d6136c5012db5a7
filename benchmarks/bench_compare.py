"""Benchmark the paired bootstrap of ``agnbench compare`` (target: <= 10 s and <= 2 GB on 2 cores).

Synthetic binary problem: 100,000 test objects (20% positives) and 3 runs of different skill.
(a) agnbench: :func:`agnbench.bootstrap.paired.paired_replicates` -- one shared resample matrix,
    2,000 replicates, all 9 scalar metrics plus precision/recall/F1 per class (15 per run) -- run in
    a child process so its peak memory (whole process tree) is its own.
(b) the simple approach: for each replicate, index the arrays and call scikit-learn's metric
    functions (10 metrics x 3 runs); timed on 10 replicates and scaled to 2,000 (stated as such).

``python -m benchmarks.bench_compare`` writes ``benchmarks/results/compare.json`` and prints a table.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from benchmarks._measure import machine, run_measured, save, table

N, N_BOOT, N_RUNS = 100_000, 2000, 3
TARGET_S, TARGET_MIB = 10.0, 2048.0
NAIVE_REPLICATES = 10

_CHILD = """
import sys, time
from benchmarks.bench_compare import problem
from agnbench.bootstrap.metrics import METRIC_NAMES, class_metric_names
from agnbench.bootstrap.paired import paired_replicates
y, proba, pred = problem()
start = time.perf_counter()
reps = paired_replicates(y, proba, pred, classes=("sf", "agn"), metrics=[*METRIC_NAMES, *class_metric_names(("sf", "agn"))],
                         n_boot={n_boot}, seed=0, stratify=True)
print(time.perf_counter() - start, file=sys.stderr)
"""


def problem(n: int = N, n_runs: int = N_RUNS, seed: int = 0):
    """y (n,), and per run: probabilities (n, 2) and decisions (n,)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.int64)
    proba, pred = {}, {}
    for r in range(n_runs):
        score = 1 / (1 + np.exp(-(1.0 + r) * (2 * y - 1) - rng.normal(0, 1.5, n)))
        proba[f"run{r}"] = np.column_stack([1 - score, score])
        pred[f"run{r}"] = (score > 0.5).astype(np.int64)
    return y, proba, pred


def _naive_seconds() -> float:
    from sklearn import metrics as skm

    y, proba, pred = problem()
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for _ in range(NAIVE_REPLICATES):
        idx = rng.integers(0, N, N)
        yb = y[idx]
        for run in proba:
            p, d = proba[run][idx], pred[run][idx]
            skm.accuracy_score(yb, d)
            skm.balanced_accuracy_score(yb, d)
            skm.f1_score(yb, d, average="macro")
            skm.matthews_corrcoef(yb, d)
            skm.roc_auc_score(yb, p[:, 1])
            skm.average_precision_score(yb, p[:, 1])
            skm.brier_score_loss(yb, p[:, 1])
            skm.log_loss(yb, p)
            skm.precision_score(yb, d)
            skm.recall_score(yb, d)
    return (time.perf_counter() - start) / NAIVE_REPLICATES * N_BOOT


def main() -> dict:
    m = run_measured([sys.executable, "-c", _CHILD.format(n_boot=N_BOOT)])
    naive = _naive_seconds()
    rows = [
        {"case": f"agnbench paired bootstrap ({N_RUNS} runs x 15 metrics x {N_BOOT} replicates, n={N:,})",
         "seconds": round(m["wall_s"], 2), "peak_rss_mib": round(m["peak_rss_mib"], 1), "target_s": TARGET_S,
         "target_mib": TARGET_MIB},
        {"case": f"simple: sklearn per replicate (10 metrics; {NAIVE_REPLICATES} replicates timed, scaled)",
         "seconds": round(naive, 1)},
    ]
    rows[0]["speedup_vs_simple"] = round(naive / m["wall_s"], 1)
    payload = {"machine": machine(), "n": N, "n_boot": N_BOOT, "runs": N_RUNS, "rows": rows,
               "note": "agnbench seconds include the child's Python start-up and imports (~1-2 s)"}
    save("compare", payload)
    print(table(rows, ["case", "seconds", "target_s", "peak_rss_mib", "target_mib", "speedup_vs_simple"]))
    return payload


if __name__ == "__main__":
    main()
