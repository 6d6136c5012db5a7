"""Contract 3, the run directory: its name, creation, status, model metadata and data record.

A run directory is ``runs/<YYYYmmdd-HHMMSS>-<track>-<model>-s<seed>/`` (or ``--name``) and is never
overwritten. Each track writes the same files (names in :mod:`agnbench.contracts.files`); this module is
the one place that reads and writes ``status.json``, ``model_meta.json`` and ``data.json``, and it gives
the paths of the others (:func:`history_path`, :func:`metrics_path`, :func:`env_path`,
:func:`model_weights_path`, :func:`attributions_dir`; predictions: :mod:`agnbench.contracts.predictions`).

Completion: :func:`is_complete` (``status.json`` says ``complete``), :func:`has_model_meta` (training
started and saved its metadata) and :func:`attributions_complete` (``agnbench explain`` finished: it
writes ``attributions/summary.json`` last, inside a directory renamed into place).

``model_meta.json`` has one schema for every track: ``track`` (``catalog``, ``spectra``, ``images``)
and ``model`` (``xgboost``, ``resnet1d``, ...) always, then the track's own keys (feature names for a
catalog model, the architecture for a network).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from agnbench.contracts import files
from agnbench.errors import AgnbenchError, RunExistsError
from agnbench.fileio import atomic_write_json, read_json

logger = logging.getLogger(__name__)

#: What to do about a damaged file of a run.
_REDO_RUN = "the run directory is damaged: re-train it into a new directory"
_RUN_TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"
#: Values of ``status.json``'s ``status``.
RUNNING, COMPLETE, FAILED, INTERRUPTED = "running", "complete", "failed", "interrupted"
STATUSES: tuple[str, ...] = (RUNNING, COMPLETE, FAILED, INTERRUPTED)


# --------------------------------------------------------------------------- names and creation


def _check_name_part(value: str, what: str) -> None:
    if not value or "/" in value or "\\" in value or os.sep in value or value.startswith("."):
        raise AgnbenchError(
            f"invalid {what} {value!r}: must be non-empty, contain no path separators "
            "and not start with '.'; choose another"
        )


def run_id(track: str, model: str, seed: int, *, now: datetime | None = None) -> str:
    """Return ``YYYYmmdd-HHMMSS-<track>-<model>-s<seed>`` for ``now`` (default: current time).

    Times are shown in UTC; a naive ``now`` is taken to be UTC already.
    """
    _check_name_part(track, "track")
    _check_name_part(model, "model")
    when = datetime.now(timezone.utc) if now is None else now
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    stamp = when.astimezone(timezone.utc).strftime(_RUN_TIMESTAMP_FORMAT)
    return f"{stamp}-{track}-{model}-s{int(seed)}"


def create_run_dir(
    runs_dir: str | Path,
    *,
    track: str,
    model: str,
    seed: int,
    name: str | None = None,
    now: datetime | None = None,
) -> Path:
    """Create a new, empty run directory ``runs_dir/<run_id>`` (or ``runs_dir/name``).

    ``runs_dir`` is created if missing. An automatic id that already exists gets ``-2``,
    ``-3``, ... appended; an existing directory is never reused or overwritten. The new directory holds
    only the output marker (:data:`agnbench.outputs.MARKER`, kind ``run``).

    Raises
    ------
    RunExistsError
        If ``name`` is given and ``runs_dir/name`` already exists.
    AgnbenchError
        If ``name`` contains a path separator or starts with ``'.'``.
    """
    from agnbench.outputs import output_path, write_marker

    runs_dir = Path(runs_dir)
    output_path(runs_dir / "x")  # one clear line when a parent of runs_dir is a file
    runs_dir.mkdir(parents=True, exist_ok=True)
    if name is not None:
        _check_name_part(name, "run name")
        path = runs_dir / name
        try:
            os.mkdir(path)
        except FileExistsError:
            raise RunExistsError(
                f"{path}: run already exists; runs are never overwritten, choose another --name"
            ) from None
        write_marker(path, kind="run")
        return path
    base = run_id(track, model, seed, now=now)
    suffix = 1
    while True:
        path = runs_dir / (base if suffix == 1 else f"{base}-{suffix}")
        try:
            os.mkdir(path)
        except FileExistsError:
            suffix += 1
            continue
        write_marker(path, kind="run")
        logger.debug("created run directory %s", path)
        return path


# --------------------------------------------------------------------------- status


def write_status(run_dir: str | Path, status: str, *, error: str | None = None) -> None:
    """``status.json``: ``running``, ``complete``, ``failed`` or ``interrupted`` (with the error message)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    payload: dict[str, Any] = {"status": status}
    if error is not None:
        payload["error"] = error
    atomic_write_json(Path(run_dir) / files.STATUS, payload)


