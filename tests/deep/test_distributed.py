"""`agnbench train spectra` under torchrun with 2 CPU processes (gloo on 127.0.0.1), and its failure modes.

The one-process run of the same store and config is the reference: the 2-process run must write one
complete run directory whose predictions cover every val/test/ood object exactly once, and reach the
same val ROC-AUC within :data:`AUC_TOLERANCE`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from agnbench.config.core import load_config
from agnbench.contracts.run_dir import is_complete, read_status
from agnbench.contracts.store import open_store
from agnbench.deep.distributed import Distributed, from_env
from agnbench.deep.train_deep import train_deep
from agnbench.errors import AgnbenchError

from tests.conftest import tiny_mock_store

ROOT = Path(__file__).resolve().parents[2]
#: A small model and schedule: 6 epochs of a width-8 1D ResNet train in a few seconds per process.
TINY = ["spectra.width=8", "spectra.epochs=6", "spectra.patience=6", "spectra.threads=1"]
#: |val AUC (2 processes) - val AUC (1 process)|. The two runs see the same objects, schedule and global batch
#: but not the same shuffles, augmentations, dropout masks or batch-norm batches (each process normalises its
#: half batch), so they differ as two seeds do. Measured on this store (val: 37 objects, 7 AGN, so one AGN-SF
#: pair is 1/210 = 0.005 of AUC) with this config, best val AUC for seeds 0, 1, 2: one process 0.929, 0.933,
#: 0.933; two processes 0.910, 0.938, 0.924 (per-seed differences 0.019, 0.005, 0.010; largest spread of all
#: six 0.029). The tolerance is twice that spread.
AUC_TOLERANCE = 0.06
#: Both runs must also learn: the six measured runs are all >= 0.91 (chance is 0.5).
AUC_FLOOR = 0.85


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str, nproc: int = 2) -> list[str]:
    """``agnbench train spectra ARGS -q`` under torchrun with ``nproc`` CPU processes on a free local port."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
            "127.0.0.1", "--master_port", str(_free_port()), "-m", "agnbench", "train", "spectra", *args, "-q"]


