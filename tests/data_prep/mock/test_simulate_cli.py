"""`agnbench simulate` from the command line: determinism, bad input, atomic output."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.data_prep.mock import simulate as simulate_module

TINY = ["--n", "40", "--image-size", "16", "--set", "simulate.chunk_size=16", "-q"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agnbench", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=1200)  # a whole run under load


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_any_worker_count(tmp_path: Path) -> None:
    assert main(["simulate", *TINY, "--seed", "5", "--workers", "2", "--out", str(tmp_path / "a")]) == 0
    assert main(["simulate", *TINY, "--seed", "5", "--workers", "1", "--out", str(tmp_path / "b")]) == 0
    a, b = _tree_hashes(tmp_path / "a"), _tree_hashes(tmp_path / "b")
    assert len(a) == 40 * 2 + 5 + 4  # spectra, cutouts, 5 catalogs, truth, config, manifest, output marker
    # config.yaml records the worker count and the marker the creation time (provenance); every data byte and
    # the manifest agree
    assert a.pop("config.yaml") != b.pop("config.yaml")
    a.pop(".agnbench-output.json"), b.pop(".agnbench-output.json")
    assert json.loads((tmp_path / "a" / ".agnbench-output.json").read_text())["kind"] == "survey"
    assert a == b
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["files"] == {k: v for k, v in a.items() if k != "manifest.json"}


def test_other_seed_other_survey(tmp_path: Path) -> None:
    assert main(["simulate", *TINY, "--seed", "5", "--out", str(tmp_path / "a")]) == 0
    assert main(["simulate", *TINY, "--seed", "6", "--out", str(tmp_path / "b")]) == 0
    a, b = _tree_hashes(tmp_path / "a"), _tree_hashes(tmp_path / "b")
    assert a["catalog/galSpecLine.fits"] != b["catalog/galSpecLine.fits"]


def test_cli_prints_output_dir_last_and_saves_resolved_config(tmp_path: Path) -> None:
    out = tmp_path / "survey"
    res = _run("simulate", *TINY, "--seed", "2", "--set", "simulate.snr_scale=0.5", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == str(out)
    cfg = load_config(out / "config.yaml")
    assert cfg.seed == 2 and cfg.simulate.n == 40 and cfg.simulate.snr_scale == 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0"], "--n: simulate.n=0 is out of range"),
        (["--n", "-3"], "--n: simulate.n=-3 is out of range"),
        (["--n", "10", "--image-size", "200"], "--image-size: simulate.image_size=200 is out of range: must be 16..160"),
        (["--n", "10", "--image-size", "8"], "must be 16..160"),
        (["--n", "10", "--set", "simulate.nn=3"], "unknown key 'simulate.nn'"),
        (["--n", "10", "--set", "simulate.snr_scale=abc"], "simulate.snr_scale"),
        (["--n", "10", "--config", "/nonexistent/config.yaml"], "/nonexistent/config.yaml"),
    ],
)
def test_bad_options_one_line_no_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    res = _run("simulate", *args, "--out", str(tmp_path / "x"))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not (tmp_path / "x").exists()


def test_existing_survey_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "survey"
    assert main(["simulate", *TINY, "--out", str(out)]) == 0
    before = _tree_hashes(out)
    res = _run("simulate", *TINY, "--seed", "9", "--out", str(out))
    assert res.returncode == 1 and "already holds a survey" in res.stderr and "--overwrite" in res.stderr
    assert _tree_hashes(out) == before  # nothing lost
    assert main(["simulate", *TINY, "--seed", "9", "--overwrite", "--out", str(out)]) == 0
    assert _tree_hashes(out) != before


def test_unwritable_destination(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = _run("simulate", "--n", "10", "--out", str(blocker / "survey"))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "choose a writable --out" in res.stderr


def test_failure_midway_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_chunk = simulate_module._chunk

    def failing_chunk(task):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full (simulated)")
        return real_chunk(task)

    monkeypatch.setattr(simulate_module, "_chunk", failing_chunk)
    out = tmp_path / "survey"
    with pytest.raises(RuntimeError, match="disk full"):
        main(["simulate", *TINY, "--workers", "1", "--out", str(out)])
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary directory left either


def test_help_explains() -> None:
    res = _run("simulate", "--help")
    assert res.returncode == 0
    for word in ("--n", "--out", "--seed", "--set", "--overwrite", "spec-PLATE-MJD-FIBER", "truth.parquet"):
        assert word in res.stdout


def test_run_simulates_once_then_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture) -> None:
    """The first run is interrupted in its last stage (the report: tests/test_pipeline.py checks that resumption),
    so the report is drawn once, by the second run, which also redoes an interrupted catalog run and resumes an
    interrupted deep run; the third does nothing."""
    import agnbench.reports.report as report_module

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"seeds: 1\npaths:\n  raw: {tmp_path / 'raw'}\n  data: {tmp_path / 'data'}\n  runs: {tmp_path / 'runs'}\n"
                   f"  comparisons: {tmp_path / 'cmp'}\ncompare:\n  n_boot: 200\n  subgroup_boot: 100\n"
                   "simulate:\n  n: 300\n  image_size: 16\nprep:\n  image_size: 16\n"
                   "spectra:\n  epochs: 2\n  width: 4\n  blocks: [1]\n  batch_size: 16\n"
                   "images:\n  epochs: 2\n  width: 0.125\n  batch_size: 16\n"
                   "explain:\n  n: 20\n  max_interactions: 10\n  permutation_repeats: 1\n"
                   "report:\n  curve_boot: 20\n  mistakes: 2\n")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "build_report", interrupted)
    assert main(["run", "--config", str(cfg), "-q"]) == 130
    monkeypatch.undo()
    assert "interrupted" in capsys.readouterr().err
    comparison = tmp_path / "cmp" / "data-s0"
    summary = (comparison / "summary.csv").read_text()
    for run in ("catalog-xgboost-s0", "catalog-lightgbm-s0", "catalog-logreg-s0", "spectra-resnet1d-s0",
                "images-resnet18-s0", "majority-baseline"):
        assert f",{run}," in summary
    assert not (comparison / "report").exists()
    for run in ("catalog-xgboost-s0", "catalog-lightgbm-s0", "catalog-logreg-s0", "spectra-resnet1d-s0",
                "images-resnet18-s0"):
        assert json.loads((tmp_path / "runs" / run / "status.json").read_text())["status"] == "complete", run
    before = _tree_hashes(tmp_path / "raw"), _tree_hashes(tmp_path / "data")
    # an interrupted catalog run is moved aside and redone; finished stages are skipped
    (tmp_path / "runs" / "catalog-lightgbm-s0" / "status.json").write_text('{"status": "running"}')
    # an interrupted deep run resumes from its checkpoint (here: after its last epoch, so no retraining)
    history = (tmp_path / "runs" / "images-resnet18-s0" / "history.csv").read_text()
    (tmp_path / "runs" / "images-resnet18-s0" / "status.json").write_text('{"status": "interrupted"}')
    second = _run("run", "--config", str(cfg), "-q")
    assert second.returncode == 0, second.stderr
    assert re.search(r"simulate\s+skipped", second.stdout) and re.search(r"prep\s+skipped", second.stdout)
    assert re.search(r"catalog lightgbm\s+done", second.stdout) and re.search(r"catalog xgboost\s+skipped", second.stdout)
    assert (_tree_hashes(tmp_path / "raw"), _tree_hashes(tmp_path / "data")) == before
    assert len(list((tmp_path / "runs").glob("catalog-lightgbm-s0.incomplete-*"))) == 1
    assert re.search(r"train images\s+done", second.stdout) and re.search(r"train spectra\s+skipped", second.stdout)
    assert re.search(r"compare\s+done", second.stdout)  # runs were retrained, so the comparison is redone
    assert re.search(r"report\s+done", second.stdout)
    assert second.stdout.strip().splitlines()[-1] == str(comparison / "report")  # run ends at the report
    assert main(["run", "--config", str(cfg), "-q"]) == 0
    third = capsys.readouterr().out
    assert re.search(r"compare\s+skipped", third) and re.search(r"train images\s+skipped", third)
    assert re.search(r"report\s+skipped", third)
    assert (tmp_path / "runs" / "images-resnet18-s0" / "history.csv").read_text() == history
    assert json.loads((tmp_path / "runs" / "images-resnet18-s0" / "status.json").read_text())["status"] == "complete"
