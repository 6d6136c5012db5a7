"""Benchmark ``agnbench report``: this code (figures rendered by worker processes) against a git revision's.

One comparison is reported on again and again, each time from a fresh copy (without ``report/``): by the code
of git revision ``--baseline`` (default ``main``; exported with ``git archive``, its own defaults: the current
approach), and by this code with ``report.workers=1`` (serial) and with ``report.workers=0`` (every usable
core), each ``--repeats`` times, in turns, in the same call, so that all variants see the same machine load.
Measured: wall seconds and peak resident memory of the whole process tree
(:func:`benchmarks._measure.run_measured`), CPU seconds of all its processes, the figures written, the font
subsets embedded per PDF. Checked: this code's figure files are the same bytes with one worker and with several;
each PDF shows the same characters in the same font families as the baseline's (read from the PDFs' ToUnicode
maps); how many PNGs are the baseline's byte for byte, and the largest change of a PNG's size in pixels (the PNG
now keeps the PDF's constrained layout instead of solving it again, which moves things by a pixel or two).

The comparison: ``--comparison DIR`` (e.g. ``comparisons/data-s0`` of the quick run), else a small one built once
with ``agnbench run`` (the quick pipeline on an 800-galaxy mock, two seeds: every kind of figure, about 80 of
them) under ``--work`` (default ``/tmp/agnbench-bench-report``) and reused by later calls.

``python -m benchmarks.bench_report [--comparison DIR] [--baseline REV] [--repeats N]`` writes
``benchmarks/results/report.json`` and prints one table with the speed-up against the baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import yaml

from benchmarks._measure import machine, run_measured, save, table
from benchmarks.bench_run import export_revision

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.gettempdir()) / "agnbench-bench-report"
#: The pipeline that makes the default comparison (the quick config's stages on a small mock).
SMALL = {
    "seed": 1, "seeds": 2,
    "simulate": {"n": 800, "image_size": 32}, "prep": {"image_size": 32},
    "spectra": {"epochs": 2, "patience": 2}, "images": {"epochs": 1, "patience": 1},
    "compare": {"n_boot": 200, "subgroup_boot": 100},
    "explain": {"n": 30, "max_interactions": 10, "permutation_repeats": 1},
    "report": {"curve_boot": 100, "mistakes": 4},
}


def small_comparison(work: Path) -> Path:
    """The comparison of :data:`SMALL`, built under ``work`` by ``agnbench run`` (finished stages are reused)."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "small.yaml"
    paths = {k: str(work / k) for k in ("raw", "data", "runs", "comparisons")}
    config.write_text(yaml.safe_dump({**SMALL, "paths": paths}))
    cmd = [sys.executable, "-m", "agnbench", "run", "--config", str(config), "-q"]
    subprocess.run(cmd, check=True, cwd=work, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    return work / "comparisons" / f"data-s{SMALL['seed']}"


def fresh_copy(comparison: Path, dest: Path) -> Path:
    """``comparison`` copied to ``dest`` without its report (the runs it names are shared, read only)."""
    shutil.copytree(comparison, dest, ignore=shutil.ignore_patterns("report", ".report*"))
    return dest


def report_once(comparison: Path, *, code: Path, overrides: list[str]) -> dict:
    """Wall seconds, CPU seconds (all processes) and peak MiB of ``agnbench report`` (the code at ``code``)."""
    sets = " ".join(f"--set {shlex.quote(o)}" for o in overrides)
    cmd = ["bash", "-c", f"cd {shlex.quote(str(comparison.parent))} && PYTHONPATH={shlex.quote(str(code))} "
                         f"AGNBENCH_MAX_THREADS=1 {shlex.quote(sys.executable)} -m agnbench report "
                         f"{shlex.quote(str(comparison))} {sets} -q > /dev/null"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = run_measured(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the report and its workers, all waited for
    out["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return out


def png_differences(base: Path, new: Path) -> dict[str, object]:
    """How this code's PNGs differ from the baseline's: identical files, and the largest change of size (px)."""
    from PIL import Image

    same, grown = 0, 0
    for png in sorted(base.glob("*.png")):
        other = new / png.name
        if png.read_bytes() == other.read_bytes():
            same += 1
            continue
        (w0, h0), (w1, h1) = Image.open(png).size, Image.open(other).size
        grown = max(grown, abs(w1 - w0), abs(h1 - h0))
    return {"identical": f"{same}/{len(list(base.glob('*.png')))}", "max_size_change_px": grown}


def digests(figures: Path) -> dict[str, str]:
    """sha256 of every file in ``figures``, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(figures.iterdir()) if p.is_file()}


_OBJECT = re.compile(rb"(?m)^(\d+) 0 obj\s*(.*?)endobj", re.S)
_TYPE0 = re.compile(rb"/BaseFont\s*/[A-Z]{6}\+([^\s/\[\]<>()]+).*?/ToUnicode\s+(\d+) 0 R", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*)\r?\nendstream", re.S)


def pdf_fonts(pdf: bytes) -> dict[str, object]:
    """The fonts a PDF embeds: how many subsets, and per font family every character its ToUnicode maps show."""
    objects = {int(m.group(1)): m.group(2) for m in _OBJECT.finditer(pdf)}
    shown: dict[str, set[str]] = {}
    subsets = 0
    for body in objects.values():
        if b"/Type0" not in body:
            continue
        for family, ref in _TYPE0.findall(body):
            subsets += 1
            stream = _STREAM.search(objects.get(int(ref), b""))
            cmap = zlib.decompress(stream.group(1)) if stream else b""
            chars = shown.setdefault(family.decode(), set())
            for values in re.findall(rb"\[([^\]]*)\]", cmap.split(b"beginbfrange", 1)[-1]):
                chars.update(bytes.fromhex(h.decode()).decode("utf-16-be", "replace")
                             for h in re.findall(rb"<([0-9A-Fa-f]+)>", values))
    return {"subsets": subsets, "shown": {k: "".join(sorted(v)) for k, v in sorted(shown.items())}}


def _figure_facts(figures: Path) -> dict[str, dict]:
    return {p.stem: pdf_fonts(p.read_bytes()) for p in sorted(figures.glob("*.pdf"))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparison", type=Path, help="a comparison to report on (default: a small one, built once)")
    parser.add_argument("--work", type=Path, default=WORK, help="where the default comparison is built and kept")
    parser.add_argument("--baseline", metavar="REV", default="main", help="git revision of the current approach")
    parser.add_argument("--repeats", type=int, default=2, help="reports per variant (best and all are recorded)")
    args = parser.parse_args(argv if argv is not None else [])
    comparison = (args.comparison or small_comparison(args.work)).resolve()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        tmp = Path(tmp)
        base_code = export_revision(args.baseline, tmp / "baseline-code")
        variants = [(f"{args.baseline} (current)", base_code, []),
                    ("this code, workers=1", REPO, ["report.workers=1"]),
                    (f"this code, workers=0 ({cores} cores)", REPO, ["report.workers=0"])]
        times: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
        figures: dict[str, Path] = {}
        load0 = os.getloadavg()[0]
        for i in range(args.repeats):
            for k, (name, code, overrides) in enumerate(variants):
                copy = fresh_copy(comparison, tmp / f"cmp-{k}-{i}")
                times[name].append(report_once(copy, code=code, overrides=overrides))
                figures[name] = copy / "report" / "figures"
        load1 = os.getloadavg()[0]
        (base, _, _), (serial, _, _), (parallel, _, _) = variants
        sums = {name: digests(path) for name, path in figures.items()}
        facts = {name: _figure_facts(path) for name, path in figures.items()}
        pngs = png_differences(figures[base], figures[parallel])
    same_content = all(facts[parallel].get(stem, {}).get("shown") == f["shown"] for stem, f in facts[base].items())
    best0 = min(t["wall_s"] for t in times[base])
    rows = []
    for name, _, _ in variants:
        walls, cpus = [t["wall_s"] for t in times[name]], [t["cpu_s"] for t in times[name]]
        subsets = [f["subsets"] for f in facts[name].values()]
        rows.append({"variant": name, "best_s": round(min(walls), 1), "runs_s": " ".join(f"{w:.1f}" for w in walls),
                     "cpu_s": " ".join(f"{c:.1f}" for c in cpus),
                     "peak_mib": round(max(t["peak_rss_mib"] for t in times[name])),
                     "figures": len(facts[name]), "fonts_per_pdf": round(statistics.mean(subsets), 2) if subsets else 0,
                     "max_fonts": max(subsets, default=0), "speed_up": round(best0 / min(walls), 2)})
    checks = {
        "same_bytes_workers_1_vs_all": sums[serial] == sums[parallel],
        "same_figure_names": set(sums[base]) == set(sums[parallel]),
        "pdf_same_characters_per_font_family_as_baseline": same_content,
        "png_identical_to_baseline": pngs["identical"],
        "png_largest_size_change_px": pngs["max_size_change_px"],
    }
    payload = {"benchmark": "report", "machine": machine(), "comparison": str(comparison), "baseline": args.baseline,
               "repeats": args.repeats, "load_average_1min": {"start": load0, "end": load1}, "rows": rows,
               "checks": checks, "times": times}
    save("report", payload)
    print(table(rows, ["variant", "best_s", "runs_s", "cpu_s", "peak_mib", "figures", "fonts_per_pdf", "max_fonts",
                       "speed_up"]))
    print(table([{"check": k, "ok": v} for k, v in checks.items()], ["check", "ok"]))
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
