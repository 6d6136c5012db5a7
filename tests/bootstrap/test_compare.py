"""`agnbench compare`: Contract 4 files, agreement with scikit-learn, pairing, seeds, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import accuracy_score, roc_auc_score

from agnbench.baselines.train_catalog import train_catalog
from agnbench.bootstrap.compare import MAJORITY, compare
from agnbench.bootstrap.paired_tests import holm
from agnbench.config.core import dump_config, load_config
from agnbench.errors import AgnbenchError
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import config_path, seed_free_config_hash, write_status
from agnbench.fileio import atomic_write_json, atomic_write_parquet

CFG = load_config(overrides=["compare.n_boot=400", "compare.subgroup_boot=200"])
CLASSES = ("sf", "agn")


def _fake_run(root: Path, name: str, *, y: np.ndarray, score: np.ndarray, split: np.ndarray | None = None,
              seed: int = 0, model: str = "mine", sha: str = "abc", scheme: str = "agn_vs_sf",
              ids: np.ndarray | None = None, status: str | None = "complete") -> Path:
    """A run directory with predictions.parquet (+ data.json): a user's own model in the Contract 2 schema."""
    run = root / name
    run.mkdir(parents=True)
    n = y.size
    split = np.array(["test"] * n) if split is None else split
    proba = np.column_stack([1 - score, score])
    preds = prediction_frame(object_id=np.array([f"o{i}" for i in range(n)]) if ids is None else ids, split=split,
                             y_true=np.where(split == "ood", -1, y), proba=proba, y_pred=(score > 0.5).astype(int),
                             classes=CLASSES, track="user", model=model, run_id=name, seed=seed)
    atomic_write_parquet(run / "predictions.parquet", preds)
    atomic_write_json(run / "data.json", {"objects_sha256": sha, "label_scheme": scheme, "classes": list(CLASSES),
                                          "counts": {"train/sf": 80, "train/agn": 20}})
    if status:
        write_status(run, status)
    return run


def _problem(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    good = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.2, n), 0.001, 0.999)
    weak = np.clip(0.5 + (y - 0.5) * 0.2 + rng.normal(0, 0.2, n), 0.001, 0.999)
    return y, good, weak


def test_contract_files_and_sklearn_agreement(tmp_path: Path) -> None:
    y, good, weak = _problem()
    a = _fake_run(tmp_path, "good", y=y, score=good)
    b = _fake_run(tmp_path, "weak", y=y, score=weak)
    c = _fake_run(tmp_path, "noise", y=y, score=np.random.default_rng(5).uniform(0.01, 0.99, y.size))
    out = compare(CFG, runs=[a, b, c], out=tmp_path / "cmp", progress=False)
    assert {"inputs.yaml", "replicates.parquet", "summary.csv", "tests.csv"} <= {p.name for p in out.iterdir()}
    summary = pd.read_csv(out / "summary.csv")
    est = summary.set_index(["run", "metric"])["estimate"]
    assert est[("good", "roc_auc")] == pytest.approx(roc_auc_score(y, good), abs=1e-12)
    assert est[("weak", "accuracy")] == pytest.approx(accuracy_score(y, weak > 0.5), abs=1e-12)
    assert est[(MAJORITY, "accuracy")] == pytest.approx(np.mean(y == 0))
    assert est[(MAJORITY, "roc_auc")] == pytest.approx(0.5)
    ok = summary.dropna(subset=["lo", "hi"])
    assert ((ok["lo"] <= ok["estimate"] + 1e-12) & (ok["estimate"] <= ok["hi"] + 1e-12)).all()
    reps = pd.read_parquet(out / "replicates.parquet")
    assert set(reps.columns) == {"replicate", "run", "metric", "value"}
    assert reps.groupby(["run", "metric"]).size().eq(400).all()
    tests = pd.read_csv(out / "tests.csv")
    boot = tests[(tests["test"] == "paired bootstrap") & (tests["metric"] == "roc_auc")].iloc[0]
    assert boot["lo"] > 0 and boot["p_value"] < 0.01  # the good model is clearly better
    wide = reps.pivot_table(index="replicate", columns=["run", "metric"], values="value")
    delta = wide[("good", "roc_auc")] - wide[("weak", "roc_auc")]
    assert boot["lo"] == pytest.approx(np.percentile(delta, 2.5)) and boot["hi"] == pytest.approx(np.percentile(delta, 97.5))
    assert (tests["p_holm"] >= tests["p_value"] - 1e-15).all()
    for _, family in tests.groupby(["metric", "test"]):  # Holm across the run pairs of one metric and test
        assert len(family) == 3 and np.allclose(family["p_holm"], holm(family["p_value"].to_numpy()))
    delong = tests[tests["test"] == "DeLong"].iloc[0]
    assert delong["delta"] == pytest.approx(boot["delta"])
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    assert inputs["objects"]["shared"] == 600 and inputs["class_counts"] == {"sf": int((y == 0).sum()),
                                                                              "agn": int(y.sum())}


