"""A small, polite HTTP download client (stdlib ``http.client`` + threads; no new dependencies).

One :class:`HttpClient` downloads :class:`Job` items with at most ``concurrency`` simultaneous
connections (kept alive and reused per thread), each pausing ``delay_s`` seconds between requests.
Per request: connect/read timeout ``timeout_s``; only ``allowed_hosts`` are contacted, over https
unless ``https_only`` is off, and every redirect target is checked the same way; ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``NO_PROXY`` are honoured (see :mod:`.proxy`). Limits (see :mod:`.limits`): a file
larger than ``max_bytes.<kind>`` (by its Content-Length, or while streaming) and an attempt that
runs past its total deadline end the item as failed, without retries in this run; the body of an
error or redirect response is read up to 64 KiB only. Errors:

- timeouts, refused or dropped connections, a body shorter than its Content-Length, 408, 429 and
  5xx are retried up to ``retries`` times, waiting ``backoff_s * 2**k`` (capped at
  ``max_backoff_s``) times a jitter factor in [0.5, 1] drawn from a per-item seeded RNG;
  a 429/503 Retry-After (seconds or HTTP-date) is honoured, and one longer than ``max_backoff_s``
  ends the item as failed (for a later run) rather than waiting;
- 404 and 410 end the item as *missing*, never retried; other 4xx as failed;
- the body is streamed to a hidden temporary file in the destination directory while its SHA-256
  is computed, then validated (see :mod:`.fetch_validate`), and only then renamed into place with
  ``os.replace``. A truncated body, an HTML/JSON error page served with status 200 or a file that
  fails validation is deleted, never kept.

A :class:`threading.Event` passed as ``stop`` aborts waits and transfers promptly (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from agnbench.config.fetch import FetchConfig, host_allowed
from agnbench.data_prep.fetch import limits
from agnbench.data_prep.fetch.proxy import Proxies, Proxy
from agnbench.data_prep.fetch.validate import Invalid, error_page
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

_CHUNK = 1 << 16  # bytes per read
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_MISSING_STATUS = frozenset({404, 410})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_TRANSIENT = (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException, OSError)
_DRAIN = 1 << 16  # most bytes read from the body of an error or redirect response


class UrlRefused(AgnbenchError):
    """A URL whose scheme or host the configuration does not allow."""


@dataclass(frozen=True)
class Job:
    """One file to download.

    Attributes
    ----------
    key : str
        Manifest key: the destination relative to the raw directory (POSIX form).
    url : str
    dest : Path
        Final path; its parent directory is created if needed.
    validate : callable
        ``validate(tmp_path) -> Invalid | None`` run on the complete temporary file.
    """

    key: str
    url: str
    dest: Path
    validate: Callable[[Path], Invalid | None] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Result:
    """How a job ended: ``status`` is ``done``, ``missing`` or ``failed``; ``bytes`` and ``sha256`` of the
    kept file (0 and "" otherwise); ``attempts`` HTTP attempts; ``reason`` why it is not done."""

    key: str
    url: str
    status: str
    bytes: int = 0
    sha256: str = ""
    attempts: int = 0
    reason: str = ""
    seconds: float = 0.0


class _Retry(Exception):
    """A transient failure: try again after ``wait`` seconds (None: computed backoff)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


