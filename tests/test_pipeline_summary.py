"""The results table ``agnbench run`` prints (issue 20): runs and seed groups by the report's display names, each
followed by its row name in summary.csv, so a fusion seed group reads ``Fusion (catalog + images + spectra, mean of
2 seeds)`` and stays traceable to ``<group> (mean of 2 seeds)``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from agnbench.bootstrap.compare import compare
from agnbench.pipeline import StageResult, summary
from agnbench.reports.display import comparison_labels

from tests.bootstrap.test_incremental import CFG, _three


def _table(text: str) -> pd.DataFrame:
    """The Markdown results table at the end of ``summary``'s text."""
    rows = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    return pd.DataFrame([[c.strip() for c in r] for r in rows[1:]], columns=[c.strip() for c in rows[0]])


def test_results_table_shows_display_names_then_the_summary_row_name(tmp_path: Path) -> None:
    runs = []
    for seed in (0, 1):
        r = _three(tmp_path, seed=seed, grouped=True)
        runs += [r["catalog"], r["spectra"], r["fusion"], r["without-spectra"]]
    out = compare(CFG, runs=runs, out=tmp_path / "cmp", progress=False)
    groups = yaml.safe_load((out / "inputs.yaml").read_text())["seed_groups"]
    full = next(g for g, m in groups.items() if "fusion-s0" in m)
    loo = next(g for g, m in groups.items() if "fusion-without-spectra-s0" in m)
    assert full.endswith("(mean of 2 seeds)") and "fusion" in full

    table = _table(summary([StageResult("compare", "done", out, 1.0)]))
    assert list(table.columns) == ["model", "ROC-AUC", "Bal. acc.", "L2-CE (debiased)", "run"], table.columns
    shown = dict(zip(table["run"], table["model"]))
    assert set(shown) == {*groups, "majority-baseline"}  # every row traceable to summary.csv
    assert shown[full] == "Fusion (catalog + images + spectra, mean of 2 seeds)"
    assert shown[loo] == "Fusion (catalog + images, mean of 2 seeds)"
    assert shown["majority-baseline"] == "Majority class"
    assert not set(table["model"]) & set(groups)  # no row is named by its hash id
    assert shown == {k: v for k, v in comparison_labels(out).items() if k in shown}  # the report's names

    # report.labels renames a row here as in the report
    renamed = _table(summary([StageResult("compare", "done", out, 1.0)], labels={full: "All three"}))
    assert dict(zip(renamed["run"], renamed["model"]))[full] == "All three"
