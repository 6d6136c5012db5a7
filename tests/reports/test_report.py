"""`agnbench report`: a complete, self-contained report from a comparison of the session's trained runs.

The report is built once (catalog xgboost, spectra and images runs with their attributions, a
cross-track comparison); tests check its files, that its numbers are the comparison's, that the
HTML needs no network and that every figure loads in a real headless browser (Debian's chromium,
installed here if missing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from agnbench.bootstrap.compare import compare
from agnbench.config.core import load_config
from agnbench.errors import AgnbenchError
from agnbench.interpretability.crosstrack import explain_compare
from agnbench.reports.report import LATEX_MAX_ROWS, build_report
from agnbench.reports.style import PAGE_IN, PNG_DPI

CFG = load_config(overrides=["compare.n_boot=200", "compare.subgroup_boot=100", "report.curve_boot=50",
                             "report.mistakes=4"])


@pytest.fixture(scope="module")
def comparison(explained_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cmp") / "mock"
    runs = [explained_runs[k] for k in ("catalog", "spectra", "images")]
    compare(CFG, runs=runs, out=out, progress=False)
    explain_compare(runs=runs, out=out / "crosstrack")
    return out


@pytest.fixture(scope="module")
def report(comparison: Path) -> Path:
    return build_report(CFG, comparison=comparison, progress=False)


def _figures(report: Path) -> list[str]:
    return sorted(p.stem for p in (report / "figures").glob("*.png"))


def test_report_files_and_sections(report: Path) -> None:
    for name in ("report.html", "report.md", "summary.txt", "tables/headline.csv", "tables/headline.tex",
                 "tables/pairwise.csv", "tables/pairwise.tex"):
        assert (report / name).stat().st_size > 0, name
    figures = _figures(report)
    assert len(figures) >= 15, figures
    for stem in figures:  # every figure in both formats, sized for a column or a page
        assert (report / "figures" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        width_in = Image.open(report / "figures" / f"{stem}.png").size[0] / PNG_DPI
        assert width_in <= PAGE_IN + 0.3, (stem, width_in)
    for csv in (report / "tables").glob("*.csv"):  # paper-sized tables get LaTeX; figure data stays CSV
        assert csv.with_suffix(".tex").exists() == (len(pd.read_csv(csv)) <= LATEX_MAX_ROWS), csv.name
    html = (report / "report.html").read_text()
    for heading in ("Summary", "Dataset", "Results", "Performance across the sample", "Training",
                    "Composites", "What the models look at", "Error analysis", "Provenance"):
        assert f">{heading}" in html, heading
    md = (report / "report.md").read_text()
    assert all(f"figures/{stem}.png" in md for stem in figures)


def test_html_is_self_contained(report: Path) -> None:
    html = (report / "report.html").read_text()
    sources = re.findall(r'<img[^>]*src="([^"]*)"', html)
    assert len(sources) == len(_figures(report))
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must not load anything from the network"
    assert "<link" not in html


def test_numbers_are_the_comparisons(report: Path, comparison: Path) -> None:
    summary = pd.read_csv(comparison / "summary.csv")
    head = pd.read_csv(report / "tables" / "headline.csv").set_index("run")
    for row in summary[summary["metric"] == "roc_auc"].itertuples():
        assert head.at[row.run, "roc_auc"] == pytest.approx(row.estimate, abs=1e-12)
        assert head.at[row.run, "roc_auc_lo"] == pytest.approx(row.lo, abs=1e-12)
    best = summary[(summary["metric"] == "roc_auc") & (summary["run"] != "majority-baseline")]
    best = best.sort_values("estimate").iloc[-1]
    text = (report / "summary.txt").read_text()
    assert "mock" in text and f"{best.estimate:.3f} [{best.lo:.3f}, {best.hi:.3f}]" in text
    tex = (report / "tables" / "headline.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex
    v, lo, hi = best.estimate, best.lo, best.hi
    assert f"{v:.3f}^{{+{hi - v:.3f}}}_{{-{v - lo:.3f}}}" in tex


def test_existing_report_is_kept_and_cli_errors_cleanly(report: Path, comparison: Path, tmp_path: Path) -> None:
    before = (report / "report.html").read_bytes()
    with pytest.raises(AgnbenchError, match="exists"):
        build_report(CFG, comparison=comparison, progress=False)
    assert (report / "report.html").read_bytes() == before
    cli = [sys.executable, "-m", "agnbench", "report"]
    res = subprocess.run(cli + [str(tmp_path / "nothing")], capture_output=True, text=True)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "not a comparison directory" in res.stderr


def test_report_without_store_or_attributions(comparison: Path, tmp_path: Path) -> None:
    """A comparison whose runs lost their attributions and whose store moved still reports what it can."""
    bare = tmp_path / "bare"
    shutil.copytree(comparison, bare, ignore=shutil.ignore_patterns("report", "crosstrack"))
    inputs = yaml.safe_load((bare / "inputs.yaml").read_text())
    for entry in inputs["runs"]:
        run = tmp_path / "runs" / entry["name"]
        shutil.copytree(entry["path"], run, ignore=shutil.ignore_patterns("attributions", "data.json"))
        entry["path"] = str(run)
    (bare / "inputs.yaml").write_text(yaml.safe_dump(inputs))
    out = build_report(CFG, comparison=bare, progress=False)
    html = (out / "report.html").read_text()
    assert ">Results" in html and "<h2>What the models look at</h2>" not in html
    skipped = pd.read_csv(out / "skipped.csv")  # the left-out sections are listed, with the reason
    assert "Section 'What the models look at'" in set(skipped["what"]) and "Left out of this report" in html
    assert np.isfinite(pd.read_csv(out / "tables" / "headline.csv")["roc_auc"]).all()


def _chromium() -> str:
    """Path of a headless-capable Chromium, installing Debian's package if it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip("chromium is not installed and apt-get is not available to install it")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    res = subprocess.run([apt, "install", "-y", "-q", "chromium"], capture_output=True, text=True, timeout=900, env=env)
    if res.returncode != 0:  # stale or missing package lists on a fresh machine
        subprocess.run([apt, "update", "-q"], capture_output=True, text=True, timeout=600, env=env)
        res = subprocess.run([apt, "install", "-y", "-q", "chromium"], capture_output=True, text=True, timeout=900,
                             env=env)
    found = shutil.which("chromium")
    if res.returncode != 0 or not found:
        pytest.skip(f"chromium could not be installed (apt-get exit {res.returncode}: {res.stderr.strip()[-300:]})")
    return found


def test_every_figure_loads_in_a_headless_browser(report: Path, tmp_path: Path) -> None:
    browser = _chromium()
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--virtual-time-budget=15000", "--dump-dom", (report / "report.html").resolve().as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    match = re.search(r'data-figures-loaded="(\d+)/(\d+)"', res.stdout)
    assert match, "the page's load script did not run: " + res.stdout[:500]
    loaded, total = map(int, match.groups())
    assert total == len(_figures(report)) and loaded == total
