"""Issue 16, item 10: downloads against a hostile server (an allowed host or mirror) on 127.0.0.1.

Oversize bodies (with and without Content-Length), a slow drip, a gzip bomb (download validation and
the readers prep uses), and HTTP(S)_PROXY / NO_PROXY. Every test finishes in seconds; no test touches
the internet.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.config.core import load_config
from agnbench.config.fetch import FetchConfig
from agnbench.data_prep.fetch.download import fetch
from agnbench.data_prep.fetch.http import HttpClient, Job
from agnbench.data_prep.fetch.validate import validate_spectrum
from agnbench.data_prep.formats import fastfits
from agnbench.errors import AgnbenchError

from tests.conftest import REAL
from tests.fetch_server import SurveyServer

SPEC = "spec-0266-51630-0168.fits"
BOMB = "gal_info_dr7_v5_2.fit.gz"
ROOT = Path(__file__).parents[2]
_SEGMENT = bytes(1 << 24)  # 16 MiB of zeros


def _fits_card(key: str, value: object) -> bytes:
    text = f"{key:<8}= {value!r:>20}" if not isinstance(value, str) else f"{key:<8}= {value!r:<20}"
    return text.replace('"', "'").ljust(80).encode("ascii")


def _fits_header(cards: list[tuple[str, object]]) -> bytes:
    raw = b"".join(_fits_card(k, v) for k, v in cards) + b"END".ljust(80)
    return raw.ljust(-(-len(raw) // 2880) * 2880, b" ")


def gzip_bomb(path: Path, *, segments: int = 64) -> int:
    """Write a valid single-member gzip of an MPA-JHU-like FITS table padded with zeros; return its expanded size.

    16 MiB zero segments, each deflated once after a full flush (so every repeat has the same bytes):
    ``segments=64`` is ~1 MB on disk and 1 GiB expanded, and takes ~0.5 s to build.
    """
    data_bytes = segments * len(_SEGMENT)
    header = _fits_header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    header += _fits_header([("XTENSION", "BINTABLE"), ("BITPIX", 8), ("NAXIS", 2), ("NAXIS1", 28),
                            ("NAXIS2", data_bytes // 28), ("PCOUNT", 0), ("GCOUNT", 1), ("TFIELDS", 4),
                            ("TTYPE1", "SPECOBJID"), ("TFORM1", "K"), ("TTYPE2", "RA"), ("TFORM2", "D"),
                            ("TTYPE3", "DEC"), ("TFORM3", "D"), ("TTYPE4", "Z"), ("TFORM4", "E")])
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(header) + deflate.compress(_SEGMENT) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeat = deflate.compress(_SEGMENT) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    for _ in range(segments):
        crc = zlib.crc32(_SEGMENT, crc)
    size = len(header) + data_bytes
    with open(path, "wb") as fh:
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first)
        for _ in range(segments - 1):
            fh.write(repeat)
        fh.write(deflate.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF))
    return size


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real spec-lite files, a galSpecInfo table (the server needs it) and a DR7-named gzip bomb."""
    from agnbench.data_prep.formats.sdss_files import write_table_fits

    root = tmp_path_factory.mktemp("hostile")
    (root / "spectra" / "0266").mkdir(parents=True)
    shutil.copy(REAL / "speclite" / SPEC, root / "spectra" / "0266" / SPEC)
    (root / "catalog").mkdir()
    write_table_fits(root / "catalog" / "galSpecInfo.fits", pd.DataFrame(
        {"SPECOBJID": ["299535582055393280"], "RA": [146.71421], "DEC": [-1.04128], "Z": [0.1]}), extname="INFO")
    gzip_bomb(root / "catalog" / BOMB)
    return root


@pytest.fixture()
def server(tree: Path):
    srv = SurveyServer(tree)
    yield srv
    srv.stop()


