"""`agnbench report` on every kind of store: a real table store (no line ratios, no spectra), a 3-class label
map, and a spectra-only store with galaxy/qso/star labels and no feat_/q_ columns; the majority floor computed
from the classes; distinct run labels; seed spread only over runs that differ by seed alone."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.baselines.train_catalog import train_catalog
from agnbench.bootstrap.compare import compare
from agnbench.config.core import dump_config, load_config
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import config_path, seed_free_config_hash
from agnbench.contracts.schema import validate_objects
from agnbench.contracts.store import store_paths
from agnbench.data_prep.ingest.store import prep
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_json, atomic_write_parquet
from agnbench.reports.report import build_report, describe_runs, seed_groups_checked
from agnbench.reports.report_inputs import load_report_inputs
from agnbench.reports.skips import Skips
from agnbench.reports.summary_text import majority_baseline
from agnbench.reports.tables import MAJORITY

from tests.conftest import REAL

UV = REAL / "uv_optical_sdss_reduced.csv"
CFG = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100", "report.curve_boot=20",
                             "report.mistakes=3"])
BPT_SKIP = "BPT-plane figure skipped: the store has no q_log_nii_ha/q_log_oiii_hb (table store)"


def _uv_store(root: Path, label_map: str) -> Path:
    return prep(load_config(), source="table", table=UV, id_col="Objid", label_col="BPT_class", label_map=label_map,
                out=root / "store", progress=False)


def _logreg(store: Path, runs: Path, name: str, *, features: str = "all", seed: int = 0) -> Path:
    cfg = load_config(overrides=["catalog.model=logreg", f"catalog.features={features}", f"seed={seed}"])
    return train_catalog(cfg, data=store, runs_dir=runs, name=name)


@pytest.fixture(scope="module")
def uv_binary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real UV-optical table as a store (sf/agn, composites to ood): three logistic regressions, two of them
    differing by seed alone and one by its feature set, compared."""
    root = tmp_path_factory.mktemp("uv")
    store = _uv_store(root, "SF:sf,AGN:agn,Composite:ood")
    runs = {"all_s0": _logreg(store, root / "runs", "all_s0"),
            "all_s1": _logreg(store, root / "runs", "all_s1", seed=1),
            "phot_s0": _logreg(store, root / "runs", "phot_s0", features="photometry")}
    cmp_ = compare(CFG, runs=list(runs.values()), out=root / "cmp", progress=False)
    return {"store": store, "cmp": cmp_, **runs}


