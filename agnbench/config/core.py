"""YAML configuration -> frozen dataclasses.

A config is built in three layers: the dataclass defaults, then a YAML file (any subset of
keys), then ``--set key=value`` overrides. Every layer is checked against the dataclass
fields: unknown keys and values of the wrong type are errors that name the source, the full
dotted key and what to do. The machinery is generic: a new section is added by giving
:class:`Config` a field whose type is a frozen dataclass (optionally with a ``validate``
method that raises :class:`~agnbench.errors.ConfigError`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from agnbench.config.compare import CompareConfig, ExplainConfig, ReportConfig
from agnbench.config.deep import ImagesConfig, SpectraConfig
from agnbench.config.fetch import FetchConfig
from agnbench.config.rules import check as _check
from agnbench.errors import ConfigError
from agnbench.fileio import atomic_write_text

T = TypeVar("T")

#: Valid values of ``labels.scheme`` (see DESIGN.md, "Label schemes").
LABEL_SCHEMES: tuple[str, ...] = ("agn_vs_sf", "agn_vs_sf_lowsn", "bpt4", "sdss_class")

# PyYAML (YAML 1.1) reads ``1e-3`` as a string; such strings are accepted for float fields.
_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class PathsConfig:
    """Where agnbench reads and writes (relative paths are relative to the working directory)."""

    raw: str = "raw/mock"  # raw survey directory (simulate writes it, prep reads it)
    data: str = "data/mock"  # dataset store
    runs: str = "runs"
    comparisons: str = "comparisons"

    def validate(self) -> None:
        """Require every path to be a non-empty string."""
        for f in dataclasses.fields(self):
            if not getattr(self, f.name).strip():
                raise ConfigError(f"paths.{f.name} is empty: give a directory path")


@dataclass(frozen=True)
class LabelsConfig:
    """Label scheme that turns MPA-JHU BPT codes (or SDSS classes) into training labels."""

    scheme: str = "agn_vs_sf"  # one of LABEL_SCHEMES

    def validate(self) -> None:
        """Require ``scheme`` to be one of :data:`LABEL_SCHEMES`."""
        if self.scheme not in LABEL_SCHEMES:
            raise ConfigError(
                f"labels.scheme={self.scheme!r} is unknown: use one of {', '.join(LABEL_SCHEMES)}"
                + _suggestion(self.scheme, LABEL_SCHEMES)
            )


@dataclass(frozen=True)
class SimulateConfig:
    """Mock survey parameters (``agnbench simulate``).

    Results depend only on the root ``seed`` and ``chunk_size`` (the work unit that owns a
    random stream), never on ``workers``. Magnitudes are AB, angles in arcsec.
    """

    n: int = 3000  # number of galaxies
    image_size: int = 64  # cutout side (pixels)
    pixel_scale: float = 0.262  # arcsec / pixel (Legacy Survey)
    z_min: float = 0.02
    z_max: float = 0.2
    r_limit: float = 17.77  # SDSS main-sample Petrosian r limit (mag)
    frac_seyfert: float = 0.14  # true class fractions; star-forming is the remainder
    frac_liner: float = 0.07
    frac_composite: float = 0.12
    snr_scale: float = 1.0  # multiplies the spectral S/N
    psf_fwhm_min: float = 1.1  # arcsec
    psf_fwhm_max: float = 1.5
    point_source_fraction: float = 0.5  # Seyferts with a visible nuclear point source
    point_source_strength: float = 1.0  # multiplies the point-source flux fraction
    image_depth_r: float = 23.5  # 5-sigma point-source depth in r (mag)
    chunk_size: int = 250  # galaxies per work unit (each has its own random stream)
    workers: int = 0  # processes; 0 = all usable cores

    def validate(self) -> None:
        """Check ranges; raise :class:`ConfigError` naming the first bad key."""
        fracs = ("frac_seyfert", "frac_liner", "frac_composite")
        rules = [
            ("n", self.n > 0, "must be > 0"),
            ("image_size", 16 <= self.image_size <= 160, "must be 16..160"),
            ("pixel_scale", self.pixel_scale > 0, "must be > 0"),
            ("z_min", self.z_min > 0, "must be > 0"),
            ("z_max", self.z_min < self.z_max <= 0.4, f"must be > z_min ({self.z_min}) and <= 0.4"),
            *((name, 0 <= getattr(self, name) < 1, "must be in [0, 1)") for name in fracs),
            ("snr_scale", self.snr_scale > 0, "must be > 0"),
            ("psf_fwhm_min", self.psf_fwhm_min > 0, "must be > 0"),
            ("psf_fwhm_max", self.psf_fwhm_max >= self.psf_fwhm_min,
             f"must be >= psf_fwhm_min ({self.psf_fwhm_min})"),
            ("point_source_fraction", 0 <= self.point_source_fraction <= 1, "must be in [0, 1]"),
            ("point_source_strength", self.point_source_strength >= 0, "must be >= 0"),
            ("chunk_size", self.chunk_size > 0, "must be > 0"),
            ("workers", self.workers >= 0, "must be >= 0 (0 = all cores)"),
        ]
        for name, ok, rule in rules:
            _check(ok, f"simulate.{name}", getattr(self, name), rule)
        total = sum(getattr(self, name) for name in fracs)
        if not total < 1:
            raise ConfigError(
                f"simulate.frac_seyfert + frac_liner + frac_composite = {total:g} is out of range: "
                "must be < 1 (star-forming galaxies are the remainder)"
            )


@dataclass(frozen=True)
class PrepConfig:
    """Dataset-store preparation (``agnbench prep``): quality cuts, splits, spectra and cutouts.

    Cuts follow the usual MPA-JHU practice (RELIABLE == 1, SPECTROTYPE == GALAXY,
    Z_WARNING == 0, a redshift and a dereddened-r range). Wavelengths are rest-frame Angstrom.
    """

    require_reliable: bool = True
    require_galaxy: bool = True
    require_zwarning_zero: bool = True
    z_min: float = 0.02
    z_max: float = 0.2
    r_min: float = 10.0  # dereddened model r magnitude range
    r_max: float = 17.77
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    wave_min: float = 3750.0  # common rest-frame grid, covered by SDSS-I/II spectra at z <= 0.2
    wave_max: float = 7400.0
    dloglam: float = 1e-4  # log10 step, the SDSS pixel
    norm_wave_min: float = 5300.0  # line-free window for the flux normalisation
    norm_wave_max: float = 5700.0
    mask_lines: bool = False  # blank emission lines in the spectra (ablation)
    masked_lines: str = "all"  # all (every emission line: continuum-only) | bpt (Hb, [OIII], [NII], Ha only)
    max_uncovered: float = 0.05  # largest fraction of the grid a spectrum may leave uncovered
    image_size: int = 64  # cutouts are centre-cropped or resampled to this side (pixels)
    image_source: str = "fits"  # fits (Legacy Survey grz) | jpeg (SDSS gri, 8-bit)
    stretch: str = "asinh_global"  # asinh_global (one scale per band) | minmax_per_image
    shard_size: int = 512  # objects per work unit (resume granularity)
    workers: int = 0  # processes; 0 = all usable cores; results independent of it

    def validate(self) -> None:
        """Check ranges; raise :class:`ConfigError` naming the first bad key."""
        rules = [
            ("z_max", 0 <= self.z_min < self.z_max, f"must be > z_min ({self.z_min}) >= 0"),
            ("r_max", self.r_min < self.r_max, f"must be > r_min ({self.r_min})"),
            ("val_fraction", 0 < self.val_fraction < 1, "must be in (0, 1)"),
            ("test_fraction", 0 < self.test_fraction < 1 - self.val_fraction, "must be in (0, 1 - val_fraction)"),
            ("wave_max", 900 < self.wave_min < self.wave_max, f"must be > wave_min ({self.wave_min}) > 900"),
            ("dloglam", 0 < self.dloglam <= 1e-2, "must be in (0, 0.01]"),
            ("norm_wave_max", self.wave_min <= self.norm_wave_min < self.norm_wave_max <= self.wave_max,
             "must satisfy wave_min <= norm_wave_min < norm_wave_max <= wave_max"),
            ("max_uncovered", 0 <= self.max_uncovered < 1, "must be in [0, 1)"),
            ("masked_lines", self.masked_lines in ("all", "bpt"), "must be 'all' (continuum-only) or 'bpt'"),
            ("image_size", 16 <= self.image_size <= 256, "must be 16..256"),
            ("image_source", self.image_source in ("fits", "jpeg"), "must be 'fits' or 'jpeg'"),
            ("stretch", self.stretch in ("asinh_global", "minmax_per_image"), "must be 'asinh_global' or 'minmax_per_image'"),
            ("shard_size", self.shard_size > 0, "must be > 0"),
            ("workers", self.workers >= 0, "must be >= 0"),
        ]
        for name, ok, rule in rules:
            _check(ok, f"prep.{name}", getattr(self, name), rule)


@dataclass(frozen=True)
class CatalogConfig:
    """Catalog track (``agnbench train catalog``): model, features, imbalance, calibration, threshold."""

    model: str = "xgboost"  # xgboost | lightgbm | logreg | rf
    features: str = "photometry"  # photometry | physical | all | comma-separated feat_ columns
    class_weight: str = "balanced"  # balanced | none
    calibration: str = "none"  # none | isotonic | sigmoid | temperature (fitted on val)
    threshold: str = "argmax"  # argmax | max_f1 | target_precision (chosen on val, binary only)
    target_precision: float = 0.9
    early_stopping_rounds: int = 50
    threads: int = 2
    search: str = "none"  # none | random (hyper-parameters by CV on the train split only)
    n_trials: int = 20  # random-search trials (trial 0 = the defaults)
    cv_folds: int = 3

    def validate(self) -> None:
        """Check choices and ranges; raise :class:`ConfigError` naming the first bad key."""
        rules = [
            ("search", self.search in ("none", "random"), "must be 'none' or 'random'"),
            ("n_trials", self.n_trials >= 1, "must be >= 1"),
            ("cv_folds", self.cv_folds >= 2, "must be >= 2"),
            ("model", self.model in ("xgboost", "lightgbm", "logreg", "rf"), "must be xgboost, lightgbm, logreg or rf"),
            ("features", bool(self.features.strip()), "must be photometry, physical, all or a list of feat_ columns"),
            ("class_weight", self.class_weight in ("balanced", "none"), "must be 'balanced' or 'none'"),
            ("calibration", self.calibration in ("none", "isotonic", "sigmoid", "temperature"),
             "must be none, isotonic, sigmoid or temperature"),
            ("threshold", self.threshold in ("argmax", "max_f1", "target_precision"),
             "must be argmax, max_f1 or target_precision"),
            ("target_precision", 0 < self.target_precision < 1, "must be in (0, 1)"),
            ("early_stopping_rounds", self.early_stopping_rounds > 0, "must be > 0"),
            ("threads", self.threads > 0, "must be > 0"),
        ]
        for name, ok, rule in rules:
            _check(ok, f"catalog.{name}", getattr(self, name), rule)


@dataclass(frozen=True)
class Config:
    """The root configuration; ``seed`` derives every other random stream."""

    seed: int = 0
    paths: PathsConfig = field(default_factory=PathsConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    prep: PrepConfig = field(default_factory=PrepConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    spectra: SpectraConfig = field(default_factory=SpectraConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def validate(self) -> None:
        """Require a non-negative seed."""
        _check(self.seed >= 0, "seed", self.seed, "must be >= 0")


def load_config(path: str | Path | None = None, *, overrides: Sequence[str] = ()) -> Config:
    """Load a config: defaults, then the YAML file at ``path``, then ``overrides``.

    Parameters
    ----------
    path : str or Path, optional
        YAML file holding any subset of the keys; None uses the defaults only.
    overrides : sequence of str, optional
        ``"dotted.key=value"`` items (``--set``); values are parsed as YAML, then coerced.

    Raises
    ------
    ConfigError
        Missing or unparsable file, unknown key, wrong type or out-of-range value.
    """
    source = "<defaults>" if path is None else str(path)
    data = {} if path is None else _read_yaml(Path(path))
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
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: YAML syntax error{at}: {problem}; fix the file") from None
    return {} if data is None else data


def _suggestion(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown_key(source: str, key: str, name: str, valid: Sequence[str]) -> ConfigError:
    return ConfigError(
        f"{source}: unknown key {key!r}; valid keys: {', '.join(valid)}" + _suggestion(name, valid)
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
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
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
        if is_number and not math.isnan(value):
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
            value = yaml.safe_load(raw) if raw else None
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
