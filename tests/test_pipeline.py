"""`agnbench run`: every stage from nothing on a tiny mock, and resumption after an interruption.

The first invocation is interrupted in the last stage (the report); the second must skip every
finished stage and only write the report; a third (through the CLI) does nothing and prints the
stage table, the headline results (display names, then the summary.csv row names) and, last, the report
directory. Each seed's full fusion is explained, so the report shows the modality shares (issue 20).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from agnbench.bootstrap.metrics import PERCENTILE_METRICS
from agnbench.config.core import load_config
from agnbench.pipeline import run_all

TINY = {
    "seed": 1,
    "seeds": 2,  # two training seeds per model: the comparison combines them (intervals over objects x seeds)
    "simulate": {"n": 500, "image_size": 32},
    "prep": {"image_size": 32},
    "spectra": {"epochs": 2, "patience": 2},
    "images": {"epochs": 1, "patience": 1},
    "compare": {"n_boot": 100, "subgroup_boot": 100},
    "explain": {"n": 30, "max_interactions": 10, "permutation_repeats": 1},
    "report": {"curve_boot": 20, "mistakes": 2},
}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    paths = {k: str(root / k) for k in ("raw", "data", "runs", "comparisons")}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "paths": paths}))
    return path


def test_run_resumes_after_an_interruption(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agnbench.reports.report as report_module

    cfg = load_config(config_file)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "build_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_all(cfg, progress=False)
    monkeypatch.undo()
    comparison = Path(cfg.paths.comparisons) / f"data-s{cfg.seed}"
    assert (comparison / "summary.csv").exists() and not (comparison / "report").exists()

    results = run_all(cfg, progress=False)
    status = {r.name: r.status for r in results}
    assert status.pop("report") == "done"
    assert set(status.values()) == {"skipped"}, status
    catalog = [f"catalog {m} s{s}" for m in ("xgboost", "lightgbm", "logreg") for s in (1, 2)]
    deep = [f"train {t} s{s}" for t in ("spectra", "images") for s in (1, 2)]
    explained = [f"explain {r}-s{s}" for r in ("catalog-xgboost", "catalog-lightgbm", "catalog-logreg",
                                               "spectra-resnet1d", "images-resnet18") for s in (1, 2)]
    fusion = [f"fusion{w} s{s}" for s in (1, 2) for w in ("", " without catalog", " without spectra", " without images")]
    shares = [f"explain fusion-stack-logreg-s{s}" for s in (1, 2)]  # the full fusions only, not the leave-one-outs
    assert list(status) == ["simulate", "prep", *catalog, *deep, *fusion, "compare", *explained, *shares,
                            "explain tracks"]
    assert (comparison / "report" / "report.html").exists()
    assert (comparison / "crosstrack" / "summary.json").exists()


def test_run_cli_prints_stages_results_and_the_report(config_file: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "agnbench", "run", "--config", str(config_file), "-q"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    cfg = load_config(config_file)
    assert Path(lines[-1]) == Path(cfg.paths.comparisons) / f"data-s{cfg.seed}" / "report"
    assert any(line.startswith("total") for line in lines)
    assert any("ROC-AUC" in line for line in lines)
    stages = [line for line in lines
              if line.startswith(("simulate", "prep", "catalog", "train", "fusion", "compare", "explain", "report"))]
    assert len(stages) == 35 and all(" skipped " in line for line in stages), stages
    # the results table shows the seed groups by their display names, then their summary.csv row names
    fused = [line for line in lines if line.startswith("| Fusion (catalog + spectra + images, mean of 2 seeds) |")]
    assert len(fused) == 1 and fused[0].rstrip(" |").endswith("(mean of 2 seeds)"), lines
    assert "| fusion-stack-logreg-" in fused[0]
    assert any(line.startswith("| XGBoost (catalog, mean of 2 seeds) |") for line in lines), lines
    assert not any(line.startswith(("| fusion-", "| catalog-")) for line in lines), lines


def test_the_comparison_combines_the_seeds(config_file: Path) -> None:
    """Both seeds of every model are compared; each model is one seed group whose row and tests the report uses,
    and the report tabulates the attribution summaries over the seeds."""
    cfg = load_config(config_file)
    comparison = Path(cfg.paths.comparisons) / f"data-s{cfg.seed}"
    inputs = yaml.safe_load((comparison / "inputs.yaml").read_text())
    fused = [f"fusion-stack-logreg-s{s}{w}" for s in (1, 2)
             for w in ("", "-without-catalog", "-without-spectra", "-without-images")]
    assert sorted(Path(r["path"]).name for r in inputs["runs"]) == sorted([
        *(f"{r}-s{s}" for r in ("catalog-xgboost", "catalog-lightgbm", "catalog-logreg", "spectra-resnet1d",
                                "images-resnet18") for s in (1, 2)), *fused])
    groups = inputs["seed_groups"]  # the fusion and each leave-one-track-out fusion: one seed group each
    assert len(groups) == 9 and all(len(v) == 2 for v in groups.values())
    assert sum(g.startswith("fusion-stack-logreg") for g in groups) == 4
    summary = pd.read_csv(comparison / "summary.csv")
    combined = summary[summary["run"].isin(groups)]
    method = "percentile" if cfg.compare.ci == "percentile" else "bca"
    calib = combined["metric"].isin(PERCENTILE_METRICS) & (cfg.compare.ci == "newcombe")
    assert set(combined.loc[~calib, "ci"]) == {f"{method} over objects x seeds"}
    assert set(combined.loc[calib, "ci"]) <= {"percentile over objects x seeds"}  # BCa under-covers them
    tests = pd.read_csv(comparison / "tests.csv")
    assert set(tests["run_a"]) | set(tests["run_b"]) == set(groups)
    headline = pd.read_csv(comparison / "report" / "tables" / "headline.csv")
    assert set(headline["run"]) == {*groups, "majority-baseline"}
    spread = pd.read_csv(comparison / "report" / "tables" / "attribution_seeds.csv")
    full = next(g for g, m in groups.items() if "fusion-stack-logreg-s1" in m)
    explained = {g for g in groups if not g.startswith("fusion")} | {full}  # not the leave-one-out fusions
    assert set(spread["group"]) == explained and (spread["n_seeds"] == 2).all()
    assert spread["quantity"].str.startswith("shap.top_features.1.").any()


def test_the_report_shows_what_each_modality_adds(config_file: Path) -> None:
    """agnbench run explains each seed's full fusion, so the report's "What each modality adds" section has the
    modality-shares table and panel (averaged over the fusion seed group), next to incremental.csv's rows."""
    cfg = load_config(config_file)
    comparison = Path(cfg.paths.comparisons) / f"data-s{cfg.seed}"
    runs = Path(cfg.paths.runs)
    for s in (1, 2):
        assert (runs / f"fusion-stack-logreg-s{s}" / "attributions" / "modality_shares.csv").is_file()
        assert not (runs / f"fusion-stack-logreg-s{s}-without-spectra" / "attributions").exists()
    groups = yaml.safe_load((comparison / "inputs.yaml").read_text())["seed_groups"]
    full = next(g for g, m in groups.items() if "fusion-stack-logreg-s1" in m)
    report = comparison / "report"
    shares = pd.read_csv(report / "tables" / "modality_shares.csv")
    assert set(shares["fusion"]) == {full} and (shares["n_runs"] == 2).all()
    assert set(shares["modality"]) == {"catalog", "spectra", "images"}
    assert shares["label"].eq("Fusion (catalog + spectra + images, mean of 2 seeds)").all()
    for _, part in shares.groupby("class"):
        assert part["mean_share"].sum() == pytest.approx(1.0, abs=1e-9)
    assert (report / "figures" / "incremental.png").is_file()
    html = (report / "report.html").read_text()
    assert "<h2>What each modality adds</h2>" in html and "Right: each modality" in html  # the shares panel
    assert "Modality shares panel" not in set(pd.read_csv(report / "skipped.csv")["what"])
    assert len(pd.read_csv(report / "tables" / "incremental.csv"))


def test_changing_the_seed_count_redoes_the_comparison_only(config_file: Path) -> None:
    """seeds 2 -> 1: no run is trained or explained again; the comparison (then the report) is redone on the
    runs of the first seed, whose names keep their -s<seed> suffix."""
    cfg = replace(load_config(config_file), seeds=1)
    status = {r.name: r.status for r in run_all(cfg, progress=False)}
    assert status["compare"] == status["report"] == "done"
    assert status["train spectra"] == status["catalog xgboost"] == status["explain spectra-resnet1d"] == "skipped"
    inputs = yaml.safe_load((Path(cfg.paths.comparisons) / f"data-s{cfg.seed}" / "inputs.yaml").read_text())
    assert status["fusion"] == status["fusion without spectra"] == "skipped"
    assert status["explain fusion-stack-logreg"] == "skipped"
    assert len(inputs["runs"]) == 9 and inputs["seed_groups"] == {}
