"""A comparison of the session's explained runs (catalog xgboost, spectra, images), built once for tests/serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from agnbench.bootstrap.compare import compare
from agnbench.config.core import load_config


@pytest.fixture(scope="package")
def comparison(explained_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``agnbench compare`` of the explained catalog, spectra and images runs (as tests/reports/test_report.py)."""
    out = tmp_path_factory.mktemp("serve-cmp") / "mock"
    cfg = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100"])
    compare(cfg, runs=[explained_runs[k] for k in ("catalog", "spectra", "images")], out=out, progress=False)
    return out
