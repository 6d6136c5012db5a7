"""The report's HTML/Markdown rendering, its short summary and its readable attribution tables (no fixtures: fast)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.reports import tables as tb
from agnbench.reports.attribution_tables import attribution_display_tables, readable_key
from agnbench.reports.display import PALETTE, display_colors
from agnbench.reports.render import Paragraph, Section, Table, render_html, render_markdown
from agnbench.reports.summary_brief import brief_sentences, brief_table


def _summary() -> pd.DataFrame:
    rows = []
    for run, auc, bacc, brier in (("xgb", 0.90, 0.80, 0.10), ("spec", 0.95, 0.85, 0.08),
                                  (tb.MAJORITY, 0.5, 0.5, 0.25)):
        for metric, v in (("roc_auc", auc), ("balanced_accuracy", bacc), ("brier", brier),
                          ("calibration_slope", np.nan if run == tb.MAJORITY else 1.0)):
            rows.append({"metric": metric, "run": run, "estimate": v, "lo": v - 0.02, "hi": v + 0.01,
                         "ci": "bca"})
    return pd.DataFrame(rows)


LABELS = {"xgb": "XGBoost (catalog)", "spec": "1D ResNet (spectra)", tb.MAJORITY: "Majority class"}


def test_html_marks_best_dashes_missing_values_and_wraps_tables(tmp_path: Path) -> None:
    head = tb.headline_table(_summary(), metrics=("roc_auc", "brier", "calibration_slope"))
    head.insert(1, "label", head["run"].map(LABELS))
    shown = tb.headline_display(head)
    long = pd.DataFrame({"a": range(30), "b": [np.nan] * 30})
    sections = [Section("summary", "Summary", [Paragraph("text"), Table("Headline", shown)]),
                Section("results", "Results", [Table("Pairwise tests. Long.", long, collapsed=True)])]
    html = render_html("t", sections, root=tmp_path)
    assert "nan" not in html.lower().replace("nanmean", "")  # no "nan" cell anywhere
    assert html.count("\N{EN DASH}") >= 31 and tb.DASH_NOTE.split(":")[0] in html  # dashes, and their footnote
    best = re.findall(r'<td class="best[^"]*">([^<]*)</td>', html)
    assert best == ["0.950 [0.930, 0.960]", "0.080 [0.060, 0.090]"]  # spec is best on ROC-AUC and on Brier
    assert "Bold: the best value per column" in html
    assert html.count('<div class="table-wrap"><table>') == 2  # every table in its own scrolling box
    assert re.search(r"<details><summary>Pairwise tests\. \(30 rows", html)
    toc = re.findall(r'<nav class="toc".*?</nav>', html, re.S)[0]
    assert re.findall(r'href="#([^"]+)"', toc) == ["summary", "results"]
    assert all(f'id="{k}"' in html for k in ("summary", "results"))
    assert "max-width:60rem;margin:2rem auto" not in html  # no fixed single-column layout any more
    md = render_markdown("t", sections, root=tmp_path)
    assert r"**0.950 \[0.930, 0.960\]**" in md and "nan" not in md.lower() and "\N{EN DASH}" in md


def test_brief_summary_is_short_and_led_by_the_primary_comparison() -> None:
    summary = _summary()
    primary = pd.DataFrame({"run": ["spec"], "reference": ["xgb"], "metric": ["roc_auc"], "estimate": [0.95],
                            "reference_estimate": [0.90], "delta": [0.05], "lo": [0.01], "hi": [0.09],
                            "test": ["paired bootstrap"], "p_value": [0.01], "p_holm": [0.01], "family_size": [1]})
    inputs = {"compare": {"n_boot": 2000, "confidence": 0.95, "ci": "bca"}, "classes": ["sf", "agn"],
              "class_counts": {"sf": 300, "agn": 60}, "objects": {"split": "test", "shared": 360}}
    runs = ["xgb", "spec", tb.MAJORITY]
    text = brief_sentences(summary, inputs, labels=LABELS, runs=runs, primary=primary)
    sentences = [s for s in re.split(r"(?<=[.])\s+(?=[A-Z])", text) if s]
    assert 3 <= len(sentences) <= 5, sentences
    assert sentences[0].startswith("Primary comparison") and "1D ResNet (spectra) +0.050 [+0.010, +0.090]" in text
    assert "XGBoost (catalog)" in sentences[0] and "significant" in sentences[0]
    assert "highest ROC-AUC is 1D ResNet (spectra)'s, 0.950 [0.930, 0.960]" in text
    table = brief_table(summary, runs, labels=LABELS, primary=primary)
    assert list(table["model"]) == list(LABELS.values())
    assert table.attrs["bold"] == {(1, "ROC-AUC"), (1, "Bal. acc."), (1, "Brier")}  # never the baseline
    assert table.iloc[0]["ROC-AUC minus XGBoost (catalog)"] == "reference"
    assert table.iloc[1]["ROC-AUC minus XGBoost (catalog)"] == "+0.050 [+0.010, +0.090]"


def test_attribution_summaries_become_readable_tables() -> None:
    summary = {"run": "x", "track": "catalog", "split": "test", "n": 120, "methods": ["shap"],
               "shap": {"output": "log-odds", "max_additivity_error": 9.2e-07,
                        "top_features": [{"feature": "feat_g_r", "mean_abs_shap": 0.33, "direction": 0.75},
                                         {"feature": "feat_r_i", "mean_abs_shap": 0.91, "direction": np.nan}],
                        "top_groups": [{"group": "colours", "mean_abs_group_shap": 1.58, "n_features": 4}]},
               "interactions": {"n": 50, "shape": [50, 1, 13, 13]}, "complete": True}
    out = attribution_display_tables(summary, label="XGBoost (catalog)")
    captions = [c for c, _ in out]
    assert captions[0] == "XGBoost (catalog): SHAP: top features"
    features = out[0][1]
    assert list(features.columns) == ["rank", "feature", "mean |SHAP| (log-odds)", "direction (Spearman of value vs "
                                      "SHAP)"]
    assert features["feature"].tolist()[0] == "g \N{MINUS SIGN} r"
    scalars = out[-1][1]
    assert not any("." in q or "_" in q for q in scalars["quantity"])  # no dotted JSON keys
    assert "SHAP: largest additivity error (log-odds)" in set(scalars["quantity"])
    assert readable_key("interactions.n") == "interactions: objects"


def test_one_colour_per_run_colour_blind_palette() -> None:
    names = [f"run{i}" for i in range(9)] + [tb.MAJORITY]
    colors = display_colors(names)
    assert [colors[n] for n in names[:9]] == list(PALETTE[:9])  # distinct, in order
    assert len(set(colors[n] for n in names[:9])) == 9 and colors[tb.MAJORITY] not in PALETTE
    assert display_colors(list(reversed(names)))["run8"] == PALETTE[0]  # order given, not alphabetical


def test_report_labels_config_key(tmp_path: Path) -> None:
    """report.labels: a mapping of run names to display names, from YAML or --set; anything else is refused."""
    import pytest

    from agnbench.config.core import dump_config, load_config
    from agnbench.errors import ConfigError

    cfg = load_config(overrides=["report.labels={catalog-xgboost-s0: 'XGBoost, photometry', b: B}"])
    assert dict(cfg.report.labels) == {"catalog-xgboost-s0": "XGBoost, photometry", "b": "B"}
    assert dict(load_config(dump_config(cfg, tmp_path / "c.yaml")).report.labels) == dict(cfg.report.labels)
    assert dict(load_config().report.labels) == {}
    with pytest.raises(ConfigError, match="report.labels must be a mapping of names to text"):
        load_config(overrides=["report.labels=[a, b]"])
    with pytest.raises(ConfigError, match="report.labels"):
        load_config(overrides=["report.labels={a: ' '}"])



def test_lattice_share_finds_a_planted_grid() -> None:
    """The caption's grid measure: 1/p^2 without a grid, near 1 for attribution on one sublattice of period p."""
    from agnbench.reports.interpret_checks import lattice_share

    rng = np.random.default_rng(0)
    noise = rng.normal(size=(20, 48, 48))
    assert abs(lattice_share(noise, 2) - 0.25) < 0.01 and abs(lattice_share(noise, 8) - 1 / 64) < 0.005
    planted = noise * 0.1
    planted[:, 3::8, 5::8] += rng.normal(size=planted[:, 3::8, 5::8].shape) * 3.0  # a period-8 lattice of spikes
    assert lattice_share(planted, 8) > 0.8 and lattice_share(planted, 2) > 0.8
    assert np.isnan(lattice_share(np.zeros((1, 8, 8)), 2))
