"""Griffe extension for the API reference: reads the reStructuredText bits of agnbench's numpydoc docstrings.

The docstrings cross-reference with Sphinx roles (``:func:`load_config```, ``:class:`~agnbench.config.Config```)
and a few hold a simple RST table. mkdocstrings renders docstrings as Markdown, where both would show raw:
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


def _fence_tables(text: str) -> str:
    """Wrap each RST simple table (top rule .. bottom rule, three rules) in a ``text`` code fence."""
    lines, out, rules = text.split("\n"), [], 0
    for line in lines:
        if RULE.match(line):
            rules += 1
            if rules == 1:
                out.append("```text")
            out.append(line)
            if rules == 3:
                out.append("```")
                rules = 0
            continue
        out.append(line)
    return "\n".join(out)


class RstRoles(griffe.Extension):
    """Rewrite Sphinx roles and simple tables in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: ARG002 - griffe's signature
        if obj.docstring is not None:
            obj.docstring.value = _fence_tables(ROLE.sub(_role, obj.docstring.value))
