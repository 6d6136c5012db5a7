"""Contract 1, the dataset store (``agnbench prep``) and the raw survey it is made from.

Paths
    :func:`store_paths` gives every file of a store (``objects.parquet``, ``manifest.json``,
    ``quarantine.csv``, ``config.yaml``, the spectra and images arrays); :func:`survey_paths` those of
    a raw survey directory that this package owns (its ``manifest.json``, ``config.yaml``, ``catalog/``
    and the mock's ``truth.parquet``).
Reading
    :func:`open_store` opens and validates a store (every track trains through it);
    :func:`read_objects` reads ``objects.parquet`` as it is and :func:`read_manifest` the manifest.
    :func:`validate_store_arrays` checks the arrays (every value finite and within
    :data:`MAX_ABS_VALUE`, rows in range); ``agnbench prep`` runs it before a store is renamed into
    place, and ``agnbench validate STORE`` runs it on any store.
Completion
    :func:`store_complete` (``agnbench prep`` writes ``manifest.json`` last, atomically) and
    :func:`survey_complete` (the same for ``agnbench simulate``).
Finding the store behind runs
    A run records its store in ``data.json`` (:meth:`Store.fingerprint`). :func:`locate_store` gives the
    store to use for some runs (an explicit ``--data`` first, else the first recorded path),
    :func:`store_candidates` every path worth trying, :func:`recorded_sha256` the recorded checksum and
    :func:`store_state` / :func:`check_store` whether a path holds that store (``ok``), nothing
    (``missing``), a changed store (``changed``), or no path is known (``unknown``). Each caller keeps
    its own policy: ``agnbench explain`` raises, ``agnbench report`` warns and leaves sections out,
    ``agnbench compare`` records why its subgroups were skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agnbench.contracts import files
from agnbench.contracts.run_dir import read_data_record
from agnbench.contracts.schema import validate_objects
from agnbench.errors import AgnbenchError, SchemaError
from agnbench.fileio import read_json, read_parquet, sha256_file

#: Values of :func:`store_state`.
STORE_OK, STORE_UNKNOWN, STORE_MISSING, STORE_CHANGED = "ok", "unknown", "missing", "changed"
#: ``kind`` of a store's ``manifest.json`` and of a mock survey's.
STORE_KIND, MOCK_SURVEY_KIND = "agnbench dataset store", "agnbench mock survey"
#: Largest magnitude of any value in a store's arrays (``flux.npy``, ``ivar.npy``, ``cutouts.npy``):
#: sqrt of float32's largest value (~1.8e19), so that the square of every value is finite in float32
#: (training computes variances and norms in float32). Inputs beyond it are quarantined by prep.
MAX_ABS_VALUE = float(np.sqrt(np.finfo(np.float32).max))
#: Bytes of one array read at a time by :func:`validate_store_arrays`.
_CHECK_CHUNK_BYTES = 16 << 20
#: The arrays :func:`validate_store_arrays` checks: name -> the objects.parquet column holding their row.
STORE_ARRAYS = {"flux": "spec_row", "ivar": "spec_row", "cutouts": "image_row"}


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class StorePaths:
    """The files of one dataset store (none need exist).

    Attributes
    ----------
    root : Path
        The store directory.
    """

    root: Path

    @property
    def objects(self) -> Path:
        """``objects.parquet``: one row per object (Contract 1 columns)."""
        return self.root / files.OBJECTS

    @property
    def manifest(self) -> Path:
        """``manifest.json``: provenance, cuts, counts, labels; written last."""
        return self.root / files.MANIFEST

    @property
    def quarantine(self) -> Path:
        """``quarantine.csv``: the inputs rejected, with the reason."""
        return self.root / files.QUARANTINE

    @property
    def config(self) -> Path:
        """``config.yaml``: the full config ``agnbench prep`` ran with."""
        return self.root / files.CONFIG

    @property
    def spectra_dir(self) -> Path:
        """``spectra/``, present when the store has spectra."""
        return self.root / files.SPECTRA_DIR

    @property
    def wave(self) -> Path:
        """``spectra/wave.npy``: rest-frame wavelength grid, shape (n_pix,), Å."""
        return self.spectra_dir / files.SPECTRA_WAVE

    @property
    def flux(self) -> Path:
        """``spectra/flux.npy``: normalised flux, shape (n_spectra, n_pix), float32."""
        return self.spectra_dir / files.SPECTRA_FLUX

    @property
    def ivar(self) -> Path:
        """``spectra/ivar.npy``: inverse variance of ``flux``, shape (n_spectra, n_pix), float32."""
        return self.spectra_dir / files.SPECTRA_IVAR

    @property
    def images_dir(self) -> Path:
        """``images/``, present when the store has cutouts."""
        return self.root / files.IMAGES_DIR

    @property
    def cutouts(self) -> Path:
        """``images/cutouts.npy``: stretched cutouts, shape (n_images, bands, size, size), float16."""
        return self.images_dir / files.IMAGES_CUTOUTS

    @property
    def images_meta(self) -> Path:
        """``images/meta.json``: bands, size, pixel scale and stretch of the cutouts."""
        return self.images_dir / files.IMAGES_META


def store_paths(path: str | Path) -> StorePaths:
    """The files of the store at ``path``."""
    return StorePaths(Path(path))


@dataclass(frozen=True)
class SurveyPaths:
    """The files of a raw survey directory that ``agnbench simulate`` writes (none need exist).

    Attributes
    ----------
    root : Path
        The survey directory.
    """

    root: Path

    @property
    def manifest(self) -> Path:
        """``manifest.json``: what was simulated, with file checksums; written last."""
        return self.root / files.MANIFEST

    @property
    def config(self) -> Path:
        """``config.yaml``: the config the survey was simulated with."""
        return self.root / files.CONFIG

    @property
    def catalog_dir(self) -> Path:
        """``catalog/``: the MPA-JHU-style catalog tables."""
        return self.root / files.SURVEY_CATALOG_DIR

    @property
    def truth(self) -> Path:
        """``truth.parquet``: the mock survey's planted properties (absent from real surveys)."""
        return self.root / files.SURVEY_TRUTH


