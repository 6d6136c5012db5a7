"""MkDocs hook: the pages that are generated from the code, so they cannot drift from it.

- ``commands/*.md``: one page per ``agnbench`` subcommand, holding the exact ``--help`` text of the
  parser that ``agnbench`` itself builds (:func:`agnbench.cli.main.build_parser`); ``train`` and any
  other command with subcommands gets every subcommand's help on its page.
- ``reference/*.md``: the API reference, one page per top-level subpackage with a public ``__all__``
  (``agnbench/_exports.py`` lazy re-exports or plain imports), rendered by mkdocstrings from the
  numpydoc docstrings. Each object is rendered once, on the page of the subpackage that defines it;
  every other package exporting it links there.

The nav entries ``Commands: commands/index.md`` and ``API reference: reference/index.md`` of
``mkdocs.yml`` are expanded here into those pages (a new subcommand appears without editing
``mkdocs.yml``; a new package needs a line in :data:`API_PAGES`, which ``tests/test_docs_site.py`` checks). ``mkdocs.yml`` names this file under ``hooks``; ``tests/test_docs_site.py``
also imports it to check the pages against ``agnbench --help``.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Width of the rendered ``--help`` texts (argparse reads ``COLUMNS``), fixed so builds are reproducible.
HELP_WIDTH = 80

#: The API reference pages, in nav order: (page stem, packages on it). The top-level ``agnbench``
#: page comes first in the nav but is filled last, so that its names link to the subpackage pages.
API_PAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("agnbench", ("agnbench",)),
    ("bootstrap", ("agnbench.bootstrap",)),
    ("interpretability", ("agnbench.interpretability",)),
    ("reports", ("agnbench.reports",)),
    ("transfer", ("agnbench.transfer",)),
    ("data_prep", ("agnbench.data_prep", "agnbench.data_prep.mock", "agnbench.data_prep.formats",
                   "agnbench.data_prep.fetch", "agnbench.data_prep.ingest")),
    ("baselines", ("agnbench.baselines",)),
    ("deep", ("agnbench.deep",)),
    ("fusion", ("agnbench.fusion",)),
    ("config", ("agnbench.config",)),
    ("contracts", ("agnbench.contracts",)),
    ("protocol", ("agnbench.protocol",)),
    ("tracking", ("agnbench.tracking",)),
    ("serve", ("agnbench.serve",)),
)


#: Hand-written pages that explain a command further (a command not listed gets no such line).
SEE_ALSO: dict[str, tuple[tuple[str, str], ...]] = {
    "simulate": (("Getting started: the mock survey", "../getting-started.md#the-mock-survey"),),
    "prep": (("Real-data recipes", "../recipes.md"), ("Contract 1, the dataset store",
                                                      "../contracts.md#contract-1-the-dataset-store")),
    "train": (("Contract 3, the run directory", "../contracts.md#contract-3-run-directory"),
              ("Scale: several GPUs", "../scale.md"), ("Fusion: what each modality adds", "../fusion.md")),
    "predict": (("Real-data recipe 5", "../recipes.md#5-apply-a-trained-model-to-new-galaxies-agnbench-predict"),
                ("Applying a run to new data", "../contracts.md#applying-a-run-to-new-data")),
    "compare": (("Statistics", "../statistics.md"), ("Contract 4, the comparison",
                                                     "../contracts.md#contract-4-comparison-and-report")),
    "explain": (("Interpretability", "../interpretability.md"),),
    "report": (("Tutorial: the report", "../tutorial.md#6-the-report-agnbench-report"),),
    "run": (("Getting started", "../getting-started.md"),),
    "fetch": (("Real-data recipes: downloading",
               "../recipes.md#downloading-sdss-and-legacy-survey-files-agnbench-fetch"),),
    "serve": (("Interactive explorer", "../explorer.md"),),
}

# --------------------------------------------------------------------------------------------- commands

def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """``(name, one-line help, parser)`` of every subcommand of ``parser``, in registration order."""
    out = []
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {a.dest: a.help or "" for a in action._choices_actions}  # noqa: SLF001
            out += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return out


def _help_text(parser: argparse.ArgumentParser) -> str:
    """``parser.format_help()`` at :data:`HELP_WIDTH` columns."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH)
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _fence(text: str) -> str:
    return f"```text\n{text}\n```\n"


