"""The fetch manifest ``RAW/fetch_manifest.json`` (what was downloaded, missing or failed) and the RAW lock.

``items`` maps each file's path relative to RAW (POSIX) to ``{status, url, bytes, sha256, attempts,
reason, updated}`` with status ``done`` (kept, validated), ``missing`` (404/410 or no survey
coverage) or ``failed`` (retried on the next run). As items finish they are appended, one JSON
line each, to the journal ``RAW/.fetch_manifest.jsonl`` (O(1) per item, flushed, safe against a
crash: a torn last line is ignored); :meth:`Manifest.save` folds the journal into the JSON file,
written atomically, and removes it. Opening a manifest replays any journal left by an interrupted
run, so nothing finished is forgotten. A file on disk without a ``done`` entry is re-validated
before it is trusted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_json

log = logging.getLogger(__name__)

MANIFEST = "fetch_manifest.json"
JOURNAL = ".fetch_manifest.jsonl"
_VERSION = 1


class Manifest:
    """Thread-safe view of ``RAW/fetch_manifest.json`` plus its journal.

    Parameters
    ----------
    raw : Path
        The raw survey directory.
    """

    def __init__(self, raw: Path) -> None:
        self.raw = Path(raw)
        self.path = self.raw / MANIFEST
        self.journal = self.raw / JOURNAL
        self._lock = threading.Lock()
        self.items: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, Any] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.items = dict(data["items"])
                self.meta = dict(data.get("meta", {}))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise AgnbenchError(f"{self.path}: unreadable fetch manifest ({exc}); move it aside and run again "
                                    "(finished files are re-validated, not downloaded again)") from None
        self._replay()
        self._fh = None

    def _replay(self) -> None:
        if not self.journal.exists():
            return
        n = 0
        for line in self.journal.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                key = entry.pop("key")
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line torn by a crash
            self.items[key] = entry
            n += 1
        if n:
            log.info("%s: recovered %d item(s) from an interrupted run", self.journal, n)

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry for ``key`` (a copy), or None."""
        with self._lock:
            entry = self.items.get(key)
            return dict(entry) if entry is not None else None

    def record(self, key: str, entry: dict[str, Any]) -> None:
        """Set ``key``'s entry and append it to the journal (flushed at once)."""
        entry = {**entry, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        line = json.dumps({"key": key, **entry}, allow_nan=False) + "\n"
        with self._lock:
            self.items[key] = entry
            if self._fh is None:
                self._fh = open(self.journal, "a", encoding="utf-8")
            self._fh.write(line)
            self._fh.flush()

    def save(self) -> Path:
        """Write the JSON manifest atomically (items sorted by key) and drop the journal."""
        with self._lock:
            payload = {"version": _VERSION, "meta": self.meta, "counts": self._counts(),
                       "items": dict(sorted(self.items.items()))}
            atomic_write_json(self.path, payload)
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            self.journal.unlink(missing_ok=True)
        return self.path

    def _counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.items.values():
            counts[entry.get("status", "?")] = counts.get(entry.get("status", "?"), 0) + 1
        return dict(sorted(counts.items()))


@contextlib.contextmanager
def locked(raw: Path) -> Iterator[None]:
    """Hold ``RAW/.fetch.lock`` (one fetch per raw directory at a time; released if the process dies).

    Where ``fcntl`` does not exist (Windows) no lock is taken.
    """
    raw.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(raw / ".fetch.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise AgnbenchError(f"{raw}: another agnbench fetch is working on this directory; wait for it to "
                                "finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
