"""A real HTTP server on 127.0.0.1 serving a survey tree in the SAS / Legacy Survey URL layouts, with faults.

Routes (``PREFIX`` = ``http://127.0.0.1:PORT``):

- ``/sas/sdss/spectro/redux/<name>``: ``ROOT/catalog/<name>``, where ``galSpecInfo-dr8.fits`` is served
  from the mock's ``galSpecInfo.fits`` (and so on);
- ``/sas/sdss/spectro/redux/<run2d>/spectra/lite/<plate>/<file>`` and ``/sas/eboss/...``: ``ROOT/spectra/<plate>/<file>``;
- ``/ls/viewer/fits-cutout?ra=..&dec=..``: ``ROOT/images/<object_id>.fits`` found by its coordinates;
- ``/ls/viewer/jpeg-cutout?ra=..&dec=..``: ``jpeg`` (one file for every position).

Faults are queued per served file name and consumed one per request: ``500``, ``429:SECONDS``,
``404``, ``truncate`` (Content-Length of the whole file, half the body, then the connection is
closed), ``html`` (an error page with status 200), ``htmlbin`` (the same labelled as binary data),
``slow`` (0.2 s before answering), ``redirect:URL`` and ``kill`` (half the body, then the whole
server stops). Hostile ones: ``oversize:N`` (Content-Length N, then N zero bytes), ``nolength:N`` (N
zero bytes without a Content-Length, the end marked by closing the connection) and ``drip:SECONDS``
(the file's Content-Length, then one byte every SECONDS, for at most 20 s), ``error:N`` (status 500
with a body of N zero bytes). ``sent`` counts the body
bytes written per file name (what a client that stops reading early was really sent).
``max_inflight`` is the largest number of requests handled at once.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from agnbench.data_prep.fetch.select import read_columns

_CATALOG = {"galSpecInfo-dr8.fits": "galSpecInfo.fits", "galSpecExtra-dr8.fits": "galSpecExtra.fits",
            "galSpecLine-dr8.fits": "galSpecLine.fits", "galSpecIndx-dr8.fits": "galSpecIndx.fits"}
_HTML = b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>Try later</body></html>"


class SurveyServer:
    """Serve ``root`` until :meth:`stop`; ``log`` holds (time, host header, file name, status) per request."""

    def __init__(self, root: Path, *, jpeg: Path | None = None) -> None:
        self.root = Path(root)
        self.jpeg = jpeg
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.log: list[tuple[float, str, str, int]] = []
        self.lock = threading.Lock()
        self.inflight = self.max_inflight = 0
        self.sent: dict[str, int] = defaultdict(int)
        info = read_columns(self.root / "catalog" / "galSpecInfo.fits", ("SPECOBJID", "RA", "DEC"))
        ras, decs = np.asarray(info["RA"], float), np.asarray(info["DEC"], float)
        self.positions = {(f"{ra:.6f}", f"{dec:.6f}"): f"{oid}.fits" for oid, ra, dec in zip(info["SPECOBJID"], ras, decs)}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def overrides(self, **extra: object) -> list[str]:
        """``--set`` items pointing the fetch config at this server (plain http, short waits)."""
        items = {"fetch.sas_base": f"{self.url}/sas", "fetch.legacy_base": f"{self.url}/ls",
                 "fetch.allowed_hosts": "[127.0.0.1]", "fetch.https_only": "false", "fetch.delay_s": 0,
                 "fetch.backoff_s": 0.01, "fetch.max_backoff_s": 2.0, "fetch.retries": 2, "fetch.timeout_s": 5,
                 "fetch.concurrency": 2, **extra}
        return [f"{k}={v}" for k, v in items.items()]

    def requests_for(self, name: str) -> list[tuple[float, str, str, int]]:
        with self.lock:
            return [r for r in self.log if r[2] == name]

    def resolve(self, path: str, query: str) -> Path | None:
        parts = path.strip("/").split("/")
        if parts[:1] == ["sas"] and "spectra" in parts and len(parts) >= 3:
            return self.root / "spectra" / parts[-2] / parts[-1]
        if parts[:1] == ["sas"]:
            return self.root / "catalog" / _CATALOG.get(parts[-1], parts[-1])
        if parts[:3] == ["ls", "viewer", "fits-cutout"]:
            q = parse_qs(query)
            name = self.positions.get((q.get("ra", ["?"])[0], q.get("dec", ["?"])[0]))
            return self.root / "images" / name if name else None
        if parts[:3] == ["ls", "viewer", "jpeg-cutout"]:
            return self.jpeg
        return None

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server: SurveyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            return

        def send_response(self, code: int, message: str | None = None) -> None:
            # Log before any byte of the response goes out: a client that has read the whole body
            # must find its request in the log (logging after the write raced with fast clients).
            headers = getattr(self, "headers", None)  # absent when the request line itself was malformed
            host = headers.get("Host", "") if headers is not None else ""
            with server.lock:
                server.log.append((time.monotonic(), host, getattr(self, "_name", self.path), code))
            super().send_response(code, message)

        def _send(self, status: int, body: bytes, *, ctype: str = "application/fits", headers: dict | None = None,
                  length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _cut(self, data: bytes, *, kill: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/fits")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            if kill:
                threading.Thread(target=server.stop, daemon=True).start()

        def _hostile(self, name: str, fault: str, data: bytes) -> None:
            """oversize:N, nolength:N or drip:SECONDS (see the module docstring); stops when the client hangs up."""
            kind, _, arg = fault.partition(":")
            self.send_response(500 if kind == "error" else 200)
            self.send_header("Content-Type", "application/fits")
            if kind == "nolength":
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(int(arg) if kind in ("oversize", "error") else len(data)))
            self.end_headers()
            try:
                if kind == "drip":
                    end = time.monotonic() + 20
                    for k in range(len(data)):
                        if time.monotonic() > end:
                            break
                        self.wfile.write(data[k : k + 1])
                        self.wfile.flush()
                        with server.lock:
                            server.sent[name] += 1
                        time.sleep(float(arg))
                    self.close_connection = True
                    return
                block, left = bytes(1 << 16), int(arg)
                while left > 0:
                    self.wfile.write(block[:left])
                    with server.lock:
                        server.sent[name] += min(left, len(block))
                    left -= len(block)
            except OSError:  # the client hung up, as it should
                self.close_connection = True

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = server.resolve(parts.path, parts.query)
            name = path.name if path is not None else parts.path
            self._name = name
            with server.lock:
                fault = server.faults[name].pop(0) if server.faults.get(name) else ""
                server.inflight += 1
                server.max_inflight = max(server.max_inflight, server.inflight)
            if fault == "slow":
                time.sleep(0.2)
            if fault == "500":
                self._send(500, b"Internal Server Error", ctype="text/plain")
            elif fault.startswith("429:"):
                self._send(429, b"slow down", ctype="text/plain", headers={"Retry-After": fault[4:]})
            elif fault == "html":
                self._send(200, _HTML, ctype="text/html")
            elif fault == "htmlbin":
                self._send(200, _HTML, ctype="application/octet-stream")
            elif fault.startswith("redirect:"):
                self._send(302, b"", headers={"Location": fault[9:]})
            elif fault == "404" or path is None or not path.is_file():
                self._send(404, b"Not Found", ctype="text/plain")
            elif fault in ("truncate", "kill"):
                self._cut(path.read_bytes(), kill=fault == "kill")
            elif fault.startswith(("oversize:", "nolength:", "drip:", "error:")):
                self._hostile(name, fault, path.read_bytes())
            else:
                self._send(200, path.read_bytes(), ctype="image/jpeg" if path.suffix == ".jpeg" else "application/fits")
            with server.lock:
                server.inflight -= 1

    return Handler
