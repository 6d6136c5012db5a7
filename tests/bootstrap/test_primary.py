"""The primary comparison (issue 17 item 10): reference chosen on val only, Holm over its own family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from agnbench.bootstrap.compare import compare
from agnbench.bootstrap.paired_tests import holm
from agnbench.bootstrap.primary import choose_reference
from agnbench.config.core import load_config
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import write_status
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_json, atomic_write_parquet

CFG = load_config(overrides=["compare.n_boot=300", "compare.subgroup_boot=100"])
CLASSES = ("sf", "agn")
N = 400  # objects per split


def _run(root: Path, name: str, track: str, *, val_noise: float, test_noise: float, seed: int,
         with_val: bool = True, model: str | None = None, run_seed: int = 0) -> Path:
    """A run with val and test predictions whose quality on each split is set by its noise level."""
    rng = np.random.default_rng(seed)
    y = np.tile((np.arange(N) % 4 == 0).astype(int), 2)
    split = np.repeat(["val", "test"], N)
    noise = np.where(split == "val", val_noise, test_noise)
    score = np.clip(0.5 + (y - 0.5) * 0.5 + rng.normal(0, 1, y.size) * noise, 0.001, 0.999)
    keep = np.ones(y.size, bool) if with_val else split == "test"
    preds = prediction_frame(object_id=np.array([f"o{i}" for i in range(y.size)])[keep], split=split[keep],
                             y_true=y[keep], proba=np.column_stack([1 - score, score])[keep],
                             y_pred=(score[keep] > 0.5).astype(int), classes=CLASSES, track=track, model=model or name,
                             run_id=name, seed=run_seed)
    run = root / name
    run.mkdir()
    atomic_write_parquet(run / "predictions.parquet", preds)
    atomic_write_json(run / "data.json", {"objects_sha256": "abc", "label_scheme": "agn_vs_sf",
                                          "classes": list(CLASSES), "counts": {"train/sf": 75, "train/agn": 25}})
    write_status(run, "complete")
    return run


def _val_auc(run: Path) -> float:
    p = pd.read_parquet(run / "predictions.parquet")
    v = p[p["split"] == "val"]
    return roc_auc_score(v["y_true"], v["p_agn"])


def test_reference_is_best_on_val_not_on_test_and_holm_is_over_the_primary_family(tmp_path: Path) -> None:
    # cat_a is better on val but worse on test than cat_b: the reference must be cat_a
    a = _run(tmp_path, "cat_a", "catalog", val_noise=0.25, test_noise=0.45, seed=1)
    b = _run(tmp_path, "cat_b", "catalog", val_noise=0.45, test_noise=0.25, seed=2)
    s = _run(tmp_path, "spec", "spectra", val_noise=0.2, test_noise=0.2, seed=3)
    i = _run(tmp_path, "img", "images", val_noise=0.5, test_noise=0.5, seed=4)
    assert _val_auc(a) > _val_auc(b)
    out = compare(CFG, runs=[a, b, s, i], out=tmp_path / "cmp", progress=False)
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    assert inputs["primary"]["reference"] == "cat_a"
    assert inputs["primary"]["val_scores"]["cat_a"] == pytest.approx(_val_auc(a), abs=1e-12)
    assert "val" in inputs["primary"]["rule"] and "never" in inputs["primary"]["rule"]
    primary = pd.read_csv(out / "primary.csv")
    assert sorted(primary["run"]) == ["img", "spec"] and set(primary["reference"]) == {"cat_a"}
    tests = pd.read_csv(out / "tests.csv")
    boot = tests[(tests["metric"] == "roc_auc") & (tests["test"] == "paired bootstrap")]
    for _, row in primary.iterrows():
        hit = boot[((boot["run_a"] == row["run"]) & (boot["run_b"] == "cat_a"))
                   | ((boot["run_a"] == "cat_a") & (boot["run_b"] == row["run"]))].iloc[0]
        sign = 1 if hit["run_a"] == row["run"] else -1
        assert row["delta"] == pytest.approx(sign * hit["delta"], abs=1e-12)
        assert row["delta"] == pytest.approx(row["estimate"] - row["reference_estimate"], abs=1e-12)
        assert row["lo"] <= row["delta"] <= row["hi"]
        assert row["p_value"] == pytest.approx(hit["p_value"])
    assert primary["p_holm"].to_numpy() == pytest.approx(holm(primary["p_value"].to_numpy()))
    assert (primary["family_size"] == 2).all()


def test_named_reference_and_unknown_name(tmp_path: Path) -> None:
    a = _run(tmp_path, "cat_a", "catalog", val_noise=0.3, test_noise=0.3, seed=1)
    s = _run(tmp_path, "spec", "spectra", val_noise=0.2, test_noise=0.2, seed=3)
    i = _run(tmp_path, "img", "images", val_noise=0.5, test_noise=0.5, seed=4)
    cfg = load_config(overrides=["compare.n_boot=200", "compare.primary_reference=spec"])
    out = compare(cfg, runs=[a, s, i], out=tmp_path / "cmp", progress=False)
    primary = pd.read_csv(out / "primary.csv")
    assert set(primary["reference"]) == {"spec"} and sorted(primary["run"]) == ["cat_a", "img"]
    bad = load_config(overrides=["compare.n_boot=200", "compare.primary_reference=nope"])
    with pytest.raises(AgnbenchError, match="primary_reference.*nope.*cat_a"):
        compare(bad, runs=[a, s, i], out=tmp_path / "cmp2", progress=False)


def test_without_val_predictions_there_is_no_primary_comparison_and_it_says_why(tmp_path: Path) -> None:
    a = _run(tmp_path, "cat_a", "catalog", val_noise=0.3, test_noise=0.3, seed=1, with_val=False)
    s = _run(tmp_path, "spec", "spectra", val_noise=0.2, test_noise=0.2, seed=3, with_val=False)
    out = compare(CFG, runs=[a, s], out=tmp_path / "cmp", progress=False)
    assert not (out / "primary.csv").exists()
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    assert inputs["primary"]["reference"] is None
    assert "val" in inputs["skipped"]["primary"] and "primary_reference" in inputs["skipped"]["primary"]


def test_choose_reference_rules() -> None:
    tracks = {"x": "catalog", "y": "catalog", "z": "spectra"}
    got = choose_reference(metric="roc_auc", setting="best_catalog", tracks=tracks, scores={"x": 0.8, "y": np.nan})
    assert got.reference == "x" and got.others == ["z"]
    only = choose_reference(metric="roc_auc", setting="best_catalog", tracks={"x": "catalog"}, scores={"x": 0.8})
    assert only.why_not is not None and "another track" in only.why_not
    none = choose_reference(metric="roc_auc", setting="best_catalog", tracks={"z": "spectra"})
    assert none.reference is None and "catalog" in none.why_not


def test_fusion_runs_are_not_in_the_primary_family() -> None:
    """A fusion holds a catalog model among its members: fusion vs catalog is incremental.csv's question, never
    the primary comparison's (docs/contracts.md, Contract 4)."""
    tracks = {"x": "catalog", "z": "spectra", "f": "fusion", "f-without-spectra": "fusion"}
    got = choose_reference(metric="roc_auc", setting="best_catalog", tracks=tracks, scores={"x": 0.8})
    assert got.reference == "x" and got.others == ["z"]
    only = choose_reference(metric="roc_auc", setting="best_catalog", tracks={"x": "catalog", "f": "fusion"},
                            scores={"x": 0.8})
    assert only.others == [] and "fusion runs are not in the primary family" in only.why_not
    named = choose_reference(metric="roc_auc", setting="f", tracks=tracks)  # a named fusion: vs each single track
    assert named.reference == "f" and named.others == ["x", "z"]


