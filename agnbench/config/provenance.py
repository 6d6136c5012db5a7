"""Which config values produced an output, and what changed since: the record behind ``agnbench run``'s reuse.

:data:`RUNTIME_ONLY` names, per section, the settings that change how fast (or where) something is computed
but not a byte of the science result; they never count as a change. :func:`science_config` takes the
sections that produce one kind of output from a config, :func:`config_changes` lists the dotted keys that
differ between a recorded config and the current one, and :func:`describe_changes` turns them into one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from agnbench.config.core import Config, config_from_dict, config_to_dict
from agnbench.errors import ConfigError

#: Settings that do not change the result, per config section: worker and thread counts, the device, the
#: Dask scheduler.
RUNTIME_ONLY: Mapping[str, frozenset[str]] = MappingProxyType({
    "simulate": frozenset({"workers"}),
    "prep": frozenset({"workers", "scheduler", "scheduler_timeout"}),
    "catalog": frozenset({"threads"}),
    "spectra": frozenset({"device", "threads", "workers"}),
    "images": frozenset({"device", "threads", "workers"}),
    "report": frozenset({"workers"}),
})
#: The config sections that produce each stage's output (``seed`` counts as a section; a catalog or deep run
#: adds its track's section to :data:`PREP_SECTIONS`).
SIMULATE_SECTIONS = ("seed", "simulate")
PREP_SECTIONS = ("seed", "labels", "prep")
COMPARE_SECTIONS = ("seed", "compare")
FUSION_SECTIONS = ("seed", "fusion")
EXPLAIN_SECTIONS = ("seed", "explain")
REPORT_SECTIONS = ("seed", "report")
#: Shown for a value a recorded config lacks.
ABSENT = "<absent>"


def science_config(cfg: Config | Mapping[str, Any], sections: Sequence[str]) -> dict[str, Any]:
    """The ``sections`` of ``cfg`` (a Config or its dict; ``seed`` is a section too) without :data:`RUNTIME_ONLY`.

    A recorded dict is first completed with the defaults of keys added since it was written (when it is
    still a valid config), so a newer agnbench does not see its new keys as changes.
    """
    if isinstance(cfg, Config):
        data = config_to_dict(cfg)
    else:
        try:
            data = config_to_dict(config_from_dict(cfg, source="recorded config"))
        except ConfigError:
            data = dict(cfg)
    out: dict[str, Any] = {}
    for section in sections:
        value = data.get(section, ABSENT)
        if isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k not in RUNTIME_ONLY.get(section, ())}
        out[section] = value
    return out


def _flat(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(_flat(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: list(value) if isinstance(value, tuple) else value}


def config_changes(recorded: Mapping[str, Any], current: Config | Mapping[str, Any],
                   sections: Sequence[str]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, recorded value, current value)`` for every science setting of ``sections`` that differs."""
    old = _flat(science_config(recorded, sections), "")
    new = _flat(science_config(current, sections), "")
    return [(key, old.get(key, ABSENT), new.get(key, ABSENT)) for key in sorted(old.keys() | new.keys(),
            key=lambda k: (k.split(".")[0] not in sections, k))
            if old.get(key, ABSENT) != new.get(key, ABSENT)]


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe_changes(changes: Sequence[tuple[str, Any, Any]], *, limit: int = 5) -> str:
    """``key old -> new, ...`` for at most ``limit`` changes, then ``and N more``."""
    shown = [f"{key} {_show(old)} -> {_show(new)}" for key, old, new in changes[:limit]]
    more = len(changes) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
