"""Coverage of the seed-group interval (``compare.seeds: combined``) over more regimes than the test suite.

The planted-seed-effect simulation of ``tests/statistics/test_seed_intervals.py``: ``K`` seeds score ``n``
shared test objects with per-object metric contributions ``mu + a_i + d_s + e_si`` (object difficulty,
seed effect, seed x object), so the procedure's expected metric is ``mu`` (closed form). ``ratio`` is the
variance of the seed term of the seed mean (``tau^2 / K``) over that of its object term
(``(sa^2 + se^2 / K) / n``): 0 (no seed effect), 0.5, 1 and 4. For each (K, ratio), ``REPS`` repetitions
give the coverage of 95 % intervals for ``mu``:

* ``objects``: percentile interval of the seed-averaged object replicates (``combined`` before issue 17);
* ``plain``: two-stage bootstrap, mean over the drawn seeds (no variance correction);
* ``percentile``, ``bca``: agnbench's objects x seeds interval (:mod:`agnbench.bootstrap.seed_groups`);
* ``expected``: a normal interval with a Satterthwaite-df variance estimate, ``P(|t_nu| < 1.96)`` with
  ``nu = (K - 1) (1 + ratio)^2 / ratio^2``: what any interval built from K seeds can reach without a t
  correction.

``python -m benchmarks.bench_seed_intervals`` writes ``benchmarks/results/seed_intervals.json`` and prints
a table (about 1 minute on one core).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from agnbench.bootstrap.resample import bca_interval, percentile_interval
from agnbench.bootstrap.seed_groups import seed_draws, seed_mean_replicates
from benchmarks._measure import machine, save, table

LEVEL = 0.95
REPS, N, B, G = 2000, 120, 400, 40
MU, SA, SE = 0.3, 0.15, 0.1


def coverage(k: int, ratio: float, *, seed: int) -> dict[str, float]:
    """Coverage of each interval for ``K = k`` seeds at seed/object variance ``ratio``."""
    gen = np.random.default_rng(seed)
    tau = np.sqrt(ratio * k * (SA**2 + SE**2 / k) / N)
    hit = dict.fromkeys(("objects", "plain", "percentile", "bca"), 0)
    for chunk in range(0, REPS, 50):
        r = min(50, REPS - chunk)
        loss = MU + gen.normal(0, SA, (r, 1, N)) + gen.normal(0, tau, (r, k, 1)) + gen.normal(0, SE, (r, k, N))
        idx = gen.integers(0, N, (r * B, N)) + (np.arange(r * B) * N)[:, None]
        counts = np.bincount(idx.ravel(), minlength=r * B * N).reshape(r, B, N).astype(np.float64)
        reps = np.matmul(counts, loss.transpose(0, 2, 1)).transpose(0, 2, 1) / N
        keep = (gen.permutation(N) % G)[None, :] != np.arange(G)[:, None]
        jack = np.einsum("gn,rkn->rkg", keep.astype(float), loss) / keep.sum(1)
        draws = [seed_draws(k, n_boot=B, seed=seed, group=f"rep{chunk + j}") for j in range(r)]
        two = np.stack([seed_mean_replicates(reps[j], draws[j]) for j in range(r)])
        plain = np.stack([np.take_along_axis(reps[j], draws[j].T, axis=0).mean(axis=0) for j in range(r)])
        intervals = {"objects": percentile_interval(reps.mean(axis=1), confidence=LEVEL),
                     "plain": percentile_interval(plain, confidence=LEVEL),
                     "percentile": percentile_interval(two, confidence=LEVEL),
                     "bca": bca_interval(two, estimate=loss.mean(axis=(1, 2)), jackknife=jack.mean(axis=1),
                                         confidence=LEVEL)}
        for key, (lo, hi) in intervals.items():
            hit[key] += int(np.sum((lo <= MU) & (MU <= hi)))
    out = {key: round(v / REPS, 4) for key, v in hit.items()}
    nu = np.inf if ratio == 0 else (k - 1) * (1 + ratio) ** 2 / ratio**2
    out["expected"] = round(float(2 * student_t.cdf(norm.ppf(0.5 + LEVEL / 2), df=nu) - 1), 4)
    return out


def main() -> None:
    start = time.perf_counter()
    rows = []
    for k in (2, 3, 5, 10):
        for ratio in (0.0, 0.5, 1.0, 4.0):
            rows.append({"K": k, "ratio": ratio, **coverage(k, ratio, seed=1000 * k + int(10 * ratio))})
    mc = round(float(np.sqrt(LEVEL * (1 - LEVEL) / REPS)), 4)
    save("seed_intervals", {"machine": machine(), "level": LEVEL, "reps": REPS, "n": N, "n_boot": B,
                            "mc_standard_error": mc, "seconds": round(time.perf_counter() - start, 1), "rows": rows})
    print(f"95% coverage of mu, {REPS} repetitions each (Monte-Carlo standard error {mc}), n = {N}, B = {B}")
    print(table(rows, ["K", "ratio", "objects", "plain", "percentile", "bca", "expected"]))


if __name__ == "__main__":
    main()
