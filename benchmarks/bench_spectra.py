"""Benchmark spectra ingestion: 2,000 mock spec-lite files onto the rest-frame grid (target >= 500 files/s, 2 cores).

(a) :func:`agnbench.data_prep.ingest.spectra.ingest_spectra` in shards of 256 over a 2-process pool (and in one
process, for reference); (b) the simple approach a user would otherwise write: per file
``astropy.table.Table.read(path, hdu=1)`` + ``fits.getdata(path, 2)``, in one process. Each case runs
in a child process after the disk cache is warmed; the child reports its own loop time (so interpreter
start-up and imports are not counted) and the parent samples the peak RSS of the child's process tree.

``python -m benchmarks.bench_spectra`` writes ``benchmarks/results/spectra.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from benchmarks._measure import _tree_rss, machine, save, table

TARGET_FILES_PER_S = 500


def _items(survey: Path) -> list[tuple[str, str, float]]:
    """(object_id, path, catalog z) of every spectrum, from the catalog alone."""
    from agnbench.data_prep.formats.fastfits import read_bintable
    from agnbench.data_prep.formats.sdss_files import spec_filename

    cat = read_bintable(survey / "catalog" / "galSpecInfo.fits", 1, ["SPECOBJID", "PLATEID", "MJD", "FIBERID", "Z"])
    return [(str(oid).strip(), str(survey / "spectra" / f"{p:04d}" / spec_filename(int(p), int(m), int(f))), float(z))
            for oid, p, m, f, z in zip(cat["SPECOBJID"], cat["PLATEID"], cat["MJD"], cat["FIBERID"], cat["Z"])]


def _child_ingest(items: list, *, workers: int, shard: int) -> dict:
    from agnbench.config.core import PrepConfig
    from agnbench.data_prep.ingest.spectra import ingest_spectra, rest_grid

    prep = PrepConfig()
    grid = rest_grid(wave_min=prep.wave_min, wave_max=prep.wave_max, dloglam=prep.dloglam)
    run = partial(ingest_spectra, loglam=grid, norm_window=(prep.norm_wave_min, prep.norm_wave_max),
                  mask_lines=prep.mask_lines, max_uncovered=prep.max_uncovered)
    shards = [items[i : i + shard] for i in range(0, len(items), shard)]
    start = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, shards))
    else:
        results = [run(s) for s in shards]
    seconds = time.perf_counter() - start
    return {"files": len(items), "seconds": seconds, "ok": int(sum(r.ok.sum() for r in results)),
            "n_pix": int(grid.size)}


def _child_astropy(items: list) -> dict:
    import warnings

    from astropy.io import fits
    from astropy.table import Table

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, path, _ in items:
            Table.read(path, hdu=1)
            fits.getdata(path, 2)
    return {"files": len(items), "seconds": time.perf_counter() - start}


def _measured(args: list[str], *, poll: float = 0.05) -> dict:
    """Run this module as a child with ``args``; its JSON report plus the peak RSS (MiB) of its tree."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_spectra", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(poll)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench_spectra {' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    return {**report, "peak_rss_mib": peak / 2**20}


def main(*, n: int = 2000, shard: int = 256, n_baseline: int = 2000) -> dict:
    from agnbench.config.core import load_config
    from agnbench.data_prep.mock.simulate import simulate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        survey = simulate(load_config(overrides=[f"simulate.n={n}", "simulate.image_size=16"]), Path(tmp) / "s",
                          progress=False)
        items = _items(survey)
        items_file = Path(tmp) / "items.json"
        items_file.write_text(json.dumps(items))
        for _, path, _ in items:  # warm the disk cache
            Path(path).read_bytes()
        for workers in (2, 1):
            r = _measured(["ingest", str(items_file), "--workers", str(workers), "--shard", str(shard)])
            rows.append({"case": f"ingest_spectra, shards of {shard}, {workers} process(es)", **r})
        r = _measured(["astropy", str(items_file), "--limit", str(n_baseline)])
        rows.append({"case": "baseline: astropy Table.read(hdu=1) + getdata(hdu=2), 1 process", **r})
    for r in rows:
        r["files_per_s"] = round(r["files"] / r["seconds"], 1)
        r["seconds"] = round(r["seconds"], 2)
        r["peak_rss_mib"] = round(r["peak_rss_mib"])
    ratio = round(rows[0]["files_per_s"] / rows[2]["files_per_s"], 1)
    payload = {"benchmark": "spectra", "machine": machine(), "n_files": n, "shard": shard, "rows": rows,
               "speedup_vs_baseline": ratio, "targets": {"files_per_s_2_cores": TARGET_FILES_PER_S}}
    path = save("spectra", payload)
    print(table(rows, ["case", "files", "seconds", "files_per_s", "peak_rss_mib"]))
    met = "met" if rows[0]["files_per_s"] >= TARGET_FILES_PER_S else "NOT met"
    print(f"speed-up vs baseline: {ratio}x; target >= {TARGET_FILES_PER_S} files/s on 2 cores -> {met}")
    print(f"written {path}")
    return payload


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench_spectra")
    parser.add_argument("mode", choices=("ingest", "astropy"))
    parser.add_argument("items", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard", type=int, default=256)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    items = [tuple(i) for i in json.loads(args.items.read_text())][: args.limit]
    report = (_child_ingest(items, workers=args.workers, shard=args.shard) if args.mode == "ingest"
              else _child_astropy(items))
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        _child(sys.argv[1:])
    else:
        main()
