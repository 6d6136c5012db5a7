"""Tests for agnbench.config.core: YAML -> frozen dataclasses, overrides, validation, round trip."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml

from agnbench.config import core as config_mod
from agnbench.config.core import (
    Config,
    SimulateConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    replace_in,
)
from agnbench.errors import AgnbenchError, ConfigError


def write_yaml(tmp_path, text: str, name: str = "cfg.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file():
    cfg = load_config()
    assert cfg == Config()
    assert cfg.simulate.n == 3000
    assert cfg.labels.scheme == "agn_vs_sf"
    assert cfg.paths.raw == "raw/mock"


def test_partial_file_keeps_other_defaults(tmp_path):
    path = write_yaml(tmp_path, "seed: 7\nsimulate:\n  n: 120\n  z_max: 0.3\n")
    cfg = load_config(path)
    assert cfg.seed == 7
    assert cfg.simulate.n == 120
    assert cfg.simulate.z_max == 0.3
    assert cfg.simulate.image_size == SimulateConfig().image_size
    assert cfg.paths == Config().paths


def test_empty_file_is_defaults(tmp_path):
    assert load_config(write_yaml(tmp_path, "")) == Config()


def test_unknown_key_names_file_dotted_key_and_suggestion(tmp_path):
    path = write_yaml(tmp_path, "simulate:\n  nn: 5\n", name="quick.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "'simulate.nn'" in msg
    assert "valid keys: n, image_size" in msg
    assert "did you mean 'n'?" in msg
    assert "\n" not in msg


def test_unknown_top_level_key(tmp_path):
    path = write_yaml(tmp_path, "seeed: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'seeed'.*did you mean 'seed'\?"):
        load_config(path)


def test_unknown_override_key_names_set():
    pattern = r"^--set: unknown key 'simulate\.image_sise'.*did you mean 'image_size'"
    with pytest.raises(ConfigError, match=pattern):
        load_config(overrides=["simulate.image_sise=32"])


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("simulate:\n  n: true\n", "simulate.n", "an integer"),
        ("simulate:\n  n: 3.5\n", "simulate.n", "an integer"),
        ("simulate:\n  n: 3.0\n", "simulate.n", "an integer"),
        ("simulate:\n  n: '12'\n", "simulate.n", "an integer"),
        ("simulate:\n  pixel_scale: abc\n", "simulate.pixel_scale", "a finite number"),
        ("simulate:\n  pixel_scale: true\n", "simulate.pixel_scale", "a finite number"),
        ("seed: [1, 2]\n", "seed", "an integer"),
        ("labels:\n  scheme: 3\n", "labels.scheme", "a string"),
        ("simulate: 3\n", "simulate", "a mapping"),
    ],
)
def test_type_errors_name_file_and_key(tmp_path, text, key, expected):
    path = write_yaml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key} must be {expected}")
    assert "\n" not in msg


def test_int_accepted_for_float(tmp_path):
    cfg = load_config(write_yaml(tmp_path, "simulate:\n  snr_scale: 2\n"))
    assert cfg.simulate.snr_scale == 2.0
    assert isinstance(cfg.simulate.snr_scale, float)


def test_yaml11_exponent_string_accepted_for_float():
    # PyYAML reads 1e-3 (no dot) as a string; float fields accept it.
    assert load_config(overrides=["simulate.pixel_scale=1e-3"]).simulate.pixel_scale == 1e-3


def test_missing_file_syntax_error_and_non_mapping(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(missing)
    bad = write_yaml(tmp_path, "simulate: [1, 2\n", name="bad.yaml")
    with pytest.raises(ConfigError, match=r"bad\.yaml: YAML error at line"):
        load_config(bad)
    scalar = write_yaml(tmp_path, "- 1\n- 2\n", name="list.yaml")
    with pytest.raises(ConfigError, match=r"list\.yaml: top level must be a mapping"):
        load_config(scalar)


def test_nested_override_and_precedence(tmp_path):
    path = write_yaml(tmp_path, "simulate:\n  n: 100\n")
    cfg = load_config(path, overrides=["simulate.n=500", "seed=3", "labels.scheme=bpt4"])
    assert cfg.simulate.n == 500
    assert cfg.seed == 3
    assert cfg.labels.scheme == "bpt4"
    # later overrides win
    assert load_config(overrides=["seed=1", "seed=2"]).seed == 2


def test_override_mapping_merges_into_section():
    cfg = load_config(overrides=["simulate.image_size=32", "simulate={n: 50, z_max: 0.1}"])
    assert (cfg.simulate.n, cfg.simulate.z_max, cfg.simulate.image_size) == (50, 0.1, 32)


def test_override_numeric_text_for_string_field():
    assert load_config(overrides=["paths.runs=2024"]).paths.runs == "2024"


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        ("simulate.n", "has no '='; write key=value"),
        ("=5", "empty key"),
        ("simulate..n=5", "empty key"),
        ("simulate.n=3.5", "simulate.n must be an integer"),
        ("simulate.n=true", "simulate.n must be an integer"),
        ("simulate.z_min=abc", "simulate.z_min must be a finite number"),
        ("simulate.n.x=1", "'simulate.n' is not a section"),
    ],
)
def test_bad_overrides(item, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(overrides=[item])
    assert str(info.value).startswith("--set: ")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("simulate.n=0", "simulate.n"),
        ("simulate.image_size=200", "simulate.image_size"),
        ("simulate.image_size=8", "simulate.image_size"),
        ("simulate.z_min=0", "simulate.z_min"),
        ("simulate.z_max=0.5", "simulate.z_max"),
        ("simulate.z_max=0.01", "simulate.z_max"),
        ("simulate.frac_liner=1.0", "simulate.frac_liner"),
        ("simulate.frac_seyfert=-0.1", "simulate.frac_seyfert"),
        ("simulate.frac_seyfert=0.9", "simulate.frac_seyfert + frac_liner + frac_composite"),
        ("simulate.snr_scale=0", "simulate.snr_scale"),
        ("simulate.psf_fwhm_max=1.0", "simulate.psf_fwhm_max"),
        ("simulate.psf_fwhm_min=0", "simulate.psf_fwhm_min"),
        ("simulate.point_source_fraction=1.5", "simulate.point_source_fraction"),
        ("simulate.point_source_strength=-1", "simulate.point_source_strength"),
        ("simulate.chunk_size=0", "simulate.chunk_size"),
        ("simulate.workers=-1", "simulate.workers"),
        ("labels.scheme=bpt5", "labels.scheme"),
        ("seed=-1", "seed"),
        ("paths.data=''", "paths.data"),
    ],
)
def test_validation_ranges(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert key in str(info.value)


def test_range_error_message_and_file_prefix(tmp_path):
    path = write_yaml(tmp_path, "simulate:\n  image_size: 200\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: simulate.image_size=200 is out of range: must be 16..160"


def test_override_can_fix_invalid_file_value(tmp_path):
    path = write_yaml(tmp_path, "simulate:\n  image_size: 200\n")
    assert load_config(path, overrides=["simulate.image_size=64"]).simulate.image_size == 64


def test_scheme_suggestion():
    with pytest.raises(ConfigError, match=r"did you mean 'agn_vs_sf'\?"):
        load_config(overrides=["labels.scheme=agn_vs_fs"])


def test_frozen():
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.simulate.n = 3  # type: ignore[misc]


def test_round_trip_dump_load(tmp_path):
    cfg = load_config(overrides=["seed=11", "simulate.n=77", "simulate.pixel_scale=0.3",
                                 "paths.runs=2024", "labels.scheme=bpt4"])
    out = tmp_path / "resolved.yaml"
    dump_config(cfg, out)
    assert load_config(out) == cfg
    data = yaml.safe_load(out.read_text())
    assert list(data) == [f.name for f in dataclasses.fields(Config)]
    assert list(data["simulate"]) == [f.name for f in dataclasses.fields(SimulateConfig)]
    assert not list(tmp_path.glob(".*tmp*"))


def test_config_to_dict_is_plain_and_from_dict_round_trips():
    cfg = load_config(overrides=["simulate.n=10"])
    data = config_to_dict(cfg)
    assert isinstance(data["simulate"], dict)
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert config_from_dict(data) == cfg


def test_config_from_dict_names_source():
    with pytest.raises(ConfigError, match=r"^mysrc: unknown key 'paths\.rawz'"):
        config_from_dict({"paths": {"rawz": "x"}}, source="mysrc")


def test_apply_overrides_and_replace_in():
    cfg = Config()
    new = apply_overrides(cfg, ["simulate.n=500"])
    assert new.simulate.n == 500 and cfg.simulate.n == 3000
    assert replace_in(cfg, "simulate.n", 42).simulate.n == 42
    assert replace_in(cfg, "simulate.z_max", 0.3).simulate.z_max == 0.3
    with pytest.raises(ConfigError, match="simulate.n must be an integer"):
        replace_in(cfg, "simulate.n", 3.0)
    with pytest.raises(ConfigError, match="simulate.image_size=500 is out of range"):
        replace_in(cfg, "simulate.image_size", 500)
    with pytest.raises(ConfigError, match=r"unknown key 'simulate\.nn'"):
        replace_in(cfg, "simulate.nn", 1)


def test_config_errors_are_agnbench_errors():
    assert issubclass(ConfigError, AgnbenchError)


# ------------------------------------------------------------------ generic machinery


@dataclass(frozen=True)
class _Inner:
    tags: tuple[str, ...] = ("a",)
    size: int | None = None
    mode: Literal["fast", "slow"] = "fast"
    pair: tuple[int, float] = (1, 2.0)

    def validate(self) -> None:
        if self.size is not None and self.size < 0:
            raise ConfigError(f"extra.size={self.size} is out of range: must be >= 0")


@dataclass(frozen=True)
class _Root:
    flag: bool = False
    extra: _Inner = field(default_factory=_Inner)


def test_generic_types_tuple_optional_literal_bool():
    build = config_mod._build
    root = build(_Root, {"flag": True, "extra": {"tags": ["x", "y"], "size": None, "mode": "slow",
                                                 "pair": [3, 4]}},
                 source="s", prefix="", base=None)
    assert root.extra.tags == ("x", "y")
    assert root.extra.size is None
    assert root.extra.mode == "slow"
    assert root.extra.pair == (3, 4.0) and isinstance(root.extra.pair[1], float)
    assert root.flag is True
    assert config_to_dict(root)["extra"]["tags"] == ["x", "y"]
    root2 = config_mod._apply(root, ["extra.size=5", "extra.tags=[q]"], source="--set")
    assert root2.extra.size == 5 and root2.extra.tags == ("q",)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"flag": 1}, "flag must be true or false"),
        ({"flag": "yes please"}, "flag must be true or false"),
        ({"extra": {"tags": "abc"}}, r"extra\.tags must be a list with each item a string"),
        ({"extra": {"tags": ["a", 1]}}, r"extra\.tags\[1\] must be a string"),
        ({"extra": {"size": 1.5}}, r"extra\.size must be an integer or null"),
        ({"extra": {"mode": "medium"}}, r"extra\.mode must be one of 'fast', 'slow'"),
        ({"extra": {"pair": [1, 2, 3]}}, r"extra\.pair must be a list of 2 items"),
    ],
)
def test_generic_type_errors(data, pattern):
    with pytest.raises(ConfigError, match=pattern):
        config_mod._build(_Root, data, source="s", prefix="", base=None)


def test_generic_validate_called_on_nested_sections():
    root = config_mod._build(_Root, {"extra": {"size": -1}}, source="s", prefix="", base=None)
    with pytest.raises(ConfigError, match=r"^s: extra\.size=-1 is out of range"):
        config_mod._validate_tree(root, source="s")


def test_max_threads_caps_what_every_library_gets(monkeypatch):
    from agnbench.threads import MAX_THREADS_ENV, usable_threads

    monkeypatch.delenv(MAX_THREADS_ENV, raising=False)
    assert usable_threads(4) == 4
    monkeypatch.setenv(MAX_THREADS_ENV, "2")
    assert (usable_threads(4), usable_threads(1)) == (2, 1)
    monkeypatch.setenv(MAX_THREADS_ENV, "zero")
    with pytest.raises(ConfigError, match="AGNBENCH_MAX_THREADS='zero'"):
        usable_threads(2)
