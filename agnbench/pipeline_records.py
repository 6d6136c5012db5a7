"""Which stages of ``agnbench run`` were made with another config than the current one.

Each stage's output already records the config that produced it; nothing new is written for this:

========================  ==============================================  =====================================
stage                     record                                          sections compared
========================  ==============================================  =====================================
simulate                  the survey's ``config.yaml``                    seed, simulate
prep                      the store's ``config.yaml``                     seed, labels, prep
catalog <model>           the run's ``config.yaml``                       seed, labels, prep, catalog
train spectra|images      the run's ``config.yaml`` (finished or resumable) seed, labels, prep, the track
compare                   ``inputs.yaml`` (``seed``, ``compare``)         seed, compare
explain <run>             ``attributions/.agnbench-output.json`` config   seed, explain
report                    ``report/.agnbench-output.json`` config         seed, report
========================  ==============================================  =====================================

Settings in :data:`agnbench.config.provenance.RUNTIME_ONLY` (workers, threads, device) and ``paths`` never
count. An output whose record is missing or unreadable counts as changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agnbench.config.core import Config
from agnbench.config.provenance import (COMPARE_SECTIONS, EXPLAIN_SECTIONS, PREP_SECTIONS, REPORT_SECTIONS,
                                        SIMULATE_SECTIONS, config_changes, describe_changes)
from agnbench.contracts.comparison import comparison_complete, comparison_paths, read_inputs, report_complete
from agnbench.contracts.run_dir import (attributions_complete, attributions_dir, has_model_meta, is_complete,
                                        read_run_config)
from agnbench.contracts.store import MOCK_SURVEY_KIND, read_survey_manifest, store_complete, survey_complete
from agnbench.config.choices import DEEP_MODEL_NAMES
from agnbench.config.choices import RUN_CATALOG_MODELS as CATALOG_MODELS
from agnbench.outputs import read_marker

_NOT_RECORDED = [("config", "not recorded", "the current config")]


@dataclass(frozen=True)
class StaleStage:
    """A stage whose output was made with other settings: ``changes`` are (dotted key, recorded, current)."""

    stage: str
    output: Path
    changes: list[tuple[str, Any, Any]]

    def describe(self) -> str:
        """``<stage>: <output> was made with other settings (key old -> new, ...)``."""
        return f"{self.stage}: {self.output} was made with other settings ({describe_changes(self.changes)})"


def run_names(cfg: Config) -> dict[str, Path]:
    """The pipeline's run directories by stage name (``catalog xgboost``, ..., ``train spectra``, ...)."""
    runs = Path(cfg.paths.runs)
    out = {f"catalog {m}": runs / f"catalog-{m}-s{cfg.seed}" for m in CATALOG_MODELS}
    out.update({f"train {t}": runs / f"{t}-{m}-s{cfg.seed}" for t, m in DEEP_MODEL_NAMES.items()})
    return out


def comparison_dir(cfg: Config) -> Path:
    """``paths.comparisons/<store name>-s<seed>``: the pipeline's comparison."""
    return Path(cfg.paths.comparisons) / f"{Path(cfg.paths.data).name}-s{cfg.seed}"


def explain_name(run: Path) -> str:
    """The stage name of ``agnbench explain`` of ``run`` (``explain catalog-xgboost``)."""
    return f"explain {run.name.rsplit('-s', 1)[0]}"


def _check(stage: str, output: Path, recorded: dict | None, current: Config, sections: tuple[str, ...]
           ) -> StaleStage | None:
    changes = _NOT_RECORDED if recorded is None else config_changes(recorded, current, sections)
    return StaleStage(stage, output, changes) if changes else None


def stale_stages(cfg: Config) -> list[StaleStage]:
    """Every existing output of the pipeline for ``cfg`` that was made with other science settings, in stage order."""
    raw, data = Path(cfg.paths.raw), Path(cfg.paths.data)
    found: list[StaleStage | None] = []
    if survey_complete(raw) and read_survey_manifest(raw).get("kind") == MOCK_SURVEY_KIND:
        found.append(_check("simulate", raw, read_run_config(raw), cfg, SIMULATE_SECTIONS))
    if store_complete(data):
        found.append(_check("prep", data, read_run_config(data), cfg, PREP_SECTIONS))
    runs = run_names(cfg)
    for stage, run in runs.items():
        kind, what = stage.split()
        if kind == "catalog":
            if is_complete(run):
                model_cfg = replace(cfg, catalog=replace(cfg.catalog, model=what))
                found.append(_check(stage, run, read_run_config(run), model_cfg, (*PREP_SECTIONS, "catalog")))
        elif is_complete(run) or has_model_meta(run):  # a deep run is resumed: its config must still hold
            found.append(_check(stage, run, read_run_config(run), cfg, (*PREP_SECTIONS, what)))
    comparison = comparison_dir(cfg)
    if comparison_complete(comparison):
        try:
            inputs = read_inputs(comparison)
        except (OSError, ValueError):
            inputs = None
        recorded = {"seed": inputs.get("seed"), "compare": inputs.get("compare")} if isinstance(inputs, dict) \
            and "compare" in inputs else None
        found.append(_check("compare", comparison, recorded, cfg, COMPARE_SECTIONS))
    for run in runs.values():
        if attributions_complete(run):
            found.append(_check(explain_name(run), attributions_dir(run), _marker_config(attributions_dir(run)),
                                cfg, EXPLAIN_SECTIONS))
    if report_complete(comparison):
        report = comparison_paths(comparison).report_dir
        found.append(_check("report", report, _marker_config(report), cfg, REPORT_SECTIONS))
    return [s for s in found if s is not None]


def _marker_config(directory: Path) -> dict | None:
    marker = read_marker(directory)
    config = marker.get("config") if marker else None
    return config if isinstance(config, dict) else None
