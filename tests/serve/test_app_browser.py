"""``agnbench serve`` in a real headless browser (Debian's chromium driven by playwright) on loopback: the page
loads, an object chosen in the dropdown shows each run's probabilities, a real SDSS spec-lite file uploaded is
classified with the probability :func:`~agnbench.serve.classify.classify_file` gives, and no request leaves
127.0.0.1 (no analytics, fonts or CDN)."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

from agnbench.serve.classify import classify_file
from agnbench.serve.explore import object_table, open_explorer
from tests.conftest import REAL

SPECLITE = REAL / "speclite" / "spec-0266-51630-0168.fits"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def running(comparison: Path):
    """The explorer of the session's comparison, served on a free loopback port in this process."""
    pytest.importorskip("gradio")
    from agnbench.serve.app import serve

    port = _free_port()
    app = serve(comparison, port=port, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_page_object_and_upload_in_a_headless_browser(running: str, comparison: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not SPECLITE.exists():
        pytest.skip("tests/data/real is absent")
    ex = open_explorer(comparison)
    ids = object_table(ex)["object_id"].tolist()
    target = ids[3]
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(running, wait_until="networkidle")
            # the page loads with the first object shown
            page.wait_for_selector(f"#object-summary :text('{ids[0]}')", timeout=60_000)
            assert "agnbench explorer" in page.title()
            # choose another object: its probabilities, one row per run
            box = page.locator("#object-select input")
            box.click()
            box.fill(target)
            page.keyboard.press("Enter")
            page.wait_for_selector(f"#object-summary :text('{target}')", timeout=60_000)
            summary = page.locator("#object-summary").inner_text()
            for run in ex.runs():
                p_agn = float(run.predictions.astype({"object_id": str}).set_index("object_id").loc[target, "p_agn"])
                assert f"{run.name}: p(agn) = {p_agn:.3f}" in summary
            assert all(r.name in page.locator("#probabilities").inner_text() for r in ex.runs())
            # upload a real SDSS spec-lite file and classify it with the spectra run
            page.get_by_role("tab", name="Classify a file").click()
            page.locator("#upload input[type=file]").set_input_files(str(SPECLITE))
            page.wait_for_selector(f"#upload :text('{SPECLITE.name}')", timeout=30_000)
            page.locator("#upload-run input").click()
            page.locator("#upload-run input").fill("spectra")
            page.keyboard.press("Enter")
            page.locator("#classify").click()
            page.wait_for_selector("#classify-result :text('classifies')", timeout=120_000)
            result = page.locator("#classify-result").inner_text()
        finally:
            browser.close()
    direct = classify_file(ex.run("spectra").path, SPECLITE)
    match = re.search(r"p\(agn\) = ([0-9.]+)", result)
    assert match and f"spectra classifies {SPECLITE.name} at z = 0.0674 as {direct.predicted}" in result
    assert float(match.group(1)) == pytest.approx(direct.probabilities["agn"], abs=5e-4)
    hosts = {urlparse(u).hostname for u in requested if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert requested and hosts == {"127.0.0.1"}, sorted(hosts)
