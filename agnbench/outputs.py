"""Output directories: the one owner of locking, marking, replacing and cleaning them.

Every command that writes an output directory (``simulate``, ``prep``, ``train``, ``compare``, ``explain``,
``report``, ``predict``, ``fetch``, ``run``) claims it with :func:`claim_output` (or through
:func:`agnbench.fileio.atomic_directory`, which claims its destination):

Lock
    An exclusive ``flock`` on ``.<name>.lock`` beside the directory, held for the whole command and holding
    the holder's PID and command line. It covers the directory itself and prep's resume work directory
    ``.<name>.partial``. A second writer gets one line naming the holder's PID. The kernel drops the lock
    when the process ends, however it ends, so a ``kill -9`` leaves no stale lock. Claims are re-entrant
    within one thread (``agnbench run`` holds its top-level directories while each stage claims its own).
Marker
    :data:`MARKER` (``.agnbench-output.json``) inside every output directory: ``kind``
    (:data:`KINDS`), ``agnbench_version``, ``created_utc``, ``command`` and, for some kinds, the
    ``config`` sections that produced it (docs/contracts.md, "Output directories").
Replacing
    ``--overwrite`` replaces only a directory carrying agnbench's marker of the same kind (or an empty
    one, or an unmarked directory that is recognisably that kind of agnbench output, written before the
    marker existed); never the working directory, ``/``, the home directory or a directory holding one of
    them, and never an input of the same command or a directory holding one (:func:`check_replaceable`).
Leftovers
    ``.<name>.tmp-*``, ``.<name>.old-*`` and ``.<name>.probe-*`` beside the directory, left by a killed
    command, are removed by the next command that holds the lock (:func:`clean_leftovers`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agnbench.contracts import files
from agnbench.errors import AgnbenchError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: File name of the marker inside every output directory.
MARKER = files.OUTPUT_MARKER
#: Kinds of output directory (the marker's ``kind``), by command: simulate, fetch, prep, train, compare,
#: explain, explain --compare, report, predict.
KINDS: tuple[str, ...] = ("survey", "raw", "store", "run", "comparison", "attributions", "crosstrack", "report",
                          "predictions")
_LEFTOVER = r"\.{name}\.(?:tmp-[0-9a-f]{{12}}|old-[0-9a-f]{{12}}|probe-\w+)"


# --------------------------------------------------------------------------- paths


def output_path(path: str | Path) -> Path:
    """``path`` made absolute (``..`` resolved, the parent's symlinks followed) after checking it can be a directory.

    Raises
    ------
    AgnbenchError
        If ``path`` is the filesystem root or one of its parents is a file.
    """
    absolute = Path(os.path.abspath(Path(path).expanduser()))
    if absolute == Path(absolute.anchor):
        raise AgnbenchError(f"{path}: the filesystem root cannot be an output directory; choose another --out")
    for parent in absolute.parents:
        if parent.exists():
            if not parent.is_dir():
                raise AgnbenchError(f"{path}: {parent} is a file, not a directory; choose a writable --out")
            break
    return absolute.parent.resolve() / absolute.name  # symlinks of the existing part followed: one name per place


def lock_path(final: str | Path) -> Path:
    """The lock file of the output directory ``final``: ``.<name>.lock`` beside it."""
    final = output_path(final)
    return final.parent / f".{final.name}.lock"


# --------------------------------------------------------------------------- locking


class _Held(threading.local):
    """The locks this thread holds: lock path -> [file handle, depth] (re-entrant claims)."""

    def __init__(self) -> None:
        self.locks: dict[Path, list[Any]] = {}
        self.pid = os.getpid()

    def table(self) -> dict[Path, list[Any]]:
        if self.pid != os.getpid():  # a forked child holds nothing of its parent's
            self.locks, self.pid = {}, os.getpid()
        return self.locks


_HELD = _Held()  # process state by nature: which lock files this thread has open


def _holder(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
        return f"PID {int(info['pid'])}: {str(info.get('command', '?'))[:160]}"
    except (OSError, ValueError, KeyError, TypeError):
        return "PID unknown (it is starting)"


def _acquire(lock: Path, final: Path) -> Any:
    """Open and ``flock`` ``lock``; return the handle. The file may be replaced by a releasing holder: retry."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        handle = open(lock, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise AgnbenchError(f"{final} is in use by another agnbench command "
                                f"({_holder(lock)}); wait for it to finish or choose another output") from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "command": _command(),
                                     "started_utc": _now()}) + "\n")
            handle.flush()
            return handle
        handle.close()  # the holder removed the file as we opened it
    raise AgnbenchError(f"{lock}: could not be locked (it keeps being replaced)")


