"""MLflow backend of :class:`agnbench.tracking.base.Tracker` (``--track mlflow``; mlflow-skinny suffices).

One MLflow run per agnbench run, in the experiment ``tracking.experiment`` of the store at
``tracking.uri``. The MLflow run is created when the tracker is opened (before the agnbench run
directory exists, so an unusable store stops the command before anything is written), then named
after the run directory. MLflow 3 keeps its local file store (a directory such as the default
``mlruns``) in maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is true: agnbench
sets that variable while it opens such a store, unless the user set it. A database store
(``sqlite:///mlflow.db``) needs the full ``mlflow`` package (SQLAlchemy); mlflow-skinny has none.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlparse

from agnbench.errors import AgnbenchError
from agnbench.tracking.base import FAILED, FINISHED, INSTALL_HINT, KILLED, chunks

#: MLflow run statuses of :data:`~agnbench.tracking.base.FINISHED`, ``FAILED`` and ``KILLED``.
_STATUS = {FINISHED: "FINISHED", FAILED: "FAILED", KILLED: "KILLED"}
#: Schemes of database stores (SQLAlchemy), which mlflow-skinny cannot open.
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
#: Seconds to wait for a tracking server's port before calling it unreachable.
_CONNECT_TIMEOUT_S = 5.0
#: MLflow's batch limits: metrics and parameters per ``log_batch`` call.
_MAX_METRICS, _MAX_PARAMS = 1000, 100
#: MLflow's longest parameter value (characters).
_MAX_PARAM_VALUE = 6000
_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


def _import_mlflow():
    try:
        import mlflow  # noqa: F401 -- the package must be importable
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise AgnbenchError(f"--track mlflow needs MLflow ({exc}): {INSTALL_HINT}") from None
    return MlflowClient


def local_store(uri: str) -> Path | None:
    """The directory of a local file-store ``uri`` (a path or ``file:`` URI), None for any other store."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):  # a Windows drive letter
        return Path(uri)
    return None


@contextlib.contextmanager
def _file_store_allowed() -> Iterator[None]:
    """``MLFLOW_ALLOW_FILE_STORE=true`` for the duration, unless the user set it (then theirs applies)."""
    if _FILE_STORE_ENV in os.environ:
        yield
        return
    os.environ[_FILE_STORE_ENV] = "true"
    try:
        yield
    finally:
        os.environ.pop(_FILE_STORE_ENV, None)


class _FileStoreClient:
    """An ``MlflowClient`` whose every call runs under :func:`_file_store_allowed` (MLflow may reopen its store)."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with _file_store_allowed():
                return attr(*args, **kwargs)
        return call


def _check_uri(uri: str) -> str:
    """The uri MLflow is given; an :class:`AgnbenchError` for a store that cannot work (before MLflow retries)."""
    where = f"tracking.uri {uri!r}"
    store = local_store(uri)
    if store is not None:
        store = store.expanduser().absolute()
        try:
            store.mkdir(parents=True, exist_ok=True)
            probe = store / f".agnbench-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise AgnbenchError(f"{where}: the MLflow store directory {store} cannot be written "
                                f"({exc.strerror or exc}); choose a writable directory with "
                                "--set tracking.uri=DIR") from None
        return store.as_uri()
    parsed = urlparse(uri)
    if parsed.scheme.split("+")[0] in _DATABASE_SCHEMES and importlib.util.find_spec("sqlalchemy") is None:
        raise AgnbenchError(f"{where}: a database store needs the full MLflow (pip install mlflow); mlflow-skinny "
                            "opens a local directory (the default, mlruns) or a tracking server http(s)://host:port")
    if parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname or "", port), timeout=_CONNECT_TIMEOUT_S):
                pass
        except OSError as exc:
            raise AgnbenchError(f"{where}: no MLflow tracking server answers at {parsed.hostname}:{port} "
                                f"({exc.strerror or exc}); start it (mlflow server) or choose another "
                                "tracking.uri") from None
    return uri


class MlflowBackend:
    """One MLflow run; created (and the store checked) on construction."""

    name = "mlflow"

    def __init__(self, uri: str, experiment: str) -> None:
        client_cls = _import_mlflow()
        self.uri = _check_uri(uri)
        try:
            with _file_store_allowed():
                self.client = _FileStoreClient(client_cls(tracking_uri=self.uri))
                found = self.client.get_experiment_by_name(experiment)
                if found is not None and found.lifecycle_stage == "deleted":
                    raise AgnbenchError(f"tracking.experiment {experiment!r} is deleted in {uri}: restore it (mlflow "
                                        "experiments restore) or choose another tracking.experiment")
                exp_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
                self.run_id = self.client.create_run(exp_id, tags={"agnbench.status": "starting"}).info.run_id
        except AgnbenchError:
            raise
        except Exception as exc:  # noqa: BLE001 -- MlflowException, OSError, requests errors...
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise AgnbenchError(f"tracking.uri {uri!r}: MLflow could not open the experiment {experiment!r} "
                                f"({reason}); check the store, or train without --track mlflow") from None
        self.experiment_id = exp_id
        self.started = False

    def start(self, run_dir: Path, *, name: str, tags: Mapping[str, str],
              history: list[tuple[int, dict[str, float]]]) -> None:
        """Name the run, set its tags and log the epochs already trained (a resumed run starts a new MLflow run)."""
        self.started = True
        self.client.update_run(self.run_id, name=name)
        self._batch(tags=[self._entities().RunTag(k, v) for k, v in {**tags, "agnbench.status": "running"}.items()])
        if history:
            self.client.set_tag(self.run_id, "agnbench.resumed", "true")
            for step, metrics in history:
                self.log_metrics(metrics, step=step)

    def log_params(self, params: Mapping[str, str], *, config_yaml: Path | None) -> None:
        """Log parameters (values cut to MLflow's 6000 characters) and, when given, the config file as an artifact."""
        Param = self._entities().Param
        self._batch(params=[Param(k, v[:_MAX_PARAM_VALUE]) for k, v in params.items()])
        if config_yaml is not None and config_yaml.is_file():
            self.client.log_artifact(self.run_id, str(config_yaml))

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        """Log ``metrics`` at ``step`` (one timestamp for the batch)."""
        Metric = self._entities().Metric
        now = int(time.time() * 1000)
        self._batch(metrics=[Metric(k, float(v), now, int(step)) for k, v in metrics.items()])

    def log_artifacts(self, run_dir: Path) -> None:
        """Copy every file of the run directory into the run's artifacts (same relative paths)."""
        self.client.log_artifacts(self.run_id, str(run_dir))

    def close(self, status: str) -> None:
        """End the MLflow run as FINISHED, FAILED or KILLED (tag ``agnbench.status`` the same); a run closed before
        it started (no run directory was made) is deleted."""
        if not self.started:
            self.client.delete_run(self.run_id)
            return
        self.client.set_tag(self.run_id, "agnbench.status", status)
        self.client.set_terminated(self.run_id, status=_STATUS[status])

    @staticmethod
    def _entities():
        import mlflow.entities

        return mlflow.entities

    def _batch(self, *, metrics: list | None = None, params: list | None = None, tags: list | None = None) -> None:
        for part in chunks(metrics or [], _MAX_METRICS):
            self.client.log_batch(self.run_id, metrics=part)
        for part in chunks(params or [], _MAX_PARAMS):
            self.client.log_batch(self.run_id, params=part)
        for part in chunks(tags or [], _MAX_PARAMS):
            self.client.log_batch(self.run_id, tags=part)