def test_pairing_makes_the_difference_interval_narrow(tmp_path: Path) -> None:
    y, good, _ = _problem(n=2000, seed=1)
    rng = np.random.default_rng(2)
    flip = rng.choice(2000, 20, replace=False)
    twin = good.copy()
    twin[flip] = 1 - twin[flip]  # the same model with 1% of the objects spoiled
    out = compare(CFG, runs=[_fake_run(tmp_path, "a", y=y, score=good), _fake_run(tmp_path, "b", y=y, score=twin)],
                  out=tmp_path / "cmp", progress=False)
    summary = pd.read_csv(out / "summary.csv").set_index(["run", "metric"])
    tests = pd.read_csv(out / "tests.csv")
    row = tests[(tests["test"] == "paired bootstrap") & (tests["metric"] == "accuracy")].iloc[0]
    single_width = summary.loc[("a", "accuracy"), "hi"] - summary.loc[("a", "accuracy"), "lo"]
    assert row["hi"] - row["lo"] < 0.5 * single_width  # unpaired intervals would be ~1.4x wider than a single one
    assert row["delta"] > 0 and row["lo"] > 0


def test_shared_objects_only_and_counts(tmp_path: Path) -> None:
    y, good, weak = _problem(n=300)
    ids = np.array([f"o{i}" for i in range(300)])
    a = _fake_run(tmp_path, "a", y=y, score=good, ids=ids)
    b = _fake_run(tmp_path, "b", y=y[50:], score=weak[50:], ids=ids[50:])
    out = compare(CFG, runs=[a, b], out=tmp_path / "cmp", progress=False)
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    assert inputs["objects"]["shared"] == 250 and inputs["objects"]["dropped"] == {"a": 50, "b": 0}
    est = pd.read_csv(out / "summary.csv").set_index(["run", "metric"])["estimate"]
    assert est[("a", "roc_auc")] == pytest.approx(roc_auc_score(y[50:], good[50:]))


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    y, good, weak = _problem(n=200)
    a = _fake_run(tmp_path, "a", y=y, score=good)
    with pytest.raises(AgnbenchError, match="different store"):
        compare(CFG, runs=[a, _fake_run(tmp_path, "b", y=y, score=weak, sha="zzz")], out=tmp_path / "c1")
    with pytest.raises(AgnbenchError, match="different label scheme"):
        compare(CFG, runs=[a, _fake_run(tmp_path, "c", y=y, score=weak, scheme="agn_vs_sf_lowsn")],
                out=tmp_path / "c2")
    with pytest.raises(AgnbenchError, match="share no object"):
        compare(CFG, runs=[a, _fake_run(tmp_path, "d", y=y, score=weak, ids=np.array([f"x{i}" for i in range(200)]))],
                out=tmp_path / "c3")
    with pytest.raises(AgnbenchError, match="not complete"):
        compare(CFG, runs=[a, _fake_run(tmp_path, "e", y=y, score=weak, status="running")], out=tmp_path / "c4")
    with pytest.raises(AgnbenchError, match="no predictions.parquet"):
        compare(CFG, runs=[a, tmp_path / "nothing"], out=tmp_path / "c5")
    labels = y.copy()
    labels[0] = 1 - labels[0]
    with pytest.raises(AgnbenchError, match="y_true of object o0 differs"):
        compare(CFG, runs=[a, _fake_run(tmp_path, "f", y=labels, score=weak)], out=tmp_path / "c6")
    assert not any((tmp_path / f"c{i}").exists() for i in range(1, 7))  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_single_class_subgroup_and_ood_composites(tmp_path: Path, mock_store: Path) -> None:
    runs = [train_catalog(load_config(overrides=[f"catalog.model={m}"]), data=mock_store, runs_dir=tmp_path)
            for m in ("xgboost", "logreg")]
    out = compare(CFG, runs=runs, out=tmp_path / "cmp", progress=False)
    sub = pd.read_csv(out / "subgroups.csv")
    assert set(sub["variable"]) >= {"z", "q_logmass", "q_sn_median", "q_g_r"}
    binned = sub[sub["bin"] >= 0]
    counts = binned.drop_duplicates(["variable", "bin"]).groupby("variable")["n"].sum()
    assert (counts <= 362).all() and (counts > 0).all()
    ood = pd.read_csv(out / "ood.csv")
    assert set(ood["run"]) == {r.name for r in runs}
    assert np.allclose(ood.groupby("run")["fraction"].sum(), 1.0)
    thresholds = pd.read_csv(out / "thresholds.csv")
    assert set(thresholds["rule"]) == {"argmax", "max_f1", "target_precision"}
    abst = pd.read_csv(out / "abstention.csv")
    full = abst[abst["target_coverage"] == 1.0]
    assert (full["test_coverage"] == 1.0).all()


