"""Benchmark ``agnbench run`` with the quick config from nothing (target: <= 10 min, <= 4 GB on 2 cores).

In a fresh temporary directory, ``agnbench run --config configs/quick.yaml`` simulates the 3,000-galaxy
mock, preps it, trains xgboost / lightgbm / logreg and both deep tracks, compares, explains and
writes the report. Measured: wall seconds and the peak resident memory summed over the whole process
tree (:func:`benchmarks._measure.run_measured`), and the seconds of every stage as the command prints
them. Then the same command again: every stage must be skipped (the cost of resuming a finished run).
There is no simpler equivalent a user would write for the whole pipeline, so the second row is the
comparison: the cost of ``agnbench run`` when nothing is left to do.

``python -m benchmarks.bench_run`` writes ``benchmarks/results/run.json`` and prints two tables.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from benchmarks._measure import machine, run_measured, save, table

TARGET_S = 600.0
TARGET_MIB = 4096.0
CONFIG = Path(__file__).resolve().parent.parent / "configs" / "quick.yaml"


def _stages(stdout: str) -> list[dict[str, object]]:
    """The stage rows of ``agnbench run``'s table: name, status, seconds."""
    rows = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[-3] in ("done", "skipped"):
            rows.append({"stage": " ".join(parts[:-3]), "status": parts[-3], "seconds": float(parts[-2])})
    return rows


def _run(workdir: Path, config: Path) -> tuple[dict, list[dict], str]:
    out = workdir / "stdout.txt"
    cmd = ["bash", "-c", f"cd {shlex.quote(str(workdir))} && {shlex.quote(sys.executable)} -m agnbench run "
                         f"--config {shlex.quote(str(config))} -q > {shlex.quote(str(out))}"]
    measured = run_measured(cmd)
    text = out.read_text() if out.exists() else ""
    return measured, _stages(text), text


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--keep", type=Path, help="run in this directory (kept) instead of a temporary one")
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        load0 = os.getloadavg()[0]
        first, stages, text = _run(workdir, args.config.resolve())
        again, stages_again, _ = _run(workdir, args.config.resolve())
        report = text.strip().splitlines()[-1] if text.strip() else ""
        ok = bool(report) and (workdir / report / "report.html").exists()
    rows = [
        {"case": "agnbench run (from nothing)", "seconds": round(first["wall_s"], 1),
         "peak_mib": round(first["peak_rss_mib"]), "target": f"<= {TARGET_S:.0f} s, <= {TARGET_MIB:.0f} MiB",
         "met": first["wall_s"] <= TARGET_S and first["peak_rss_mib"] <= TARGET_MIB and ok},
        {"case": "agnbench run again (all skipped)", "seconds": round(again["wall_s"], 1),
         "peak_mib": round(again["peak_rss_mib"]), "target": "every stage skipped",
         "met": all(s["status"] == "skipped" for s in stages_again if s["stage"] != "total")},
    ]
    payload = {"benchmark": "run", "machine": machine(), "config": str(args.config), "report_written": ok,
               "load_average_1min": {"start": load0, "end": os.getloadavg()[0]}, "rows": rows, "stages": stages,
               "ratio_rerun_vs_first": round(again["wall_s"] / max(first["wall_s"], 1e-9), 4)}
    save("run", payload)
    print(table(rows, ["case", "seconds", "peak_mib", "target", "met"]))
    print(table(stages, ["stage", "status", "seconds"]))
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
