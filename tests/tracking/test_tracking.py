"""Experiment tracking (``--track mlflow|tensorboard``): what a local MLflow store and TensorBoard's event files
hold after a run equals the run directory (config, history, metrics.json, files); an unusable store stops the
command before any run directory exists; a tracker that fails mid-run never stops training."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.baselines.train_catalog import train_catalog
from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.config.tracking import TrackingConfig
from agnbench.contracts.run_dir import read_metrics
from agnbench.errors import AgnbenchError
from agnbench.tracking import Tracker, config_params, final_metrics, open_tracker
from agnbench.tracking.base import flatten

from tests.conftest import real_table_store, tiny_mock_store

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def uv_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of the real SDSS table (photometry features, BPT labels), shared by the test run."""
    return real_table_store(tmp_path_factory)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 200-galaxy mock store with spectra and 32x32 cutouts."""
    return tiny_mock_store(tmp_path_factory, n=200)


def _client(store: Path):
    from mlflow.tracking import MlflowClient

    from agnbench.tracking.mlflow_tracker import _file_store_allowed

    with _file_store_allowed():  # MLflow 3 opens a file store only when asked to
        return MlflowClient(tracking_uri=store.as_uri())


def _runs(store: Path, name: str) -> list:
    client = _client(store)
    exp = client.get_experiment_by_name("agnbench")
    return client.search_runs([exp.experiment_id], filter_string=f"tags.`agnbench.run_id` = '{name}'",
                              order_by=["attributes.start_time ASC"])


def _artifacts(client, run_id: str, path: str = "") -> set[str]:
    out = set()
    for item in client.list_artifacts(run_id, path or None):
        out |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return out


def _run_files(run: Path) -> set[str]:
    return {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}


def _check_final(client, mlrun, run: Path) -> None:
    """Final metrics and fitted parameters equal metrics.json; every run-directory file is an artifact."""
    metrics, params = final_metrics(read_metrics(run))
    assert metrics and {k: mlrun.data.metrics[k] for k in metrics} == pytest.approx(metrics, rel=1e-12, nan_ok=True)
    assert json.loads((run / "metrics.json").read_text())["test"]["roc_auc"] == mlrun.data.metrics["test.roc_auc"]
    assert {k: mlrun.data.params[k] for k in params} == params
    assert _run_files(run) <= _artifacts(client, mlrun.info.run_id)
    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == run.name


def test_catalog_run_on_a_real_table_is_logged_to_mlflow(uv_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "mlruns"
    assert main(["train", "catalog", "--data", str(uv_store), "--runs-dir", str(tmp_path / "runs"), "--name", "cat",
                 "--model", "lightgbm", "--features", "photometry", "--track", "mlflow", "--set",
                 f"tracking.uri={store}", "-q"]) == 0
    run = tmp_path / "runs" / "cat"
    [mlrun] = _runs(store, "cat")
    client = _client(store)
    cfg = load_config(run / "config.yaml")
    assert cfg.tracking.backends == ("mlflow",) and mlrun.data.params["catalog.model"] == "lightgbm"
    assert {k: mlrun.data.params[k] for k in config_params(cfg)} == config_params(cfg)  # every resolved value
    history = pd.read_csv(run / "history.csv")
    logged = client.get_metric_history(mlrun.info.run_id, "val_logloss")
    assert [m.step for m in logged] == history["round"].tolist()
    np.testing.assert_allclose([m.value for m in logged], history["val_logloss"], rtol=1e-12)
    _check_final(client, mlrun, run)
    tags = mlrun.data.tags
    data, env = (json.loads((run / f).read_text()) for f in ("data.json", "env.json"))
    assert (tags["agnbench.track"], tags["agnbench.model"], tags["agnbench.seed"]) == ("catalog", "lightgbm", "0")
    assert tags["agnbench.store_sha256"] == data["objects_sha256"]
    assert tags.get("agnbench.git_commit") == (env.get("git") or {}).get("sha")
    assert not (run / "tensorboard").exists()  # only the trackers asked for

    # agnbench compare --track mlflow: every summary.csv estimate with its interval
    other = train_catalog(load_config(overrides=["catalog.model=xgboost", "catalog.features=photometry"]),
                          data=uv_store, runs_dir=tmp_path / "runs", name="ref")
    out = tmp_path / "cmp"
    assert main(["compare", str(run), str(other), "--out", str(out), "--n-boot", "100", "--track", "mlflow",
                 "--set", f"tracking.uri={store}", "--set", "compare.subgroups=[]", "--set",
                 "compare.jackknife_groups=20", "-q"]) == 0
    [tracked] = _runs(store, "cmp")
    summary = pd.read_csv(out / "summary.csv").query("metric == 'roc_auc' and run == 'cat'").iloc[0]
    got = tracked.data.metrics
    assert (got["cat/roc_auc"], got["cat/roc_auc.lo"], got["cat/roc_auc.hi"]) == (summary.estimate, summary.lo,
                                                                                  summary.hi)
    assert tracked.data.tags["agnbench.runs"] == "cat,ref" and tracked.data.params["compare.n_boot"] == "100"
    assert {"summary.csv", "inputs.yaml"} <= _artifacts(client, tracked.info.run_id)


def test_spectra_run_interrupted_and_resumed_is_logged_to_mlflow_and_tensorboard(tiny_store: Path,
                                                                                 tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from agnbench.deep.train_deep import train_deep

    store = tmp_path / "mlruns"
    cfg = load_config(overrides=["spectra.epochs=2", "spectra.patience=5", "spectra.width=8",
                                 "tracking.backends=[mlflow,tensorboard]", f"tracking.uri={store}"])

    def stop_after_first(state) -> None:
        if state.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_deep(cfg, track="spectra", data=tiny_store, runs_dir=tmp_path, name="spec", progress=False,
                   on_epoch_end=stop_after_first)
    run = tmp_path / "spec"
    train_deep(load_config(), track="spectra", data=None, runs_dir=tmp_path, resume=run, progress=False)
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    first, second = _runs(store, "spec")
    assert first.info.status == "KILLED" and second.data.tags["agnbench.resumed"] == "true"
    client = _client(store)
    for name in ("train_loss", "val_loss", "val_score", "lr"):
        logged = client.get_metric_history(second.info.run_id, name)
        assert [m.step for m in logged] == [1, 2]  # one per epoch: the epoch before the interruption, then the next
        np.testing.assert_allclose([m.value for m in logged], history[name], rtol=1e-12)
    assert len(client.get_metric_history(first.info.run_id, "val_loss")) == 1
    assert second.data.params["spectra.width"] == "8" and second.data.tags["agnbench.track"] == "spectra"
    _check_final(client, second, run)

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    for name in ("train_loss", "val_loss", "val_score"):
        scalars = events.Scalars(name)
        assert [s.step for s in scalars] == [1, 2]
        np.testing.assert_allclose([s.value for s in scalars], history[name], rtol=1e-6)  # float32 events
    auc = events.Scalars("final/test.roc_auc")
    assert auc[-1].value == pytest.approx(read_metrics(run)["test"]["roc_auc"], rel=1e-6)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("uri, message", [
    ("{tmp}/a-file/mlruns", r"tracking.uri .*cannot be written"),
    ("http://127.0.0.1:{port}", r"no MLflow tracking server answers at 127.0.0.1:\d+"),
])
def test_an_unusable_store_stops_before_any_run_directory(uv_store: Path, tmp_path: Path, capsys, uri: str,
                                                          message: str) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    uri = uri.format(tmp=tmp_path, port=_closed_port())
    runs = tmp_path / "runs"
    assert main(["train", "catalog", "--data", str(uv_store), "--runs-dir", str(runs), "--features", "photometry",
                 "--track", "mlflow", "--set", f"tracking.uri={uri}", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("agnbench train: error: ") and re.search(message, err[0])
    assert not runs.exists() or not any(runs.iterdir())


def test_a_database_store_without_sqlalchemy_is_one_clear_error() -> None:
    import importlib.util

    if importlib.util.find_spec("sqlalchemy") is not None:
        pytest.skip("full MLflow installed: sqlite stores work")
    with pytest.raises(AgnbenchError, match=r"database store needs the full MLflow \(pip install mlflow\)"):
        open_tracker(TrackingConfig(backends=("mlflow",), uri="sqlite:///mlflow.db"))


def test_a_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(AgnbenchError, match=r"--track mlflow needs MLflow .*pip install 'agnbench\[tracking\]'"):
        open_tracker(TrackingConfig(backends=("mlflow",)))
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(AgnbenchError, match=r"--track tensorboard needs TensorBoard"):
        open_tracker(TrackingConfig(backends=("tensorboard",)))


class _Failing:
    """A backend whose store goes away after the run started."""

    name = "flaky"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self, run_dir, *, name, tags, history) -> None:
        self.calls.append("start")

    def log_params(self, params, *, config_yaml) -> None:
        self.calls.append("params")

    def log_metrics(self, metrics, *, step) -> None:
        raise ConnectionError("server went away")

    def log_artifacts(self, run_dir) -> None:
        self.calls.append("artifacts")

    def close(self, status) -> None:
        self.calls.append(status)


def test_a_tracker_failing_mid_run_warns_once_and_is_dropped(tmp_path: Path, caplog) -> None:
    backend = _Failing()
    with caplog.at_level(logging.WARNING), Tracker([backend]) as tracker:
        tracker.start(tmp_path, load_config(), track="spectra", model="resnet1d", seed=0)
        for epoch in (1, 2, 3):
            tracker.log_history({"epoch": epoch, "train_loss": 0.5})
        tracker.finish(tmp_path)
        assert tracker.active == ()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "flaky failed while logging step 1 (server went away)" in warnings[0]
    assert backend.calls == ["start", "params"]  # nothing after the failure, not even close


def test_no_tracking_by_default_imports_no_tracker() -> None:
    code = ("import sys; from agnbench.config import load_config; from agnbench.tracking import open_tracker\n"
            "cfg = load_config()\nassert cfg.tracking.backends == () and cfg.tracking.uri == 'mlruns'\n"
            "with open_tracker(cfg.tracking) as t: t.log_history({'epoch': 1, 'loss': 1.0})\n"
            "assert t.active == () and 'mlflow' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_track_flag_and_config() -> None:
    from agnbench.cli.common import resolve, track_flag
    from agnbench.cli.main import build_parser

    for argv in (["--track", "mlflow", "--track", "tensorboard"], ["--track", "mlflow,tensorboard,mlflow"]):
        args = build_parser().parse_args(["train", "catalog", "--data", "x", *argv])
        assert resolve(args, {"--track": track_flag(args)}).tracking.backends == ("mlflow", "tensorboard")
    args = build_parser().parse_args(["run", "--track", "wandb"])
    with pytest.raises(AgnbenchError, match=r"--track: tracking.backends: unknown tracker 'wandb'; use mlflow or "
                                            "tensorboard"):
        resolve(args, {"--track": track_flag(args)})
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}}) == {"a.b": 1, "a.c": [1, 2], "d": {}}
    metrics, params = final_metrics({"test": {"roc_auc": 0.9, "n": 10}, "model": {"params": {"max_depth": 6},
                                                                                  "calibration": "none",
                                                                                  "stopped_early": True}})
    assert metrics == {"test.roc_auc": 0.9, "test.n": 10.0} and params == {"model.params.max_depth": "6"}


def test_runs_that_differ_only_in_tracking_are_one_seed_group(tmp_path: Path) -> None:
    from agnbench.config.core import dump_config
    from agnbench.contracts.run_dir import seed_free_config_hash

    for name, overrides in (("a", []), ("b", ["tracking.backends=[mlflow]", "tracking.uri=elsewhere", "seed=1"]),
                            ("c", ["catalog.model=rf"])):
        (tmp_path / name).mkdir()
        dump_config(load_config(overrides=overrides), tmp_path / name / "config.yaml")
    a, b, c = (seed_free_config_hash(tmp_path / n) for n in "abc")
    assert a == b != c


def test_the_default_store_is_mlruns_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with open_tracker(TrackingConfig(backends=("mlflow",))) as tracker:  # closed before a run directory existed
        assert tracker.active == ("mlflow",)
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # set only while agnbench talks to its store
    client = _client(tmp_path / "mlruns")
    exp = client.get_experiment_by_name("agnbench")
    [run] = client.search_runs([exp.experiment_id], run_view_type=3)  # ViewType.ALL
    assert run.info.lifecycle_stage == "deleted"  # an MLflow run whose agnbench run never started is not kept