class _Final(Exception):
    """A permanent outcome for this run (``missing`` or ``failed``)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delay seconds or an HTTP-date; None if absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpClient:
    """Download jobs politely (see the module docstring).

    Parameters
    ----------
    cfg : FetchConfig
        Hosts, scheme, concurrency, delays, timeouts and retry policy.
    seed : int
        Seeds the jitter of the backoff waits (one stream per job key; no global RNG).
    stop : threading.Event, optional
        Set it to abort every transfer and wait promptly.
    proxies : Proxies, optional
        Proxy settings (default: from the environment, read now).

    Raises
    ------
    AgnbenchError
        A proxy variable that is not ``http://host:port``.
    """

    def __init__(self, cfg: FetchConfig, *, seed: int, stop: threading.Event | None = None,
                 proxies: Proxies | None = None) -> None:
        self.cfg = cfg
        self.seed = seed
        self.stop = stop or threading.Event()
        self.proxies = Proxies() if proxies is None else proxies
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []

    # ------------------------------------------------------------------ URLs and connections
    def check_url(self, url: str) -> None:
        """Raise :class:`UrlRefused` unless ``url`` uses an allowed scheme and host."""
        parts = urlsplit(url)
        schemes = ("https",) if self.cfg.https_only else ("https", "http")
        if parts.scheme not in schemes:
            raise UrlRefused(f"{url}: scheme {parts.scheme!r} refused (fetch.https_only={self.cfg.https_only}); "
                             "use an https URL")
        if not host_allowed(parts.hostname or "", parts.port, self.cfg.allowed_hosts):
            raise UrlRefused(f"{url}: host {parts.hostname!r} is not in fetch.allowed_hosts "
                             f"{list(self.cfg.allowed_hosts)}; add it there if you trust it")

    def _connection(self, scheme: str, host: str,
                    port: int | None) -> tuple[http.client.HTTPConnection, Proxy | None]:
        """(connection to ``scheme://host:port``, the proxy when requests must be sent in absolute form).

        Direct, or to the proxy: an https one through a CONNECT tunnel, an http one forwarded.
        """
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        key = (scheme, host, port)
        entry = pool.get(key)
        if entry is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            proxy = self.proxies.for_url(scheme, host, port)
            if proxy is None:
                conn = cls(host, port, timeout=self.cfg.timeout_s)
            else:
                log.debug("%s://%s via the proxy %s", scheme, host, proxy.url)
                conn = cls(proxy.host, proxy.port, timeout=self.cfg.timeout_s)
                if scheme == "https":
                    conn.set_tunnel(host, port, headers=proxy.headers)
            entry = pool[key] = (conn, proxy if proxy is not None and scheme == "http" else None)
            with self._lock:
                self._connections.append(conn)
        return entry

    @staticmethod
    def _request(conn: http.client.HTTPConnection, forward: Proxy | None, method: str, url: str,
                 headers: dict[str, str]) -> http.client.HTTPResponse:
        """Send one request (absolute-form target through an http proxy) and read the response headers."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if forward is not None:
            target, headers = f"{parts.scheme}://{parts.netloc}{target}", {**headers, **forward.headers}
        conn.request(method, target, headers=headers)
        return conn.getresponse()

    def _drop(self, scheme: str, host: str, port: int | None) -> None:
        entry = getattr(self._local, "pool", {}).pop((scheme, host, port), None)
        if entry is not None:
            entry[0].close()
            with self._lock:
                self._connections.remove(entry[0])

    def close(self) -> None:
        """Close every connection this client opened."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # ------------------------------------------------------------------ one job
    def download(self, job: Job) -> Result:
        """Download one job with retries; never raises for network or content problems."""
        start = time.perf_counter()
        rng = random.Random(f"{self.seed}:{job.key}")
        attempts, reason = 0, ""
        try:
            self.check_url(job.url)
        except UrlRefused as exc:
            return Result(job.key, job.url, "failed", reason=str(exc))
        while True:
            if self.stop.is_set():
                return Result(job.key, job.url, "failed", attempts=attempts, reason="interrupted",
                              seconds=time.perf_counter() - start)
            attempts += 1
            try:
                size, digest = self._attempt(job)
                return Result(job.key, job.url, "done", size, digest, attempts, seconds=time.perf_counter() - start)
            except _Final as exc:
                return Result(job.key, job.url, exc.status, attempts=attempts, reason=exc.reason,
                              seconds=time.perf_counter() - start)
            except _Retry as exc:
                reason, wait_s = exc.reason, exc.wait
            if attempts > self.cfg.retries:
                return Result(job.key, job.url, "failed", attempts=attempts, seconds=time.perf_counter() - start,
                              reason=f"{reason} (gave up after {attempts} attempts)")
            if wait_s is None:
                base = min(self.cfg.max_backoff_s, self.cfg.backoff_s * 2 ** (attempts - 1))
                wait_s = base * rng.uniform(0.5, 1.0)
            elif wait_s > self.cfg.max_backoff_s:
                return Result(job.key, job.url, "failed", attempts=attempts,
                              reason=f"{reason}: the server asks to wait {wait_s:.0f} s (> fetch.max_backoff_s="
                                     f"{self.cfg.max_backoff_s:g}); run the command again later",
                              seconds=time.perf_counter() - start)
            log.debug("%s: %s; retry %d in %.2f s", job.key, reason, attempts, wait_s)
            self.stop.wait(wait_s)

    def _attempt(self, job: Job) -> tuple[int, str]:
        """One attempt (following redirects) within the file's deadline; return (bytes, sha256) of the file
        now at ``job.dest``."""
        url, cap = job.url, limits.max_bytes(self.cfg, job.key)
        current: list[http.client.HTTPConnection] = []
        deadline = limits.Deadline(limits.deadline_s(self.cfg, cap), lambda: current[-1].sock if current else None)
        key = None
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                try:
                    self.check_url(url)
                except UrlRefused as exc:
                    raise _Final("failed", f"redirected to a refused URL: {exc}") from None
                parts = urlsplit(url)
                key = (parts.scheme, parts.hostname or "", parts.port)
                if getattr(self._local, "used", False) and self.cfg.delay_s > 0:
                    self.stop.wait(self.cfg.delay_s)
                self._local.used = True
                conn, forward = self._connection(*key)
                current.append(conn)
                try:
                    resp = self._request(conn, forward, "GET", url,
                                         {"User-Agent": self.cfg.user_agent, "Accept-Encoding": "identity"})
                    location = self._handle_status(conn, resp, url)
                    if location is None:
                        return self._stream(resp, job, cap=cap, deadline=deadline)
                    url = urljoin(url, location)
                except _TRANSIENT as exc:
                    self._drop(*key)
                    if deadline.check():
                        raise self._too_slow(job, deadline, None) from None
                    raise _Retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
                except _Final as exc:
                    if exc.status != "missing" or conn.sock is None:  # a drained 404 leaves the connection usable
                        self._drop(*key)
                    raise
                except BaseException:
                    self._drop(*key)
                    raise
            raise _Final("failed", f"more than {_MAX_REDIRECTS} redirects from {job.url}")
        finally:
            deadline.cancel()
            if deadline.expired and key is not None:  # its socket may have been shut down
                self._drop(*key)

    def _too_slow(self, job: Job, deadline: limits.Deadline, received: int | None) -> _Final:
        got = f"{received:,} bytes received" if received is not None else "the response had not begun"
        return _Final("failed", f"{job.dest.name}: too slow, not finished within its deadline of "
                                f"{deadline.seconds:,.0f} s ({got}; the deadline is max(fetch.file_deadline_s="
                                f"{self.cfg.file_deadline_s:g}, bytes / fetch.min_bytes_per_s="
                                f"{self.cfg.min_bytes_per_s:g})); left for a later run")

    @staticmethod
    def _drain(conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        """Read an unwanted body so the connection can be reused, or close the connection if it is over 64 KiB
        (http.client opens a new one for the next request)."""
        got = 0
        while got <= _DRAIN and (piece := resp.read1(_DRAIN)):
            got += len(piece)
        if got > _DRAIN:
            conn.close()
        else:
            resp.read()  # at the end: marks the response closed so the connection takes the next request

    def _handle_status(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                       url: str) -> str | None:
        """None for 200 (stream it), the Location for a redirect; raise for everything else."""
        status = resp.status
        if status == 200:
            return None
        self._drain(conn, resp)
        if status in _REDIRECTS and resp.getheader("Location"):
            return resp.getheader("Location")
        if status in _MISSING_STATUS:
            raise _Final("missing", f"HTTP {status} {resp.reason} for {url}")
        if status in _RETRY_STATUS:
            raise _Retry(f"HTTP {status} {resp.reason}", retry_after_seconds(resp.getheader("Retry-After")))
        raise _Final("failed", f"HTTP {status} {resp.reason} for {url}; check the URL template in the fetch config")

    def _stream(self, resp: http.client.HTTPResponse, job: Job, *, cap: int,
                deadline: limits.Deadline) -> tuple[int, str]:
        """Stream the body to a temporary file within the size cap and the deadline, check length, content and
        validity, rename into place."""
        ctype = (resp.getheader("Content-Type") or "").lower()
        length = resp.getheader("Content-Length")
        expected = int(length) if length and length.strip().isdigit() else None
        kind = limits.kind_of(job.key)
        if expected is not None and expected > cap:
            raise _Final("failed", f"{job.dest.name}: too large, the server announces {expected:,} bytes "
                                   f"(Content-Length), more than fetch.max_bytes.{kind}={cap:,}; nothing was kept. "
                                   f"If the file is genuine, raise fetch.max_bytes.{kind}")
        if expected is not None:
            deadline.set(limits.deadline_s(self.cfg, expected))
        job.dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = job.dest.parent / f".{job.dest.name}.part"
        digest, size, head = hashlib.sha256(), 0, b""
        try:
            with open(tmp, "wb") as fh:
                while True:
                    try:
                        chunk = resp.read1(_CHUNK)  # returns what has arrived: a drip cannot hide in one read
                    except _TRANSIENT:
                        if deadline.check():
                            raise self._too_slow(job, deadline, size) from None
                        raise
                    if deadline.check():
                        raise self._too_slow(job, deadline, size)
                    if not chunk:
                        if not resp.isclosed():  # the whole Content-Length arrived: release the connection
                            resp.read()
                        break
                    if self.stop.is_set():
                        raise _Final("failed", "interrupted")
                    size += len(chunk)
                    if size > cap:
                        raise _Final("failed", f"{job.dest.name}: too large, the server sent more than "
                                               f"fetch.max_bytes.{kind}={cap:,} bytes"
                                               + (f" (its Content-Length said {expected:,})" if expected is not None
                                                  else " (no Content-Length)")
                                               + f"; cut off and deleted. If the file is genuine, raise "
                                                 f"fetch.max_bytes.{kind}")
                    if len(head) < 1024:
                        head += chunk[: 1024 - len(head)]
                    fh.write(chunk)
                    digest.update(chunk)
            if expected is not None and size != expected:
                raise _Retry(f"truncated body ({size} of {expected} bytes)")
            why = error_page(head)
            if why is not None:  # sniffed, not trusted to Content-Type (archives label FITS inconsistently)
                raise _Final("failed", f"{why} (HTTP 200, Content-Type {ctype or 'none'!r}, from {job.url})")
            try:
                bad = job.validate(tmp)
            except Exception as exc:  # an unreadable download fails the item, not the run
                bad = Invalid(f"{job.dest.name}: cannot be read ({type(exc).__name__}: {exc})")
            if bad is not None:
                raise _Final("missing" if bad.missing else "failed", f"invalid download: {bad.reason}")
            os.replace(tmp, job.dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return size, digest.hexdigest()

    # ------------------------------------------------------------------ many jobs
    def head_size(self, url: str) -> int | None:
        """Content-Length of ``url`` from one HEAD request (redirects followed), or None if unknown."""
        for _ in range(_MAX_REDIRECTS + 1):
            self.check_url(url)
            parts = urlsplit(url)
            key = (parts.scheme, parts.hostname or "", parts.port)
            conn, forward = self._connection(*key)
            deadline = limits.Deadline(self.cfg.file_deadline_s, lambda: conn.sock)
            try:
                resp = self._request(conn, forward, "HEAD", url, {"User-Agent": self.cfg.user_agent})
                self._drain(conn, resp)
            except _TRANSIENT as exc:
                self._drop(*key)
                log.debug("HEAD %s: %s", url, exc)
                return None
            finally:
                deadline.cancel()
                if deadline.expired:
                    self._drop(*key)
            if resp.status in _REDIRECTS and resp.getheader("Location"):
                url = urljoin(url, resp.getheader("Location"))
                continue
            length = resp.getheader("Content-Length")
            return int(length) if resp.status == 200 and length and length.isdigit() else None
        return None

    def run(self, jobs: Iterable[Job], *, work: Callable[[Job], Result] | None = None) -> Iterator[Result]:
        """Run ``work`` (default :meth:`download`) on ``jobs`` in ``cfg.concurrency`` threads; yield results
        as they finish.

        At most ``2 * concurrency`` jobs are queued at once, so memory does not grow with the
        number of jobs. Closing the generator (or an exception in the consumer) sets ``stop`` and
        waits for the running transfers to abort.
        """
        jobs = iter(jobs)
        width = self.cfg.concurrency
        pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="agnbench-fetch")
        running: set[Future] = set()
        try:
            while True:
                while len(running) < 2 * width and not self.stop.is_set():
                    job = next(jobs, None)
                    if job is None:
                        break
                    running.add(pool.submit(work or self.download, job))
                if not running:
                    return
                done, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            if running:
                self.stop.set()
                self._abort_sockets()
            for fut in running:
                fut.cancel()
            pool.shutdown(wait=True)
            self.close()

    def _abort_sockets(self) -> None:
        """Wake threads blocked in a connect or read (after ``stop``): shut their sockets down."""
        with self._lock:
            for conn in self._connections:
                sock = conn.sock
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
