"""Tests for agnbench.fileio: atomic writes, atomic directories, manifests, env capture, run dirs."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from agnbench.contracts.run_dir import create_run_dir, run_id
from agnbench.outputs import MARKER, read_marker, write_marker
from agnbench.errors import AgnbenchError, ConfigError, RunExistsError
from agnbench.fileio import (
    atomic_directory,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    capture_env,
    default_workers,
    file_manifest,
    sha256_file,
)

NOW = datetime(2024, 3, 5, 7, 8, 9, tzinfo=timezone.utc)


def leftovers(directory):
    """Hidden temporary files/directories left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------ atomic files


def test_atomic_write_text_bytes_json(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "héllo\n")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    atomic_write_json(tmp_path / "c.json", {"z": 1, "a": [1.5, None]})
    text = (tmp_path / "c.json").read_text()
    assert json.loads(text) == {"z": 1, "a": [1.5, None]}
    assert text.index('"z"') < text.index('"a"')  # key order kept
    assert '\n  "z"' in text  # indent=2
    atomic_write_text(tmp_path / "a.txt", "replaced")
    assert (tmp_path / "a.txt").read_text() == "replaced"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("bad", [{"x": math.nan}, {"x": math.inf}, {"x": object()}])
def test_atomic_write_json_failure_keeps_old_file(tmp_path, bad):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"auc": 0.9})
    with pytest.raises((ValueError, TypeError)):
        atomic_write_json(path, bad)
    assert json.loads(path.read_text()) == {"auc": 0.9}
    assert leftovers(tmp_path) == []


def test_atomic_write_parquet_round_trip_and_failure(tmp_path):
    path = tmp_path / "t.parquet"
    df = pd.DataFrame({"object_id": ["a", "b"], "z": [0.1, 0.2]})
    atomic_write_parquet(path, df)
    pd.testing.assert_frame_equal(pd.read_parquet(path), df, check_dtype=False)
    bad = pd.DataFrame({"x": [object(), object()]})
    with pytest.raises(Exception):
        atomic_write_parquet(path, bad)
    pd.testing.assert_frame_equal(pd.read_parquet(path), df, check_dtype=False)
    assert leftovers(tmp_path) == []


def test_atomic_write_failure_midway_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "x.txt"
    path.write_text("old")

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ atomic directories


def test_atomic_directory_success(tmp_path):
    final = tmp_path / "sub" / "out"
    with atomic_directory(final, kind="report") as tmp:
        assert tmp.is_dir() and tmp.parent == final.parent
        assert tmp.name.startswith(".out.tmp-")
        assert not final.exists()
        (tmp / "f.txt").write_text("x")
    assert (final / "f.txt").read_text() == "x"
    assert read_marker(final)["kind"] == "report"  # the marker is written into every output directory
    assert leftovers(final.parent) == []


