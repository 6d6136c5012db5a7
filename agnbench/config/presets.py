"""Packaged config presets: ``--config quick`` reads the ``quick.yaml`` shipped inside the package.

The presets are the repository's ``configs/*.yaml`` (``agnbench/configs`` links to that directory, and the
wheel carries the files as package data), so ``agnbench run --config paper`` works from any directory
once agnbench is installed, and ``--config configs/paper.yaml`` still works in a checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from agnbench.errors import ConfigError

__all__ = ["preset_dir", "preset_names", "resolve_config_path"]

_SUFFIX = ".yaml"


def preset_dir() -> Path:
    """The directory of the packaged presets (``agnbench/configs``)."""
    return Path(str(resources.files("agnbench") / "configs"))


def preset_names() -> tuple[str, ...]:
    """Names of the packaged presets (file stems), sorted; empty if the package carries none."""
    directory = preset_dir()
    return tuple(sorted(p.stem for p in directory.glob(f"*{_SUFFIX}"))) if directory.is_dir() else ()


def resolve_config_path(path: str | Path) -> Path:
    """The config file that ``--config path`` means: an existing file, else the packaged preset of that name.

    A bare name (``quick``, or ``quick.yaml`` with no directory part) that is not a file in the working
    directory names a preset; a file of that name in the working directory wins.

    Raises
    ------
    ConfigError
        ``path`` is neither an existing file nor a preset (the message lists the presets).
    """
    given = Path(path)
    if given.exists() or given.parent != Path("."):
        return given
    name = given.name.removesuffix(_SUFFIX)
    if name in preset_names():
        return preset_dir() / f"{name}{_SUFFIX}"
    presets = ", ".join(preset_names()) or "none installed"
    raise ConfigError(f"{path}: config file not found, and not a packaged preset ({presets}); "
                      "check the --config path or name a preset, e.g. --config quick")
