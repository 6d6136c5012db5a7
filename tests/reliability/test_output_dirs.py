"""Issue 16, items 2, 8, 9, 15 (--out cases) and 16: output directories are locked, marked, replaced only when
agnbench made them, and cleaned after a kill.

A second writer is simulated by a separate process holding the documented lock ``.<name>.lock`` beside the
output (as a running agnbench command does), so the refusal must name that process's PID.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agnbench.cli.main import main
from tests.conftest import REAL

UV = REAL / "uv_optical_sdss_reduced.csv"
TABLE = ["--source", "table", "--table", str(UV), "--id-col", "Objid", "--label-col", "BPT_class",
         "--label-map", "SF:sf,AGN:agn,Composite:ood", "-q"]
TINY_SIM = ["--n", "40", "--image-size", "16", "--workers", "1", "-q"]

_HOLDER = """
import fcntl, json, os, sys, time
lock = sys.argv[1]
os.makedirs(os.path.dirname(lock), exist_ok=True)
handle = open(lock, "a+")
fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
handle.seek(0); handle.truncate()
handle.write(json.dumps({"pid": os.getpid(), "command": "agnbench prep (the first writer)"}) + "\\n"); handle.flush()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder():
    """Start a process holding the lock file at ``path``; yield a function that starts it and returns its PID."""
    procs: list[subprocess.Popen] = []

    def start(lock: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "locked"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _one_line_error(capsys: pytest.CaptureFixture, rc: int) -> str:
    err = capsys.readouterr().err
    assert rc == 1, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("agnbench: ")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A store of the real SDSS table and two logistic-regression runs on it (seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("outputs")
    assert main(["prep", *TABLE, "--out", str(root / "store")]) == 0
    for seed in (0, 1):
        assert main(["train", "catalog", "--data", str(root / "store"), "--model", "logreg", "--seed", str(seed),
                     "--runs-dir", str(root / "runs"), "--name", f"r{seed}", "-q"]) == 0
    return {"store": root / "store", "a": root / "runs" / "r0", "b": root / "runs" / "r1"}


def test_second_prep_into_the_same_out_is_refused_naming_the_holder(tmp_path: Path, holder, capsys) -> None:
    out = tmp_path / "store"
    first = holder(tmp_path / ".store.lock")
    message = _one_line_error(capsys, main(["prep", *TABLE, "--out", str(out)]))
    assert f"PID {first.pid}" in message and str(out) in message
    assert not out.exists() and not (tmp_path / ".store.partial").exists()  # nothing written beside the holder
    first.kill()  # kill -9: the kernel drops the lock, nothing stale is left
    first.wait()
    assert main(["prep", *TABLE, "--out", str(out)]) == 0
    assert (out / "manifest.json").exists() and not (tmp_path / ".store.lock").exists()


def test_compare_into_one_of_its_runs_is_refused_and_the_run_intact(runs: dict[str, Path], capsys) -> None:
    before = _tree(runs["b"])
    rc = main(["compare", str(runs["a"]), str(runs["b"]), "--out", str(runs["b"]), "--overwrite", "--n-boot", "100",
               "-q"])
    message = _one_line_error(capsys, rc)
    assert "input" in message and str(runs["b"]) in message
    assert _tree(runs["b"]) == before


def test_prep_over_its_own_raw_survey_is_refused_and_the_survey_intact(tmp_path: Path, capsys) -> None:
    raw = tmp_path / "raw"
    assert main(["simulate", *TINY_SIM, "--out", str(raw)]) == 0
    before = _tree(raw)
    rc = main(["prep", "--source", "mpajhu", "--raw", str(raw), "--out", str(raw), "--overwrite", "-q",
               "--set", "prep.image_size=16"])
    assert "input" in _one_line_error(capsys, rc)
    assert _tree(raw) == before


def test_overwrite_of_a_users_directory_is_refused_and_the_file_kept(tmp_path: Path, capsys) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\documentclass{aastex631}\n")
    message = _one_line_error(capsys, main(["prep", *TABLE, "--out", str(thesis), "--overwrite"]))
    assert "not made by agnbench" in message and str(thesis) in message
    assert (thesis / "thesis.tex").read_text() == "\\documentclass{aastex631}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no lock, partial or temporary left


def test_overwrite_of_another_kind_of_agnbench_output_is_refused(runs: dict[str, Path], capsys) -> None:
    before = _tree(runs["store"])
    rc = main(["simulate", *TINY_SIM, "--out", str(runs["store"]), "--overwrite"])
    assert "store" in _one_line_error(capsys, rc)
    assert _tree(runs["store"]) == before


def test_overwrite_of_the_working_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep")
    res = subprocess.run([sys.executable, "-m", "agnbench", "simulate", *TINY_SIM, "--out", ".", "--overwrite"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "working directory" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("command", ["prep", "compare"])
def test_out_below_a_file_is_one_line(runs: dict[str, Path], tmp_path: Path, command: str, capsys) -> None:
    table = tmp_path / "real.csv"
    table.write_bytes(UV.read_bytes())
    out = str(table / "sub")
    args = ["prep", *TABLE, "--out", out] if command == "prep" else \
        ["compare", str(runs["a"]), str(runs["b"]), "--out", out, "--n-boot", "100", "-q"]
    message = _one_line_error(capsys, main(args))
    assert "is a file" in message and str(table) in message
    assert table.read_bytes() == UV.read_bytes()


def test_leftovers_of_a_killed_prep_are_removed_by_the_next_one(tmp_path: Path) -> None:
    tmp = tmp_path / ".store.tmp-0123456789ab"  # a killed prep's half-written store, complete-looking
    tmp.mkdir()
    (tmp / "manifest.json").write_text(json.dumps({"kind": "agnbench dataset store"}))
    old = tmp_path / ".store.old-ba9876543210"
    old.mkdir()
    (old / "objects.parquet").write_bytes(b"stale")
    other = tmp_path / ".other.tmp-0123456789ab"  # another output's: not touched
    other.mkdir()
    assert main(["prep", *TABLE, "--out", str(tmp_path / "store")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-0123456789ab", "store"]
    marker = json.loads((tmp_path / "store" / ".agnbench-output.json").read_text())
    assert marker["kind"] == "store" and marker["agnbench_version"]


def test_second_agnbench_run_is_refused_and_does_not_touch_live_runs(tmp_path: Path, holder, capsys) -> None:
    raw, runs = tmp_path / "raw", tmp_path / "runs"
    (raw / "catalog").mkdir(parents=True)  # fetched-looking survey: the first run is past simulate
    live = runs / "catalog-xgboost-s0"
    live.mkdir(parents=True)
    (live / "status.json").write_text('{"status": "running"}')  # the first run is training it now
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"paths": {"raw": str(raw), "data": str(tmp_path / "data"), "runs": str(runs),
                                            "comparisons": str(tmp_path / "cmp")}}))
    first = holder(tmp_path / ".runs.lock")
    message = _one_line_error(capsys, main(["run", "--config", str(config), "-q"]))
    assert f"PID {first.pid}" in message and str(runs) in message
    assert sorted(p.name for p in runs.iterdir()) == ["catalog-xgboost-s0"]  # not renamed *.incomplete-*
    assert not (tmp_path / "data").exists()
