"""Configuration: YAML files to frozen dataclasses, one validation path.

``load_config(path, overrides=...)`` reads a YAML file (or the defaults) into a frozen :class:`Config`;
unknown or mistyped keys are errors naming the file and the key.
"""

from agnbench.config.core import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    replace_in,
)

__all__ = ["Config", "apply_overrides", "config_from_dict", "config_to_dict", "dump_config", "load_config", "replace_in"]
