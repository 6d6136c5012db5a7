"""The documentation site: ``mkdocs build --strict`` succeeds (no broken link or anchor, no docstring warning),
every nav page is built, the generated pages hold what ``agnbench --help`` and the docstrings say, and the
site loads nothing from another host (no web fonts, no CDN)."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _gen_pages() -> ModuleType:
    """``docs/gen_pages.py``, the MkDocs hook that generates the command and API pages."""
    spec = importlib.util.spec_from_file_location("agnbench_docs_gen_pages", ROOT / "docs" / "gen_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built once with ``mkdocs build --strict`` into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
           "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-5000:]}"
    assert "WARNING" not in proc.stderr, proc.stderr[-5000:]
    return out


def _text(page: Path) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def _nav_pages(nav: list) -> list[str]:
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_nav_page_is_built(site: Path) -> None:
    gen = _gen_pages()
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(list(gen._expand_nav(config["nav"], gen.generated_pages())))  # noqa: SLF001
    assert {"commands/train.md", "reference/bootstrap.md", "tutorial.md", "contracts.md"} <= set(nav)
    for page in nav:
        built = site / Path(page).with_suffix(".html")
        assert built.is_file(), f"{page} is in the nav but was not built"
        assert "<h1" in built.read_text(encoding="utf-8"), page


def test_every_docs_page_is_in_the_nav() -> None:
    """A page left out of the nav is only an INFO line for MkDocs; here it is a failure."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = set(_nav_pages(config["nav"]))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages <= nav, f"add these pages to the nav of mkdocs.yml: {sorted(pages - nav)}"


def test_every_public_subpackage_has_an_api_page() -> None:
    documented = {package for _, packages in _gen_pages().API_PAGES for package in packages}
    for init in sorted((ROOT / "agnbench").glob("*/__init__.py")):
        package = f"agnbench.{init.parent.name}"
        if "__all__" in init.read_text(encoding="utf-8"):
            assert package in documented, f"add {package} to API_PAGES in docs/gen_pages.py"


def test_command_pages_are_the_help_texts(site: Path) -> None:
    from agnbench.cli.main import build_parser

    gen = _gen_pages()
    for name, _, parser in gen._subcommands(build_parser()):  # noqa: SLF001
        text = _text(site / "commands" / f"{name}.html")
        parsers = [parser] + [sub for _, _, sub in gen._subcommands(parser)]  # noqa: SLF001
        for p in parsers:
            assert f"usage: {p.prog}" in text, p.prog
            for action in p._actions:  # noqa: SLF001
                for option in action.option_strings:
                    assert option in text, f"{p.prog} {option} missing from commands/{name}.html"


def test_api_reference_renders_the_docstrings(site: Path) -> None:
    from agnbench.bootstrap.compare_arrays import compare_predictions
    from agnbench.contracts.schema import validate_predictions

    def summary(func: object) -> str:
        return func.__doc__.strip().splitlines()[0].replace("``", "")  # RST inline code renders as <code>

    bootstrap = _text(site / "reference" / "bootstrap.html")
    assert summary(compare_predictions) in bootstrap
    assert "Parameters" in bootstrap and "y_true" in bootstrap
    assert summary(validate_predictions) in _text(site / "reference" / "contracts.html")
    top = _text(site / "reference" / "agnbench.html")
    assert "compare_predictions" in top and ":func:" not in top  # Sphinx roles rewritten (docs/griffe_rst.py)


def test_site_loads_nothing_from_other_hosts(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    external = re.compile(r"<(?:script|link|img|iframe|source|audio|video)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//",
                          re.IGNORECASE)
    for page in pages:
        source = page.read_text(encoding="utf-8")
        for host in ("fonts.googleapis", "fonts.gstatic", "cdn."):
            assert host not in source, f"{page.relative_to(site)} references {host}"
        assert not external.search(source), f"{page.relative_to(site)} loads a resource from another host"
