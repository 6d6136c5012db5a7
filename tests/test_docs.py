"""Every page of docs/ (subdirectories included): every ```python block runs (in order, one namespace per file,
in a temporary directory) and every fence names its language; the export table of docs/api.md is each
package's ``__all__``. The built site is tested in tests/test_docs_site.py."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```(\S*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
DOC_FILES = tuple(sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")))
#: Pages that must hold at least one runnable example.
RUNNABLE = ("api.md", "contracts.md", "kept-libraries.md", "tutorial.md")
#: Fence languages: ``python`` runs; the others are shown only (shell commands, output, SQL, YAML).
LANGUAGES = {"python", "text", "bash", "sh", "console", "sql", "yaml", "toml", "json", "ini"}


def blocks(name: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block of ``docs/name``, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer((DOCS / name).read_text())]


@pytest.mark.parametrize("name", DOC_FILES)
def test_python_blocks_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fenced = blocks(name)
    assert {lang for lang, _ in fenced} <= LANGUAGES, f"tag every block python (runs) or one of {sorted(LANGUAGES)}"
    code = [src for lang, src in fenced if lang == "python"]
    assert code or name not in RUNNABLE, f"{name} has no runnable example"
    namespace: dict = {"__name__": f"docs_{name.replace('.', '_').replace('/', '_')}"}
    for i, src in enumerate(code):
        exec(compile(src, f"{DOCS / name}:python block {i + 1}", "exec"), namespace)  # noqa: S102 - the docs' own code


def test_contracts_file_is_the_authoritative_copy() -> None:
    head = (DOCS / "contracts.md").read_text().split("\n## ")[0]
    assert "authoritative copy" in head
    for section in ("Contract 1", "Contract 2", "Contract 3", "Contract 4", "Label schemes", "Leakage guard",
                    "Bring your own model"):
        assert f"\n## {section}" in (DOCS / "contracts.md").read_text()


def test_export_table_is_each_packages_all() -> None:
    rows = re.findall(r"^\| `(agnbench[\w.]*)` \| (.+) \|$", (DOCS / "api.md").read_text(), re.MULTILINE)
    assert rows
    for package, cell in rows:
        listed = re.findall(r"`(\w+)`", cell)
        assert sorted(listed) == sorted(importlib.import_module(package).__all__), package
