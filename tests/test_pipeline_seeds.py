"""`agnbench run` with several training seeds: planned runs, seed-free grouping, results rows, attribution spread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agnbench.config.core import dump_config, load_config
from agnbench.contracts.run_dir import config_path, seed_free_config_hash
from agnbench.errors import ConfigError
from agnbench.pipeline_records import compared_runs, explain_name, planned_runs, run_names, training_seeds
from agnbench.reports.attribution_seeds import attribution_seed_spread
from agnbench.reports.tables import reported_runs


def test_three_seeds_by_default_derived_from_seed(tmp_path: Path) -> None:
    cfg = load_config(overrides=[f"paths.runs={tmp_path}", "seed=4"])
    assert cfg.seeds == 3 and training_seeds(cfg) == [4, 5, 6]
    planned = planned_runs(cfg)
    assert len(planned) == 5 * 3
    assert [p.path.name for p in planned[:3]] == ["catalog-xgboost-s4", "catalog-xgboost-s5", "catalog-xgboost-s6"]
    assert [p.stage for p in planned[-3:]] == ["train images s4", "train images s5", "train images s6"]
    p = planned[1]
    trained = p.config(cfg)
    assert (trained.seed, trained.catalog.model, trained.seeds) == (5, "xgboost", 3)
    assert planned[-1].config(cfg).seed == 6 and planned[-1].what == "images"
    assert explain_name(planned[4].path, seeds=3) == "explain catalog-lightgbm-s5"


def test_one_seed_keeps_the_single_run_names(tmp_path: Path) -> None:
    cfg = load_config(overrides=[f"paths.runs={tmp_path}", "seeds=1"])
    assert list(run_names(cfg)) == ["catalog xgboost", "catalog lightgbm", "catalog logreg", "train spectra",
                                    "train images"]
    assert run_names(cfg)["train spectra"].name == "spectra-resnet1d-s0"
    assert explain_name(run_names(cfg)["train spectra"]) == "explain spectra-resnet1d"


def test_seeds_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="seeds"):
        load_config(overrides=["seeds=0"])


def test_the_seed_count_does_not_split_a_seed_group(tmp_path: Path) -> None:
    """Runs made with seeds 3 and seeds 5 (and different seeds) are one group; another setting is another group."""
    hashes = []
    for i, extra in enumerate((["seed=0", "seeds=3"], ["seed=7", "seeds=5"], ["seed=0", "spectra.epochs=3"])):
        run = tmp_path / f"r{i}"
        run.mkdir()
        dump_config(load_config(overrides=extra), config_path(run))
        hashes.append(seed_free_config_hash(run))
    assert hashes[0] == hashes[1] != hashes[2]


def test_compared_runs_reads_inputs_yaml(tmp_path: Path) -> None:
    assert compared_runs(tmp_path / "nothing") is None
    (tmp_path / "inputs.yaml").write_text(yaml.safe_dump({"runs": [{"path": "/x/runs/catalog-xgboost-s0"},
                                                                   {"path": "/x/runs/spectra-resnet1d-s1"}]}))
    assert compared_runs(tmp_path) == {"catalog-xgboost-s0", "spectra-resnet1d-s1"}


def test_reported_runs_put_each_group_where_its_first_run_was() -> None:
    summary = pd.DataFrame({"run": ["a-s0", "a-s1", "b", "c-s0", "c-s1", "majority-baseline", "A (mean of 2 seeds)",
                                    "C (mean of 2 seeds)"], "metric": "roc_auc"})
    groups = {"A (mean of 2 seeds)": ["a-s0", "a-s1"], "C (mean of 2 seeds)": ["c-s0", "c-s1"]}
    assert reported_runs(summary, groups) == ["A (mean of 2 seeds)", "b", "C (mean of 2 seeds)", "majority-baseline"]
    assert reported_runs(summary, None) == list(summary["run"])


def test_attribution_spread_over_seeds() -> None:
    """Numbers: mean, std (ddof 1), min, max; text: the most common value and its share; a quantity only one seed
    reports is left out; quantities are read by name, so new ones flow through."""
    facts = pd.DataFrame([
        ("s-0", "bpt_windows.median_fraction", 0.5), ("s-1", "bpt_windows.median_fraction", 0.6),
        ("s-2", "bpt_windows.median_fraction", 0.7),
        ("s-0", "occlusion.most_important_window_A", 6550.0), ("s-1", "occlusion.most_important_window_A", 5007.0),
        ("s-2", "occlusion.most_important_window_A", 6550.0),
        ("s-0", "shap.top_features.1.feature", "feat_g_r"), ("s-1", "shap.top_features.1.feature", "feat_u_g"),
        ("s-2", "shap.top_features.1.feature", "feat_g_r"),
        ("s-0", "new_method.score", 1.0), ("x", "bpt_windows.median_fraction", 0.1),
    ], columns=["run", "quantity", "value"])
    spread = attribution_seed_spread(facts, {"S (mean of 3 seeds)": ["s-0", "s-1", "s-2"]}).set_index("quantity")
    frac = spread.loc["bpt_windows.median_fraction"]
    assert (frac["mean"], frac["std"], frac["min"], frac["max"], frac["n_seeds"]) == pytest.approx(
        (0.6, np.std([0.5, 0.6, 0.7], ddof=1), 0.5, 0.7, 3))
    assert frac["text"] == "0.6 ± 0.1 [0.5, 0.7] over 3 seeds"
    top = spread.loc["shap.top_features.1.feature"]
    assert top["most_common"] == "feat_g_r" and top["agreement"] == pytest.approx(2 / 3)
    assert top["text"] == "feat_g_r (2 of 3 seeds)" and top["values"] == "feat_g_r; feat_u_g; feat_g_r"
    assert spread.loc["occlusion.most_important_window_A", "std"] > 0
    assert "new_method.score" not in spread.index
    assert attribution_seed_spread(facts, {}).empty
