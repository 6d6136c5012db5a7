"""The report's "What each modality adds" section (issue 20 item 3): present with fusion runs, skipped without."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agnbench.bootstrap.compare import compare
from agnbench.config.core import load_config
from agnbench.reports.report import build_report

from agnbench.interpretability.explain import explain_run

from tests.bootstrap.test_incremental import _signal, _write
from tests.interpretability.test_modality_shares import _fusion

CFG = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100", "report.curve_boot=20",
                             "report.mistakes=0"])


def test_section_with_a_fusion_and_skipped_without(tmp_path: Path) -> None:
    cat = _write(tmp_path, "cat", "catalog", _signal(1, 0.7))
    img = _write(tmp_path, "img", "images", _signal(2, 0.7))
    fus = _write(tmp_path, "fus", "fusion", _signal(1, 0.7) + _signal(2, 0.7), members=[cat, img])
    report = build_report(CFG, comparison=compare(CFG, runs=[cat, img, fus], out=tmp_path / "cmp", progress=False),
                          progress=False)
    html = (report / "report.html").read_text()
    assert "<h2>What each modality adds</h2>" in html and "catalog + images vs catalog alone: ΔAUC +" in html
    assert (report / "figures" / "incremental.png").is_file() and (report / "tables" / "incremental.csv").is_file()
    table = pd.read_csv(report / "tables" / "incremental.csv")
    assert table["label_fusion"].notna().all() and table["label_baseline"].notna().all()
    skipped = pd.read_csv(report / "skipped.csv")
    assert "Modality shares panel" in set(skipped["what"])  # the fusion was not explained
    assert "Section 'What each modality adds'" not in set(skipped["what"])
    bare = build_report(CFG, comparison=compare(CFG, runs=[cat, img], out=tmp_path / "bare", progress=False),
                        progress=False)
    assert "What each modality adds" not in (bare / "report.html").read_text().split("Left out of this report")[0]
    skipped = pd.read_csv(bare / "skipped.csv").set_index("what")
    assert "no fusion run" in skipped.loc["Section 'What each modality adds'", "why"]
    assert not (bare / "tables" / "incremental.csv").exists()


def test_explained_fusion_adds_the_modality_shares_panel(tmp_path: Path) -> None:
    fus, _ = _fusion(tmp_path)
    explain_run(load_config(overrides=["explain.split=test"]), run=fus)
    cmp_ = compare(CFG, runs=[tmp_path / "cat", tmp_path / "img", fus], out=tmp_path / "cmp", progress=False)
    report = build_report(CFG, comparison=cmp_, progress=False)
    shares = pd.read_csv(report / "tables" / "modality_shares.csv")
    assert set(shares["modality"]) == {"catalog", "images"} and set(shares["class"]) == {"sf", "agn"}
    by = shares.groupby("class")["mean_share"].sum()
    assert by.to_numpy() == pytest.approx(1.0)  # shares of one object sum to 1, so do their means
    assert "Modality shares panel" not in set(pd.read_csv(report / "skipped.csv")["what"])
