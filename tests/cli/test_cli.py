"""The ``agnbench`` command line as a package: no import cycle, choices from the registry, help texts."""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agnbench.cli.main import build_parser
from agnbench.config import choices

CLI_DIR = Path(__file__).parents[2] / "agnbench" / "cli"


def _cli_imports(path: Path) -> set[str]:
    """``agnbench.cli`` modules imported anywhere in ``path`` (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found |= {n for n in names if n.startswith("agnbench.cli")}
    return found


def test_no_import_cycle_in_cli() -> None:
    graph = {f"agnbench.cli.{p.stem}" if p.stem != "__init__" else "agnbench.cli": _cli_imports(p)
             for p in CLI_DIR.glob("*.py")}
    assert graph["agnbench.cli"] == set()  # the package imports nothing of its own
    assert [m for m, deps in graph.items() if "agnbench.cli.main" in deps] == []  # only main assembles
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for dep in graph.get(module, ()):
            visit(dep, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_module_entry_point_runs_once_without_warnings() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    res = subprocess.run([sys.executable, "-m", "agnbench.cli.main", "--version"], capture_output=True, text=True,
                         env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("agnbench ") and res.stderr == ""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _choices(parser: argparse.ArgumentParser, path: str = "") -> dict[str, tuple]:
    """``{"command sub dest": choices}`` for every option with choices, through the subcommands."""
    out = {}
    for action in parser._actions:
        if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
            out[f"{path} {action.dest}".strip()] = tuple(action.choices)
    for name, sub in _subparsers(parser).items():
        out.update(_choices(sub, f"{path} {name}".strip()))
    return out


def test_argparse_choices_are_the_registry() -> None:
    expected = {
        "prep source": choices.PREP_SOURCES,
        "prep frame": choices.SPECTRA_FRAMES,
        "train catalog model": choices.CATALOG_MODELS,
        **{f"train {track} device": choices.DEVICES for track in choices.DEEP_TRACKS},
        "predict rethreshold": choices.RETHRESHOLD_SPLITS,
        "explain split": choices.EXPLAIN_SPLITS,
        "fetch what": choices.FETCH_TARGETS,
        "train fusion stacker": choices.FUSION_STACKERS,
    }
    assert _choices(build_parser()) == expected
    assert tuple(_subparsers(_subparsers(build_parser())["train"])) == (*choices.TRACKS, choices.FUSION_TRACK)


def test_commands_in_order() -> None:
    assert list(_subparsers(build_parser())) == ["simulate", "prep", "train", "predict", "compare", "explain", "report", "run",
                                                 "fetch", "validate", "serve"]


@pytest.mark.parametrize("argv", [["prep"], ["train", "catalog"], ["train", "spectra"], ["train", "images"],
                                  ["compare"], ["predict"], ["serve"]])
def test_help_cites_the_contracts_document(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*argv, "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "docs/contracts.md, Contract" in text and "DESIGN" not in text


def test_help_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["explain", "--help"])
    text = "".join(capsys.readouterr().out.split())
    for methods in choices.EXPLAIN_METHODS.values():
        assert ",".join(methods) in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "catalog", "--help"])
    assert "|".join(choices.CATALOG_FEATURE_SETS) in "".join(capsys.readouterr().out.split())


def test_bad_choice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["train", "catalog", "--data", "x", "--model", "svm"])
    assert info.value.code == 2
    assert "invalid choice: 'svm'" in capsys.readouterr().err
