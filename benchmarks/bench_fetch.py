"""Benchmark ``agnbench fetch``: 1,000 small cutouts from a loopback HTTP server, concurrency 4 (target <= 20 s).

Set-up: a synthetic MPA-JHU catalog (galSpecInfo + galSpecExtra, 1,000 galaxies passing the cuts) and
1,000 Legacy-Survey-format grz FITS cutouts of 3x32x32 float32 (17,280 bytes each), served by
``http.server.ThreadingHTTPServer`` (HTTP/1.1, keep-alive, TCP_NODELAY as production servers set it: without
it Python's server sends headers and body in two segments and every keep-alive response stalls 40 ms on
the client's delayed ACK, which would time the server, not the client) in a separate process on
127.0.0.1, so the client's CPU time (``time.process_time`` of this process) is the client's own. Cases,
in one run:

(a) ``agnbench.data_prep.fetch.download.fetch(what="images")`` with 4 connections and no pause between requests:
    the full path (selection, streaming to a temporary file with SHA-256, FITS validation, rename, the
    manifest journal, progress accounting);
(b) the same with the polite default pause (``fetch.delay_s`` = 0.05 s per connection);
(c) re-running (a) on the finished tree: every file re-hashed and re-validated, nothing downloaded;
(d) the simple approach a user would write: a sequential ``urllib.request.urlretrieve`` loop (no
    validation, no retries, no atomic rename, no manifest);
(e), (f) (a) and (d) again with a 10 ms pause in the server before each answer, standing in for the
    network and for a cutout service that renders each image: what concurrency is for.

Reported: seconds, files/s, MB/s, client CPU ms per file (the overhead next to the network), the peak
RSS of this process so far and the Python heap peak of the call (``tracemalloc``, in a separate, untimed
repeat for (a) and (d)). Speed-ups are (d) / (a) and (f) / (e) wall time.

``python -m benchmarks.bench_fetch`` writes ``benchmarks/results/fetch.json`` and prints a table.
"""

from __future__ import annotations

import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._measure import machine, save, table

