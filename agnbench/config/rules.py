"""Range checks shared by every config section (kept apart so section modules need not import ``config``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agnbench.errors import ConfigError


def check(ok: bool, key: str, value: Any, rule: str) -> None:
    """Raise :class:`ConfigError` naming ``key``, its value and the rule unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is out of range: {rule}")


def check_rules(section: str, obj: Any, rules: Iterable[tuple[str, bool, str]]) -> None:
    """Apply ``(field, ok, rule)`` checks to the dataclass ``obj`` of config section ``section``."""
    for name, ok, rule in rules:
        check(ok, f"{section}.{name}", getattr(obj, name), rule)
