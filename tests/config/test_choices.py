"""The choices registry: config validation and the code read the same tuples; config is a leaf package."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import subprocess
import sys
from collections.abc import Mapping

import pytest

from agnbench.config import choices
from agnbench.config.core import Config, load_config
from agnbench.errors import ConfigError

#: Every config key whose value is one of a registry tuple.
CHOICE_KEYS = [
    ("labels.scheme", choices.LABEL_SCHEMES),
    ("prep.masked_lines", choices.MASKED_LINE_SETS),
    ("prep.frame", choices.SPECTRA_FRAMES),
    ("prep.norm_method", choices.NORM_METHODS),
    ("prep.norm_fallback", choices.NORM_FALLBACKS),
    ("prep.image_source", choices.IMAGE_SOURCES),
    ("prep.stretch", choices.STRETCH_METHODS),
    ("catalog.model", choices.CATALOG_MODELS),
    ("catalog.search", choices.SEARCH_METHODS),
    ("catalog.class_weight", choices.CLASS_WEIGHTS),
    ("catalog.calibration", choices.CALIBRATION_METHODS),
    ("catalog.threshold", choices.THRESHOLD_RULES),
    *((f"{track}.{key}", values) for track in choices.DEEP_TRACKS for key, values in [
        ("loss", choices.LOSSES), ("class_weight", choices.CLASS_WEIGHTS), ("sampler", choices.SAMPLERS),
        ("calibration", choices.DEEP_CALIBRATION_METHODS), ("threshold", choices.THRESHOLD_RULES),
        ("device", choices.DEVICES), ("precision", choices.PRECISIONS)]),
    ("spectra.stem_stride", choices.SPECTRA_STEM_STRIDES),
    ("images.stem", choices.IMAGE_STEMS),
    ("images.stem_stride", choices.IMAGE_STEM_STRIDES),
    ("compare.split", choices.COMPARE_SPLITS),
    ("compare.ci", choices.INTERVAL_METHODS),
    ("compare.seeds", choices.SEED_MODES),
    ("compare.primary_metric", choices.PRIMARY_METRICS),
    ("explain.split", choices.EXPLAIN_SPLITS),
    ("explain.target", choices.EXPLAIN_TARGETS),
    ("explain.spectra_baseline", choices.SPECTRA_BASELINES),
    ("explain.image_baseline", choices.IMAGE_BASELINES),
    ("fetch.release", choices.FETCH_RELEASES),
    ("fetch.verify", choices.FETCH_VERIFY),
]


def _registry() -> dict[str, object]:
    return {name: value for name, value in vars(choices).items() if name.isupper()}


def test_registry_entries_are_unique_nonempty_tuples() -> None:
    for name, values in _registry().items():
        if isinstance(values, str):  # a single name spelled once (FUSION_TRACK), not a list of choices
            continue
        # mappings: their keys are the choices (EXPLAIN_METHODS: each value is a list of choices too)
        lists = values.values() if name == "EXPLAIN_METHODS" else [tuple(values)] if isinstance(values, Mapping) \
            else [values]
        for items in lists:
            assert isinstance(items, tuple) and items, name
            assert len(set(items)) == len(items), name


@pytest.mark.parametrize(("key", "values"), CHOICE_KEYS, ids=[k for k, _ in CHOICE_KEYS])
def test_config_accepts_every_choice(key: str, values: tuple) -> None:
    section, name = key.split(".")
    for value in values:
        assert getattr(getattr(load_config(overrides=[f"{key}={value}"]), section), name) == value


@pytest.mark.parametrize(("key", "values"), CHOICE_KEYS, ids=[k for k, _ in CHOICE_KEYS])
def test_config_rejects_a_value_outside_the_registry(key: str, values: tuple) -> None:
    bad = 3 if isinstance(values[0], int) else "not_a_choice"
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[f"{key}={bad}"])
    msg = str(info.value)
    if key == "labels.scheme":
        assert msg == f"--set: labels.scheme='not_a_choice' is unknown: use one of {', '.join(values)}"
    else:
        assert msg.startswith(f"--set: {key}={bad!r} is out of range: must be ")
        if key != "prep.masked_lines":  # its message explains 'all' (continuum-only)
            assert all(str(v) in msg for v in values)


def test_the_defaults_are_choices() -> None:
    cfg = Config()
    for key, values in CHOICE_KEYS:
        section, name = key.split(".")
        assert getattr(getattr(cfg, section), name) in values, key
    assert set(cfg.compare.threshold_rules) == set(choices.THRESHOLD_RULES)


def test_compare_threshold_rules_outside_the_registry() -> None:
    with pytest.raises(ConfigError, match=r"compare\.threshold_rules=\('argmax', 'x'\) is out of range: must be a "
                                          r"list of argmax, max_f1, target_precision"):
        load_config(overrides=["compare.threshold_rules=[argmax, x]"])


def test_code_reads_the_registry() -> None:
    from agnbench import pipeline_records
    from agnbench.baselines import catalog_models, features
    from agnbench.data_prep.fetch import download
    from agnbench.data_prep import lines
    from agnbench.data_prep.ingest import images, labels
    from agnbench.deep import data
    from agnbench.interpretability import explain, gradients, tree_shap
    from agnbench.protocol import calibration, thresholds

    assert catalog_models.MODEL_KINDS is choices.CATALOG_MODELS
    assert pipeline_records.CATALOG_MODELS is choices.RUN_CATALOG_MODELS
    assert set(choices.RUN_CATALOG_MODELS) <= set(choices.CATALOG_MODELS)
    assert thresholds.THRESHOLD_RULES is choices.THRESHOLD_RULES
    assert calibration.CALIBRATION_METHODS is choices.CALIBRATION_METHODS
    assert set(choices.DEEP_CALIBRATION_METHODS) <= set(choices.CALIBRATION_METHODS)
    assert data.TRACKS is choices.DEEP_TRACKS
    assert explain.METHODS is choices.EXPLAIN_METHODS
    assert tuple(choices.EXPLAIN_METHODS) == (*choices.TRACKS, choices.FUSION_TRACK)
    assert gradients.TARGET_MODES is choices.EXPLAIN_TARGETS
    assert tree_shap.SHAP_METHODS is choices.SHAP_METHODS
    assert download.WHAT is choices.FETCH_TARGETS
    assert images.STRETCH_METHODS is choices.STRETCH_METHODS
    assert lines.LINE_SETS is choices.MASKED_LINE_SETS
    from agnbench.transfer import apply_run

    assert apply_run.RETHRESHOLD_SPLITS is choices.RETHRESHOLD_SPLITS
    # spelled as mapping keys there: they must agree with the registry
    assert tuple(labels.SCHEME_CLASSES) == choices.LABEL_SCHEMES
    assert (*features.FEATURE_SETS, "all") == choices.CATALOG_FEATURE_SETS


def test_one_module_per_section() -> None:
    """The rule in agnbench/config/__init__.py: section x lives in agnbench.config.x (spectra, images: deep)."""
    for f in dataclasses.fields(Config):
        if f.name in ("seed", "seeds"):
            continue
        module = "deep" if f.name in choices.DEEP_TRACKS else f.name
        assert type(getattr(Config(), f.name)).__module__ == f"agnbench.config.{module}", f.name


def test_every_section_validates_through_check_rules() -> None:
    for f in dataclasses.fields(Config):
        section = type(getattr(Config(), f.name)) if f.name not in ("seed", "seeds") else Config
        source = inspect.getsource(section.validate)
        assert "check_rules(" in source, section.__name__


def test_config_is_a_leaf() -> None:
    code = "import agnbench.config, sys; print(sorted(m for m in sys.modules if m.startswith('agnbench')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(out.stdout.strip())
    assert "agnbench.config.choices" in loaded
    allowed = {"agnbench", "agnbench._exports", "agnbench.errors", "agnbench.fileio"}
    assert [m for m in loaded if m not in allowed and not m.startswith("agnbench.config")] == []