log = logging.getLogger(__name__)
TARGET_S = 20.0
SIZE = 32
LATENCY_S = 0.01
_SERVER = """
import functools, socket, sys, time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
class H(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(LATENCY)
            self.path = self.path[5:]
        super().do_GET()
    def log_message(self, *a):
        pass
LATENCY = float(sys.argv[2])
srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(H, directory=sys.argv[1]))
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def make_survey(root: Path, *, n: int, seed: int = 0) -> tuple[Path, list[str]]:
    """Write the served tree (``root/www``) and return it with the cutout URL paths."""
    from agnbench.data_prep.formats.sdss_files import CutoutWriter, write_table_fits

    rng = np.random.default_rng(seed)
    www = root / "www"
    (www / "sas").mkdir(parents=True)
    (www / "ls").mkdir()
    plate, fiber = 300 + np.arange(n) // 640, 1 + np.arange(n) % 640
    mjd = np.full(n, 51600)
    ids = [str((int(p) << 50) | (int(f) << 38) | ((51600 - 50000) << 24) | (26 << 10)) for p, f in zip(plate, fiber)]
    ra, dec = 150.0 + rng.uniform(0, 10, n), rng.uniform(-5, 5, n)
    info = pd.DataFrame({"SPECOBJID": ids, "PLATEID": plate, "MJD": mjd, "FIBERID": fiber, "RA": ra, "DEC": dec,
                         "Z": rng.uniform(0.03, 0.15, n), "Z_WARNING": np.zeros(n, int), "RELIABLE": np.ones(n, int),
                         "SPECTROTYPE": ["GALAXY"] * n})
    write_table_fits(www / "sas" / "galSpecInfo-dr8.fits", info, extname="INFO")
    extra = pd.DataFrame({"SPECOBJID": ids, "BPTCLASS": rng.choice([1, 3, 4], n)})
    write_table_fits(www / "sas" / "galSpecExtra-dr8.fits", extra, extname="EXTRA")
    writer, paths = CutoutWriter(), []
    for r, d in zip(ra, dec):
        image = rng.normal(1.0, 0.1, (3, SIZE, SIZE)).astype(np.float32)
        name = f"{r:.6f}_{d:.6f}.fits"
        (www / "ls" / name).write_bytes(writer.to_bytes(image, ra=float(r), dec=float(d), pixel_scale=0.262))
        paths.append(f"/ls/{name}")
    return www, paths


def _config(port: int, **extra: object):
    from agnbench.config.core import load_config

    base = f"http://127.0.0.1:{port}"
    sets = {"fetch.sas_base": base, "fetch.legacy_base": base, "fetch.allowed_hosts": "[127.0.0.1]",
            "fetch.https_only": "false", "fetch.catalog_url": "{sas_base}/sas/{name}",
            "fetch.catalog_files": "[galSpecInfo-dr8.fits, galSpecExtra-dr8.fits]",
            "fetch.cutout_url": "{legacy_base}/ls/{ra:.6f}_{dec:.6f}.fits", "fetch.size": SIZE,
            "fetch.concurrency": 4, **extra}
    return load_config(overrides=[f"{k}={v}" for k, v in sets.items()])


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timed(label: str, fn, n_files: int) -> dict:
    cpu, start = time.process_time(), time.perf_counter()
    nbytes = fn()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"case": label, "files": n_files, "seconds": round(wall, 3), "files_per_s": round(n_files / wall, 1),
            "mb_per_s": round(nbytes / 1e6 / wall, 2), "client_cpu_ms_per_file": round(1e3 * cpu / n_files, 3),
            "peak_rss_mib": _peak_rss_mib()}


def _traced_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()


def main(*, n: int = 1000) -> dict:
    """Run every case; save ``fetch.json``, print the table, return the payload."""
    from agnbench.data_prep.fetch.download import fetch

    tmp = Path(tempfile.mkdtemp(prefix="bench_fetch_"))
    server = None
    try:
        www, paths = make_survey(tmp, n=n)
        server = subprocess.Popen([sys.executable, "-c", _SERVER, str(www), str(LATENCY_S)], stdout=subprocess.PIPE,
                                  text=True)
        port = int(server.stdout.readline())
        fast, polite = _config(port, **{"fetch.delay_s": 0}), _config(port)
        raw = tmp / "raw"
        fetch(fast, what="catalog", raw=raw, progress=False)
        size = (www / paths[0].lstrip("/")).stat().st_size

        def ours(cfg, where: Path) -> int:
            if where != raw:
                shutil.copytree(raw / "catalog", where / "catalog")
            fetch(cfg, what="images", raw=where, progress=False)
            return n * size

        def simple(dest: Path, prefix: str = "") -> int:
            dest.mkdir()
            for k, path in enumerate(paths):
                urllib.request.urlretrieve(f"http://127.0.0.1:{port}{prefix}{path}", dest / f"{k}.fits")
            return n * size

        slow = _config(port, **{"fetch.delay_s": 0, "fetch.cutout_url": "{legacy_base}/slow/ls/{ra:.6f}_{dec:.6f}.fits"})

        rows = [_timed("agnbench fetch images, 4 connections, delay 0", lambda: ours(fast, raw), n)]
        rows.append(_timed("same, polite default delay_s=0.05", lambda: ours(polite, tmp / "raw_polite"), n))
        rows.append(_timed("re-run: all verified (sha256 + FITS), skipped", lambda: ours(fast, raw) * 0, n))
        rows.append(_timed("simple: sequential urlretrieve loop", lambda: simple(tmp / "simple"), n))
        rows.append(_timed(f"agnbench, {LATENCY_S * 1e3:.0f} ms server latency", lambda: ours(slow, tmp / "raw_slow"), n))
        rows.append(_timed(f"urlretrieve loop, {LATENCY_S * 1e3:.0f} ms server latency",
                           lambda: simple(tmp / "simple_slow", "/slow"), n))
        rows[0]["traced_mib"] = _traced_mib(lambda: ours(fast, tmp / "raw_traced"))
        rows[3]["traced_mib"] = _traced_mib(lambda: simple(tmp / "simple_traced"))
        ok = len(list((raw / "images").glob("*.fits"))) == n
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = round(rows[3]["seconds"] / rows[0]["seconds"], 2)
    ratio_slow = round(rows[5]["seconds"] / rows[4]["seconds"], 2)
    payload = {"benchmark": "fetch", "machine": machine(),
               "data": {"files": n, "bytes_per_file": size, "server": "ThreadingHTTPServer, HTTP/1.1, own process",
                        "latency_s": LATENCY_S},
               "rows": rows, "speedup_vs_urlretrieve": ratio, "speedup_vs_urlretrieve_with_latency": ratio_slow,
               "all_files_fetched": ok,
               "targets": {"fetch_1000_files_s": TARGET_S}, "targets_met": rows[0]["seconds"] <= TARGET_S and ok}
    path = save("fetch", payload)
    print(table(rows, ["case", "files", "seconds", "files_per_s", "mb_per_s", "client_cpu_ms_per_file",
                       "peak_rss_mib", "traced_mib"]))
    print(f"fetch of {n:,} files ({size:,} bytes each) with 4 connections: {rows[0]['seconds']} s (target <= "
          f"{TARGET_S:.0f} s -> {'met' if payload['targets_met'] else 'NOT met'}); {ratio}x the speed of a sequential "
          f"urlretrieve loop on loopback, {ratio_slow}x with {LATENCY_S * 1e3:.0f} ms latency; client CPU "
          f"{rows[0]['client_cpu_ms_per_file']} ms per file")
    print(f"written {path}")
    return payload


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    main()
