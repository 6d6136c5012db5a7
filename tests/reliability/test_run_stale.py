"""Issue 16, item 3: ``agnbench run`` never reuses a stage made with another config.

A tiny pipeline is finished once; rerunning it with a changed science setting is refused with one line
naming the stage and the changed key, and ``--overwrite`` redoes the changed stage and every stage after it
(recording the new config; runtime-only settings are not changes), a resumable deep run included.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from agnbench.cli.main import main

TINY = {
    "seed": 0,
    "seeds": 1,
    "simulate": {"n": 300, "image_size": 16, "workers": 1},
    "prep": {"image_size": 16, "workers": 1},
    "spectra": {"epochs": 1, "patience": 1, "width": 4, "blocks": [1], "batch_size": 16},
    "images": {"epochs": 1, "patience": 1, "width": 0.125, "batch_size": 16},
    "compare": {"n_boot": 100, "subgroup_boot": 100},
    "explain": {"n": 10, "max_interactions": 5, "permutation_repeats": 1},
    "report": {"curve_boot": 20, "mistakes": 2},
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config file of a finished tiny ``agnbench run``."""
    root = tmp_path_factory.mktemp("stale")
    config = root / "tiny.yaml"
    paths = {"raw": str(root / "raw"), "data": str(root / "data"), "runs": str(root / "runs"),
             "comparisons": str(root / "cmp")}
    config.write_text(yaml.safe_dump({**TINY, "paths": paths}))
    assert main(["run", "--config", str(config), "-q"]) == 0
    return config


def _run(config: Path, capsys: pytest.CaptureFixture, *sets: str, overwrite: bool = False) -> tuple[int, str, dict]:
    args = ["run", "--config", str(config), "-q", *[a for s in sets for a in ("--set", s)]]
    rc = main([*args, "--overwrite"] if overwrite else args)
    out, err = capsys.readouterr()
    status = dict(re.findall(r"^((?:simulate|prep|catalog \w+|train \w+|compare|explain [\w-]+|report))\s+(done|"
                             r"skipped)\b", out, flags=re.M))
    return rc, err, status


def _root(config: Path) -> Path:
    return config.parent


@pytest.mark.parametrize(("setting", "shown"), [
    ("prep.mask_lines=true", "prep: "),
    ("simulate.n=301", "simulate: "),
    ("catalog.early_stopping_rounds=10", "catalog xgboost: "),
    ("images.epochs=2", "train images: "),
    ("fusion.folds=3", "fusion: "),
    ("compare.n_boot=200", "compare: "),
    ("report.curve_boot=30", "report: "),
])
def test_a_changed_setting_is_refused_naming_stage_and_key(finished: Path, capsys, setting: str, shown: str) -> None:
    before = (_root(finished) / "data" / "manifest.json").read_bytes()
    rc, err, _ = _run(finished, capsys, setting)
    key, new = setting.split("=")
    lines = err.strip().splitlines()
    assert rc == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"agnbench run: error: {shown}") and f"{key} " in lines[0] and f"-> {new}" in lines[0]
    assert "--overwrite" in lines[0]
    assert (_root(finished) / "data" / "manifest.json").read_bytes() == before


def test_overwrite_redoes_the_changed_stage_and_everything_after(finished: Path, capsys) -> None:
    root = _root(finished)
    comparison = root / "cmp" / "data-s0"
    rc, err, status = _run(finished, capsys, "compare.n_boot=200", overwrite=True)
    assert rc == 0, err
    assert status["compare"] == status["report"] == "done" and status["prep"] == status["catalog xgboost"] == "skipped"
    assert yaml.safe_load((comparison / "inputs.yaml").read_text())["compare"]["n_boot"] == 200
    # the new config is recorded: reused now; worker, thread and device settings are not changes
    rc, err, status = _run(finished, capsys, "compare.n_boot=200", "prep.workers=2", "simulate.workers=2",
                           "spectra.device=cpu", "catalog.threads=1", "images.workers=0")
    assert rc == 0 and len(status) == 16 and set(status.values()) == {"skipped"}, (err, status)
    assert "explain fusion-stack-logreg" in status  # the full fusion is explained (modality shares), and reused

    # a resumable deep run whose config changed is not resumed on its old checkpoint
    spectra = root / "runs" / "spectra-resnet1d-s0"
    (spectra / "status.json").write_text('{"status": "interrupted"}')
    rc, err, _ = _run(finished, capsys, "compare.n_boot=200", "spectra.epochs=2")
    assert rc == 1 and "train spectra: " in err and "spectra.epochs 1 -> 2" in err, err
    rc, err, status = _run(finished, capsys, "compare.n_boot=200", "spectra.epochs=2", overwrite=True)
    assert rc == 0, err
    assert status["train spectra"] == status["compare"] == "done" and status["train images"] == "skipped"
    # a changed member: the fusion is refitted, so its modality shares are made again; the other runs' are kept
    assert status["explain fusion-stack-logreg"] == status["explain spectra-resnet1d"] == "done"
    assert status["explain images-resnet18"] == status["explain catalog-xgboost"] == "skipped"
    assert yaml.safe_load((spectra / "config.yaml").read_text())["spectra"]["epochs"] == 2
    assert json.loads((spectra / "status.json").read_text())["status"] == "complete"
    assert not [p for p in (root / "runs").iterdir() if p.name.startswith(".")]  # the old run is gone

    # a changed prep setting redoes the store and every stage after it
    rc, err, status = _run(finished, capsys, "compare.n_boot=200", "spectra.epochs=2", "prep.mask_lines=true",
                           overwrite=True)
    assert rc == 0, err
    assert status["simulate"] == "skipped" and status["prep"] == "done"
    assert {v for k, v in status.items() if k not in ("simulate", "prep")} == {"done"}, status
    manifest = json.loads((root / "data" / "manifest.json").read_text())
    assert manifest["prep"]["mask_lines"] is True
    for run in (root / "runs").iterdir():
        if not run.name.startswith("."):
            assert yaml.safe_load((run / "config.yaml").read_text())["prep"]["mask_lines"] is True, run
