"""Benchmark `agnbench simulate`: the 3,000-galaxy survey (target <= 60 s, <= 2 GB on 2 cores).

Beside it, on the same 1,000-galaxy survey, the simple approach a user would otherwise write:
one process writing every spec-lite and cutout file with astropy's HDU writers
(``benchmarks/_baseline_simulate.py``). Both produce byte-identical files.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks._measure import machine, run_measured, save, table

HERE = Path(__file__).parent


def main(*, n: int = 3000, n_compare: int = 1000) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cli = [sys.executable, "-m", "agnbench", "simulate", "-q", "--seed", "0", "--image-size", "64"]
        headline = run_measured(cli + ["--n", str(n), "--out", f"{tmp}/full"])
        rows.append({"case": f"agnbench simulate n={n} (all cores)", "n": n, **headline})
        fast = run_measured(cli + ["--n", str(n_compare), "--out", f"{tmp}/fast"])
        rows.append({"case": f"agnbench simulate n={n_compare} (all cores)", "n": n_compare, **fast})
        base = run_measured([sys.executable, str(HERE / "_baseline_simulate.py"), str(n_compare), f"{tmp}/base"])
        rows.append({"case": f"baseline: astropy writers, 1 process, n={n_compare}", "n": n_compare, **base})
        same = sorted(p.read_bytes() == (Path(f"{tmp}/base") / p.relative_to(f"{tmp}/fast")).read_bytes()
                      for p in Path(f"{tmp}/fast").rglob("*.fits"))
    for r in rows:
        r["galaxies_per_s"] = round(r["n"] / r["wall_s"], 1)
        r["wall_s"] = round(r["wall_s"], 1)
        r["peak_rss_mib"] = round(r["peak_rss_mib"])
    speedup = round(rows[2]["wall_s"] / rows[1]["wall_s"], 2)
    payload = {"benchmark": "simulate", "machine": machine(), "rows": rows, "speedup_vs_baseline": speedup,
               "fits_files_identical_to_baseline": bool(same) and all(same),
               "targets": {"wall_s_n3000": 60, "peak_rss_mib": 2048}}
    path = save("simulate", payload)
    print(table(rows, ["case", "wall_s", "galaxies_per_s", "peak_rss_mib"]))
    print(f"speed-up vs baseline: {speedup}x; FITS files identical: {payload['fits_files_identical_to_baseline']}")
    print(f"targets: n=3000 <= 60 s and <= 2048 MiB -> "
          f"{'met' if rows[0]['wall_s'] <= 60 and rows[0]['peak_rss_mib'] <= 2048 else 'NOT met'}")
    print(f"written {path}")
    return payload


if __name__ == "__main__":
    main()
