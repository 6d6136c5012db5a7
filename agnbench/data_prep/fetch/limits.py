"""Limits of one download against a hostile or broken server: size caps per kind and a total deadline.

- Size: ``fetch.max_bytes.<kind>`` (kind from the manifest key: ``catalog/`` -> catalog, ``spectra/``
  -> spectrum, ``images/`` -> cutout, ``jpeg/`` -> jpeg). A Content-Length above it ends the item at
  once; a body growing past it (no Content-Length, or one that lies) is cut while streaming.
- Time: each attempt at a file must finish within ``max(fetch.file_deadline_s, bytes /
  fetch.min_bytes_per_s)`` seconds, ``bytes`` being the Content-Length (before the headers arrive,
  or when there is none: the kind's ``max_bytes``). ``fetch.timeout_s`` bounds every single read, but
  a server that drips one byte per second never trips it; :class:`Deadline` shuts the socket down
  when the time is up, wherever the transfer is blocked (headers, body, a proxy tunnel).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from agnbench.config.fetch import FetchConfig

#: Manifest key prefix -> field of ``fetch.max_bytes``.
_KIND_BY_PREFIX = {"catalog/": "catalog", "spectra/": "spectrum", "images/": "cutout", "jpeg/": "jpeg"}
_REARM_S = 0.5  # while no socket is open yet, look again this often after the deadline


def kind_of(key: str) -> str:
    """The ``fetch.max_bytes`` field of a manifest key (``catalog`` for an unknown prefix, the largest)."""
    return next((kind for prefix, kind in _KIND_BY_PREFIX.items() if key.startswith(prefix)), "catalog")


def max_bytes(cfg: FetchConfig, key: str) -> int:
    """Largest accepted size of the file with manifest key ``key``."""
    return int(getattr(cfg.max_bytes, kind_of(key)))


def deadline_s(cfg: FetchConfig, expected: int) -> float:
    """Seconds one attempt at a file of ``expected`` bytes may take.

    ``max(file_deadline_s, expected / min_bytes_per_s)``; ``file_deadline_s`` alone when ``min_bytes_per_s`` is 0.
    """
    scaled = expected / cfg.min_bytes_per_s if cfg.min_bytes_per_s > 0 else 0.0
    return max(cfg.file_deadline_s, scaled)


class Deadline:
    """Shut down the socket of the current connection once ``seconds`` have passed since the start.

    Parameters
    ----------
    seconds : float
        Allowed time from now; :meth:`set` changes it (e.g. once the Content-Length is known).
    socket_of : callable
        Returns the socket to shut down (None while not connected: looked for again every 0.5 s).

    Use as a context manager; :attr:`expired` says whether the time ran out.
    """

    def __init__(self, seconds: float, socket_of: Callable[[], socket.socket | None]) -> None:
        self.start = time.monotonic()
        self.seconds = seconds
        self.expired = False
        self._socket_of = socket_of
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._done = False
        self.set(seconds)

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def remaining(self) -> float:
        return self.start + self.seconds - time.monotonic()

    def check(self) -> bool:
        """Whether the time is up (also marks it expired)."""
        if self.remaining() <= 0:
            self.expired = True
        return self.expired

    def set(self, seconds: float) -> None:
        """Allow ``seconds`` from the start in total."""
        with self._lock:
            if self._done:
                return
            self.seconds = seconds
            if self._timer is not None:
                self._timer.cancel()
            self._arm(max(self.remaining(), 0.0))

    def _arm(self, wait: float) -> None:
        self._timer = threading.Timer(wait, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sock = self._socket_of()
            if sock is None:
                self._arm(_REARM_S)
                return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        """Stop watching (the transfer ended)."""
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()
