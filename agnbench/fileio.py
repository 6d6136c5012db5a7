"""Run and comparison directories, environment capture, atomic writes and file manifests.

Everything that agnbench writes goes through the atomic helpers here: data is written to a
temporary file (or directory) next to its destination, flushed to disk and then renamed into
place, so a crash or an exception never leaves a half-written file at the final path.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agnbench.errors import AgnbenchError, ConfigError, RunExistsError

logger = logging.getLogger(__name__)

#: Versions recorded by :func:`capture_env`: report name -> pip names (first installed wins).
_TRACKED_PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("numpy", ("numpy",)), ("scipy", ("scipy",)), ("pandas", ("pandas",)),
    ("pyarrow", ("pyarrow",)), ("astropy", ("astropy",)), ("torch", ("torch",)),
    ("xgboost", ("xgboost", "xgboost-cpu")), ("lightgbm", ("lightgbm",)),
    ("sklearn", ("scikit-learn",)), ("shap", ("shap",)), ("captum", ("captum",)),
    ("matplotlib", ("matplotlib",)),
)


# --------------------------------------------------------------------------- atomic writes


def _temp_path(path: Path) -> Path:
    """Return a fresh hidden temporary path ``<parent>/.<name>.tmp-<random>`` beside ``path``."""
    return path.parent / f".{path.name}.tmp-{secrets.token_hex(6)}"


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry to disk where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, rename it to ``path``.

    The temporary file is removed if anything fails, leaving an existing ``path`` untouched.
    """
    path = Path(path)
    tmp = _temp_path(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _write_new_bytes(tmp: Path, data: bytes) -> None:
    with open(tmp, "xb") as handle:
        handle.write(data)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (whose parent must exist) atomically; return ``path``."""
    return _write_atomic(path, lambda tmp: _write_new_bytes(tmp, data))


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Serialise ``obj`` as JSON (indent 2, key order kept) and write it atomically.

    Serialisation happens before anything touches the disk, so an unserialisable object
    leaves an existing file at ``path`` untouched.

    Raises
    ------
    ValueError
        If ``obj`` contains NaN or infinite floats (invalid JSON; they are never written).
    TypeError
        If ``obj`` contains values JSON cannot represent.
    """
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def atomic_write_parquet(path: str | Path, df: Any, *, index: bool = False) -> Path:
    """Write pandas DataFrame ``df`` to Parquet at ``path`` atomically (index kept if ``index``)."""
    return _write_atomic(path, lambda tmp: df.to_parquet(tmp, index=index))


def read_parquet(path: str | Path, *, columns: list[str] | None = None, fix: str = "re-create it") -> Any:
    """Read a Parquet file into a pandas DataFrame; an unreadable file is one clear :class:`AgnbenchError`.

    A truncated file, or something else saved under a ``.parquet`` name (an HTML error page from a
    download), names the file, the reader's reason and ``fix`` (what the user should do). A missing file
    raises :class:`FileNotFoundError` (callers that expect it say what to do).
    """
    import pandas as pd
    import pyarrow as pa

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return pd.read_parquet(path, columns=columns)
    except (pa.ArrowException, OSError, ValueError) as exc:
        with open(path, "rb") as handle:  # only the first bytes: is it an HTML page saved as .parquet?
            head = handle.read(64).lstrip().lower()
        what = "an HTML page, not Parquet" if head.startswith((b"<!doctype", b"<html")) else \
            f"not a readable Parquet file ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
        raise AgnbenchError(f"{path}: {what}; it may be truncated or corrupt: {fix}") from None


def read_json(path: str | Path, *, fix: str = "re-create it") -> Any:
    """Parse a JSON file; a damaged one (truncated, not JSON, not UTF-8) is one :class:`AgnbenchError`.

    A missing file raises :class:`FileNotFoundError` (callers that expect it say what to do).
    """
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise AgnbenchError(f"{path}: not valid JSON{where}; the file is damaged: {fix}") from None


def read_csv(path: str | Path, *, required: Iterable[str] = (), fix: str = "re-create it") -> Any:
    """Read a CSV file written by agnbench into a DataFrame, checking that ``required`` columns are present.

    A damaged file (not CSV, not UTF-8, columns missing) is one :class:`AgnbenchError` naming the file, the
    missing columns and ``fix``; a missing file raises :class:`FileNotFoundError`.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise AgnbenchError(f"{path}: not a readable CSV table ({reason}); the file is damaged: {fix}") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AgnbenchError(f"{path}: lacks column(s) {', '.join(missing)} (has {', '.join(map(str, frame.columns[:8]))}"
                            f"{', ...' if len(frame.columns) > 8 else ''}); the file is damaged or not agnbench's: {fix}")
    return frame


def _exists_message(final: Path) -> str:
    return f"{final}: already exists; use --overwrite or choose another --out"


@contextlib.contextmanager
def atomic_directory(final: str | Path, *, kind: str, overwrite: bool = False, inputs: Iterable[Any] = (),
                     config: dict[str, Any] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``final``; rename it to ``final`` on success.

    ``final`` is claimed for the whole block (:func:`agnbench.outputs.claim_output`: locked, leftovers of
    killed commands removed, ``overwrite`` allowed only on agnbench's own ``kind`` output and never on one of
    ``inputs``). The marker (:data:`agnbench.outputs.MARKER`, recording ``kind`` and ``config``) is written
    into the directory last. The temporary directory ``<parent>/.<name>.tmp-<random>`` is removed if the body
    raises. With ``overwrite`` an existing ``final`` is moved aside and deleted only after the new directory
    is in place, so nothing half-written is ever visible at ``final``.

    Raises
    ------
    RunExistsError
        If ``final`` exists and ``overwrite`` is False (checked before yielding and again
        just before the rename).
    AgnbenchError
        If ``final`` is locked by another command or may not be replaced.
    """
    from agnbench.outputs import claim_output, write_marker

    final = Path(final)
    with claim_output(final, kind=kind, overwrite=overwrite, inputs=inputs):
        if final.exists() and not overwrite:
            raise RunExistsError(_exists_message(final))
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_path(final)
        tmp.mkdir()
        try:
            yield tmp
            write_marker(tmp, kind=kind, config=config)
            if final.exists() and not overwrite:
                raise RunExistsError(_exists_message(final))
            _swap_in(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _swap_in(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``, moving an existing ``final`` aside first and deleting it afterwards."""
    old: Path | None = None
    if final.exists() or final.is_symlink():
        old = final.parent / f".{final.name}.old-{secrets.token_hex(6)}"
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    _fsync_dir(final.parent)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


# --------------------------------------------------------------------------- hashing, manifests


def sha256_file(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 digest of a file, read in chunks of ``chunk_size`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def file_manifest(root: str | Path, *, exclude: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Return ``{relative posix path: {"sha256": hex, "bytes": size}}`` for files under ``root``.

    Sorted by path; ``exclude`` lists relative POSIX paths to leave out. The output marker
    (:data:`agnbench.contracts.files.OUTPUT_MARKER`) is provenance, not content, and never listed.
    """
    from agnbench.contracts.files import OUTPUT_MARKER

    root = Path(root)
    skip = {Path(p).as_posix() for p in exclude} | {OUTPUT_MARKER}
    entries: dict[str, dict[str, Any]] = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if rel in skip:
            continue
        entries[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return dict(sorted(entries.items()))


# --------------------------------------------------------------------------- environment


def _package_version(names: Iterable[str]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip()


def _git_state() -> dict[str, Any]:
    """Return the git sha and dirty flag (tracked files only) of agnbench's source tree."""
    package_dir = Path(__file__).resolve().parent
    # An installed copy (site-packages) may sit inside some unrelated repository: require
    # that this very package is tracked before trusting the sha.
    tracked = _git(["ls-files", "--error-unmatch", f"{package_dir.name}/__init__.py"],
                   package_dir.parent)
    sha = None if tracked is None else _git(["rev-parse", "HEAD"], package_dir.parent)
    if sha is None:
        return {"sha": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], package_dir.parent)
    return {"sha": sha, "dirty": None if status is None else bool(status)}


def _affinity() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def usable_cpu_count() -> int:
    """Return the number of CPU cores this process may run on (at least 1)."""
    return max(1, _affinity() or os.cpu_count() or 1)


def capture_env(*, device: str | None = None) -> dict[str, Any]:
    """Describe the software and hardware environment of a run (``env.json``).

    Package versions are read from installed metadata without importing the packages;
    ``device`` is the compute device of the run (e.g. ``"cpu"``, ``"cuda:0"``). Returns a
    JSON-serialisable dict: ``python``, ``platform``, ``agnbench``, ``packages`` (name ->
    version or None), ``git`` (``sha``, ``dirty``), ``threads``, ``device``, ``timestamp_utc``.
    """
    from agnbench import __version__

    torch_threads: int | None = None
    torch_module = sys.modules.get("torch")
    if torch_module is not None and hasattr(torch_module, "get_num_threads"):
        torch_threads = int(torch_module.get_num_threads())
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "agnbench": __version__,
        "packages": {name: _package_version(pips) for name, pips in _TRACKED_PACKAGES},
        "git": _git_state(),
        "threads": {
            "cpu_count": os.cpu_count(),
            "affinity": _affinity(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
            "torch": torch_threads,
        },
        "device": device,
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def default_workers(requested: int) -> int:
    """Resolve a ``workers`` setting: 0 means all usable cores, otherwise the number itself.

    Raises
    ------
    ConfigError
        If ``requested`` is negative or not an integer.
    """
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 0:
        raise ConfigError(f"workers={requested!r} is invalid: use 0 (all cores) or a number >= 1")
    return usable_cpu_count() if requested == 0 else requested
