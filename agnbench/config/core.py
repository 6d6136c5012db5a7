"""The root :class:`Config` and the machinery: YAML configuration -> frozen dataclasses.

A config is built in three layers: the dataclass defaults, then a YAML file (any subset of
keys), then ``--set key=value`` overrides. Every layer is checked against the dataclass
fields: unknown keys and values of the wrong type are errors that name the source, the full
dotted key and what to do; then every section's ``validate()`` runs (children first), each
through :func:`agnbench.config.rules.check_rules`. The machinery is generic: a new section is
a frozen dataclass in its own module (see :mod:`agnbench.config`) given to :class:`Config` as a
field.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from types import MappingProxyType
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from agnbench.config.catalog import CatalogConfig
from agnbench.config.compare import CompareConfig
from agnbench.config.deep import ImagesConfig, SpectraConfig
from agnbench.config.explain import ExplainConfig
from agnbench.config.fetch import FetchConfig
from agnbench.config.fusion import FusionConfig
from agnbench.config.labels import LabelsConfig
from agnbench.config.paths import PathsConfig
from agnbench.config.prep import PrepConfig
from agnbench.config.presets import resolve_config_path
from agnbench.config.report import ReportConfig
from agnbench.config.rules import check_rules, suggestion
from agnbench.config.simulate import SimulateConfig
from agnbench.config.tracking import TrackingConfig
from agnbench.errors import ConfigError
from agnbench.fileio import atomic_write_text

# The section classes are re-exported: callers import them from here as well as from their own modules.
__all__ = [
    "CatalogConfig", "CompareConfig", "Config", "ExplainConfig", "FetchConfig", "FusionConfig", "ImagesConfig",
    "LabelsConfig",
    "PathsConfig", "PrepConfig", "ReportConfig", "SimulateConfig", "SpectraConfig", "TrackingConfig",
    "apply_overrides", "config_from_dict", "config_to_dict", "dump_config", "load_config", "replace_in",
]

T = TypeVar("T")

# PyYAML (YAML 1.1) reads ``1e-3`` as a string; such strings are accepted for float fields.
_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Config:
    """The root configuration; ``seed`` derives every other random stream.

    ``seeds``: training seeds per model that ``agnbench run`` trains, explains and compares (``seed``,
    ``seed + 1``, ...; runs ``<track>-<model>-s<seed>``), so that its intervals include the seed-to-seed
    variance (``compare.seeds: combined``). It never changes a trained model: a run's seed does.
    """

    seed: int = 0
    seeds: int = 3
    paths: PathsConfig = field(default_factory=PathsConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    prep: PrepConfig = field(default_factory=PrepConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    spectra: SpectraConfig = field(default_factory=SpectraConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def validate(self) -> None:
        """Require a non-negative seed and at least one training seed."""
        check_rules("", self, [("seed", self.seed >= 0, "must be >= 0"),
                               ("seeds", self.seeds >= 1, "must be >= 1 (3 or more for seed-inclusive intervals)")])


def load_config(path: str | Path | None = None, *, overrides: Sequence[str] = ()) -> Config:
    """Load a config: defaults, then the YAML file at ``path``, then ``overrides``.

    Parameters
    ----------
    path : str or Path, optional
        YAML file holding any subset of the keys, or the name of a packaged preset (``quick``, ``paper``,
        ``spectra_tiny``: :mod:`agnbench.config.presets`); None uses the defaults only.
    overrides : sequence of str, optional
        ``"dotted.key=value"`` items (``--set``); values are parsed as YAML, then coerced.

    Raises
    ------
    ConfigError
        Missing or unparsable file, unknown key, wrong type or out-of-range value.
    """
    path = None if path is None else resolve_config_path(path)
    source = "<defaults>" if path is None else str(path)
    data = {} if path is None else _read_yaml(path)
    cfg = _build(Config, data, source=source, prefix="", base=None)
    if overrides:
        cfg = _apply(cfg, overrides, source="--set")
        source = "--set" if path is None else f"{source} (with --set)"
    _validate_tree(cfg, source=source)
    return cfg


def config_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Config:
    """Build a validated :class:`Config` from a (partial) nested mapping."""
    cfg = _build(Config, data, source=source, prefix="", base=None)
    _validate_tree(cfg, source=source)
    return cfg


def config_to_dict(cfg: Any) -> Any:
    """Return ``cfg`` as plain YAML-safe data (dicts in field order, tuples as lists)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, Mapping):
        return {str(k): config_to_dict(v) for k, v in cfg.items()}
    return str(cfg) if isinstance(cfg, Path) else cfg


def dump_config(cfg: Any, path: str | Path) -> Path:
    """Write the fully resolved config as YAML, atomically, keys in dataclass order."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False,
                          allow_unicode=True)
    return atomic_write_text(path, text)


def apply_overrides(cfg: T, overrides: Sequence[str], *, source: str = "--set") -> T:
    """Return a copy of ``cfg`` with ``"dotted.key=value"`` overrides applied and validated."""
    new = _apply(cfg, overrides, source=source)
    _validate_tree(new, source=source)
    return new


def replace_in(cfg: T, key: str, value: Any, *, source: str = "replace_in") -> T:
    """Return a copy of ``cfg`` with the dotted ``key`` set to ``value`` (coerced, validated)."""
    new = _set_path(cfg, key.split("."), value, raw=None, source=source)
    _validate_tree(new, source=source)
    return new


def _read_yaml(path: Path) -> Mapping[str, Any]:
    """Read a YAML config file; an empty file is an empty mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        why = "not found" if isinstance(exc, FileNotFoundError) else f"unreadable ({exc.strerror})"
        raise ConfigError(f"{path}: config file {why}; check the --config path") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: config file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at line {line}); "
                          "save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: YAML error{at}: {problem}; fix the file") from None
    return {} if data is None else data


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML's default: the last wins)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (lines {first} and {key_node.start_mark.line + 1}); "
                    "keep one", key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _unknown_key(source: str, key: str, name: str, valid: Sequence[str]) -> ConfigError:
    return ConfigError(
        f"{source}: unknown key {key!r}; valid keys: {', '.join(valid)}" + suggestion(name, valid)
    )