def survey_paths(raw: str | Path) -> SurveyPaths:
    """The files of the raw survey directory ``raw``."""
    return SurveyPaths(Path(raw))


# --------------------------------------------------------------------------- completion


def store_complete(path: str | Path) -> bool:
    """True if ``agnbench prep`` finished the store at ``path`` (its ``manifest.json`` exists)."""
    return store_paths(path).manifest.exists()


def survey_complete(raw: str | Path) -> bool:
    """True if ``agnbench simulate`` finished the survey at ``raw`` (its ``manifest.json`` exists)."""
    return survey_paths(raw).manifest.exists()


def survey_has_catalog(raw: str | Path) -> bool:
    """True if ``raw`` holds a ``catalog/`` directory (simulated, or downloaded by ``agnbench fetch``)."""
    return survey_paths(raw).catalog_dir.is_dir()


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Store:
    """An opened dataset store.

    Attributes
    ----------
    path : Path
    objects : pandas.DataFrame
        ``objects.parquet``, validated.
    manifest : dict
        ``manifest.json``.
    classes : tuple of str
        Class names in label order.
    """

    path: Path
    objects: pd.DataFrame
    manifest: dict
    classes: tuple[str, ...]

    @property
    def paths(self) -> StorePaths:
        """The store's files."""
        return store_paths(self.path)

    @property
    def spectra_frame(self) -> str:
        """``"rest"`` or ``"observed"``: the frame of ``spectra/wave.npy`` (:func:`spectra_frame`)."""
        return spectra_frame(self.manifest)

    def fingerprint(self) -> dict:
        """What a run records about its data: path, sha256 of objects.parquet, counts per split x label."""
        counts = self.objects.groupby(["split", "label_name"]).size()
        return {
            "store": str(self.path.resolve()),
            "objects_sha256": sha256_file(self.paths.objects),
            "label_scheme": self.manifest.get("labels", {}).get("scheme"),
            "classes": list(self.classes),
            "counts": {f"{s}/{lab}": int(n) for (s, lab), n in counts.items()},
        }