def _client(server: SurveyServer, *extra: str) -> HttpClient:
    return HttpClient(load_config(overrides=[*server.overrides(**{"fetch.retries": 0}), *extra]).fetch, seed=0)


def _spec_job(server: SurveyServer, dest: Path) -> Job:
    url = f"{server.url}/sas/sdss/spectro/redux/26/spectra/lite/0266/{SPEC}"
    return Job(f"spectra/0266/{SPEC}", url, dest / "0266" / SPEC,
               functools.partial(validate_spectrum, plate=266, mjd=51630, fiber=168))


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# ---------------------------------------------------------------------------------------------- size caps
def test_oversize_content_length_is_refused_before_the_body(server: SurveyServer, tmp_path: Path) -> None:
    """The audit's 419 MB for a ~175 kB spectrum: refused from the Content-Length, default limits."""
    server.faults[SPEC] = ["oversize:419000000"]
    start = time.monotonic()
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "failed" and "too large" in res.reason and "fetch.max_bytes.spectrum" in res.reason
    assert "419,000,000" in res.reason and res.attempts == 1
    assert time.monotonic() - start < 5 and not _leftovers(tmp_path)
    time.sleep(0.2)
    assert server.sent[SPEC] < 50_000_000  # the client hung up instead of reading 419 MB


def test_oversize_without_content_length_is_cut_while_streaming(server: SurveyServer, tmp_path: Path) -> None:
    server.faults[SPEC] = ["nolength:419000000"]
    res = _client(server).download(_spec_job(server, tmp_path))
    cap = 20_000_000  # the default fetch.max_bytes.spectrum
    assert res.status == "failed" and "too large" in res.reason and "no Content-Length" in res.reason
    assert f"{cap:,}" in res.reason and not _leftovers(tmp_path)
    time.sleep(0.2)
    assert server.sent[SPEC] < cap + 30_000_000  # what the kernel buffers held, not 419 MB
    assert FetchConfig().max_bytes.spectrum == cap


def test_a_lying_content_length_is_cut_too(server: SurveyServer, tmp_path: Path) -> None:
    """Content-Length 1 MB under a 2 MB limit, then 400 MB: the stream is cut at the limit."""
    server.faults[SPEC] = ["oversize:1000000"]  # the truthful case first: too small a file fails validation
    res = _client(server, "fetch.max_bytes.spectrum=2000000").download(_spec_job(server, tmp_path))
    assert res.status == "failed" and "too large" not in res.reason
    server.faults[SPEC] = ["nolength:400000000"]
    res = _client(server, "fetch.max_bytes.spectrum=2000000").download(_spec_job(server, tmp_path))
    assert res.status == "failed" and "more than fetch.max_bytes.spectrum=2,000,000" in res.reason


def test_oversize_item_is_recorded_and_the_run_goes_on(server: SurveyServer, tree: Path, tmp_path: Path) -> None:
    """Through `fetch`: the oversize catalog file fails with its reason in the manifest, the others are kept."""
    raw = tmp_path / "raw"
    server.faults["galSpecInfo.fits"] = ["nolength:50000000"]
    cfg = load_config(overrides=[*server.overrides(**{"fetch.retries": 0}), "fetch.max_bytes.catalog=1000000",
                                 "fetch.catalog_files=[galSpecInfo-dr8.fits, galSpecExtra-dr8.fits]"])
    with pytest.raises(AgnbenchError, match=r"items failed \(first: catalog/galSpecInfo-dr8.fits: .*too large"):
        fetch(cfg, what="catalog", raw=raw, progress=False)
    items = json.loads((raw / "fetch_manifest.json").read_text())["items"]
    assert items["catalog/galSpecInfo-dr8.fits"]["status"] == "failed"
    assert "fetch.max_bytes.catalog=1,000,000" in items["catalog/galSpecInfo-dr8.fits"]["reason"]
    assert items["catalog/galSpecExtra-dr8.fits"]["status"] == "missing"  # the other item was still tried
    assert not [p for p in (raw / "catalog").iterdir() if p.name.startswith(".")]  # no partial file


