"""Display names of fusion runs: their members, read from ``model_meta.json`` (docs/fusion.md)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from agnbench.reports.display import MAJORITY_LABEL, display_labels


def _run(root: Path, name: str, track: str, model: str, members: list[str] | None = None) -> SimpleNamespace:
    path = root / name
    path.mkdir()
    meta = {"track": track, "model": model}
    if members is not None:
        meta["members"] = [{"run_id": f"{m}-s0", "track": m, "label": m} for m in members]
    (path / "model_meta.json").write_text(json.dumps(meta))
    return SimpleNamespace(name=name, path=path, track=track, model=model, seed=0)


def test_fusion_runs_are_named_by_their_members(tmp_path: Path) -> None:
    runs = [_run(tmp_path, "catalog-xgboost-s0", "catalog", "xgboost"),
            _run(tmp_path, "fusion-stack-logreg-s0", "fusion", "stack-logreg", ["catalog", "spectra", "images"]),
            _run(tmp_path, "fusion-stack-logreg-s0-without-spectra", "fusion", "stack-logreg", ["catalog", "images"])]
    labels = display_labels(SimpleNamespace(runs=runs, inputs={}))
    assert labels["catalog-xgboost-s0"] == "XGBoost (catalog)"
    assert labels["fusion-stack-logreg-s0"] == "Fusion (catalog + spectra + images)"
    assert labels["fusion-stack-logreg-s0-without-spectra"] == "Fusion (catalog + images)"
    assert labels["majority-baseline"] == MAJORITY_LABEL