def open_store(path: str | Path) -> Store:
    """Open and validate a store written by ``agnbench prep``.

    Raises
    ------
    AgnbenchError
        If the directory, ``objects.parquet`` or ``manifest.json`` is missing or invalid.
    """
    path = Path(path)
    paths = store_paths(path)
    if not paths.objects.exists():
        hint = " (it looks like a raw survey: run agnbench prep first)" if survey_has_catalog(path) else ""
        raise AgnbenchError(f"{path}: not a dataset store (no objects.parquet){hint}; create one with agnbench prep")
    if not paths.manifest.exists():
        raise AgnbenchError(f"{path}: no manifest.json; the store is incomplete, re-run agnbench prep")
    manifest = read_json(paths.manifest, fix="re-run agnbench prep")
    objects = read_parquet(paths.objects, fix="re-run agnbench prep")
    validate_objects(objects, source=str(paths.objects))
    classes = tuple(manifest.get("labels", {}).get("classes") or ())
    if not classes:
        names = objects.loc[objects["label"] >= 0].sort_values("label").drop_duplicates("label")["label_name"]
        classes = tuple(names)
    return Store(path=path, objects=objects, manifest=manifest, classes=classes)


def validate_store_arrays(path: str | Path, objects: pd.DataFrame | None = None, *,
                          arrays: Iterable[str] = tuple(STORE_ARRAYS)) -> None:
    """Check a store's arrays (Contract 1): every value finite with ``|x| <= MAX_ABS_VALUE``, rows in range.

    The arrays are read in chunks through a memory map, so memory stays flat whatever their size.

    Parameters
    ----------
    path : path
        The store directory.
    objects : pandas.DataFrame, optional
        Its objects table (read from ``objects.parquet`` if None); names the objects of bad rows.
    arrays : iterable of str
        Which of :data:`STORE_ARRAYS` to check (those the store lacks are skipped).

    Raises
    ------
    SchemaError
        One line per problem, each naming the array, how many values, the object ids and rows.
    """
    paths = store_paths(path)
    objects = read_objects(path) if objects is None else objects
    problems = []
    for name in arrays:
        array, column = getattr(paths, name), STORE_ARRAYS[name]
        if not array.exists():
            continue
        rel = array.relative_to(paths.root).as_posix()
        data = np.load(array, mmap_mode="r")
        rows = objects[column].to_numpy(np.int64) if column in objects else np.empty(0, np.int64)
        if rows.size and rows.max() >= len(data):
            problems.append(f"{rel} has {len(data)} rows but objects.parquet {column} goes up to {rows.max()}")
        step = max(1, _CHECK_CHUNK_BYTES // max(1, data[:1].nbytes))
        bad_rows, n_bad, worst = [], 0, 0.0
        if not np.issubdtype(data.dtype, np.floating):
            problems.append(f"{rel} has dtype {data.dtype}, not a float dtype")
            continue
        small = float(np.finfo(data.dtype).max) <= MAX_ABS_VALUE  # float16: only NaN/inf can be out of range
        for lo in range(0, len(data), step):
            chunk = np.asarray(data[lo : lo + step]).reshape(min(step, len(data) - lo), -1)
            with np.errstate(invalid="ignore"):
                if np.isfinite(chunk).all() if small else np.abs(chunk).max(initial=0) <= MAX_ABS_VALUE:
                    continue  # the common case: one reduction per chunk
                chunk = np.abs(chunk.astype(np.float32))
                bad = ~(chunk <= MAX_ABS_VALUE)  # NaN, inf and overflow-prone values
            if bad.any():
                per_row = bad.sum(axis=1)
                n_bad += int(per_row.sum())
                bad_rows.extend((lo + np.flatnonzero(per_row)).tolist())
                worst = max(worst, float(np.nanmax(chunk[bad], initial=0.0)))
        if n_bad:
            ids = objects["object_id"].to_numpy()[np.isin(rows, bad_rows)] if rows.size else np.empty(0)
            problems.append(f"{rel}: {n_bad} value(s) not finite or beyond {MAX_ABS_VALUE:.3g} (largest |value| "
                            f"{worst:.4g}) in {len(bad_rows)} row(s) {bad_rows[:5]}, object_id "
                            f"{', '.join(map(str, ids[:5])) or '(none)'}")
    if problems:
        raise SchemaError(f"{paths.root}: invalid store arrays (docs/contracts.md, Contract 1; rebuild the store "
                          "with agnbench prep):\n  " + "\n  ".join(problems))


def validate_store(path: str | Path) -> Store:
    """Check a whole store (``agnbench validate``): :func:`open_store`, the files ``manifest.json`` lists
    (size and sha256 unchanged, none missing) and :func:`validate_store_arrays`.

    Raises
    ------
    AgnbenchError
        Naming every file that is missing or changed, or (:class:`SchemaError`) every array problem.
    """
    from agnbench.fileio import file_manifest

    store = open_store(path)
    listed = store.manifest.get("files") or {}
    actual = file_manifest(store.path, exclude=[f for f in _all_files(store.path) if f not in listed])
    missing = sorted(set(listed) - set(actual))
    changed = sorted(f for f in listed if f in actual and actual[f] != listed[f])
    if missing or changed:
        raise AgnbenchError(f"{store.path}: files differ from manifest.json (docs/contracts.md, Contract 1): "
                            + "; ".join([f"missing {', '.join(missing)}"] * bool(missing)
                                        + [f"changed since prep {', '.join(changed)}"] * bool(changed))
                            + "; rebuild the store with agnbench prep")
    validate_store_arrays(store.path, store.objects)
    return store


def _all_files(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]


def read_objects(path: str | Path) -> pd.DataFrame:
    """The store's ``objects.parquet`` as written (not validated; the manifest is not needed)."""
    return read_parquet(store_paths(path).objects, fix="re-run agnbench prep")


def spectra_frame(manifest: dict[str, Any]) -> str:
    """The frame of a store's spectra grid from its manifest: ``manifest["spectra"]["frame"]``, or ``"rest"``
    for stores made before observed-frame stores existed (they were all rest-frame)."""
    return str((manifest.get("spectra") or {}).get("frame", "rest"))


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The store's ``manifest.json``; ``{}`` if it has none."""
    manifest = store_paths(path).manifest
    return read_json(manifest, fix="re-run agnbench prep") if manifest.exists() else {}


def read_survey_manifest(raw: str | Path) -> dict[str, Any]:
    """A raw survey's ``manifest.json``; ``{}`` if it has none."""
    manifest = survey_paths(raw).manifest
    return read_json(manifest, fix="re-run agnbench prep") if manifest.exists() else {}


# --------------------------------------------------------------------------- the store behind runs


def store_candidates(run_dirs: Iterable[str | Path], data: str | Path | None = None) -> list[Path]:
    """Every store path worth trying for these runs, in order: ``data`` (if given), then each run's recorded store.

    Parameters
    ----------
    run_dirs : iterable of path
        Run directories; those without a ``data.json`` (bare predictions) record nothing.
    data : path, optional
        An explicit ``--data``.
    """
    candidates = [Path(data)] if data is not None else []
    for run in run_dirs:
        recorded = read_data_record(run).get("store")
        if recorded:
            candidates.append(Path(recorded))
    return candidates


def locate_store(run_dirs: Iterable[str | Path], data: str | Path | None = None) -> Path | None:
    """The store to use for these runs: ``data`` if given, else the first store a run recorded; None if none did."""
    if data is not None:
        return Path(data)
    return next(iter(store_candidates(run_dirs)), None)


def recorded_sha256(run_dirs: Iterable[str | Path]) -> str | None:
    """The first ``objects_sha256`` recorded in the runs' ``data.json``; None if none records one."""
    for run in run_dirs:
        sha = read_data_record(run).get("objects_sha256")
        if sha:
            return str(sha)
    return None


def store_state(path: str | Path | None, sha256: str | None = None) -> str:
    """Whether ``path`` holds the store a run recorded.

    Parameters
    ----------
    path : path or None
        A store path (from :func:`locate_store`); None when no path is known.
    sha256 : str, optional
        The recorded sha256 of ``objects.parquet``; without it the checksum is not checked.

    Returns
    -------
    str
        :data:`STORE_UNKNOWN` (no path), :data:`STORE_MISSING` (no ``objects.parquet`` there),
        :data:`STORE_CHANGED` (its sha256 differs from ``sha256``) or :data:`STORE_OK`.
    """
    if path is None:
        return STORE_UNKNOWN
    objects = store_paths(path).objects
    if not objects.exists():
        return STORE_MISSING
    if sha256 and sha256_file(objects) != sha256:
        return STORE_CHANGED
    return STORE_OK


def check_store(path: str | Path | None, recorded_sha: str | None) -> bool:
    """True if ``path`` holds an ``objects.parquet`` whose sha256 is ``recorded_sha`` (any, if that is None)."""
    return store_state(path, recorded_sha) == STORE_OK