def test_seed_spread_and_combined(tmp_path: Path) -> None:
    """Seed spread pools only runs whose config.yaml is the same apart from the seed: not a run with another
    feature set, nor a run without config.yaml (a user's own model), though all share track and model."""
    y, good, weak = _problem(n=400)
    rng = np.random.default_rng(5)
    runs = [_fake_run(tmp_path, f"m-s{s}", y=y, seed=s, model="m",
                      score=np.clip(good + rng.normal(0, 0.05, y.size), 0.001, 0.999)) for s in range(3)]
    for s, run in enumerate(runs):
        dump_config(load_config(overrides=[f"seed={s}"]), config_path(run))
    other = _fake_run(tmp_path, "m-other", y=y, seed=0, model="m", score=weak)  # same track, model and seed ...
    dump_config(load_config(overrides=["catalog.features=all"]), config_path(other))  # ... another feature set
    bare = _fake_run(tmp_path, "m-bare", y=y, seed=1, model="m", score=weak)  # no config.yaml
    cfg = load_config(overrides=["compare.n_boot=200", "compare.seeds=combined"])
    out = compare(cfg, runs=[*runs, other, bare], out=tmp_path / "cmp", progress=False)
    seeds = pd.read_csv(out / "seeds.csv")
    group = f"user-m-{seed_free_config_hash(runs[0])[:8]}"
    assert set(seeds["group"]) == {group} and set(seeds["runs"]) == {"m-s0 m-s1 m-s2"}
    row = seeds[seeds["metric"] == "roc_auc"].iloc[0]
    aucs = [roc_auc_score(y, pd.read_parquet(r / "predictions.parquet")["p_agn"]) for r in runs]
    assert row["mean"] == pytest.approx(np.mean(aucs)) and row["std"] == pytest.approx(np.std(aucs, ddof=1))
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["run"] == f"{group} (mean of 3 seeds)").any()