def _train_args(store: Path, runs: Path) -> list[str]:
    return ["--data", str(store), "--runs-dir", str(runs), "--name", "ddp", *(a for kv in TINY for a in ("--set", kv))]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-galaxy mock store with 32 px cutouts (val: ~37 labelled objects)."""
    return tiny_mock_store(tmp_path_factory, n=300)


@pytest.fixture(scope="module")
def two_process_run(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``agnbench train spectra`` (:data:`TINY`) under torchrun with 2 CPU processes: (runs dir, stdout)."""
    runs = tmp_path_factory.mktemp("two")
    out = subprocess.run(_torchrun(*_train_args(small_store, runs)), capture_output=True, text=True, env=_env(),
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return runs, out.stdout


def test_two_processes_write_one_complete_run_with_the_one_process_val_auc(
        small_store: Path, two_process_run: tuple[Path, str], tmp_path: Path) -> None:
    one = train_deep(load_config(overrides=TINY), track="spectra", data=small_store, runs_dir=tmp_path,
                     progress=False)
    runs, stdout = two_process_run
    run = runs / "ddp"
    assert stdout.strip().splitlines() == [str(run)]  # rank 0 alone prints the run
    assert [p.name for p in runs.iterdir() if not p.name.startswith(".")] == ["ddp"]
    assert is_complete(run)
    env1, env2 = (json.loads((r / "env.json").read_text()) for r in (one, run))
    assert "distributed" not in env1 and env2["distributed"]["world_size"] == 2
    assert env2["distributed"]["backend"] == "gloo"
    objects = open_store(small_store).objects
    preds = pd.read_parquet(run / "predictions.parquet")
    for split in ("val", "test", "ood"):  # every object of the split once: no padded duplicates, none missing
        want = objects.loc[(objects["split"] == split) & (objects["spec_row"] >= 0), "object_id"]
        got = preds.loc[preds["split"] == split, "object_id"]
        assert got.is_unique and set(got) == set(want), split
    m1, m2 = (json.loads((r / "metrics.json").read_text()) for r in (one, run))
    assert m2["val"]["n"] == m1["val"]["n"] == int(((objects["split"] == "val") & (objects["label"] >= 0)).sum())
    auc1, auc2 = m1["model"]["best_val_score"], m2["model"]["best_val_score"]
    assert min(auc1, auc2) >= AUC_FLOOR and abs(auc2 - auc1) <= AUC_TOLERANCE, (auc1, auc2)
    # the same optimisation: same steps per epoch (global batch split over the processes), same schedule
    h1, h2 = pd.read_csv(one / "history.csv"), pd.read_csv(run / "history.csv")
    np.testing.assert_allclose(h2["lr"].to_numpy(), h1["lr"].to_numpy()[: len(h2)])


def _worker_pids(launcher: int) -> dict[int, int]:
    """rank -> pid of the agnbench workers started by the torchrun process ``launcher``."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) != launcher:
            continue
        rank = next((int(v.split(b"=", 1)[1]) for v in environ if v.startswith(b"RANK=")), None)
        if rank is not None:
            out[rank] = int(entry)
    return out


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the torchrun workers through /proc")
def test_a_rank_that_dies_fails_the_run_with_one_clear_line_and_resumes_exactly(
        small_store: Path, two_process_run: tuple[Path, str], tmp_path: Path) -> None:
    """SIGKILL rank 1 after the first epoch's checkpoint (as the OOM killer would): rank 0 fails with one line,
    the run is marked failed and holds no predictions; ``--resume`` under torchrun then ends with exactly the
    weights of the uninterrupted 2-process run."""
    with open(tmp_path / "stderr", "w") as err:
        proc, workers, run = _start_until_first_checkpoint(small_store, tmp_path, err, _env())
        os.kill(workers[1], signal.SIGKILL)
        rc = proc.wait(timeout=120)
    stderr = (tmp_path / "stderr").read_text()
    assert rc != 0
    lines = [line for line in stderr.splitlines() if "agnbench train: error: torchrun rank 0 of 2" in line]
    assert len(lines) == 1, stderr[-3000:]
    assert "not marked complete" in lines[0]
    assert read_status(run) == "failed" and not (run / "predictions.parquet").exists()
    out = subprocess.run(_torchrun("--resume", str(run)), capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == str(run), out.stderr[-3000:]
    assert is_complete(run)
    full = two_process_run[0] / "ddp"
    resumed, uninterrupted = (torch.load(r / "model.pt", weights_only=True) for r in (run, full))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the torchrun workers through /proc")
def test_a_rank_that_hangs_fails_the_others_within_the_timeout(small_store: Path, tmp_path: Path) -> None:
    """SIGSTOP rank 1 (a hung process keeps its sockets open): rank 0 gives up after AGNBENCH_DIST_TIMEOUT_S."""
    with open(tmp_path / "stderr", "w") as err:
        proc, workers, run = _start_until_first_checkpoint(small_store, tmp_path, err,
                                                           {**_env(), "AGNBENCH_DIST_TIMEOUT_S": "4"})
        os.kill(workers[1], signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            while Path(f"/proc/{workers[0]}").exists() and time.monotonic() - stopped < 60:
                status = Path(f"/proc/{workers[0]}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if status == "Z":  # exited, not yet reaped by torchrun
                    break
                time.sleep(0.1)
            waited = time.monotonic() - stopped
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(workers[1], signal.SIGKILL)
        assert proc.wait(timeout=120) != 0
    stderr = (tmp_path / "stderr").read_text()
    lines = [line for line in stderr.splitlines() if "agnbench train: error: torchrun rank 0 of 2" in line]
    assert len(lines) == 1 and "did not answer within 4 s" in lines[0], stderr[-3000:]
    assert waited < 30  # the 4 s timeout, plus the rest of the epoch and the exit
    assert read_status(run) == "failed"


def test_cuda_requested_without_a_gpu_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The device is checked before anything else (the store is not even opened), alone and under torchrun."""
    from agnbench.cli.main import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["train", "spectra", "--data", str(tmp_path / "store"), "--runs-dir", str(tmp_path), "--device", "cuda",
            "-q"]
    for env in ({}, {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}):  # alone, and as a torchrun rank
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(argv) == 1
        assert capsys.readouterr().err.strip().splitlines() == [
            f"agnbench train: error: device=cuda was requested but this torch ({torch.__version__}) sees no cuda "
            "device; use --device cpu or auto"]
    assert not list(tmp_path.iterdir())  # no run directory was started
    assert main(["train", "catalog", "--data", str(tmp_path / "store"), "-q"]) == 1  # would train WORLD_SIZE times
    assert "WORLD_SIZE=2: under torchrun only 'agnbench train spectra|images'" in capsys.readouterr().err


# -- the sharding, without processes -----------------------------------------------------------------------


def _fake_data(sampler: str, n: int = 103, batch_size: int = 8) -> SimpleNamespace:
    from agnbench.deep.data import TrackData

    train = np.arange(1000, 1000 + n)
    labels = (np.arange(n) % 4 == 0).astype(np.int64)
    data = SimpleNamespace(cfg=SimpleNamespace(sampler=sampler, batch_size=batch_size), seed=7,
                           indices=lambda split: train, labels=lambda pos: labels[pos - 1000])
    data.epoch_plan = lambda epoch: TrackData.epoch_plan(data, epoch)
    return data


@pytest.mark.parametrize("sampler", ["shuffle", "balanced"])
def test_epoch_plans_split_the_epoch_between_processes(sampler: str) -> None:
    data = _fake_data(sampler)
    single = Distributed().epoch_plan(data, 0)
    plans = [Distributed(rank=r, world_size=2).epoch_plan(data, 0) for r in (0, 1)]
    assert len(plans[0]) == len(plans[1]) == len(single) == 103 // 8  # same steps, each with half the batch
    assert all(b.size == 4 for plan in plans for b in plan)
    mine = [np.concatenate(p) for p in plans]
    if sampler == "shuffle":  # a partition of (almost) the train split: no object twice within an epoch
        assert not set(mine[0]) & set(mine[1]) and len(set(mine[0]) | set(mine[1])) == 104 - 8
    else:  # the single-process balanced draws, dealt out
        drawn = np.concatenate(single)
        np.testing.assert_array_equal(np.sort(np.concatenate(mine)), np.sort(drawn[: mine[0].size * 2]))
    again = Distributed(rank=0, world_size=2).epoch_plan(data, 0)
    assert all(np.array_equal(a, b) for a, b in zip(again, plans[0]))  # seeded
    other = Distributed(rank=0, world_size=2).epoch_plan(data, 1)
    assert not all(np.array_equal(a, b) for a, b in zip(other, plans[0]))  # set_epoch: a new order each epoch


def test_torchrun_environment_and_batch_size_errors() -> None:
    assert not from_env({}).enabled
    assert not from_env({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}).enabled  # torchrun with 1 process
    place = from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "AGNBENCH_DIST_TIMEOUT_S": "60"})
    assert (place.rank, place.world_size, place.timeout_s, place.is_main) == (1, 4, 60.0, False)
    with pytest.raises(AgnbenchError, match="must be integers"):
        from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(AgnbenchError, match="inconsistent"):
        from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(AgnbenchError, match=r"spectra.batch_size=6 .* multiple of 4 .* --batch-size 8"):
        place.check_batch_size(6, section="spectra")
    place.check_batch_size(8, section="spectra")
    Distributed().check_batch_size(3, section="spectra")
    positions = np.arange(5)
    np.testing.assert_array_equal(Distributed().map_positions(lambda p: p * 2, positions), positions * 2)


def _start_until_first_checkpoint(store: Path, tmp_path: Path, err, env: dict) -> tuple[subprocess.Popen, dict, Path]:
    """Start the 2-process training; return it, its workers {rank: pid} and the run once epoch 1 is checkpointed."""
    proc = subprocess.Popen(_torchrun(*_train_args(store, tmp_path)), stdout=subprocess.DEVNULL, stderr=err, env=env)
    run = tmp_path / "ddp"
    deadline = time.monotonic() + 120
    while not (run / "checkpoint_last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = _worker_pids(proc.pid)
    assert proc.poll() is None and set(workers) == {0, 1}, (tmp_path / "stderr").read_text()[-3000:]
    return proc, workers, run
