"""Benchmark ``agnbench run`` with the quick config from nothing (target: <= 10 min, <= 4 GB on 2 cores).

``--baseline REV`` also runs the code of git revision ``REV`` (exported with ``git archive`` into a
temporary directory, with that revision's own ``configs/quick.yaml``) in the same call, and prints
the seconds of every stage group (simulate, prep, catalog, spectra, images, compare, explain,
report) side by side with their ratio, so a speed-up is measured on one machine under one load.

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
import io
import os
import re
import shlex
import subprocess
import sys
import tarfile
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


REPO = Path(__file__).resolve().parent.parent
GROUPS = ("simulate", "prep", "catalog", "train spectra", "train images", "compare", "explain", "report")


def stage_group(stage: str) -> str:
    """The group of one stage row: ``catalog xgboost s1`` -> catalog, ``explain images-resnet18-s0`` -> explain."""
    name = re.sub(r"[ -]s\d+$", "", stage)
    for group in GROUPS:
        if name == group or name.startswith(group + " "):
            return group
    return name


def grouped(stages: list[dict]) -> dict[str, float]:
    """Seconds per stage group (the ``total`` row kept as is)."""
    out: dict[str, float] = {}
    for row in stages:
        key = "total" if row["stage"] == "total" else stage_group(row["stage"])
        out[key] = round(out.get(key, 0.0) + row["seconds"], 1)
    return out


def export_revision(rev: str, dest: Path) -> Path:
    """The tree of git revision ``rev`` of this repository, extracted into ``dest`` (no worktree registered)."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _run(workdir: Path, config: Path, *, code: Path | None = None) -> tuple[dict, list[dict], str]:
    out = workdir / "stdout.txt"
    env = f"PYTHONPATH={shlex.quote(str(code))} " if code is not None else ""
    cmd = ["bash", "-c", f"cd {shlex.quote(str(workdir))} && {env}{shlex.quote(sys.executable)} -m agnbench run "
                         f"--config {shlex.quote(str(config))} -q > {shlex.quote(str(out))}"]
    measured = run_measured(cmd)
    text = out.read_text() if out.exists() else ""
    return measured, _stages(text), text


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--keep", type=Path, help="run in this directory (kept) instead of a temporary one")
    parser.add_argument("--baseline", metavar="REV", help="also run git revision REV (its own quick config) first, "
                                                         "and print the stage groups side by side")
    args = parser.parse_args(argv if argv is not None else [])
    baseline = _baseline(args.baseline) if args.baseline else None
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
    if baseline is not None:
        now = grouped(stages)
        payload["baseline"] = baseline
        payload["groups"] = [{"group": g, f"{args.baseline} s": baseline["groups"].get(g, ""), "now s": now.get(g, ""),
                              "speed-up": round(baseline["groups"][g] / now[g], 2) if now.get(g) and
                              baseline["groups"].get(g) else ""} for g in (*GROUPS, "total")]
    save("run", payload)
    print(table(rows, ["case", "seconds", "peak_mib", "target", "met"]))
    print(table(stages, ["stage", "status", "seconds"]))
    if baseline is not None:
        print(f"baseline {args.baseline}: {baseline['wall_s']:.1f} s, peak {baseline['peak_rss_mib']:.0f} MiB")
        print(table(payload["groups"], ["group", f"{args.baseline} s", "now s", "speed-up"]))
    return payload


def _baseline(rev: str) -> dict:
    """``agnbench run`` of revision ``rev`` with its own quick config, from nothing, in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench_run_base_") as tmp:
        code = export_revision(rev, Path(tmp) / "code")
        work = Path(tmp) / "work"
        work.mkdir()
        measured, stages, _ = _run(work, code / "configs" / "quick.yaml", code=code)
    return {"rev": rev, "wall_s": round(measured["wall_s"], 1), "peak_rss_mib": round(measured["peak_rss_mib"]),
            "stages": stages, "groups": grouped(stages)}


if __name__ == "__main__":
    main(sys.argv[1:])