def _build(cls: type, data: Mapping[str, Any], *, source: str, prefix: str, base: Any) -> Any:
    """Instantiate dataclass ``cls`` from ``data`` on top of ``base`` (or the class defaults)."""
    if not isinstance(data, Mapping):
        what = "top level" if not prefix else prefix
        raise ConfigError(
            f"{source}: {what} must be a mapping of keys to values, got {type(data).__name__}"
        )
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        name = str(raw_key)
        key = f"{prefix}.{name}" if prefix else name
        if not isinstance(raw_key, str) or name not in fields:
            raise _unknown_key(source, key, name, fields)
        current = getattr(base, name) if base is not None else None
        values[name] = _coerce(value, hints[name], source=source, key=key, current=current)
    return cls(**values) if base is None else dataclasses.replace(base, **values)


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
             type(None): "null"}
    if tp in names:
        return names[tp]
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        if args[-1:] == (Ellipsis,):
            return f"a list with each item {_describe(args[0])}"
        return f"a list of {len(args)} items"
    if origin in (dict, Mapping):
        return "a mapping of names to text"
    return "a mapping" if dataclasses.is_dataclass(tp) else getattr(tp, "__name__", str(tp))


def _type_error(value: Any, tp: Any, *, source: str, key: str) -> ConfigError:
    shown = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ConfigError(
        f"{source}: {key} must be {_describe(tp)}, got {shown} ({type(value).__name__}); "
        "fix the value"
    )


def _coerce(value: Any, tp: Any, *, source: str, key: str, current: Any = None) -> Any:
    """Check ``value`` against annotation ``tp`` and convert it (int -> float, list -> tuple...)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, Mapping):
            base = current if isinstance(current, tp) else None
            return _build(tp, value, source=source, prefix=key, base=base)
    elif tp in (bool, str, type(None)):
        if isinstance(value, tp):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
    elif tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
            value = float(value)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if is_number and math.isfinite(value):
            return float(value)
    elif origin is Literal:
        for allowed in args:
            if type(value) is type(allowed) and value == allowed:
                return allowed
    elif origin in (Union, types.UnionType):
        for arm in args:
            try:
                return _coerce(value, arm, source=source, key=key, current=current)
            except ConfigError:
                continue
    elif origin in (dict, Mapping):  # a mapping of names to text (e.g. report.labels): str keys and values
        if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return MappingProxyType(dict(value))
        if value is None:
            return MappingProxyType({})
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            arms = [args[0]] * len(value) if args[-1:] == (Ellipsis,) else list(args)
            if len(arms) == len(value):
                return tuple(_coerce(v, a, source=source, key=f"{key}[{i}]")
                             for i, (v, a) in enumerate(zip(value, arms)))
    else:
        raise ConfigError(f"{source}: {key} has an unsupported annotation {tp!r} (agnbench bug)")
    raise _type_error(value, tp, source=source, key=key)


def _apply(cfg: T, overrides: Sequence[str], *, source: str) -> T:
    for item in [overrides] if isinstance(overrides, str) else overrides:
        key, sep, raw = str(item).partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep:
            raise ConfigError(f"{source}: override {item!r} has no '='; "
                              "write key=value (e.g. simulate.n=500)")
        if "" in key.split("."):
            raise ConfigError(f"{source}: override {item!r} has an empty key or key part; "
                              "write key=value (e.g. seed=1)")
        try:
            value = yaml.load(raw, Loader=_UniqueKeyLoader) if raw else None  # noqa: S506
        except yaml.constructor.ConstructorError as exc:
            raise ConfigError(f"{source}: override {item!r}: {exc.problem}") from None
        except yaml.YAMLError:
            value = raw
        cfg = _set_path(cfg, key.split("."), value, raw=raw, source=source)
    return cfg


def _set_path(obj: Any, parts: list[str], value: Any, *, raw: str | None, source: str,
              prefix: str = "") -> Any:
    """Return a copy of dataclass ``obj`` with the field at dotted ``parts`` set to ``value``."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        full = ".".join([prefix, *parts])
        raise ConfigError(f"{source}: key {full!r} is invalid: {prefix!r} is not a section")
    name, key = parts[0], f"{prefix}.{parts[0]}" if prefix else parts[0]
    names = [f.name for f in dataclasses.fields(obj) if f.init]
    if name not in names:
        raise _unknown_key(source, key, name, names)
    current = getattr(obj, name)
    if len(parts) > 1:
        new = _set_path(current, parts[1:], value, raw=raw, source=source, prefix=key)
        return dataclasses.replace(obj, **{name: new})
    tp = typing.get_type_hints(type(obj))[name]
    try:
        new = _coerce(value, tp, source=source, key=key, current=current)
    except ConfigError as exc:
        # An unquoted override such as paths.runs=2024 parses as a YAML int: retry as text.
        try:
            new = None if raw is None else _coerce(raw, tp, source=source, key=key, current=current)
        except ConfigError:
            new = None
        if not isinstance(new, str):
            raise exc from None
    return dataclasses.replace(obj, **{name: new})


def _validate_tree(obj: Any, *, source: str) -> None:
    """Call ``validate()`` on every nested section, children first; prefix errors by ``source``."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return
    for f in dataclasses.fields(obj):
        _validate_tree(getattr(obj, f.name), source=source)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
