"""The tracker every training track logs through, and what it logs from a run directory.

A track opens one :class:`Tracker` per run with :func:`open_tracker` BEFORE it creates the run
directory, so a tracking store that cannot be reached or written is one :class:`AgnbenchError` and no
run directory is made. Once training runs, the run directory (docs/contracts.md, Contract 3) is the
record: a backend that fails later logs one warning, is dropped for the rest of the run, and
training goes on. With ``tracking.backends`` empty (the default) the tracker does nothing and
imports nothing.

Backends (:mod:`.mlflow_tracker`, :mod:`.tensorboard_tracker`) implement :class:`Backend`; their
libraries are imported only when chosen.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import pandas as pd

from agnbench.config.core import Config, config_to_dict
from agnbench.config.tracking import TrackingConfig
from agnbench.contracts import files
from agnbench.contracts.run_dir import env_path, read_data_record, read_metrics
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)
#: History columns that name the step (``history.csv``: ``epoch`` of a deep run, ``round`` of a tree model).
STEP_COLUMNS = ("epoch", "round")
#: Statuses :meth:`Tracker.__exit__` hands the backends: the run finished, failed or was interrupted.
FINISHED, FAILED, KILLED = "finished", "failed", "killed"
#: What to install when a tracker's library is missing.
INSTALL_HINT = "pip install 'agnbench[tracking]' (mlflow-skinny and tensorboard)"


class Backend(Protocol):
    """One experiment tracker (MLflow, TensorBoard) for one run: what :class:`Tracker` calls.

    ``start`` is called once the run directory holds its config, environment and data record;
    ``history`` holds ``(step, metrics)`` of epochs already trained (a resumed run), which the backend
    logs unless it has them already. Metrics are plain ``{name: float}`` at an integer ``step``.
    """

    name: str

    def start(self, run_dir: Path, *, name: str, tags: Mapping[str, str],
              history: list[tuple[int, dict[str, float]]]) -> None: ...

    def log_params(self, params: Mapping[str, str], *, config_yaml: Path) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None: ...

    def log_artifacts(self, run_dir: Path) -> None: ...

    def close(self, status: str) -> None: ...


class Tracker:
    """The backends of one run, as one; a context manager (its exit closes them with the run's status).

    Every call after :func:`open_tracker` is guarded: a backend that raises is logged as one warning
    and dropped, so tracking never stops or corrupts a training run. A tracker without backends (the
    default) does nothing.
    """

    def __init__(self, backends: list[Backend]) -> None:
        self._backends = list(backends)
        self._last_step = 0

    @property
    def active(self) -> tuple[str, ...]:
        """Names of the backends still logging."""
        return tuple(b.name for b in self._backends)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        status = FINISHED if kind is None else KILLED if issubclass(kind, KeyboardInterrupt) else FAILED
        self._each(f"closing the run ({status})", lambda b: b.close(status))
        self._backends = []

    def start(self, run_dir: Path, cfg: Config, *, track: str, model: str, seed: int,
              history: pd.DataFrame | None = None) -> None:
        """Name the tracked run after ``run_dir``, tag it, log the resolved config (and ``history`` of a resumed run).

        Parameters
        ----------
        run_dir : Path
            The run directory, holding ``config.yaml``, ``env.json`` and ``data.json``.
        cfg : Config
            The run's resolved config, logged flattened (``catalog.model`` -> ``xgboost``).
        history : pandas.DataFrame, optional
            Epochs already trained (``history.csv`` rows) of a run resumed from its checkpoint.
        """
        if not self._backends:
            return
        tags = run_tags(run_dir, track=track, model=model, seed=seed)
        rows = list(history_steps(history)) if history is not None and len(history) else []
        self._last_step = rows[-1][0] if rows else 0
        self._each("starting the run", lambda b: b.start(run_dir, name=run_dir.name, tags=tags, history=rows))
        params = config_params(cfg)
        self._each("logging the config", lambda b: b.log_params(params, config_yaml=run_dir / files.CONFIG))

    def log_history(self, history: pd.DataFrame | Mapping[str, Any]) -> None:
        """Log history rows (``history.csv``: a whole frame, or one epoch's row as a mapping) at their steps."""
        if not self._backends:
            return
        frame = pd.DataFrame([history]) if isinstance(history, Mapping) else history
        for step, metrics in history_steps(frame):
            self._last_step = step
            self._each(f"logging step {step}", lambda b, m=metrics, s=step: b.log_metrics(m, step=s))

    def finish(self, run_dir: Path) -> None:
        """Log the final metrics (``metrics.json``, flattened) and the run directory as artifacts."""
        if not self._backends:
            return
        metrics, params = final_metrics(read_metrics(run_dir))
        self._each("logging the final metrics", lambda b: b.log_metrics(metrics, step=self._last_step))
        self._each("logging the model's fitted parameters", lambda b: b.log_params(params, config_yaml=None))
        self._each("logging the run directory", lambda b: b.log_artifacts(run_dir))

    def log_comparison(self, comparison: Path, cfg: Config) -> None:
        """Track a finished comparison as one run: the ``compare`` settings, every ``summary.csv`` estimate with
        its interval and the ``primary.csv`` deltas (:func:`comparison_metrics`), the directory as artifacts."""
        if not self._backends:
            return
        from agnbench.tracking.comparison import comparison_metrics, comparison_tags

        tags = comparison_tags(comparison)
        self._each("starting the run", lambda b: b.start(comparison, name=comparison.name, tags=tags, history=[]))
        params = {k: v for k, v in config_params(cfg).items() if k.split(".")[0] in ("seed", "compare")}
        self._each("logging the config", lambda b: b.log_params(params, config_yaml=None))
        metrics = comparison_metrics(comparison)
        self._each("logging the comparison", lambda b: b.log_metrics(metrics, step=0))
        self._each("logging the comparison directory", lambda b: b.log_artifacts(comparison))

    def _each(self, what: str, call) -> None:
        for backend in list(self._backends):
            try:
                call(backend)
            except Exception as exc:  # noqa: BLE001 -- any tracker failure: warn once, keep training
                reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                log.warning("tracking: %s failed while %s (%s); training goes on and this run is no longer logged "
                            "to %s (its run directory is the record)", backend.name, what, reason, backend.name)
                self._backends.remove(backend)


def open_tracker(tc: TrackingConfig) -> Tracker:
    """The :class:`Tracker` of ``tc.backends``, opened now: a store that cannot be used is an error here.

    Raises
    ------
    AgnbenchError
        A tracker library is missing (``pip install 'agnbench[tracking]'``), the MLflow store at
        ``tc.uri`` cannot be written or does not answer, or the experiment cannot be used.
    """
    backends: list[Backend] = []
    try:
        for name in tc.backends:
            if name == "mlflow":
                from agnbench.tracking.mlflow_tracker import MlflowBackend

                backends.append(MlflowBackend(tc.uri, tc.experiment))
            elif name == "tensorboard":
                from agnbench.tracking.tensorboard_tracker import TensorBoardBackend

                backends.append(TensorBoardBackend())
            else:  # config validation keeps this out
                raise AgnbenchError(f"tracking.backends: unknown tracker {name!r}")
    except BaseException:
        for b in backends:  # one opened, a later one failed: discard what was opened
            b.close(FAILED)
        raise
    if backends:
        log.info("tracking this run with %s", ", ".join(b.name for b in backends))
    return Tracker(backends)


def open_comparison_tracker(tc: TrackingConfig) -> Tracker:
    """:func:`open_tracker` for ``agnbench compare``: MLflow only (a comparison has no steps for TensorBoard)."""
    if "tensorboard" in tc.backends:
        log.info("tracking: a comparison has no steps for TensorBoard; only MLflow logs it")
    return open_tracker(dataclasses.replace(tc, backends=tuple(b for b in tc.backends if b == "mlflow")))


def _plain(value: Any) -> str:
    """A config value as MLflow parameter text (lists as JSON, null as ``null``)."""
    if isinstance(value, (list, tuple, dict)) or value is None or isinstance(value, bool):
        return json.dumps(value, default=str)
    return str(value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def config_params(cfg: Config) -> dict[str, str]:
    """The resolved config as ``{dotted key: text}`` (every key of ``config.yaml``)."""
    return {k: _plain(v) for k, v in flatten(config_to_dict(cfg)).items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def final_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """``metrics.json`` as ``(metrics, params)``: every number, flattened (``test.roc_auc``, ``model.best_epoch``),
    except the fitted model parameters under ``model.params``, which are parameters (``model.params.max_depth``)."""
    out, params = {}, {}
    for key, value in flatten(metrics).items():
        if key.startswith("model.params."):
            params[key] = _plain(value)
        elif _is_number(value):
            out[key] = float(value)
    return out, params


def history_steps(history: pd.DataFrame) -> Iterator[tuple[int, dict[str, float]]]:
    """``(step, {column: value})`` per history row: the step is the ``epoch`` or ``round`` column (else the row
    number); numeric columns only (flags such as ``best`` are left out), NaN values skipped."""
    step_col = next((c for c in STEP_COLUMNS if c in history.columns), None)
    columns = [c for c in history.columns if c != step_col and pd.api.types.is_numeric_dtype(history[c])
               and not pd.api.types.is_bool_dtype(history[c])]
    steps = history[step_col].astype(int).tolist() if step_col is not None else range(len(history))
    values = history[columns].astype(float).to_numpy()
    for step, row in zip(steps, values):
        yield int(step), {c: float(v) for c, v in zip(columns, row) if not math.isnan(v)}


def run_tags(run_dir: Path, *, track: str, model: str, seed: int) -> dict[str, str]:
    """Tags of a tracked run: track, model, seed, the run directory, the store fingerprint and the git commit
    (from ``data.json`` and ``env.json``, when present)."""
    tags = {"agnbench.track": track, "agnbench.model": model, "agnbench.seed": str(seed),
            "agnbench.run_dir": str(Path(run_dir).resolve()), "agnbench.run_id": Path(run_dir).name}
    data = read_data_record(run_dir)
    for key in ("store", "objects_sha256", "label_scheme"):
        if data.get(key) is not None:
            tags[f"agnbench.{'store_sha256' if key == 'objects_sha256' else key}"] = str(data[key])
    env = _read_env(run_dir)
    if env.get("agnbench"):
        tags["agnbench.version"] = str(env["agnbench"])
    git = env.get("git") or {}
    if git.get("sha"):
        tags["agnbench.git_commit"] = tags["mlflow.source.git.commit"] = str(git["sha"])
        tags["agnbench.git_dirty"] = str(bool(git.get("dirty"))).lower()
    if env.get("device"):
        tags["agnbench.device"] = str(env["device"])
    return tags


def _read_env(run_dir: Path) -> dict[str, Any]:
    path = env_path(run_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` (MLflow's batch limits)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