def test_report_on_a_real_table_store_skips_the_bpt_sections(uv_binary: dict[str, Path],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agnbench.reports")
    report = build_report(CFG, comparison=uv_binary["cmp"], progress=False)
    assert sum(m == BPT_SKIP for m in caplog.messages) == 1
    skipped = pd.read_csv(report / "skipped.csv")
    assert "BPT-plane figure" in set(skipped["what"]) and "Training curves" in set(skipped["what"])
    html = (report / "report.html").read_text()
    assert "Left out of this report" in html and "q_log_nii_ha/q_log_oiii_hb" in html
    figures = {p.stem for p in (report / "figures").glob("*.png")}
    assert {"roc", "pr", "reliability", "confusion", "composites_fractions", "class_balance"} <= figures
    assert "composites_bpt" not in figures
    text = (report / "summary.txt").read_text()
    assert "balanced accuracy 0.500 (1/2 for 2 classes)" in text
    summary = pd.read_csv(uv_binary["cmp"] / "summary.csv").set_index(["run", "metric"])["estimate"]
    assert summary[(MAJORITY, "balanced_accuracy")] == pytest.approx(0.5, abs=1e-12)
    test = pd.read_parquet(uv_binary["store"] / "objects.parquet").query("split == 'test'")
    share = (test["label_name"] == "sf").mean()  # the training majority's fraction of the test split
    assert f"accuracy {share:.3f} (its fraction of the split)" in text


def test_seed_spread_groups_only_runs_that_differ_by_seed(uv_binary: dict[str, Path]) -> None:
    seeds = pd.read_csv(uv_binary["cmp"] / "seeds.csv")
    assert seeds["group"].nunique() == 1
    assert set(seeds["runs"]) == {"all_s0 all_s1"}  # the photometry run differs by its feature set, not by seed
    assert seed_free_config_hash(uv_binary["all_s0"]) == seed_free_config_hash(uv_binary["all_s1"])
    assert seed_free_config_hash(uv_binary["all_s0"]) != seed_free_config_hash(uv_binary["phot_s0"])
    # a comparison grouped by track and model only (older compare) is not reported as seed spread
    inputs = load_report_inputs(uv_binary["cmp"])
    inputs.tables["seeds"] = seeds.assign(runs="all_s0 all_s1 phot_s0", group="catalog-logreg")
    skips = Skips()
    assert seed_groups_checked(inputs, skips).empty
    assert [s.what for s in skips.items] == ["Seed spread of catalog-logreg"]


def test_run_labels_are_distinct(uv_binary: dict[str, Path], tmp_path: Path) -> None:
    inputs = load_report_inputs(uv_binary["cmp"])
    labels = describe_runs(inputs)
    assert len(set(labels.values())) == len(labels) == 5  # 3 runs, the seed group of all_s0, all_s1, baseline
    assert labels["all_s0"] == "Logistic regression (catalog, features all, seed 0)"
    group = next(iter(inputs.inputs["seed_groups"]))
    assert labels[group] == "Logistic regression (catalog, features all, mean of 2 seeds)"
    assert labels["phot_s0"] == "Logistic regression (catalog, features photometry, seed 0)"
    # the same config and seed twice (e.g. a rerun): the run name tells them apart
    again = shutil.copytree(uv_binary["all_s0"], tmp_path / "all_s0_again")
    cmp_ = compare(CFG, runs=[uv_binary["all_s0"], again], out=tmp_path / "cmp", progress=False)
    assert load_report_inputs(cmp_).inputs["seed_groups"] == {}  # one seed twice: nothing to combine
    labels = describe_runs(load_report_inputs(cmp_))
    assert len(set(labels.values())) == 3 and labels["all_s0_again"].endswith("run all_s0_again)")


def test_seed_free_config_hash(tmp_path: Path) -> None:
    def run(name: str, *overrides: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        dump_config(load_config(overrides=list(overrides)), config_path(path))
        return path

    base = seed_free_config_hash(run("a", "seed=0"))
    assert base == seed_free_config_hash(run("b", "seed=7"))
    assert base == seed_free_config_hash(run("c", "compare.n_boot=500", "paths.runs=elsewhere"))
    assert base != seed_free_config_hash(run("d", "catalog.features=all"))
    assert seed_free_config_hash(tmp_path / "missing") is None


def test_three_class_label_map_reports_majority_one_third(tmp_path: Path) -> None:
    store = _uv_store(tmp_path, "SF:sf,AGN:agn,Composite:composite")
    run = _logreg(store, tmp_path / "runs", "lr3")
    cmp_ = compare(CFG, runs=[run], out=tmp_path / "cmp", progress=False)
    summary = pd.read_csv(cmp_ / "summary.csv").set_index(["run", "metric"])["estimate"]
    assert summary[(MAJORITY, "balanced_accuracy")] == pytest.approx(1 / 3, abs=1e-12)
    report = build_report(CFG, comparison=cmp_, progress=False)
    text = (report / "summary.txt").read_text()
    assert "balanced accuracy 0.333 (1/3 for 3 classes)" in text and "balanced accuracy 0.5" not in text
    skipped = pd.read_csv(report / "skipped.csv")
    assert {"Pairwise tests table", "Seed-spread table", "BPT-plane figure"} <= set(skipped["what"])


def test_majority_baseline_closed_form() -> None:
    base = majority_baseline(["galaxy", "qso", "star"], {"galaxy": 6, "qso": 3, "star": 1})
    assert base["class"] == "galaxy" and base["accuracy"] == pytest.approx(0.6)
    assert base["balanced_accuracy"] == pytest.approx(1 / 3) and base["roc_auc"] == 0.5
    base = majority_baseline(["a", "b", "c"], {"a": 5, "b": 3, "c": 0}, majority="b")  # the training majority
    assert base["accuracy"] == pytest.approx(3 / 8) and base["balanced_accuracy"] == pytest.approx(0.5)
    assert np.isnan(base["roc_auc"])  # undefined with a class absent from the split


def _spectra_store(root: Path, classes: tuple[str, ...], rng: np.random.Generator) -> tuple[Path, pd.DataFrame]:
    """A spectra-only store (objects.parquet with only the required columns, no ood, no feat_/q_ columns)."""
    n = 240
    y = rng.integers(0, len(classes), n)
    split = np.array(["train"] * 120 + ["val"] * 40 + ["test"] * 80)
    objects = pd.DataFrame({
        "object_id": [f"{5000 + i}" for i in range(n)], "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-10, 60, n),
        "z": np.where(y == 2, rng.normal(0, 1e-4, n), rng.uniform(0.05, 2.5, n)), "label": y.astype(np.int64),
        "label_name": np.asarray(classes, dtype=object)[y], "bpt_class": -1, "split": split,
        "spec_row": np.arange(n, dtype=np.int64), "image_row": -1})
    validate_objects(objects)
    store = root / "store"
    paths = store_paths(store)
    paths.flux.parent.mkdir(parents=True)
    atomic_write_parquet(paths.objects, objects)
    wave = 3800.0 * 10 ** (1e-3 * np.arange(400))
    np.save(paths.wave, wave)
    np.save(paths.flux, (1 + rng.normal(0, 0.1, (n, wave.size))).astype(np.float32))
    np.save(paths.ivar, np.full((n, wave.size), 100.0, np.float32))
    atomic_write_json(paths.manifest, {"labels": {"scheme": "sdss_class", "classes": list(classes)},
                                       "cuts": [{"cut": "input", "n_after": n}], "inputs": {"spectra": "spec/"}})
    return store, objects


def test_report_on_a_spectra_only_store_with_three_classes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One spectra run (no comparison partner, no explain outputs) on a galaxy/qso/star store without any feat_ or
    q_ column: the report completes and lists what it left out."""
    rng = np.random.default_rng(11)
    classes = ("galaxy", "qso", "star")
    store, objects = _spectra_store(tmp_path, classes, rng)
    sha = hashlib.sha256(store_paths(store).objects.read_bytes()).hexdigest()
    scored = objects[objects["split"] != "train"]
    y = scored["label"].to_numpy()
    logits = rng.normal(0, 1, (len(y), 3)) + 2.0 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    run = tmp_path / "runs" / "spec"
    run.mkdir(parents=True)
    atomic_write_parquet(run / "predictions.parquet", prediction_frame(
        object_id=scored["object_id"].to_numpy(), split=scored["split"].to_numpy(), y_true=y, proba=proba,
        y_pred=proba.argmax(1), classes=classes, track="spectra", model="resnet1d", run_id="spec", seed=0))
    train = objects[objects["split"] == "train"]["label_name"].value_counts()
    atomic_write_json(run / "data.json", {"store": str(store), "objects_sha256": sha, "label_scheme": "sdss_class",
                                          "classes": list(classes),
                                          "counts": {f"train/{c}": int(train.get(c, 0)) for c in classes}})
    epochs = np.arange(1, 6)
    pd.DataFrame({"epoch": epochs, "train_loss": 1 / epochs, "val_loss": 1 / epochs + 0.1,
                  "val_score": 1 - 0.3 / epochs, "best": epochs == 5}).to_csv(run / "history.csv", index=False)
    dump_config(load_config(), config_path(run))
    cmp_ = compare(CFG, runs=[run], out=tmp_path / "cmp", progress=False)
    caplog.set_level(logging.INFO, logger="agnbench.reports")
    report = build_report(CFG, comparison=cmp_, progress=False)
    figures = {p.stem for p in (report / "figures").glob("*.png")}
    assert {"roc", "confusion", "training_loss", "class_balance", "distributions", "mistakes_spectra_spec"} <= figures
    skipped = set(pd.read_csv(report / "skipped.csv")["what"])
    assert {"BPT-plane figure", "Ood class-fraction figure", "Paired-difference figure", "Pairwise tests table",
            "Interpretability figures of 1D ResNet (spectra)"} <= skipped
    assert "BPT-plane figure skipped: no run has objects in split ood" in caplog.messages
    text = (report / "summary.txt").read_text()
    counts = scored[scored["split"] == "test"]["label_name"].value_counts()
    majority = train.idxmax()
    assert f"training majority class ({majority})" in text and "(1/3 for 3 classes)" in text
    assert f"accuracy {counts[majority] / counts.sum():.3f} (its fraction of the split)" in text
    assert "composites" not in (report / "report.md").read_text().lower()


def test_display_names_and_one_colour_per_run_in_every_figure(uv_binary: dict[str, Path], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """report.labels renames a run in tables, legends and text; each run keeps one colour across figures."""
    import agnbench.reports.build_performance as bp

    drawn: dict[str, object] = {}
    save = bp.save_figure

    def keep(fig, out_dir, name, **kw):  # the figures as drawn, to read their legends and colours
        drawn[name] = fig
        return save(fig, out_dir, name, **kw)

    monkeypatch.setattr(bp, "save_figure", keep)
    cmp_ = shutil.copytree(uv_binary["cmp"], tmp_path / "cmp", ignore=shutil.ignore_patterns("report"))
    cfg = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100", "report.curve_boot=20",
                                 "report.mistakes=0", "report.labels={phot_s0: LR on photometry}"])
    report = build_report(cfg, comparison=cmp_, progress=False)
    head = pd.read_csv(report / "tables" / "headline.csv")
    assert list(head.columns[:2]) == ["run", "label"]  # the CSV keeps the run name and adds the display name
    assert head.set_index("run").at["phot_s0", "label"] == "LR on photometry"
    html = (report / "report.html").read_text()
    assert "LR on photometry" in html and ">phot_s0<" not in html.split('id="provenance"')[0]
    assert "Logistic regression (catalog, features all, mean of 2 seeds)" in html
    assert "LR on photometry" in (report / "tables" / "headline.tex").read_text()

    def colours(fig) -> dict[str, str]:
        from matplotlib.colors import to_hex
        out = {}
        for ax in fig.axes:
            for line in ax.get_lines():
                label = line.get_label()
                if not label.startswith("_"):
                    out[label.split("  ")[0]] = to_hex(line.get_color())
        for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
            for handle, text in zip(legend.legend_handles, legend.get_texts()):
                if hasattr(handle, "get_color"):
                    out[text.get_text().split("  ")[0]] = to_hex(handle.get_color())
        return out

    roc, subgroup = colours(drawn["roc"]), colours(drawn["subgroups_roc_auc"])
    names = {"LR on photometry", "Logistic regression (catalog, features all, seed 0)",
             "Logistic regression (catalog, features all, seed 1)"}
    assert names <= set(roc) and names <= set(subgroup), (roc, subgroup)  # display names in the legends
    assert all(roc[n] == subgroup[n] for n in names)  # one colour per run in every figure
    assert len({roc[n] for n in names}) == len(names)  # and no two runs share one
    assert not any("phot_s0" in t for t in roc)
    with pytest.raises(AgnbenchError, match="not a run of this comparison"):
        build_report(load_config(overrides=["report.labels={nope: X}"]), comparison=cmp_, overwrite=True,
                     progress=False)
