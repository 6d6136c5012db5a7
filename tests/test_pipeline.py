"""`agnbench run`: every stage from nothing on a tiny mock, and resumption after an interruption.

The first invocation is interrupted in the last stage (the report); the second must skip every
finished stage and only write the report; a third (through the CLI) does nothing and prints the
stage table, the headline results and, last, the report directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agnbench.config.core import load_config
from agnbench.pipeline import run_all

TINY = {
    "seed": 1,
    "simulate": {"n": 500, "image_size": 32},
    "prep": {"image_size": 32},
    "spectra": {"epochs": 2, "patience": 2},
    "images": {"epochs": 1, "patience": 1},
    "compare": {"n_boot": 100, "subgroup_boot": 100},
    "explain": {"n": 30, "max_interactions": 10, "permutation_repeats": 1},
    "report": {"curve_boot": 20, "mistakes": 2},
}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    paths = {k: str(root / k) for k in ("raw", "data", "runs", "comparisons")}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "paths": paths}))
    return path


def test_run_resumes_after_an_interruption(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agnbench.reports.report as report_module

    cfg = load_config(config_file)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "build_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_all(cfg, progress=False)
    monkeypatch.undo()
    comparison = Path(cfg.paths.comparisons) / f"data-s{cfg.seed}"
    assert (comparison / "summary.csv").exists() and not (comparison / "report").exists()

    results = run_all(cfg, progress=False)
    status = {r.name: r.status for r in results}
    assert status.pop("report") == "done"
    assert set(status.values()) == {"skipped"}, status
    assert list(status) == ["simulate", "prep", "catalog xgboost", "catalog lightgbm", "catalog logreg",
                            "train spectra", "train images", "compare", "explain catalog-xgboost",
                            "explain catalog-lightgbm", "explain catalog-logreg", "explain spectra-resnet1d",
                            "explain images-resnet18", "explain tracks"]
    assert (comparison / "report" / "report.html").exists()
    assert (comparison / "crosstrack" / "summary.json").exists()


def test_run_cli_prints_stages_results_and_the_report(config_file: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "agnbench", "run", "--config", str(config_file), "-q"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    cfg = load_config(config_file)
    assert Path(lines[-1]) == Path(cfg.paths.comparisons) / f"data-s{cfg.seed}" / "report"
    assert any(line.startswith("total") for line in lines)
    assert any("ROC-AUC" in line for line in lines)
    stages = [line for line in lines
              if line.startswith(("simulate", "prep", "catalog", "train", "compare", "explain", "report"))]
    assert len(stages) == 15 and all(" skipped " in line for line in stages), stages