def test_huge_error_body_is_not_read(server: SurveyServer, tmp_path: Path) -> None:
    """A 500 whose body is 419 MB: at most 64 KiB of it is read (the connection is closed instead)."""
    server.faults[SPEC] = ["error:419000000", "error:419000000"]
    start = time.monotonic()
    res = _client(server, "fetch.retries=1").download(_spec_job(server, tmp_path))
    assert res.status == "failed" and "HTTP 500" in res.reason and res.attempts == 2
    assert time.monotonic() - start < 5
    time.sleep(0.2)
    assert server.sent[SPEC] < 2 * 30_000_000  # kernel buffers at most, not 2 x 419 MB


# ---------------------------------------------------------------------------------------------- deadline
def test_slow_drip_is_cut_at_the_file_deadline(server: SurveyServer, tmp_path: Path) -> None:
    """One byte every 0.2 s: each read succeeds within timeout_s, so only a total deadline can end it."""
    server.faults[SPEC] = ["drip:0.2"]
    start = time.monotonic()
    res = _client(server, "fetch.file_deadline_s=1.5", "fetch.min_bytes_per_s=1e9").download(
        _spec_job(server, tmp_path))
    elapsed = time.monotonic() - start
    assert res.status == "failed" and "too slow" in res.reason and "fetch.file_deadline_s=1.5" in res.reason
    assert 1.4 <= elapsed < 4.0 and res.attempts == 1 and not _leftovers(tmp_path)


def test_deadline_scales_with_the_announced_size() -> None:
    from agnbench.data_prep.fetch.limits import deadline_s, kind_of, max_bytes

    cfg = FetchConfig()
    assert deadline_s(cfg, 175_000) == 60.0  # a spectrum: the floor
    assert deadline_s(cfg, 1_500_000_000) == pytest.approx(30_000.0)  # a 1.5 GB catalog at >= 50 kB/s
    assert [kind_of(k) for k in ("catalog/a.fits", "spectra/0266/s.fits", "images/1.fits", "jpeg/1.jpeg")] == \
        ["catalog", "spectrum", "cutout", "jpeg"]
    assert max_bytes(cfg, "images/1.fits") == cfg.max_bytes.cutout
    # a full-size cutout (512 px, 3 bands, float32) and the real files fit their defaults with headroom
    assert 4 * 3 * 512**2 + 5760 < cfg.max_bytes.cutout / 5
    real = [*(REAL / "speclite").glob("*.fits"), *(REAL / "eboss").glob("*.fits")]
    assert real and max(p.stat().st_size for p in real) * 20 < cfg.max_bytes.spectrum * 1.01
    assert max(p.stat().st_size for p in (REAL / "jpeg").glob("*.jpeg")) * 100 < cfg.max_bytes.jpeg


# ---------------------------------------------------------------------------------------------- gzip bomb
def test_gzip_bomb_fails_download_validation(server: SurveyServer, tree: Path, tmp_path: Path) -> None:
    """A 1 MB DR7-named catalog that expands to 1 GiB with valid FITS headers: refused after 50 MiB."""
    raw = tmp_path / "raw"
    cfg = load_config(overrides=[*server.overrides(**{"fetch.retries": 0}), "fetch.release=dr7",
                                 f"fetch.mpa_base={server.url}/sas", f"fetch.dr7_catalog_files=[{BOMB}]"])
    start = time.monotonic()
    with pytest.raises(AgnbenchError, match="items failed"):
        fetch(cfg, what="catalog", raw=raw, progress=False)
    assert time.monotonic() - start < 5
    item = json.loads((raw / "fetch_manifest.json").read_text())["items"][f"catalog/{BOMB}"]
    assert item["status"] == "failed" and "gzip bomb" in item["reason"] and BOMB in item["reason"]
    assert not (raw / "catalog" / BOMB).exists()


