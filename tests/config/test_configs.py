"""Every shipped config file loads and validates (guards against key typos in configs/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agnbench.config.core import Config, load_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_configs_exist() -> None:
    assert {p.name for p in CONFIGS} >= {"quick.yaml", "paper.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads(path: Path) -> None:
    assert isinstance(load_config(path), Config)


def test_quick_is_the_default() -> None:
    """configs/quick.yaml spells out the built-in defaults, so `agnbench run` with or without it agrees."""
    assert load_config(Path(__file__).parents[2] / "configs" / "quick.yaml") == load_config(None)
