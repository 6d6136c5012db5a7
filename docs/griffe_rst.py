"""Griffe extension for the API reference: reads the reStructuredText bits of agnbench's numpydoc docstrings.

The docstrings cross-reference with Sphinx roles (``:func:`load_config```, ``:class:`~agnbench.config.Config```)
and a few hold an RST simple table. mkdocstrings renders docstrings as Markdown, where both would show raw:
roles become inline code (``~`` keeps the last component, as Sphinx shows it) and a simple table becomes a
preformatted block. Named in ``mkdocs.yml`` (``plugins.mkdocstrings...extensions``); the code is untouched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|mod|class|data|meth|attr|exc|obj):`(~?)([^`]+)`")
RULE = re.compile(r"^\s*=+(?:\s+=+)+\s*$")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _plain_role(match: re.Match[str]) -> str:
    """A role inside a preformatted block: the name alone (no backticks to render)."""
    return _role(match).strip("`")


def markdown(text: str) -> str:
    """``text`` with Sphinx roles as inline code and each RST simple table preformatted.

    A simple table opens with a rule (``====  ====``) and closes at the rule followed by a blank line (or
    the end): two rules without a header row, three with one.
    """
    lines = text.split("\n")
    out: list[str] = []
    table: list[str] = []
    for i, line in enumerate(lines):
        if RULE.match(line) or table:
            table.append(ROLE.sub(_plain_role, line).replace("``", ""))
            last = i + 1 == len(lines) or not lines[i + 1].strip()
            if len(table) > 1 and RULE.match(line) and last:
                out += ["", "```text", *table, "```", ""]
                table = []
            continue
        out.append(ROLE.sub(_role, line))
    return "\n".join(out + table)


class RstRoles(griffe.Extension):
    """Rewrite Sphinx roles and simple tables in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: ARG002 - griffe's signature
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
