"""agnbench.cluster: the bounded runner hands results over in submission order when finished together, reports a
job's error without stopping the others, turns a dead worker into one line; and the docs/scale.md recipe, `dask
scheduler` + `dask worker` started as commands on 127.0.0.1, builds the same store from real spectra as a local
prep."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from agnbench.cluster import run_bounded, work_executor
from agnbench.errors import AgnbenchError

from tests.conftest import REAL

ROOT = Path(__file__).resolve().parents[1]


def _square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad")
    return x * x


def _die(x: int) -> int:
    os._exit(1)


def test_run_bounded_keeps_going_past_an_error_and_bounds_what_is_in_flight() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(run_bounded(pool, 1, _square_or_fail, [(k,) for k in range(7)], what=str))
    assert sorted(k for k, _, _ in got) == list(range(7))
    results = {k: (r, e) for k, r, e in got}
    assert results[3][0] is None and isinstance(results[3][1], ValueError)
    assert all(results[k] == (k * k, None) for k in range(7) if k != 3)


def test_a_dead_local_worker_is_one_line() -> None:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        with pytest.raises(AgnbenchError, match=r"shard 0: a worker died running it .*run the same command again"):
            list(run_bounded(pool, 1, _die, [(0,)], what=lambda k: f"shard {k}"))


def test_local_executor_without_a_scheduler() -> None:
    with work_executor("", workers=1, key="x", start_method="spawn") as (pool, slots):
        assert slots == 1 and isinstance(pool, ProcessPoolExecutor)


def test_dask_scheduler_and_worker_commands_build_the_local_store(tmp_path: Path) -> None:
    """The recipe of docs/scale.md with real SDSS/BOSS spectra: `dask scheduler`, `dask worker ADDRESS
    --nworkers 2 --nthreads 1`, `agnbench prep ... --scheduler ADDRESS`."""
    from agnbench.cli.main import main

    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed beside this python")
    spectra = tmp_path / "spectra"
    spectra.mkdir()
    for path in sorted((REAL / "speclite").glob("*.fits")) + sorted((REAL / "eboss").glob("*.fits")):
        shutil.copy(path, spectra / path.name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    info = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        procs.append(subprocess.Popen([str(dask), "worker", address, "--nworkers", "2", "--nthreads", "1",
                                       "--no-dashboard", "--host", "127.0.0.1"], **quiet))
        common = ["--source", "spectra", "--raw", str(spectra), "--set", "labels.scheme=sdss_class", "--set",
                  "prep.shard_size=1", "--set", "prep.scheduler_timeout=60", "-q"]
        assert main(["prep", *common, "--out", str(tmp_path / "dask"), "--scheduler", address]) == 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            proc.wait(timeout=30)
    assert main(["prep", *common, "--out", str(tmp_path / "local"), "--workers", "1"]) == 0
    for name in ("objects.parquet", "manifest.json", "quarantine.csv", "spectra/flux.npy", "spectra/ivar.npy",
                 "spectra/wave.npy"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes(), name


def test_a_scheduler_without_workers_is_one_line() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        with pytest.raises(AgnbenchError, match=rf"--scheduler {address}: the scheduler answered but has no workers "
                                                rf"after 1 s; start them with `dask worker {address}`"):
            with work_executor(address, workers=1, key="--scheduler", timeout=1):
                pass