def test_atomic_directory_body_raises_leaves_nothing(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_directory(final, kind="report") as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert not final.exists()
    assert leftovers(tmp_path) == []


def test_atomic_directory_refuses_existing_before_body(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "keep.txt").write_text("keep")
    ran = []
    with pytest.raises(RunExistsError) as info:
        with atomic_directory(final, kind="report"):
            ran.append(True)
    assert not ran
    msg = str(info.value)
    assert str(final) in msg and "use --overwrite or choose another --out" in msg
    assert (final / "keep.txt").read_text() == "keep"
    assert leftovers(tmp_path) == []


def test_atomic_directory_rechecks_at_rename(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RunExistsError):
        with atomic_directory(final, kind="report") as tmp:
            (tmp / "new.txt").write_text("new")
            final.mkdir()  # someone else created it meanwhile
            (final / "theirs.txt").write_text("theirs")
    assert sorted(p.name for p in final.iterdir()) == ["theirs.txt"]
    assert leftovers(tmp_path) == []


def test_atomic_directory_overwrite_replaces(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    write_marker(final, kind="report")  # --overwrite replaces only agnbench's own output of the same kind
    with atomic_directory(final, kind="report", overwrite=True) as tmp:
        assert (final / "old.txt").exists()  # old one stays until the new one is complete
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == [MARKER, "new.txt"]
    assert leftovers(tmp_path) == []


def test_atomic_directory_overwrite_failure_keeps_old(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    write_marker(final, kind="report")
    with pytest.raises(ValueError):
        with atomic_directory(final, kind="report", overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise ValueError("fail")
    assert sorted(p.name for p in final.iterdir()) == [MARKER, "old.txt"]
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ hashes and manifests


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(10_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_file(path, chunk_size=7) == expected


def test_file_manifest(tmp_path):
    (tmp_path / "spectra").mkdir()
    files = {"objects.parquet": b"abc", "spectra/flux.npy": b"12345", "b.txt": b"",
             "manifest.json": b"{}"}
    for rel, data in files.items():
        (tmp_path / rel).write_bytes(data)
    manifest = file_manifest(tmp_path, exclude=["manifest.json"])
    assert list(manifest) == sorted(set(files) - {"manifest.json"})
    for rel, entry in manifest.items():
        assert entry == {"sha256": hashlib.sha256(files[rel]).hexdigest(), "bytes": len(files[rel])}


# ------------------------------------------------------------------ environment


def test_capture_env_keys_and_json(tmp_path):
    env = capture_env(device="cpu")
    for key in ("python", "platform", "agnbench", "packages", "git", "threads", "device",
                "timestamp_utc"):
        assert key in env
    assert env["device"] == "cpu"
    for name in ("numpy", "scipy", "pandas", "pyarrow", "astropy", "torch", "xgboost", "lightgbm",
                 "sklearn", "shap", "captum", "matplotlib"):
        assert name in env["packages"]
    assert env["packages"]["numpy"] is not None
    assert set(env["git"]) == {"sha", "dirty"}
    assert env["threads"]["cpu_count"] == os.cpu_count()
    assert {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "affinity", "torch"} <= set(env["threads"])
    datetime.fromisoformat(env["timestamp_utc"])
    json.dumps(env, allow_nan=False)
    atomic_write_json(tmp_path / "env.json", env)


def test_capture_env_does_not_import_heavy_packages():
    code = (
        "import sys; from agnbench.fileio import capture_env; capture_env(); "
        "print(sorted(m for m in ('torch', 'xgboost', 'shap', 'matplotlib', 'sklearn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ run directories


def test_run_id_format():
    assert run_id("catalog", "xgboost", 3, now=NOW) == "20240305-070809-catalog-xgboost-s3"
    naive = datetime(2024, 3, 5, 7, 8, 9)
    assert run_id("images", "resnet18", 0, now=naive) == "20240305-070809-images-resnet18-s0"
    cet = NOW.astimezone(timezone(timedelta(hours=1)))
    assert run_id("catalog", "xgboost", 3, now=cet) == "20240305-070809-catalog-xgboost-s3"


def test_create_run_dir_suffixes_and_never_overwrites(tmp_path):
    runs = tmp_path / "runs"
    first = create_run_dir(runs, track="catalog", model="rf", seed=1, now=NOW)
    assert first.name == "20240305-070809-catalog-rf-s1" and first.is_dir()
    (first / "predictions.parquet").write_text("precious")
    second = create_run_dir(runs, track="catalog", model="rf", seed=1, now=NOW)
    third = create_run_dir(runs, track="catalog", model="rf", seed=1, now=NOW)
    assert second.name == first.name + "-2"
    assert third.name == first.name + "-3"
    assert (first / "predictions.parquet").read_text() == "precious"
    assert [p.name for p in second.iterdir()] == [MARKER]  # a new run holds only agnbench's marker


def test_create_run_dir_named(tmp_path):
    path = create_run_dir(tmp_path, track="spectra", model="resnet1d", seed=0, name="mine")
    assert path == tmp_path / "mine" and path.is_dir()
    (path / "keep").write_text("x")
    with pytest.raises(RunExistsError, match="mine"):
        create_run_dir(tmp_path, track="spectra", model="resnet1d", seed=0, name="mine")
    assert (path / "keep").read_text() == "x"


@pytest.mark.parametrize("name", ["a/b", ".hidden", "", "..", "a\\b"])
def test_create_run_dir_rejects_bad_names(tmp_path, name):
    with pytest.raises(AgnbenchError):
        create_run_dir(tmp_path, track="catalog", model="rf", seed=0, name=name)
    assert list(tmp_path.iterdir()) == []


def test_default_workers():
    assert default_workers(3) == 3
    assert default_workers(1) == 1
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_workers(0) == expected
    with pytest.raises(ConfigError):
        default_workers(-1)
