"""`agnbench report`: a complete, self-contained report from a comparison of the session's trained runs.

The report is built once (catalog xgboost, spectra and images runs with their attributions, a
cross-track comparison); tests check its files, that its numbers are the comparison's, that the
HTML needs no network and that every figure loads in a real headless browser (Debian's chromium,
installed here if missing).
"""

from __future__ import annotations

import hashlib
import os
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

OVERRIDES = ["compare.n_boot=200", "compare.subgroup_boot=100", "report.curve_boot=50", "report.mistakes=4"]
CFG = load_config(overrides=[*OVERRIDES, "report.workers=2"])  # figures rendered by two worker processes


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


def test_figures_are_the_same_bytes_rendered_in_this_process(report: Path, comparison: Path, tmp_path: Path) -> None:
    """``report.workers=1`` (serial) writes every figure file byte for byte as two worker processes did."""
    copy = tmp_path / "cmp"
    shutil.copytree(comparison, copy, ignore=shutil.ignore_patterns("report"))
    serial = build_report(load_config(overrides=[*OVERRIDES, "report.workers=1"]), comparison=copy, progress=False)

    def digests(root: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "figures").iterdir())}

    assert digests(serial) == digests(report) and len(digests(report)) >= 30


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


#: Measured in the page: what overflows the viewport, each table box, the table of contents and the figures.
_MEASURE = """
() => {
  const vw = window.innerWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;  // not rendered (e.g. inside a closed <details>)
    if (el.parentElement && el.parentElement.closest('.table-wrap, pre')) continue;  // scrolls inside its own box
    if (r.right > vw + 0.5 || r.left < -0.5) {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' right=' + Math.round(r.right));
    }
  }
  const boxes = Array.from(document.querySelectorAll('.table-wrap')).filter(w => w.getBoundingClientRect().width > 0)
    .map(w => ({right: w.getBoundingClientRect().right, scroll: w.scrollWidth, client: w.clientWidth}));
  const toc = Array.from(document.querySelectorAll('nav.toc a')).map(a => a.getAttribute('href'));
  const imgs = Array.from(document.querySelectorAll('img.figure'));
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, wide: wide,
          boxesOver: boxes.filter(b => b.right > vw + 0.5).length, boxes: boxes.length,
          toc: toc, unresolved: toc.filter(h => !h.startsWith('#') || !document.getElementById(h.slice(1))),
          sections: Array.from(document.querySelectorAll('main section[id]')).map(s => s.id),
          figures: imgs.length, loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
          tocPosition: getComputedStyle(document.querySelector('nav.toc')).position};
}
"""


def _save_artifact(path: Path) -> None:
    """Copy a test artifact to ``$AGNBENCH_TEST_ARTIFACTS`` when that is set (CI uploads the folder)."""
    target = os.environ.get("AGNBENCH_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(target) / path.name)


def test_page_layout_measured_in_a_headless_browser(report: Path, tmp_path: Path) -> None:
    """At 1400 px (and 800 px): nothing wider than the viewport, every table in a box inside it, every figure
    loaded, every table-of-contents link resolving to a section; screenshots of the top of the page kept."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    browser_path = _chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in (1400, 800):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.route("http*://**", lambda route: route.abort())  # nothing from the network
                page.goto((report / "report.html").resolve().as_uri())
                page.wait_for_function("document.body.dataset.figuresLoaded !== 'pending'", timeout=60_000)
                m = page.evaluate(_MEASURE)
                shot = tmp_path / f"report-top-{width}px.png"
                page.screenshot(path=str(shot))
                _save_artifact(shot)
                page.close()
                assert m["scrollWidth"] <= m["innerWidth"], (width, m["wide"][:10])
                assert not m["wide"], (width, m["wide"][:10])
                assert m["boxes"] >= 3 and m["boxesOver"] == 0, m
                assert m["figures"] == len(_figures(report)) and m["loaded"] == m["figures"], m
                assert m["toc"] and not m["unresolved"], m["unresolved"]
                assert [h[1:] for h in m["toc"]] == m["sections"]  # one link per section, in order
                assert m["tocPosition"] == ("sticky" if width == 1400 else "static")
                assert Image.open(shot).size == (width, 900)
        finally:
            browser.close()


def test_report_reads_like_a_paper(report: Path) -> None:
    """Display names, a short summary led by the table, no 'nan' cells, no dotted JSON keys, pairwise after figures."""
    html = (report / "report.html").read_text()
    summary = html.split('<section id="summary">')[1].split("</section>")[0]
    assert summary.index("<table>") < summary.index("<p>")  # the table comes first, then a few sentences
    assert "XGBoost (catalog)" in summary and "1D ResNet (spectra)" in summary and "ResNet-18 (images)" in summary
    first = re.search(r"</div>(?:<p class=\"tnote\">.*?</p>)?\s*<p>(.*?)</p>", summary, re.S).group(1)
    assert 3 <= len(re.findall(r"[.](?:\s|$)", first)) <= 6 and len(first.split()) < 160, first
    assert not re.search(r"<td[^>]*>\s*nan\s*</td>", html, re.I)
    interp = html.split('<section id="interpretability">')[1].split("</section>")[0]
    assert not re.search(r"<td[^>]*>(shap|ig|occlusion|bpt_windows)\.[a-z_.0-9]+</td>", interp)
    assert interp.index("<figure") < interp.index("<table>")  # figures first, readable tables after them
    results = html.split('<section id="results">')[1].split("</section>")[0]
    assert results.rindex("<figure") < results.index("Secondary: pairwise differences")
    assert '<td class="best' in results  # the best model marked, as in the LaTeX
    details = (report / "summary.txt").read_text()
    assert "Details:" in details and details.index("Primary comparison") < details.index("Details:")