def test_same_seed_same_bytes_and_cli(tmp_path: Path) -> None:
    y, good, weak = _problem(n=300)
    a, b = _fake_run(tmp_path, "a", y=y, score=good), _fake_run(tmp_path, "b", y=y, score=weak)
    one = compare(CFG, runs=[a, b], out=tmp_path / "one", progress=False)
    two = compare(CFG, runs=[a, b], out=tmp_path / "two", progress=False)
    for name in ("summary.csv", "tests.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    cli = [sys.executable, "-m", "agnbench.cli.main", "compare", str(a), str(b), "--n-boot", "200", "-q"]
    res = subprocess.run([*cli, "--out", str(tmp_path / "three")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == str(tmp_path / "three")
    res = subprocess.run([*cli, "--out", str(tmp_path / "three")], capture_output=True, text=True)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "exists" in res.stderr
    assert json.loads(json.dumps(yaml.safe_load((tmp_path / "three" / "inputs.yaml").read_text())["compare"]))[
        "n_boot"] == 200


def test_multiclass_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    classes = ("sf", "composite", "agn", "liner")
    n = 500
    y = rng.integers(0, 4, n)
    runs = []
    for name, skill in (("strong", 2.5), ("weak", 0.5)):
        logits = rng.normal(0, 1, (n, 4)) + skill * np.eye(4)[y]
        proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        run = tmp_path / name
        run.mkdir()
        preds = prediction_frame(object_id=np.array([f"o{i}" for i in range(n)]),
                                 split=np.where(np.arange(n) < 400, "test", "val"), y_true=y, proba=proba,
                                 y_pred=proba.argmax(1), classes=classes, track="user", model=name, run_id=name, seed=0)
        atomic_write_parquet(run / "predictions.parquet", preds)
        runs.append(run)
    out = compare(CFG, runs=runs, out=tmp_path / "cmp", progress=False)
    summary = pd.read_csv(out / "summary.csv").set_index(["run", "metric"])
    test = np.arange(n) < 400
    strong = pd.read_parquet(runs[0] / "predictions.parquet")
    p = strong.loc[test, [f"p_{c}" for c in classes]].to_numpy()
    assert summary.loc[("strong", "roc_auc"), "estimate"] == pytest.approx(
        roc_auc_score(y[test], p, multi_class="ovr", average="macro"), abs=1e-9)
    assert {"f1_liner", "precision_composite"} <= set(summary.index.get_level_values("metric"))
    tests = pd.read_csv(out / "tests.csv")
    assert "DeLong" not in set(tests["test"])  # binary only
    assert set(pd.read_csv(out / "thresholds.csv")["rule"]) == {"argmax"}
    assert "majority-baseline" not in set(summary.index.get_level_values("run"))  # no data.json: no training counts


def test_transfer_mode_matches_objects_by_id_across_stores(tmp_path: Path) -> None:
    """Runs on different stores are refused unless --transfer; then the shared object ids are compared."""
    y, good, weak = _problem(n=300)
    ids = np.array([f"o{i}" for i in range(300)])
    a = _fake_run(tmp_path, "a", y=y, score=good, ids=ids, sha="store-a")
    b = _fake_run(tmp_path, "b", y=y[100:], score=weak[100:], ids=ids[100:], sha="store-b")
    with pytest.raises(AgnbenchError, match="different store.*--transfer"):
        compare(CFG, runs=[a, b], out=tmp_path / "refused", progress=False)
    out = compare(CFG, runs=[a, b], out=tmp_path / "cmp", transfer=True, progress=False)
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    assert inputs["objects"]["shared"] == 200 and inputs["objects"]["dropped"] == {"a": 100, "b": 0}
    assert inputs["transfer"]["stores"] == {"a": "store-a", "b": "store-b"}
    est = pd.read_csv(out / "summary.csv").set_index(["run", "metric"])["estimate"]
    assert est[("a", "roc_auc")] == pytest.approx(roc_auc_score(y[100:], good[100:]))
    c = _fake_run(tmp_path, "c", y=y, score=weak, ids=np.array([f"x{i}" for i in range(300)]), sha="store-c")
    with pytest.raises(AgnbenchError, match="share no object"):
        compare(CFG, runs=[a, c], out=tmp_path / "empty", transfer=True, progress=False)
    with pytest.raises(AgnbenchError, match="different label scheme"):
        compare(CFG, runs=[a, _fake_run(tmp_path, "d", y=y, score=weak, scheme="bpt4")], out=tmp_path / "scheme",
                transfer=True, progress=False)


def test_a_model_applied_from_another_store_needs_transfer(tmp_path: Path) -> None:
    """Predictions on the same store from a model trained elsewhere (agnbench predict's data.json trained_on)."""
    y, good, weak = _problem(n=300)
    own = _fake_run(tmp_path, "own", y=y, score=good, sha="store-b")
    applied = _fake_run(tmp_path, "applied", y=y, score=weak, sha="store-b")
    record = json.loads((applied / "data.json").read_text())
    atomic_write_json(applied / "data.json", {**record, "trained_on": {"objects_sha256": "store-a" * 4}})
    with pytest.raises(AgnbenchError, match="trained on different stores.*--transfer"):
        compare(CFG, runs=[own, applied], out=tmp_path / "refused", progress=False)
    out = compare(CFG, runs=[own, applied], out=tmp_path / "cmp", transfer=True, progress=False)
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    assert inputs["transfer"]["trained_on"] == {"own": "store-b", "applied": "store-a" * 4}
