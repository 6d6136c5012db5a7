"""Incremental value in compare (issue 20 item 2): fusion vs members and leave-one-out fusions, quoting tests.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agnbench.bootstrap.compare import compare
from agnbench.bootstrap.paired_tests import holm
from agnbench.config.core import load_config
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import write_model_meta, write_status
from agnbench.fileio import atomic_write_json, atomic_write_parquet

CFG = load_config(overrides=["compare.n_boot=300", "compare.subgroup_boot=100"])
CLASSES = ("sf", "agn")
N = 300  # objects per split
Y = np.tile((np.arange(N) % 3 == 0).astype(int), 2)
SPLIT = np.repeat(["val", "test"], N)


def _signal(seed: int, strength: float) -> np.ndarray:
    """A logit carrying ``strength`` of the label plus unit noise (independent per seed)."""
    return strength * (Y - 0.5) * 2 + np.random.default_rng(seed).normal(0, 1, Y.size)


def _write(root: Path, name: str, track: str, logit: np.ndarray, *, seed: int = 0, members: list[Path] | None = None,
           grouped: bool = False) -> Path:
    """A complete run of ``track`` (a fusion run of ``members`` when given) with class-1 logit ``logit``."""
    p = 1 / (1 + np.exp(-logit))
    preds = prediction_frame(object_id=np.array([f"o{i}" for i in range(Y.size)]), split=SPLIT, y_true=Y,
                             proba=np.column_stack([1 - p, p]), y_pred=(p > 0.5).astype(int), classes=CLASSES,
                             track=track, model="stack-logreg" if members else f"{track}-m", run_id=name, seed=seed)
    run = root / name
    run.mkdir()
    atomic_write_parquet(run / "predictions.parquet", preds)
    atomic_write_json(run / "data.json", {"objects_sha256": "abc", "label_scheme": "agn_vs_sf",
                                          "classes": list(CLASSES), "counts": {"train/sf": 60, "train/agn": 30}})
    if grouped:
        (run / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "what": name.rsplit("-s", 1)[0]}))
    if members is not None:
        write_model_meta(run, {"track": "fusion", "model": "stack-logreg", "missing": "drop",
                               "leave_out": None, "inputs": [f"logit_{m.name}" for m in members],
                               "members": [_member(m) for m in members]})
    write_status(run, "complete")
    return run


def _member(run: Path) -> dict:
    p = pd.read_parquet(run / "predictions.parquet", columns=["track", "model", "seed"]).iloc[0]
    return {"run_id": run.name, "path": str(run), "track": str(p["track"]), "model": str(p["model"]),
            "seed": int(p["seed"])}


def _three(root: Path, *, seed: int = 0, grouped: bool = False) -> dict[str, Path]:
    """catalog (weak), images (weak, independent), spectra (strong); fusion of all three and its leave-outs."""
    sig = {t: _signal(100 * seed + k, s) for k, (t, s) in enumerate((("catalog", 0.6), ("images", 0.6),
                                                                        ("spectra", 1.2)))}
    sfx = f"-s{seed}"
    runs = {t: _write(root, f"{t}{sfx}", t, sig[t], seed=seed, grouped=grouped) for t in sig}
    runs["fusion"] = _write(root, f"fusion{sfx}", "fusion", sum(sig.values()) / 2, seed=seed,
                            members=[runs[t] for t in sig], grouped=grouped)
    for t in sig:
        kept = [u for u in sig if u != t]
        runs[f"without-{t}"] = _write(root, f"fusion-without-{t}{sfx}", "fusion", sum(sig[u] for u in kept) / 2,
                                      seed=seed, members=[runs[u] for u in kept], grouped=grouped)
    return runs


def test_fusion_rows_quote_tests_csv_with_their_own_holm_family(tmp_path: Path) -> None:
    runs = _three(tmp_path)
    out = compare(CFG, runs=list(runs.values()), out=tmp_path / "cmp", progress=False)
    inc = pd.read_csv(out / "incremental.csv")
    tests = pd.read_csv(out / "tests.csv")
    full = inc[inc["fusion"] == "fusion-s0"]
    # the full fusion: 3 members + 3 leave-one-out fusions; each leave-one-out fusion: its 2 members
    assert sorted(full.loc[full["relation"] == "vs_member", "baseline"].unique()) == ["catalog-s0", "images-s0",
                                                                                      "spectra-s0"]
    loo = full[full["relation"] == "vs_leave_one_out"]
    assert dict(zip(loo["baseline"], loo["added"])) == {"fusion-without-catalog-s0": "catalog",
                                                        "fusion-without-images-s0": "images",
                                                        "fusion-without-spectra-s0": "spectra"}
    row = full[(full["baseline"] == "catalog-s0") & (full["metric"] == "roc_auc")
               & (full["method"] == "paired bootstrap percentile")].iloc[0]
    assert row["added"] == "images + spectra" and row["fusion_inputs"] == "catalog + images + spectra"
    assert row["text"].startswith("catalog + images + spectra vs catalog alone: ΔAUC +")
    # reuse: the same numbers as tests.csv's row for the pair, oriented fusion - baseline
    for _, r in inc.iterrows():
        test = "DeLong" if r["method"] == "DeLong" else "paired bootstrap"
        fwd = tests[(tests["run_a"] == r["fusion"]) & (tests["run_b"] == r["baseline"]) & (tests["metric"] == r["metric"])
                    & (tests["test"] == test)]
        back = tests[(tests["run_a"] == r["baseline"]) & (tests["run_b"] == r["fusion"])
                     & (tests["metric"] == r["metric"]) & (tests["test"] == test)]
        hit, sign = (fwd.iloc[0], 1) if len(fwd) else (back.iloc[0], -1)
        assert r["delta"] == pytest.approx(sign * hit["delta"], abs=1e-12)
        lo, hi = (hit["lo"], hit["hi"]) if sign > 0 else (-hit["hi"], -hit["lo"])
        assert (r["lo"], r["hi"]) == pytest.approx((lo, hi), abs=1e-12)
        assert r["p_value"] == pytest.approx(hit["p_value"])
        assert r["delta"] == pytest.approx(r["fusion_estimate"] - r["baseline_estimate"], abs=1e-12)
    assert set(inc["metric"]) == {"roc_auc", "balanced_accuracy"}
    assert set(inc["method"]) == {"paired bootstrap percentile", "DeLong"}
    for fam, part in inc.groupby("family"):
        assert part["p_holm"].to_numpy() == pytest.approx(holm(part["p_value"].to_numpy()))
        assert (part["family_size"] == len(part)).all()
    assert set(inc["family"]) == {"incremental/roc_auc/paired bootstrap", "incremental/roc_auc/DeLong",
                                  "incremental/balanced_accuracy/paired bootstrap"}
    # fusion runs have their own family: none is in primary.csv, which is the single-modality runs' vs the catalog
    primary = pd.read_csv(out / "primary.csv")
    assert set(primary["run"]) == {"images-s0", "spectra-s0"} and (primary["reference"] == "catalog-s0").all()
    assert (primary["family_size"] == 2).all() and set(inc["fusion"]) >= {"fusion-s0"}
    assert yaml.safe_load((out / "inputs.yaml").read_text())["primary"]["others"] == ["images-s0", "spectra-s0"]
    # planted: leaving the strong spectra out loses significantly; the weak images add little but positively
    auc = inc[(inc["metric"] == "roc_auc") & (inc["method"] == "paired bootstrap percentile")].set_index(
        ["fusion", "baseline"])
    assert auc.loc[("fusion-s0", "fusion-without-spectra-s0"), "lo"] > 0
    assert auc.loc[("fusion-s0", "spectra-s0"), "delta"] > 0


def test_fusion_equal_to_a_member_has_zero_delta_and_no_fusion_changes_nothing(tmp_path: Path) -> None:
    a = _write(tmp_path, "cat", "catalog", _signal(1, 0.8))
    b = _write(tmp_path, "img", "images", _signal(2, 0.8))
    base = compare(CFG, runs=[a, b], out=tmp_path / "base", progress=False)
    assert not (base / "incremental.csv").exists()
    assert "incremental" not in yaml.safe_load((base / "inputs.yaml").read_text())["skipped"]
    same = _write(tmp_path, "fus", "fusion", _signal(1, 0.8), members=[a, b])
    out = compare(CFG, runs=[a, b, same], out=tmp_path / "cmp", progress=False)
    inc = pd.read_csv(out / "incremental.csv").set_index(["baseline", "metric", "method"])
    row = inc.loc[("cat", "roc_auc", "paired bootstrap percentile")]
    assert row["delta"] == 0 and row["lo"] <= 0 <= row["hi"] and row["added"] == "images"
    # the rows of the runs compared before are unchanged by the fusion run's presence (p_holm: larger families)
    before = set(pd.read_csv(base / "summary.csv")["run"])
    old, new = pd.read_csv(base / "summary.csv"), pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(old, new[new["run"].isin(before)].reset_index(drop=True))
    old, new = pd.read_csv(base / "tests.csv"), pd.read_csv(out / "tests.csv")
    new = new[new["run_a"].isin(before) & new["run_b"].isin(before)].reset_index(drop=True)
    pd.testing.assert_frame_equal(old.drop(columns="p_holm"), new.drop(columns="p_holm"))
    # the primary comparison (Holm included) does not see the fusion run
    pd.testing.assert_frame_equal(pd.read_csv(base / "primary.csv"), pd.read_csv(out / "primary.csv"))


def test_fusion_without_members_compared_is_listed_in_skipped(tmp_path: Path) -> None:
    a = _write(tmp_path, "cat", "catalog", _signal(1, 0.8))
    b = _write(tmp_path, "img", "images", _signal(2, 0.8))
    fus = _write(tmp_path, "fus", "fusion", _signal(3, 1.0), members=[a, b])
    other = _write(tmp_path, "spec", "spectra", _signal(4, 1.0))
    out = compare(CFG, runs=[fus, other], out=tmp_path / "cmp", progress=False)
    assert not (out / "incremental.csv").exists()
    assert "fus" in yaml.safe_load((out / "inputs.yaml").read_text())["skipped"]["incremental"]


def test_seed_groups_compare_fusion_group_with_member_group_over_objects_and_seeds(tmp_path: Path) -> None:
    runs = []
    for seed in (0, 1, 2):
        r = _three(tmp_path, seed=seed, grouped=True)
        runs += [r["catalog"], r["images"], r["fusion"], r["without-images"]]
    out = compare(CFG, runs=runs, out=tmp_path / "cmp", progress=False)
    inc = pd.read_csv(out / "incremental.csv")
    tests = pd.read_csv(out / "tests.csv")
    groups = yaml.safe_load((out / "inputs.yaml").read_text())["seed_groups"]
    assert set(inc["fusion"]) <= set(groups) and set(inc["baseline"]) <= set(groups)
    assert (inc["seeds"] == "0 1 2").all()
    assert set(inc["method"]) == {"paired bootstrap percentile over objects x seeds"}  # no DeLong for seed groups
    full = next(g for g, m in groups.items() if "fusion-s0" in m)
    rows = inc[inc["fusion"] == full]
    assert set(rows["relation"]) == {"vs_member", "vs_leave_one_out"}
    assert len(rows) == 2 * 3  # catalog, images (members compared) and without-images; two metrics each
    for _, r in rows.iterrows():
        hit = tests[(tests["test"] == "paired bootstrap") & (tests["metric"] == r["metric"])
                    & (((tests["run_a"] == r["fusion"]) & (tests["run_b"] == r["baseline"]))
                       | ((tests["run_a"] == r["baseline"]) & (tests["run_b"] == r["fusion"])))].iloc[0]
        sign = 1 if hit["run_a"] == r["fusion"] else -1
        assert r["delta"] == pytest.approx(sign * hit["delta"], abs=1e-12)
        lo, hi = (hit["lo"], hit["hi"]) if sign > 0 else (-hit["hi"], -hit["lo"])
        assert (r["lo"], r["hi"]) == pytest.approx((lo, hi), abs=1e-12)
        assert "objects x seeds" in r["note"]


def test_leave_one_out_omits_every_member_of_one_track(tmp_path: Path) -> None:
    from agnbench.bootstrap.compare_inputs import load_runs
    from agnbench.bootstrap.incremental import fusion_relations

    c1 = _write(tmp_path, "cat1", "catalog", _signal(1, 0.5))
    c2 = _write(tmp_path, "cat2", "catalog", _signal(2, 0.5))
    img = _write(tmp_path, "img", "images", _signal(3, 0.5))
    full = _write(tmp_path, "fus", "fusion", _signal(4, 1.0), members=[c1, c2, img])
    no_cat = _write(tmp_path, "fus-without-catalog", "fusion", _signal(5, 0.5), members=[img])
    half = _write(tmp_path, "fus-half", "fusion", _signal(6, 0.5), members=[c1, img])
    rel = fusion_relations(load_runs([c1, c2, img, full, no_cat, half]))
    loo = {(r.fusion, r.baseline): r.added for r in rel if r.relation == "vs_leave_one_out"}
    assert loo == {("fus", "fus-without-catalog"): "catalog", ("fus-half", "fus-without-catalog"): "catalog"}
    member = {r.baseline: r.added for r in rel if r.fusion == "fus" and r.relation == "vs_member"}
    assert member == {"cat1": "cat2 + img", "cat2": "cat1 + img", "img": "cat1 + cat2"}  # one track twice: labels
