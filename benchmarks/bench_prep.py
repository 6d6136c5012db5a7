"""Benchmark `agnbench prep` on mock surveys.

- n = 3,000 (64x64 cutouts): wall time against the target (<= 60 s on 2 cores), and beside it the
  straightforward script a user would write (``_baseline_prep.py``: astropy reads, ``np.interp``
  onto the grid, everything held in lists and stacked at the end) on the same survey.
- n = 30,000 (``AGNBENCH_BENCH_PREP_LARGE``, default 30000; 0 skips it): peak memory of the whole
  process tree against the target (<= 2 GB): arrays are streamed shard by shard to disk.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from benchmarks._measure import machine, run_measured, save, table

HERE = Path(__file__).parent


def _simulate(n: int, out: str) -> None:
    run_measured([sys.executable, "-m", "agnbench", "simulate", "-q", "--n", str(n), "--seed", "0", "--out", out])


def main() -> dict:
    large = int(os.environ.get("AGNBENCH_BENCH_PREP_LARGE", "30000"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        _simulate(3000, f"{tmp}/raw3k")
        prep = [sys.executable, "-m", "agnbench", "prep", "-q", "--source", "mpajhu"]
        res = run_measured(prep + ["--raw", f"{tmp}/raw3k", "--out", f"{tmp}/store3k"])
        rows.append({"case": "agnbench prep n=3000 (all cores)", "n": 3000, **res})
        res = run_measured([sys.executable, str(HERE / "_baseline_prep.py"), f"{tmp}/raw3k"])
        rows.append({"case": "baseline script n=3000 (astropy, np.interp, in memory)", "n": 3000, **res})
        if large:
            _simulate(large, f"{tmp}/rawL")
            res = run_measured(prep + ["--raw", f"{tmp}/rawL", "--out", f"{tmp}/storeL"])
            rows.append({"case": f"agnbench prep n={large} (all cores)", "n": large, **res})
    for r in rows:
        r["galaxies_per_s"] = round(r["n"] / r["wall_s"], 1)
        r["wall_s"] = round(r["wall_s"], 1)
        r["peak_rss_mib"] = round(r["peak_rss_mib"])
    payload = {"benchmark": "prep", "machine": machine(), "rows": rows,
               "speedup_vs_baseline": round(rows[1]["wall_s"] / rows[0]["wall_s"], 2),
               "targets": {"wall_s_n3000": 60, "peak_rss_mib_n30000": 2048}}
    path = save("prep", payload)
    print(table(rows, ["case", "wall_s", "galaxies_per_s", "peak_rss_mib"]))
    print(f"speed-up vs baseline: {payload['speedup_vs_baseline']}x")
    print(f"written {path}")
    return payload


if __name__ == "__main__":
    main()