def cli_pages() -> dict[str, str]:
    """Markdown of ``commands/index.md`` and ``commands/<command>.md``, keyed by their path under docs/."""
    if str(ROOT) not in sys.path:  # the hook runs inside mkdocs: document this checkout's agnbench
        sys.path.insert(0, str(ROOT))
    from agnbench.cli.main import build_parser

    top = build_parser()
    commands = _subcommands(top)
    rows = "\n".join(f"| [`agnbench {name}`]({name}.md) | {helptext} |" for name, helptext, _ in commands)
    pages = {"commands/index.md": (
        "# Commands\n\n"
        "Every page of this section is generated from the parser that `agnbench` itself builds, so it is\n"
        "exactly what `agnbench COMMAND --help` prints. Each command calls one library function\n"
        "([Python API](../api.md)); the options that set a config key say which (`config: section.key`), and\n"
        "`--set section.key=value` sets any other key. Errors are one line on stderr with exit status 1.\n\n"
        "| command | what it does |\n|---|---|\n" + rows + "\n\n## `agnbench --help`\n\n" + _fence(_help_text(top))
    )}
    for name, helptext, parser in commands:
        text = f"# agnbench {name}\n\n{helptext[:1].upper()}{helptext[1:]}.\n\n"
        if name in SEE_ALSO:
            text += "See also: " + ", ".join(f"[{title}]({link})" for title, link in SEE_ALSO[name]) + ".\n\n"
        text += _fence(_help_text(parser))
        for sub, subhelp, subparser in _subcommands(parser):
            text += f"\n## agnbench {name} {sub}\n\n{subhelp[:1].upper()}{subhelp[1:]}.\n\n" + _fence(
                _help_text(subparser))
        pages[f"commands/{name}.md"] = text
    return pages


# --------------------------------------------------------------------------------------------- API

def package_exports(package: str) -> list[tuple[str, str]]:
    """``(name, dotted path of the object)`` of every name in ``package.__all__``, read from its ``__init__.py``.

    Nothing is imported. Understands the two ways agnbench's packages export: ``lazy_exports(__name__,
    {module: [names]})`` (``agnbench/_exports.py``) and ``from module import name``; a name that is a
    submodule (``from agnbench.contracts import files``) maps to the submodule.
    """
    init = ROOT.joinpath(*package.split("."), "__init__.py")
    tree = ast.parse(init.read_text(encoding="utf-8"))
    path: dict[str, str] = {"__version__": f"{package}.__version__"}
    listed: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                path[alias.asname or alias.name] = sub
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "lazy_exports":
            for module, names in zip(node.args[1].keys, node.args[1].values, strict=True):
                for elt in names.elts:
                    path[elt.value] = f"{module.value}.{elt.value}"
                    listed.append(elt.value)
        elif isinstance(node, (ast.Assign, ast.AugAssign)) and isinstance(node.value, ast.List):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "id", "") == "__all__" for t in targets):
                listed += [elt.value for elt in node.value.elts]
    return [(name, path[name]) for name in listed]


def _module_file(module: str) -> Path | None:
    file = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    init = ROOT.joinpath(*module.split("."), "__init__.py")
    return file if file.exists() else init if init.exists() else None