def _release(lock: Path, handle: Any) -> None:
    with contextlib.suppress(OSError):
        lock.unlink()
    with contextlib.suppress(OSError):
        fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


@contextlib.contextmanager
def output_lock(final: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of the output directory ``final`` (and its ``.partial``); yield the lock file.

    Re-entrant within one thread. Where ``fcntl`` does not exist (Windows) nothing is locked.

    Raises
    ------
    AgnbenchError
        If another process (or another open of the lock) holds it: the message names its PID and command.
    """
    lock = lock_path(final)
    held = _HELD.table()
    if fcntl is None:
        yield lock
        return
    if lock in held:
        held[lock][1] += 1
        try:
            yield lock
        finally:
            held[lock][1] -= 1
        return
    handle = _acquire(lock, Path(final))
    held[lock] = [handle, 1]
    try:
        yield lock
    finally:
        del held[lock]
        _release(lock, handle)


# --------------------------------------------------------------------------- marker


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _command() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("__main__.py", "agnbench"):
        argv[0] = "agnbench"
    return shlex.join(argv)


def write_marker(directory: str | Path, *, kind: str, config: dict[str, Any] | None = None) -> Path:
    """Write :data:`MARKER` into ``directory``: ``kind``, version, creation time, command, and ``config`` if given."""
    from agnbench import __version__
    from agnbench.fileio import atomic_write_json

    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}; use one of {', '.join(KINDS)}")
    record: dict[str, Any] = {"kind": kind, "agnbench_version": __version__, "created_utc": _now(),
                              "command": _command()}
    if config is not None:
        record["config"] = config
    return atomic_write_json(Path(directory) / MARKER, record)


def read_marker(directory: str | Path) -> dict[str, Any] | None:
    """The marker of ``directory`` as a dict; None when it has none (or an unreadable one)."""
    path = Path(directory) / MARKER
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("kind") in KINDS else None


# --------------------------------------------------------------------------- replacing


def _legacy_kind(directory: Path, kind: str) -> bool:
    """True if an unmarked ``directory`` is recognisably agnbench's ``kind`` (written before the marker existed)."""
    from agnbench.contracts.comparison import comparison_complete
    from agnbench.contracts.run_dir import is_complete, is_run_dir
    from agnbench.contracts.store import MOCK_SURVEY_KIND, STORE_KIND

    def manifest_kind() -> str | None:
        try:
            return json.loads((directory / files.MANIFEST).read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            return None

    checks = {
        "survey": lambda: manifest_kind() == MOCK_SURVEY_KIND,
        "store": lambda: manifest_kind() == STORE_KIND,
        "run": lambda: is_run_dir(directory) and is_complete(directory),
        "comparison": lambda: comparison_complete(directory),
        "attributions": lambda: (directory / files.ATTRIBUTIONS_SUMMARY).is_file(),
        "crosstrack": lambda: (directory / files.CROSSTRACK_SUMMARY).is_file()
        and (directory / files.CROSSTRACK_CORRELATIONS).is_file(),
        "report": lambda: (directory / files.REPORT_HTML).is_file(),
        "predictions": lambda: (directory / files.PREDICT_RECORD).is_file(),
    }
    check = checks.get(kind)
    return bool(check and check())


def _within(path: Path, directory: Path) -> bool:
    """True if ``path`` is ``directory`` or inside it."""
    return path == directory or directory in path.parents


def check_replaceable(final: str | Path, *, kind: str, inputs: Iterable[str | Path | None] = ()) -> None:
    """Refuse ``--overwrite`` of ``final`` unless it is agnbench's own ``kind`` output (see module docstring).

    Raises
    ------
    AgnbenchError
        One line naming ``final`` and why it is not replaced.
    """
    target = Path(os.path.realpath(final))

    def refuse(why: str) -> AgnbenchError:
        return AgnbenchError(f"--overwrite refused: {final} {why}; only a {kind} directory made by agnbench (marked "
                             f"by {MARKER}) is replaced: choose another output directory")

    for special, what in ((Path(os.path.realpath(os.getcwd())), "the working directory"),
                          (Path(os.path.realpath(Path.home())), "your home directory")):
        if _within(special, target):
            raise refuse(f"is {what}" if special == target else f"holds {what} ({special})")
    if target == Path(target.anchor):
        raise refuse("is the filesystem root")
    for given in inputs:
        if given is None:
            continue
        source = Path(os.path.realpath(given))
        if _within(source, target):
            raise refuse(f"is an input of this command ({given})" if source == target
                         else f"holds an input of this command ({given})")
    if not target.is_dir():
        raise refuse("is a file, not an output directory")
    marker = read_marker(target)
    if marker is not None:
        if marker["kind"] != kind:
            raise refuse(f"holds agnbench's {marker['kind']} output, not a {kind}")
        return
    if not any(target.iterdir()):
        return
    if _legacy_kind(target, kind):
        log.info("%s has no %s but is a complete agnbench %s (written before the marker existed); replacing it",
                 final, MARKER, kind)
        return
    raise refuse(f"was not made by agnbench as a {kind} (it has no {MARKER})")


# --------------------------------------------------------------------------- leftovers


def clean_leftovers(final: str | Path) -> list[Path]:
    """Remove ``.<name>.tmp-*``, ``.<name>.old-*`` and ``.<name>.probe-*`` beside ``final``; return them.

    Call it only while holding :func:`output_lock` of ``final``: every live writer of these names holds it.
    """
    final = output_path(final)
    if not final.parent.is_dir():
        return []
    pattern = re.compile(_LEFTOVER.format(name=re.escape(final.name)))
    removed = []
    for path in final.parent.iterdir():
        if not pattern.fullmatch(path.name):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
        log.info("removed %s, left behind by an interrupted agnbench command", path)
    return removed


# --------------------------------------------------------------------------- claiming


@contextlib.contextmanager
def claim_output(final: str | Path, *, kind: str, overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = ()) -> Iterator[Path]:
    """Claim the output directory ``final`` for one command; yield its absolute path.

    Checks the path (:func:`output_path`), holds its lock (:func:`output_lock`) until the block ends, removes
    leftovers of killed commands (:func:`clean_leftovers`) and, with ``overwrite`` and an existing ``final``,
    checks that it may be replaced (:func:`check_replaceable`). Whether an existing ``final`` without
    ``overwrite`` is an error is the caller's (or :func:`agnbench.fileio.atomic_directory`'s) business.
    """
    absolute = output_path(final)
    with output_lock(absolute):
        clean_leftovers(absolute)
        if overwrite and (absolute.exists() or absolute.is_symlink()):
            check_replaceable(final, kind=kind, inputs=inputs)
        yield absolute


def claiming(kind: str, *, out: str = "out", inputs: Iterable[str] = ()) -> Callable[[Callable], Callable]:
    """Decorator: run the function with its output directory claimed (:func:`claim_output`) for the whole call.

    ``out`` names the parameter holding the output directory, ``inputs`` those holding the command's inputs
    (paths or lists of paths); a parameter ``overwrite`` is honoured when the function has one.
    """
    names = tuple(inputs)

    def wrap(func: Callable) -> Callable:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def claimed(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            sources: list[Any] = []
            for name in names:
                value = given.get(name)
                sources += list(value) if isinstance(value, (list, tuple)) else [value]
            with claim_output(given[out], kind=kind, overwrite=bool(given.get("overwrite", False)), inputs=sources):
                return func(*args, **kwargs)

        return claimed

    return wrap
