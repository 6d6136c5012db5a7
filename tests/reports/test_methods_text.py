"""Every quoted number names its method (issue 17 items 6, 8, 9, 10, 12): captions and summary.txt."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from agnbench.bootstrap.compare import compare
from agnbench.bootstrap.paired_tests import holm
from agnbench.config.core import load_config
from agnbench.reports.methods_text import (difference_method, holm_bounds, holm_phrase, interval_phrase, p_bounds,
                                           p_text, prevalence_note)
from agnbench.reports.summary_text import summary_paragraph
from agnbench.reports.tables import format_p, pairwise_display, pairwise_latex, pairwise_table
from tests.bootstrap.test_primary import _run

B = 200


def _tests(p: list[float], test: str = "paired bootstrap", metric: str = "roc_auc") -> pd.DataFrame:
    p = np.asarray(p, float)
    return pd.DataFrame({"run_a": [f"a{i}" for i in range(p.size)], "run_b": "b", "metric": metric, "test": test,
                         "delta": 0.1, "lo": 0.0, "hi": 0.2, "p_value": p, "p_holm": holm(p)})


def test_floor_limited_p_values_are_bounds_and_printed_as_such() -> None:
    floor = 2 / (B + 1)
    tests = _tests([floor, 0.2, 0.03])
    assert p_bounds(tests, n_boot=B).tolist() == [True, False, False]
    # Holm: 3*floor (from the floored p) is a bound; max(3 floor, 2*0.03) = 0.06 is exact; 0.2 is exact
    assert holm_bounds(tests, n_boot=B).tolist() == [True, False, False]
    assert p_text(floor, bound=True) == f"p \N{LESS-THAN OR EQUAL TO} {floor:.3g}"
    assert p_text(0.2) == "p = 0.2" and p_text(1e-6) == "p < 1e-4"
    assert format_p(floor, bound=True, latex=True).startswith("$\\le$")
    # a Holm p set by a floored value further down the order is a bound too
    tests = _tests([floor, floor * 1.01])
    tests.loc[1, "p_value"] = floor  # both at the floor
    assert holm_bounds(tests, n_boot=B).tolist() == [True, True]
    # DeLong and McNemar p-values are never floor-limited
    assert not p_bounds(_tests([floor], test="DeLong"), n_boot=B).any()
    # an explicit p_floor column (B counted where the difference is defined) wins over n_boot
    t = _tests([2 / 151]).assign(p_floor=2 / 151)
    assert p_bounds(t, n_boot=B).tolist() == [True]


def test_pairwise_table_marks_bounds_and_latex_uses_le() -> None:
    floor = 2 / (B + 1)
    tests = pd.concat([_tests([floor, 0.4]), _tests([0.01], test="DeLong")], ignore_index=True)
    pair = pairwise_table(tests, n_boot=B)
    shown = pairwise_display(pair)
    assert shown["p"].str.contains("\N{LESS-THAN OR EQUAL TO}").sum() == 1
    tex = pairwise_latex(pair, caption="c")
    assert tex.count("$\\le$") >= 1 and "\N{LESS-THAN OR EQUAL TO}" not in tex


def test_holm_phrase_and_family_grouping_by_test_kind() -> None:
    mc = pd.concat([_tests([0.01, 0.2], test="McNemar (exact binomial)", metric="accuracy"),
                    _tests([0.03], test="McNemar (chi-square with continuity correction)", metric="accuracy")],
                   ignore_index=True)
    text = holm_phrase(mc)
    assert "1 families of 3" in text and "not over all metrics" in text


def test_interval_phrases_name_method_and_conditioning() -> None:
    settings = {"confidence": 0.9, "n_boot": 500, "ci": "bca", "stratify": True}
    assert interval_phrase(settings, split="test") == ("90% BCa bootstrap intervals (500 paired resamples of the "
                                                       "test objects, stratified by class)")
    assert "conditional on the test split's class counts" in prevalence_note(settings, split="test")
    assert "include the sampling variation" in prevalence_note({**settings, "stratify": False}, split="test")
    assert difference_method({"test": "DeLong"}, settings).startswith("DeLong normal-approximation 90%")
    assert difference_method({"test": "paired bootstrap", "ci": "bca"}, settings) == (
        "90% BCa interval of 500 paired bootstrap differences")
    primary_row = {"test": "paired bootstrap", "run": "spectra-x (mean of 3 seeds)",
                   "reference": "cat-y (mean of 3 seeds)"}  # primary.csv rows name seed groups, no note column
    assert difference_method(primary_row, settings).endswith("paired bootstrap differences over objects x seeds")


def test_summary_paragraph_names_each_method_and_leads_with_primary(tmp_path: Path) -> None:
    runs = [_run(tmp_path, "cat_a", "catalog", val_noise=0.3, test_noise=0.3, seed=1),
            _run(tmp_path, "spec", "spectra", val_noise=0.15, test_noise=0.15, seed=3),
            _run(tmp_path, "img", "images", val_noise=0.5, test_noise=0.5, seed=4)]
    cfg = load_config(overrides=[f"compare.n_boot={B}", "compare.subgroup_boot=100"])
    out = compare(cfg, runs=runs, out=tmp_path / "cmp", progress=False)
    summary, tests = pd.read_csv(out / "summary.csv"), pd.read_csv(out / "tests.csv")
    primary = pd.read_csv(out / "primary.csv")
    inputs = yaml.safe_load((out / "inputs.yaml").read_text())
    text = summary_paragraph(summary, tests, inputs, describe={}, mock=False, primary=primary)
    assert text.startswith("Primary comparison, declared before looking (ROC-AUC; reference: cat_a")
    assert "Everything else below is secondary" in text
    # the ROC-AUC differences quoted are DeLong intervals and say so; no DeLong interval is called a percentile one
    delong = tests[(tests["test"] == "DeLong")]
    row = delong[(delong["run_a"] == "spec") | (delong["run_b"] == "spec")].iloc[0]
    lo, hi = sorted([row["lo"], row["hi"]]) if row["run_a"] == "spec" else sorted([-row["hi"], -row["lo"]])
    assert re.search(r"DeLong normal-approximation 95% interval; DeLong p", text)
    assert "conditional on the test split's class counts" in text
    # every "p = x" that is at the bootstrap floor is printed as a bound instead
    floor = 2 / (B + 1)
    assert f"p = {floor:.3g}" not in text
