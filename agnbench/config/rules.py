"""The one validation path of every config section: ``(field, ok, rule)`` checks.

Each section's ``validate()`` lists its rules and hands them to :func:`check_rules`, which raises
:class:`~agnbench.errors.ConfigError` for the first that fails, as ``section.field=value is out of
range: rule``. A rule that needs another wording gives its whole message as a :class:`Message`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from agnbench.errors import ConfigError


class Message(str):
    """The complete error message of a rule (used as is, instead of ``key=value is out of range: rule``)."""

    __slots__ = ()


def check_rules(section: str, obj: Any, rules: Iterable[tuple[str, bool, str]]) -> None:
    """Raise :class:`ConfigError` for the first failed ``(field, ok, rule)`` check of ``obj``.

    Parameters
    ----------
    section : str
        Dotted name of the section (``"simulate"``); ``""`` for the root, whose fields are top-level keys.
    obj : dataclass instance
        The section; ``getattr(obj, field)`` is the value shown in the message.
    rules : iterable of (str, bool, str)
        ``(field, ok, rule)``: ``rule`` says what the value must be (``"must be > 0"``), or is a
        :class:`Message` that is the whole error message.
    """
    for name, ok, rule in rules:
        if ok:
            continue
        if isinstance(rule, Message):
            raise ConfigError(str(rule))
        key = f"{section}.{name}" if section else name
        raise ConfigError(f"{key}={getattr(obj, name)!r} is out of range: {rule}")


def alternatives(choices: Sequence[Any], *, quote: bool = False) -> str:
    """``"a, b or c"`` for the message of a choice rule (``"'a' or 'b'"`` with ``quote``)."""
    items = [repr(c) if quote else str(c) for c in choices]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def suggestion(word: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` naming the closest of ``choices`` to ``word``, or ``""`` if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