def test_seed_groups_are_the_units_and_their_val_score_is_the_mean(tmp_path: Path) -> None:
    from agnbench.config.core import dump_config
    from agnbench.contracts.run_dir import config_path

    runs = []
    for k, (name, track, v, t) in enumerate([("cat_a", "catalog", 0.3, 0.3), ("cat_b", "catalog", 0.45, 0.2),
                                             ("spec", "spectra", 0.2, 0.2)]):
        for s in (0, 1):
            run = _run(tmp_path, f"{name}-s{s}", track, val_noise=v, test_noise=t, seed=10 * k + s, model=name,
                       run_seed=s)
            dump_config(load_config(overrides=[f"seed={s}", f"simulate.n={1000 + k}"]),
                        config_path(run))
            runs.append(run)
    out = compare(CFG, runs=runs, out=tmp_path / "cmp", progress=False)
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    groups = inputs["seed_groups"]
    assert len(groups) == 3
    ref = inputs["primary"]["reference"]
    assert ref in groups and all(r.startswith("cat_a") for r in groups[ref])
    mean_val = np.mean([_val_auc(tmp_path / r) for r in groups[ref]])
    assert inputs["primary"]["val_scores"][ref] == pytest.approx(mean_val, abs=1e-12)
    primary = pd.read_csv(out / "primary.csv")
    assert len(primary) == 1 and primary["run"].iloc[0] in groups and "spec" in groups[primary["run"].iloc[0]][0]
    tests = pd.read_csv(out / "tests.csv")
    hit = tests[(tests["metric"] == "roc_auc") & (tests["test"] == "paired bootstrap")
                & tests["run_a"].isin([ref, primary["run"].iloc[0]]) & tests["run_b"].isin([ref, primary["run"].iloc[0]])]
    assert len(hit) == 1 and "objects x seeds" in hit["note"].iloc[0]
