"""The fusion track on synthetic member runs: the test split is unused, val only is fitted, bad input is refused."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import read_model_meta, seed_free_config_hash, write_data_record, write_status
from agnbench.fileio import atomic_write_parquet
from agnbench.fusion.train_fusion import train_fusion_runs

N = {"val": 160, "test": 160, "ood": 40}


def _objects(seed: int = 0, *, k: int = 2) -> pd.DataFrame:
    """Object ids, splits and labels shared by the fake members (``k`` classes; about 30% class 1 for two)."""
    r = np.random.default_rng(seed)
    split = np.repeat(list(N), list(N.values()))
    y = (r.random(split.size) < 0.3).astype(np.int64) if k == 2 else r.integers(0, k, split.size)
    return pd.DataFrame({"object_id": [f"o{i:04d}" for i in range(split.size)], "split": split, "y": y})


def _member(root: Path, name: str, objects: pd.DataFrame, *, strength: float, track: str, seed: int = 0,
            sha: str = "a" * 64, classes: tuple[str, ...] = ("sf", "agn"), status: str = "complete",
            drop: int = 0) -> Path:
    """A run directory with Contract 2 predictions: softmax of ``strength * onehot(y) + noise``."""
    run = root / name
    run.mkdir(parents=True)
    r = np.random.default_rng(abs(hash((name, seed))) % 2**32)
    keep = objects.iloc[drop:]
    y = keep["y"].to_numpy()
    z = strength * np.eye(len(classes))[y] + r.normal(size=(y.size, len(classes)))
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    split = keep["split"].to_numpy()
    frame = prediction_frame(object_id=keep["object_id"].to_numpy(), split=split,
                             y_true=np.where(split == "ood", -1, y), proba=proba, y_pred=proba.argmax(1),
                             classes=classes, track=track, model="m", run_id=name, seed=seed)
    atomic_write_parquet(run / "predictions.parquet", frame)
    write_data_record(run, {"store": "nowhere", "objects_sha256": sha, "label_scheme": "agn_vs_sf",
                            "classes": list(classes), "counts": {"train/sf": 70, "train/agn": 30}})
    write_status(run, status)
    return run


@pytest.fixture
def members(tmp_path: Path) -> dict[str, Path]:
    objects = _objects()
    return {"objects": objects, "a": _member(tmp_path / "m", "a", objects, strength=1.0, track="catalog"),
            "b": _member(tmp_path / "m", "b", objects, strength=2.0, track="spectra"),
            "c": _member(tmp_path / "m", "c", objects, strength=0.5, track="images")}


#: One C: no inner CV, so the tests that do not need the choice of C stay fast.
FAST = ["fusion.c_grid=[1.0]"]


def _fit(runs: list[Path], out: Path, *, overrides: tuple[str, ...] = (*FAST,), **kw) -> list[Path]:
    return train_fusion_runs(load_config(overrides=list(overrides)), runs=runs, runs_dir=out, name="fz", **kw)


def _rewrite(run: Path, change) -> None:
    preds = pd.read_parquet(run / "predictions.parquet")
    atomic_write_parquet(run / "predictions.parquet", change(preds))


def test_the_stacker_never_reads_the_test_labels_or_the_test_and_ood_predictions(members, tmp_path: Path) -> None:
    """(a) permuting the test labels, and (b) replacing every test/ood probability, leave the fitted stacker and the
    val predictions bit-identical: the stacker is fitted on val only."""
    runs = [members[k] for k in "abc"]
    [first] = _fit(runs, tmp_path / "r1", overrides=())  # the C grid chosen by inner CV: also on val only
    perm = np.random.default_rng(1).permutation(N["test"])

    def permute_test_labels(preds: pd.DataFrame) -> pd.DataFrame:
        test = preds["split"] == "test"
        preds.loc[test, "y_true"] = preds.loc[test, "y_true"].to_numpy()[perm]
        return preds

    def scramble_test_and_ood(preds: pd.DataFrame) -> pd.DataFrame:
        out = ~(preds["split"] == "val")
        p1 = np.random.default_rng(2).random(int(out.sum()))
        preds.loc[out, "p_agn"], preds.loc[out, "p_sf"] = p1, 1 - p1
        return preds

    for change in (permute_test_labels, scramble_test_and_ood):
        for run in runs:
            _rewrite(run, change)
        [again] = _fit(runs, tmp_path / f"r-{change.__name__}", overrides=())
        assert (again / "coefficients.csv").read_bytes() == (first / "coefficients.csv").read_bytes()
        a, b = (pd.read_parquet(r / "predictions.parquet").query("split == 'val'") for r in (first, again))
        cols = ["p_sf", "p_agn", "y_pred"]
        np.testing.assert_array_equal(a[cols].to_numpy(), b[cols].to_numpy())
        fit = [json.loads((r / "fusion.json").read_text())["fit"] for r in (first, again)]
        assert fit[0]["per_fold"] == fit[1]["per_fold"] and fit[0]["C"] == fit[1]["C"]
    # the test predictions did change: the refitted stacker is applied to them
    a, b = (pd.read_parquet(r / "predictions.parquet").query("split == 'test'") for r in (first, again))
    assert not np.array_equal(a["p_agn"].to_numpy(), b["p_agn"].to_numpy())


def test_run_directory_model_meta_and_leave_one_out(members, tmp_path: Path) -> None:
    runs = _fit([members[k] for k in "abc"], tmp_path / "runs", leave_one_out=True)
    assert [r.name for r in runs] == ["fz", "fz-without-catalog", "fz-without-spectra", "fz-without-images"]
    meta = read_model_meta(runs[0])
    assert meta["track"] == "fusion" and meta["model"] == "stack-logreg" and meta["leave_out"] is None
    assert [m["run_id"] for m in meta["members"]] == ["a", "b", "c"]
    assert meta["inputs"] == ["catalog:logit_agn", "spectra:logit_agn", "images:logit_agn"]
    assert read_model_meta(runs[2])["leave_out"] == "spectra"
    assert [m["track"] for m in read_model_meta(runs[2])["members"]] == ["catalog", "images"]
    preds = pd.read_parquet(runs[0] / "predictions.parquet")
    assert set(preds["track"]) == {"fusion"} and preds.groupby("split").size().to_dict() == N
    coef = pd.read_csv(runs[0] / "coefficients.csv").set_index("input")
    assert coef.loc["spectra:logit_agn", "standardized_coefficient"] > coef.loc["images:logit_agn",
                                                                                "standardized_coefficient"] > 0
    # full and leave-one-out fusions form different seed groups; members live in model_meta, not config paths
    assert seed_free_config_hash(runs[0]) != seed_free_config_hash(runs[2])
    assert "m/a" not in (runs[0] / "config.yaml").read_text()
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["test"]["roc_auc"] > max(json.loads((runs[2] / "metrics.json").read_text())["test"]["roc_auc"],
                                            0.8)


def test_seeds_pair_members_and_an_unpaired_seed_is_refused(tmp_path: Path, capsys) -> None:
    objects = _objects()
    runs = [_member(tmp_path / "m", f"{t}-s{s}", objects, strength=1.0 + s, track=t, seed=s)
            for t in ("catalog", "images") for s in (0, 1)]
    for run in runs:  # a config.yaml identical but for the seed: each model is one seed group
        (run / "config.yaml").write_text(f"seed: {run.name[-1]}\ncatalog:\n  model: {run.name.split('-')[0]}\n")
    made = _fit(runs, tmp_path / "runs")
    assert [r.name for r in made] == ["fz-s0", "fz-s1"]
    assert [{m["run_id"] for m in read_model_meta(r)["members"]} for r in made] == [
        {"catalog-s0", "images-s0"}, {"catalog-s1", "images-s1"}]
    assert seed_free_config_hash(made[0]) == seed_free_config_hash(made[1])  # one seed group in compare
    code = main(["train", "fusion", "--runs", *map(str, runs[:3]), "--runs-dir", str(tmp_path / "x"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "images" in err[0] and "seed(s) [1]" in err[0]


def test_missing_objects_are_dropped_with_counts_or_flagged(tmp_path: Path) -> None:
    objects = _objects()
    a = _member(tmp_path / "m", "a", objects, strength=1.0, track="catalog")
    b = _member(tmp_path / "m", "b", objects, strength=2.0, track="spectra", drop=10)  # 10 val objects unscored
    [dropped] = _fit([a, b], tmp_path / "drop")
    record = json.loads((dropped / "fusion.json").read_text())["missing"]
    assert record["not_scored"]["spectra"] == {"val": 10, "test": 0, "ood": 0}
    assert record["n_objects"]["val"] == N["val"] - 10
    [flagged] = train_fusion_runs(load_config(overrides=["fusion.missing=indicator", *FAST]), runs=[a, b],
                                  runs_dir=tmp_path / "ind", name="fz")
    assert "spectra:missing" in read_model_meta(flagged)["inputs"]
    assert (pd.read_parquet(flagged / "predictions.parquet")["split"] == "val").sum() == N["val"]


def test_gbm_stacker_and_multiclass(tmp_path: Path) -> None:
    objects, three = _objects(), ("sf", "composite", "agn")
    runs = [_member(tmp_path / "m", n, objects, strength=1.5, track=t) for n, t in (("a", "catalog"), ("b", "images"))]
    [gbm] = train_fusion_runs(load_config(overrides=["fusion.stacker=gbm", "fusion.gbm_iter=20"]), runs=runs,
                              runs_dir=tmp_path / "g")
    assert read_model_meta(gbm)["model"] == "stack-gbm" and not (gbm / "coefficients.csv").exists()
    runs3 = [_member(tmp_path / "m3", n, _objects(k=3), strength=1.5, track=t, classes=three)
             for n, t in (("a", "catalog"), ("b", "images"))]
    [multi] = _fit(runs3, tmp_path / "m3r")
    assert read_model_meta(multi)["inputs"] == ["catalog:logit_composite", "catalog:logit_agn",
                                                "images:logit_composite", "images:logit_agn"]
    assert set(pd.read_csv(multi / "coefficients.csv")["class_out"]) == set(three)


@pytest.mark.parametrize("case", ["store", "classes", "incomplete", "single", "fusion member"])
def test_bad_members_are_one_clear_line(tmp_path: Path, capsys, case: str) -> None:
    objects = _objects()
    a = _member(tmp_path / "m", "a", objects, strength=1.0, track="catalog")
    other = {"store": dict(sha="b" * 64), "classes": dict(classes=("sf", "composite", "agn")),
             "incomplete": dict(status="running"), "single": None, "fusion member": None}[case]
    if case == "fusion member":
        b = _member(tmp_path / "m", "b", objects, strength=1.0, track="images")
        [fused] = _fit([a, b], tmp_path / "f")
        runs = [a, fused]
    else:
        runs = [a] if other is None else [a, _member(tmp_path / "m", "b", objects, strength=1.0, track="images",
                                                     **other)]
    code = main(["train", "fusion", "--runs", *map(str, runs), "--runs-dir", str(tmp_path / "out"), "-q",
                 "--set", "fusion.c_grid=[1.0]"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    expected = {"store": "different stores", "classes": "label scheme", "incomplete": "not complete",
                "single": "at least two", "fusion member": "is a fusion run"}[case]
    assert expected in err[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_explain_of_a_fusion_run_writes_modality_shares(members, tmp_path: Path) -> None:
    [run] = _fit([members["a"], members["b"]], tmp_path / "runs")
    assert main(["explain", str(run), "--split", "test", "-q"]) == 0  # docs/incremental.md: modality shares
    assert (run / "attributions" / "modality_shares.parquet").is_file()


def test_predict_refuses_a_fusion_run_with_one_line(members, tmp_path: Path, capsys) -> None:
    [run] = _fit([members["a"], members["b"]], tmp_path / "runs")
    assert main(["predict", str(run), "--data", str(tmp_path), "--out", str(tmp_path / "p"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "apply each member" in err[0]


def test_agnbench_run_plans_one_fusion_per_seed_and_its_leave_one_out_fusions(tmp_path: Path) -> None:
    from agnbench.pipeline_records import planned_fusions, stale_stages

    cfg = load_config(overrides=["seeds=2", f"paths.runs={tmp_path / 'runs'}", f"paths.data={tmp_path / 'd'}",
                                 f"paths.raw={tmp_path / 'r'}", f"paths.comparisons={tmp_path / 'c'}"])
    plan = planned_fusions(cfg)
    assert [f.stage for f in plan] == [f"fusion{w} s{s}" for s in (0, 1)
                                       for w in ("", " without catalog", " without spectra", " without images")]
    assert [m.path.name for m in plan[0].members] == ["catalog-xgboost-s0", "spectra-resnet1d-s0", "images-resnet18-s0"]
    assert plan[2].path.name == "fusion-stack-logreg-s0-without-spectra" and plan[2].leave_out == "spectra"
    assert planned_fusions(load_config(overrides=["fusion.enabled=false"])) == []
    # a fusion run made with other fusion settings is a stale stage (its members' identities never count)
    objects = _objects()
    runs = [_member(tmp_path / "m", n, objects, strength=1.0, track=t) for n, t in (("a", "catalog"), ("b", "images"))]
    train_fusion_runs(load_config(overrides=["fusion.folds=3", *FAST]), runs=runs, runs_dir=tmp_path / "runs",
                      name="fusion-stack-logreg-s0")
    [stale] = stale_stages(cfg)
    assert stale.stage == "fusion s0" and "fusion.folds 3 -> 5" in stale.describe()
    assert "members" not in stale.describe()


def test_the_pipeline_fusion_stages_fit_reuse_and_leave_out_what_cannot_be_fitted(tmp_path: Path) -> None:
    from agnbench.pipeline import StageResult, _fusion_stages

    cfg = load_config(overrides=["seeds=1", f"paths.runs={tmp_path / 'runs'}", *FAST])
    objects = _objects()
    trained = [StageResult(f"{t}", "done", _member(tmp_path / "runs", name, objects, strength=1.5, track=t), 0.0)
               for t, name in (("catalog", "catalog-xgboost-s0"), ("spectra", "spectra-resnet1d-s0"),
                               ("images", "images-resnet18-s0"))]
    first = _fusion_stages(cfg, trained, redo=set())
    assert [(r.name, r.status) for r in first] == [("fusion", "done"), ("fusion without catalog", "done"),
                                                   ("fusion without spectra", "done"), ("fusion without images", "done")]
    assert read_model_meta(first[2].output)["leave_out"] == "spectra"
    skipped = [replace(r, status="skipped") for r in trained]
    assert {r.status for r in _fusion_stages(cfg, skipped, redo=set())} == {"skipped"}
    # a fusion that cannot be fitted (fewer val objects of a class than fusion.folds) is left out, not fatal
    few = load_config(overrides=["seeds=1", f"paths.runs={tmp_path / 'few'}", "fusion.folds=100", *FAST])
    moved = [replace(r, output=tmp_path / "few" / r.output.name) for r in trained]
    for r, old in zip(moved, trained):
        shutil.copytree(old.output, r.output)
    assert {r.status for r in _fusion_stages(few, moved, redo=set())} == {"not fitted"}

