"""Benchmark image ingestion: 3,000 mock 64x64 grz cutouts (target >= 1,500 files/s on 2 cores).

``agnbench.data_prep.ingest.images.ingest_cutouts`` over shards of 512 files in a 2-process pool, and on
one process, against the simple approach a user would otherwise write: a loop of astropy
``fits.getdata`` + per-image min-max normalisation into one array (one process). Each case runs
in its own Python process so that its peak resident memory (process tree, workers included) is
measured alone; files/s is timed inside the process around the work (imports and the writing of
the files excluded; pool start-up and shipping the shards back included), best of 3, on a warm
page cache.

Usage: ``python -m benchmarks.bench_images`` (writes ``benchmarks/results/images.json``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks._measure import machine, run_measured, save, table

log = logging.getLogger(__name__)
SHARD = 512
REPEATS = 3  # best of, in one process (the machine is shared; the minimum is the least disturbed)


def write_cutouts(out: Path, *, n: int, size: int, seed: int = 0) -> list[Path]:
    """Write ``n`` mock grz cutouts (a Gaussian blob + sky noise, nanomaggies) with CutoutWriter."""
    from agnbench.data_prep.formats.sdss_files import CutoutWriter

    rng = np.random.default_rng(seed)
    writer, paths = CutoutWriter(), []
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        r2 = (yy**2 + xx**2) / rng.uniform(2, 6) ** 2
        sed = rng.uniform(0.5, 3.0, 3)[:, None, None]
        image = sed * np.exp(-0.5 * r2) + rng.normal(0, 0.01, (3, size, size)) * np.array([1, 1.5, 4])[:, None, None]
        path = out / f"{i:06d}.fits"
        path.write_bytes(writer.to_bytes(image.astype(np.float32), ra=150.0 + i * 1e-3, dec=2.0, pixel_scale=0.262))
        paths.append(path)
    return paths


def _ingest_shard(items: list[tuple[str, str]], size: int):
    from agnbench.data_prep.ingest.images import ingest_cutouts

    return ingest_cutouts(items, size=size, bands="grz", source="fits")


def _count_shard(items: list[tuple[str, str]], size: int) -> int:
    """Diagnostic: ingest a shard but send back only the ok count (no 25 MB float32 pickle)."""
    return int(_ingest_shard(items, size).ok.sum())


def _run_ingest(paths: list[str], size: int, workers: int, *, ship: bool = True) -> dict:
    """Ingest every file in shards of SHARD (``workers`` processes; 0 = in this process)."""
    items = [(Path(p).stem, p) for p in paths]
    shards = [items[i : i + SHARD] for i in range(0, len(items), SHARD)]
    images = np.zeros((len(items), 3, size, size), dtype=np.float32)
    start = time.perf_counter()
    if not ship:
        with ProcessPoolExecutor(workers) as pool:
            n_ok = sum(pool.map(_count_shard, shards, [size] * len(shards)))
        return {"work_s": time.perf_counter() - start, "n_ok": n_ok, "checksum": None}
    if workers:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_ingest_shard, shards, [size] * len(shards)))
    else:
        results = [_ingest_shard(s, size) for s in shards]
    for k, res in enumerate(results):
        images[k * SHARD : k * SHARD + len(res.ok)] = res.images
    wall = time.perf_counter() - start
    n_ok = sum(int(r.ok.sum()) for r in results)
    return {"work_s": wall, "n_ok": n_ok, "checksum": float(images.sum(dtype=np.float64))}


def _run_baseline(paths: list[str], size: int) -> dict:
    """The simple approach: astropy ``fits.getdata`` per file + per-image, per-band min-max."""
    from astropy.io import fits

    images = np.zeros((len(paths), 3, size, size), dtype=np.float32)
    start = time.perf_counter()
    for i, p in enumerate(paths):
        data = fits.getdata(p).astype(np.float32)
        lo = data.min(axis=(1, 2), keepdims=True)
        images[i] = (data - lo) / (data.max(axis=(1, 2), keepdims=True) - lo)
    return {"work_s": time.perf_counter() - start, "n_ok": len(paths), "checksum": float(images.sum(dtype=np.float64))}


def _child(argv: list[str]) -> None:
    """Entry of a measured process: ``MODE LIST_FILE SIZE RESULT_JSON``."""
    mode, list_file, size, result = argv[0], argv[1], int(argv[2]), argv[3]
    paths = Path(list_file).read_text().split()
    if mode != "baseline":
        import agnbench.data_prep.ingest.images  # noqa: F401  (imported once, as in `agnbench prep`; fork inherits it)
    runs = [_run_baseline(paths, size) if mode == "baseline"
            else _run_ingest(paths, size, workers=int(mode[6]), ship=not mode.endswith("-noship"))
            for _ in range(REPEATS)]
    best = min(runs, key=lambda r: r["work_s"])
    Path(result).write_text(json.dumps({**best, "all_work_s": [r["work_s"] for r in runs]}))


def main(*, n: int = 3000, size: int = 64) -> dict:
    """Run the benchmark, save ``benchmarks/results/images.json`` and print the table."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_cutouts(Path(tmp) / "images", n=n, size=size)
        list_file = Path(tmp) / "files.txt"
        list_file.write_text("\n".join(map(str, paths)))
        for p in paths:  # warm the page cache
            p.read_bytes()
        cases = [("ingest2", "agnbench ingest_cutouts, 2 processes, shards of 512"),
                 ("ingest0", "agnbench ingest_cutouts, 1 process"),
                 ("baseline", "baseline: astropy getdata + min-max loop, 1 process"),
                 ("ingest2-noship", "diagnostic: 2 processes, shards not sent back")]
        for mode, label in cases:
            result = Path(tmp) / f"{mode}.json"
            measured = run_measured([sys.executable, "-m", "benchmarks.bench_images", "--child", mode,
                                     str(list_file), str(size), str(result)])
            inner = json.loads(result.read_text())
            rows.append({"case": label, "n": n, "n_ok": inner["n_ok"], "work_s": round(inner["work_s"], 3),
                         "all_work_s": [round(t, 3) for t in inner["all_work_s"]],
                         "files_per_s": round(n / inner["work_s"]), "process_wall_s": round(measured["wall_s"], 2),
                         "peak_rss_mib": round(measured["peak_rss_mib"])})
    ratio = round(rows[0]["files_per_s"] / rows[2]["files_per_s"], 2)
    per_process = round(rows[1]["files_per_s"] / rows[2]["files_per_s"], 2)
    payload = {"benchmark": "images", "machine": machine(), "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
               "n_files": n, "size": size, "shard": SHARD,
               "rows": rows, "speedup_vs_baseline": ratio, "speedup_vs_baseline_one_process": per_process,
               "targets": {"files_per_s": 1500}}
    path = save("images", payload)
    print(table(rows, ["case", "n_ok", "work_s", "files_per_s", "process_wall_s", "peak_rss_mib"]))
    print(f"speed-up vs baseline: {ratio}x (2 processes), {per_process}x (1 process)")
    print(f"target >= 1500 files/s on 2 cores -> {'met' if rows[0]['files_per_s'] >= 1500 else 'NOT met'}")
    print(f"written {path}")
    return payload


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        logging.basicConfig(level=logging.INFO)
        main()