def read_status(run_dir: str | Path) -> str | None:
    """The run's status (one of :data:`STATUSES`), or None if it has no ``status.json``."""
    path = Path(run_dir) / files.STATUS
    if not path.exists():
        return None
    return read_json(path, fix=_REDO_RUN).get("status")


def is_complete(run_dir: str | Path) -> bool:
    """True if the run finished: its ``status.json`` says ``complete``."""
    return read_status(run_dir) == COMPLETE


# --------------------------------------------------------------------------- model metadata


def write_model_meta(run_dir: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``model_meta.json`` atomically; ``meta`` must name its ``track`` and ``model``."""
    missing = [k for k in ("track", "model") if not meta.get(k)]
    if missing:
        raise ValueError(f"model metadata needs {missing}; got keys {sorted(meta)}")
    return atomic_write_json(Path(run_dir) / files.MODEL_META, meta)


def has_model_meta(run_dir: str | Path) -> bool:
    """True if the run directory holds a ``model_meta.json`` (a model was saved or training started)."""
    return (Path(run_dir) / files.MODEL_META).is_file()


def read_model_meta(run_dir: str | Path) -> dict[str, Any]:
    """``model_meta.json`` in the one schema (``track``, ``model``, then the track's keys).

    Runs written before the schema was unified (catalog runs with ``kind`` and no ``track``) are read
    as catalog runs.

    Raises
    ------
    AgnbenchError
        If the file is missing or names no track.
    """
    path = Path(run_dir) / files.MODEL_META
    if not path.is_file():
        raise AgnbenchError(f"{path} not found: {Path(run_dir)} is not a run directory with a saved model")
    meta = read_json(path, fix=_REDO_RUN)
    if "track" not in meta and meta.get("kind"):
        meta = {"track": "catalog", "model": meta["kind"], **meta}
    if not meta.get("track"):
        raise AgnbenchError(f"{path} does not say which track made it (no 'track' key)")
    return meta


# --------------------------------------------------------------------------- data record and config


def write_data_record(run_dir: str | Path, fingerprint: dict[str, Any]) -> Path:
    """Write ``data.json``: the store's fingerprint (:meth:`agnbench.contracts.store.Store.fingerprint`)."""
    return atomic_write_json(Path(run_dir) / files.DATA_RECORD, fingerprint)


def read_data_record(run_dir: str | Path) -> dict[str, Any]:
    """``data.json`` of a run (store path, objects sha256, label scheme, counts); ``{}`` if absent."""
    path = Path(run_dir) / files.DATA_RECORD
    return read_json(path, fix=_REDO_RUN) if path.exists() else {}


def config_path(run_dir: str | Path) -> Path:
    """The run's fully resolved ``config.yaml``."""
    return Path(run_dir) / files.CONFIG


#: Config sections that cannot change a trained model: where files go, where runs are tracked and the settings of
#: later commands.
#: :func:`seed_free_config_hash` leaves them out with ``seed``.
POST_TRAINING_SECTIONS = ("paths", "compare", "explain", "report", "tracking")
#: The fusion track's section: it cannot change a catalog, spectra or images model, but is the training config of a
#: fusion run (``model_meta.json`` ``track: fusion``), whose seed-free hash keeps it.
FUSION_SECTION = "fusion"


def read_run_config(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``config.yaml`` as a dict; None when it is absent or not a readable YAML mapping."""
    path = config_path(run_dir)
    if not path.is_file():
        return None
    try:
        cfg = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        logger.warning("%s: unreadable (%s)", path, exc)
        return None
    return cfg if isinstance(cfg, dict) else None


def seed_free_config_hash(run_dir: str | Path) -> str | None:
    """sha256 (hex) of the run's resolved config without ``seed``, ``seeds`` (how many seeds ``agnbench run``
    trains), :data:`POST_TRAINING_SECTIONS` and, unless the run is a fusion run, :data:`FUSION_SECTION`.

    Two runs with the same hash differ by seed alone (on the same store, which ``data.json`` checks), so
    their spread is a seed spread. None when the run has no readable ``config.yaml`` (a user's own model):
    such a run is never grouped with another.
    """
    cfg = read_run_config(run_dir)
    if cfg is None:
        return None
    fusion = has_model_meta(run_dir) and read_json(Path(run_dir) / files.MODEL_META, fix=_REDO_RUN).get("track") \
        == FUSION_SECTION
    dropped = {"seed", "seeds", *POST_TRAINING_SECTIONS, *(() if fusion else (FUSION_SECTION,))}
    kept = {k: v for k, v in cfg.items() if k not in dropped}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def is_run_dir(run_dir: str | Path) -> bool:
    """True if ``run_dir`` looks like a training run (it has a ``config.yaml``)."""
    return config_path(run_dir).is_file()


# --------------------------------------------------------------------------- other files of a run


def history_path(run_dir: str | Path) -> Path:
    """``history.csv``: per epoch (deep runs) or per boosting round (trees)."""
    return Path(run_dir) / files.HISTORY


def metrics_path(run_dir: str | Path) -> Path:
    """``metrics.json``: headline metrics per split."""
    return Path(run_dir) / files.METRICS


def env_path(run_dir: str | Path) -> Path:
    """``env.json``: versions, git state, device (:func:`agnbench.fileio.capture_env`)."""
    return Path(run_dir) / files.ENV


def model_weights_path(run_dir: str | Path) -> Path:
    """``model.pt``: a deep run's best weights (a ``state_dict``)."""
    return Path(run_dir) / files.MODEL_WEIGHTS


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a run; ``{}`` if absent."""
    path = metrics_path(run_dir)
    return read_json(path, fix=_REDO_RUN) if path.exists() else {}


def read_history(run_dir: str | Path) -> pd.DataFrame | None:
    """``history.csv`` of a run; None if absent."""
    path = history_path(run_dir)
    return pd.read_csv(path) if path.exists() else None


# --------------------------------------------------------------------------- attributions


def attributions_dir(run_dir: str | Path) -> Path:
    """``attributions/``: what ``agnbench explain`` wrote for the run (file names in :mod:`files`)."""
    return Path(run_dir) / files.ATTRIBUTIONS_DIR


def attributions_summary_path(run_dir: str | Path) -> Path:
    """``attributions/summary.json``, written last by ``agnbench explain``."""
    return attributions_dir(run_dir) / files.ATTRIBUTIONS_SUMMARY


def attributions_complete(run_dir: str | Path) -> bool:
    """True if ``agnbench explain`` finished for the run (``attributions/summary.json`` exists)."""
    return attributions_summary_path(run_dir).exists()


def read_attributions_summary(run_dir: str | Path) -> dict[str, Any]:
    """``attributions/summary.json`` of a run (see :func:`attributions_complete`)."""
    return read_json(attributions_summary_path(run_dir), fix="re-run agnbench explain with --overwrite")
