"""Coverage of the comparison's calibration intervals on simulated test splits with a known calibration error.

A model reports ``p = sigmoid(x)``, ``x ~ N(-1.5, 1.8)``, and the truth is ``P(y = 1) = sigmoid(a + b x)``
(tests/statistics/calibration_sim.py; population values by quadrature). For each regime, ``R`` test splits
of ``n = 362`` objects; on each, :func:`~agnbench.bootstrap.paired.paired_replicates` (``B`` replicates, as
``agnbench compare``) and the 95 % percentile interval (the default ``lo``/``hi`` of ``summary.csv``). The
table gives the fraction of splits whose interval covers the population value, its Monte-Carlo standard
error ``sqrt(c (1 - c) / R)``, and Spiegelhalter's test's rejection rate at 0.05 (2000 splits per regime).

``python -m benchmarks.bench_calibration_coverage [R] [B]`` (default 1000 1000) writes
``benchmarks/results/calibration_coverage.json`` and prints a table.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.special import expit

from agnbench.bootstrap.calibration import spiegelhalter_test
from benchmarks._measure import machine, save, table
from tests.statistics.calibration_sim import METRICS, coverage, truth

N = 362
REGIMES = (  # (label, a, b, stratify)
    ("calibrated (a=0, b=1)", 0.0, 1.0, True),
    ("under-confident (a=0.5, b=1.5)", 0.5, 1.5, True),
    ("under-confident (a=0.5, b=1.5), unstratified", 0.5, 1.5, False),
    ("over-confident (a=0.3, b=0.7)", 0.3, 0.7, True),
)


def _spiegelhalter_rejection(a: float, b: float, reps: int = 2000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    x = rng.normal(-1.5, 1.8, (reps, N))
    y = (rng.random((reps, N)) < expit(a + b * x)).astype(np.float64)
    p = np.array([spiegelhalter_test(y[r], expit(x[r]))[1] for r in range(reps)])
    return float(np.mean(p < 0.05))


def main(reps: int = 1000, n_boot: int = 1000) -> dict:
    rows = []
    for i, (label, a, b, stratify) in enumerate(REGIMES):
        start = time.perf_counter()
        cov = coverage(a, b, n=N, reps=reps, n_boot=n_boot, seed=100 + i, stratify=stratify)
        target = truth(a, b)
        for m in METRICS:
            rows.append({"regime": label, "metric": m, "true_value": round(target[m], 4), "coverage": round(cov[m], 3),
                         "mc_se": round(float(np.sqrt(cov[m] * (1 - cov[m]) / reps)), 3)})
        rows.append({"regime": label, "metric": "spiegelhalter p<0.05", "true_value": "",
                     "coverage": round(_spiegelhalter_rejection(a, b, seed=i), 3), "mc_se": ""})
        print(f"{label}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    payload = {"machine": machine(), "n": N, "repetitions": reps, "n_boot": n_boot, "level": 0.95,
               "interval": "percentile of paired_replicates (summary.csv lo/hi with compare.ci: percentile)",
               "rows": rows,
               "note": "coverage: fraction of simulated splits whose interval covers the population value; for "
                       "'spiegelhalter p<0.05' the column is the rejection rate (size under calibration, power "
                       "otherwise)"}
    save("calibration_coverage", payload)
    print(table(rows, ["regime", "metric", "true_value", "coverage", "mc_se"]))
    return payload


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