_MEASURE = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    from agnbench.data_prep.formats.catalog import read_table
    from agnbench.data_prep.formats.fastfits import FitsFile
    from agnbench.data_prep.formats.spectrum1d import read_spectrum_1d
    # a safety net on this machine: 3 GB more address space than now
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (vm + (3 << 30), hard))
    out = []
    for path in sys.argv[1:]:
        for name, call in (("fitsfile", lambda p: FitsFile(p).hdus()), ("spectrum", read_spectrum_1d),
                           ("table", read_table)):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            start = time.monotonic()
            try:
                call(Path(path))
                error = ""
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}"
            grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
            out.append({"file": Path(path).name, "reader": name, "error": error[:300],
                        "seconds": time.monotonic() - start, "grew": grew})
    print(json.dumps(out))
""")


def test_gzip_bomb_is_refused_by_the_prep_readers_in_bounded_memory(tree: Path, tmp_path: Path) -> None:
    """fastfits (gzipped spectra, e.g. LAMOST) and read_table (DR7 .fit.gz catalogs): the old readers held
    the whole 1 GiB expansion in memory; now each stops at 50 MiB, in well under a second."""
    for name in ("bomb.fits.gz", BOMB):
        shutil.copy(tree / "catalog" / BOMB, tmp_path / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path / "bomb.fits.gz"), str(tmp_path / BOMB)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == 6
    for got in results:
        assert "gzip bomb" in got["error"] and got["file"] in got["error"], got
        assert got["grew"] < 200e6 and got["seconds"] < 5, got


def test_gzip_streaming_still_reads_real_files(tmp_path: Path) -> None:
    """Real spec-lite files gzipped (one member, and two members) read as before; truncation is named."""
    import gzip

    src = REAL / "speclite" / SPEC
    packed = tmp_path / "s.fits.gz"
    packed.write_bytes(gzip.compress(src.read_bytes()))
    with fastfits.FitsFile(packed) as f, fastfits.FitsFile(src) as g:
        assert f.bintable("COADD", ["flux"])["flux"].tobytes() == g.bintable("COADD", ["flux"])["flux"].tobytes()
    data = src.read_bytes()
    two = tmp_path / "two.fits.gz"
    two.write_bytes(gzip.compress(data[:100_000]) + gzip.compress(data[100_000:]))
    assert fastfits.gunzip_size(two) == len(data) == fastfits.gunzip_size(src)
    with pytest.raises(AgnbenchError, match="corrupt or truncated gzip"):
        fastfits.gunzip_size(_write(tmp_path / "cut.fits.gz", packed.read_bytes()[:-9]))
    assert fastfits.gunzip_limit(10) == 50 << 20 == int(FetchConfig().max_gunzip_ratio) << 20
    assert FetchConfig().max_gunzip_ratio == fastfits.GUNZIP_MAX_RATIO  # one default for fetch and prep


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------- proxies
class _ForwardProxy:
    """A tiny plain-http forwarding proxy on 127.0.0.1 that logs every request line it forwards."""

    def __init__(self) -> None:
        import http.client

        log: list[str] = []
        self.log = log

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                from urllib.parse import urlsplit

                log.append(f"{self.command} {self.path} {self.headers.get('Proxy-Authorization', '')}".strip())
                parts = urlsplit(self.path)
                if not parts.netloc:  # not a proxy request
                    self.send_error(400)
                    return
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
                conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.getheader("Content-Type", "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self) -> None:
                import select
                import socket

                log.append(f"CONNECT {self.path}")
                host, _, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=2)
                except OSError:
                    self.send_error(502, "cannot reach the host")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                pair = {self.connection: upstream, upstream: self.connection}
                with upstream:
                    while True:
                        ready, _, _ = select.select(list(pair), [], [], 5)
                        data = ready[0].recv(1 << 16) if ready else b""
                        if not data:
                            break
                        pair[ready[0]].sendall(data)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def proxy(monkeypatch: pytest.MonkeyPatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
                "all_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(var, raising=False)
    srv = _ForwardProxy()
    yield srv
    srv.stop()


@pytest.mark.parametrize("var", ["HTTP_PROXY", "http_proxy"])
def test_http_proxy_from_the_environment_is_used_and_no_proxy_bypasses_it(
        server: SurveyServer, proxy: _ForwardProxy, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        var: str) -> None:
    monkeypatch.setenv(var, proxy.url.replace("http://", "http://user:s%40cret@"))
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "done", res.reason
    assert (tmp_path / "0266" / SPEC).read_bytes() == (tree / "spectra" / "0266" / SPEC).read_bytes()
    assert proxy.log == [f"GET {server.url}/sas/sdss/spectro/redux/26/spectra/lite/0266/{SPEC} Basic dXNlcjpzQGNyZXQ="]
    # NO_PROXY (either spelling): the same download goes straight to the host
    monkeypatch.setenv("NO_PROXY" if var.isupper() else "no_proxy", "example.org, 127.0.0.1")
    res = _client(server).download(_spec_job(server, tmp_path / "direct"))
    assert res.status == "done" and len(proxy.log) == 1 and len(server.requests_for(SPEC)) == 2


def test_unsupported_proxy_is_one_clear_error(server: SurveyServer, proxy: _ForwardProxy,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(AgnbenchError, match="HTTPS_PROXY=socks5://127.0.0.1:1080: a proxy must be given as http"):
        _client(server)


def _tls_server(root: Path, tmp_path: Path) -> tuple[ThreadingHTTPServer, Path]:
    """An https server on 127.0.0.1 serving the spec file, with a fresh self-signed certificate (openssl)."""
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    body = (root / "spectra" / "0266" / SPEC).read_bytes()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/fits")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, cert


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_goes_through_a_connect_tunnel(proxy: _ForwardProxy, tree: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY: a CONNECT tunnel through the proxy, TLS end to end with the host (certificate checked)."""
    import dataclasses

    httpd, cert = _tls_server(tree, tmp_path)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate, as a site CA bundle would be
        monkeypatch.setenv("https_proxy", proxy.url)
        port = httpd.server_address[1]
        cfg = dataclasses.replace(load_config(overrides=["fetch.retries=0", "fetch.timeout_s=5"]).fetch,
                                  allowed_hosts=("127.0.0.1", "archive.invalid"))
        job = _spec_job_url(f"https://127.0.0.1:{port}/sas/{SPEC}", tmp_path / "via")
        res = HttpClient(cfg, seed=0).download(job)
        assert res.status == "done", res.reason
        assert job.dest.read_bytes() == (tree / "spectra" / "0266" / SPEC).read_bytes()
        assert proxy.log == [f"CONNECT 127.0.0.1:{port}"]
        # a host the proxy cannot reach: the failure comes from the proxy, the host is never tried directly
        res = HttpClient(cfg, seed=0).download(_spec_job_url("https://archive.invalid/sas/x.fits", tmp_path / "x"))
        assert res.status == "failed" and "502" in res.reason and proxy.log[-1] == "CONNECT archive.invalid:443"
    finally:
        httpd.shutdown()
        httpd.server_close()
    from agnbench.data_prep.fetch.proxy import Proxies

    assert Proxies({"https": proxy.url, "no": ".sdss.org"}).for_url("https", "data.sdss.org", None) is None
    assert Proxies({"https": proxy.url, "no": "*"}).for_url("https", "data.sdss.org", 443) is None
    assert Proxies({"https": proxy.url}).for_url("http", "data.sdss.org", None) is None  # per scheme


def _spec_job_url(url: str, dest: Path) -> Job:
    return Job(f"spectra/0266/{SPEC}", url, dest / SPEC,
               functools.partial(validate_spectrum, plate=266, mjd=51630, fiber=168))
