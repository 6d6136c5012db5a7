"""Configuration: YAML files to frozen dataclasses, one validation path.

``load_config(path, overrides=...)`` reads a YAML file (or the defaults) into a frozen :class:`Config`;
unknown or mistyped keys are errors naming the file and the key.

Where things live (the rule: **one module per config section**, named after the section):

=============  ==================================================================================
``paths``      :mod:`.paths` (``PathsConfig``)
``labels``     :mod:`.labels` (``LabelsConfig``)
``simulate``   :mod:`.simulate` (``SimulateConfig``)
``prep``       :mod:`.prep` (``PrepConfig``)
``catalog``    :mod:`.catalog` (``CatalogConfig``)
``spectra``,   :mod:`.deep` (``SpectraConfig``, ``ImagesConfig``): the two deep-track sections share
``images``     their trainer settings (``DeepTrainConfig``), so they share the module of their stage
``fusion``     :mod:`.fusion` (``FusionConfig``)
``compare``    :mod:`.compare` (``CompareConfig``)
``explain``    :mod:`.explain` (``ExplainConfig``)
``report``     :mod:`.report` (``ReportConfig``)
``fetch``      :mod:`.fetch` (``FetchConfig``)
``tracking``   :mod:`.tracking` (``TrackingConfig``)
=============  ==================================================================================

:mod:`.core` holds the root :class:`Config` (``seed``, ``seeds`` and one field per section) and the loading,
override and validation machinery; :mod:`.rules` the one validation path (every section's
``validate()`` hands its ``(field, ok, rule)`` checks to :func:`~agnbench.config.rules.check_rules`);
:mod:`.choices` every list of choices, spelled once (config validation, argparse ``choices=`` and the
code all read it). The package is a leaf: it imports nothing of the pipeline, only
:mod:`agnbench.errors` and :mod:`agnbench.fileio`.
"""

from agnbench.config.core import (
    CatalogConfig,
    CompareConfig,
    Config,
    ExplainConfig,
    FetchConfig,
    ImagesConfig,
    LabelsConfig,
    PathsConfig,
    PrepConfig,
    ReportConfig,
    SimulateConfig,
    SpectraConfig,
    TrackingConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    replace_in,
)

__all__ = [
    "CatalogConfig", "CompareConfig", "Config", "ExplainConfig", "FetchConfig", "ImagesConfig", "LabelsConfig",
    "PathsConfig", "PrepConfig", "ReportConfig", "SimulateConfig", "SpectraConfig", "TrackingConfig",
    "apply_overrides", "config_from_dict", "config_to_dict", "dump_config", "load_config", "replace_in",
]