def _resolve(path: str, depth: int = 0) -> tuple[str, bool]:
    """``(path where the object is defined, whether griffe sees it there)``, following ``from m import x``.

    Griffe sees a module, a ``def``/``class``, or a plain (annotated) assignment; it does not see the names
    of a tuple assignment (``A, B = "a", "b"``), which :func:`_constant_line` renders instead.
    """
    if _module_file(path) is not None:
        return path, True
    module, _, name = path.rpartition(".")
    file = _module_file(module)
    if file is None or depth > 8:
        return path, False
    for node in ast.parse(file.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return path, True
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return path, True
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _resolve(f"{node.module}.{alias.name}", depth + 1)
    return path, False


def _constant_line(path: str) -> str:
    """A list item giving the value of a constant griffe cannot see (e.g. ``A, B = "a", "b"``)."""
    import importlib

    module, _, name = path.rpartition(".")
    return f"- `{name} = {getattr(importlib.import_module(module), name)!r}` (in `{module}`)\n"


def _home_page(path: str) -> str | None:
    """Stem of the API page whose subpackage defines the object at ``path`` (None: only the top page)."""
    for stem, packages in API_PAGES[1:]:
        if any(path.startswith(f"{p}.") for p in packages):
            return stem
    return None


def api_pages() -> dict[str, str]:
    """Markdown of ``reference/index.md`` and ``reference/<stem>.md``, keyed by their path under docs/."""
    rendered: dict[str, str] = {}  # object path -> stem of the page that renders it
    bodies: dict[str, str] = {}
    order = [*API_PAGES[1:], API_PAGES[0]]
    for stem, packages in order:
        parts = [f"# {packages[0]}\n"]
        heading = 3 if len(packages) > 1 else 2
        for i, package in enumerate(packages):
            if i:
                parts.append(f"\n## {package}\n")
            parts.append(f"::: {package}\n    options:\n      members: false\n      show_root_heading: false\n")
            links, objects = [], []
            for name, exported in package_exports(package):
                path, found = _resolve(exported)
                home = rendered.get(path)
                if home is None and (_home_page(path) in (stem, None) or stem == "agnbench"):
                    rendered[path] = stem
                    objects.append(f"::: {path}\n    options:\n      heading_level: {heading}\n"
                                   f"      show_root_full_path: false\n" if found else _constant_line(path))
                else:
                    home = home or _home_page(path)
                    links.append(f"| `{package}.{name}` | [`{path}`]({home}.md#{path}) |")
            if links:
                parts.append("Also exported here, documented with the package that defines them:\n\n"
                             "| name | documented as |\n|---|---|\n" + "\n".join(links) + "\n")
            parts += objects
        bodies[stem] = "\n".join(parts)
    rows = "\n".join(f"| [`{packages[0]}`]({stem}.md) | {len(package_exports(packages[0]))} |"
                     for stem, packages in API_PAGES)
    pages = {"reference/index.md": (
        "# API reference\n\n"
        "Generated by mkdocstrings from the numpydoc docstrings: one page per package, listing each\n"
        "package's public names (its `__all__`, as in the table of the [Python API](../api.md) page).\n"
        "Every object is documented once, on the page of the package that defines it; a package that\n"
        "re-exports it links there. Names are imported on first use, so `import agnbench` stays cheap.\n\n"
        "| package | public names |\n|---|---|\n" + rows + "\n")}
    pages.update({f"reference/{stem}.md": bodies[stem] for stem, _ in API_PAGES})
    return pages


# --------------------------------------------------------------------------------------------- hooks

def generated_pages() -> dict[str, str]:
    """Every generated page: path under docs/ -> Markdown."""
    return {**cli_pages(), **api_pages()}


def _expand_nav(nav: list, pages: dict[str, str]) -> Iterator:
    """``nav`` with ``Title: commands/index.md`` and ``Title: reference/index.md`` expanded into their pages."""
    for item in nav:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, str) and value in ("commands/index.md", "reference/index.md"):
                folder = value.split("/")[0]
                value = [{"Overview": value}] + [
                    {_nav_title(path): path} for path in pages if path.startswith(f"{folder}/")
                    and path != f"{folder}/index.md"]
            elif isinstance(value, list):
                value = list(_expand_nav(value, pages))
            yield {title: value}
        else:
            yield item


def _nav_title(path: str) -> str:
    stem = Path(path).stem
    if path.startswith("commands/"):
        return f"agnbench {stem}"
    return dict((s, p[0]) for s, p in API_PAGES)[stem]


def on_config(config):  # noqa: ANN001, ANN201 - MkDocs hook signature
    """Generate the pages once per build and expand the nav."""
    pages = generated_pages()
    config["nav"] = list(_expand_nav(config["nav"], pages))
    config["_agnbench_pages"] = pages  # read by on_files
    return config


def on_files(files, *, config):  # noqa: ANN001, ANN201 - MkDocs hook signature
    """Add the generated pages as virtual files (nothing is written under docs/)."""
    from mkdocs.structure.files import File

    for path, text in config["_agnbench_pages"].items():
        files.append(File.generated(config, path, content=text))
    return files
