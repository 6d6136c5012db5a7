"""Which stages of ``agnbench run`` were made with another config than the current one.

Each stage's output already records the config that produced it; nothing new is written for this:

========================  ==============================================  =====================================
stage                     record                                          sections compared
========================  ==============================================  =====================================
simulate                  the survey's ``config.yaml``                    seed, simulate
prep                      the store's ``config.yaml``                     seed, labels, prep
catalog <model>           the run's ``config.yaml``                       seed, labels, prep, catalog
train spectra|images      the run's ``config.yaml`` (finished or resumable) seed, labels, prep, the track
fusion [without <track>]  the fusion run's ``config.yaml``                seed, fusion (but ``fusion.members``)
compare                   ``inputs.yaml`` (``seed``, ``compare``)         seed, compare
explain <run>             ``attributions/.agnbench-output.json`` config   seed, explain
report                    ``report/.agnbench-output.json`` config         seed, report
========================  ==============================================  =====================================

Settings in :data:`agnbench.config.provenance.RUNTIME_ONLY` (workers, threads, device) and ``paths`` never
count. An output whose record is missing or unreadable counts as changed. A training run is checked against
the config it is trained with (its own seed: ``seed``, ``seed + 1``, ... for the ``seeds`` seeds); ``seeds``
itself is no stage's setting: changing it adds or drops runs (and their explain stages), and a comparison
whose runs are not the current ones is redone (:func:`compared_runs`). The explained runs
(:func:`explained_runs`) are the training runs and each seed's full fusion; a fusion refitted because one of its
members was trained again is a new run directory, so its attributions are made again too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agnbench.config.core import Config
from agnbench.config.provenance import (COMPARE_SECTIONS, EXPLAIN_SECTIONS, FUSION_SECTIONS, PREP_SECTIONS,
                                        REPORT_SECTIONS, SIMULATE_SECTIONS, config_changes, describe_changes)
from agnbench.contracts.comparison import comparison_complete, comparison_paths, read_inputs, report_complete
from agnbench.contracts.run_dir import (attributions_complete, attributions_dir, has_model_meta, is_complete,
                                        read_run_config)
from agnbench.contracts.store import MOCK_SURVEY_KIND, read_survey_manifest, store_complete, survey_complete
from agnbench.config.choices import DEEP_MODEL_NAMES, FUSION_STACKERS
from agnbench.config.choices import RUN_CATALOG_MODELS as CATALOG_MODELS
from agnbench.outputs import read_marker

_NOT_RECORDED = [("config", "not recorded", "the current config")]
#: The stacker whose logit splits exactly into one additive term per modality (``agnbench explain FUSION_RUN``
#: writes modality shares for it; a ``gbm`` stacker has no additive coefficients and is not explained).
_ADDITIVE_STACKER = FUSION_STACKERS[0]


@dataclass(frozen=True)
class StaleStage:
    """A stage whose output was made with other settings: ``changes`` are (dotted key, recorded, current)."""

    stage: str
    output: Path
    changes: list[tuple[str, Any, Any]]

    def describe(self) -> str:
        """``<stage>: <output> was made with other settings (key old -> new, ...)``."""
        return f"{self.stage}: {self.output} was made with other settings ({describe_changes(self.changes)})"


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the pipeline: ``stage`` (``catalog xgboost``, ``train spectra``; `` s<seed>`` appended
    when ``seeds`` > 1), ``kind`` (``catalog`` or ``train``), ``what`` (the catalog model or the deep track),
    its ``seed`` and its directory ``path`` (``paths.runs/<track>-<model>-s<seed>``)."""

    stage: str
    kind: str
    what: str
    seed: int
    path: Path

    def config(self, cfg: Config) -> Config:
        """``cfg`` as this run is trained with: its seed (and, for the catalog track, its model)."""
        seeded = replace(cfg, seed=self.seed)
        return replace(seeded, catalog=replace(cfg.catalog, model=self.what)) if self.kind == "catalog" else seeded


def training_seeds(cfg: Config) -> list[int]:
    """The seeds every model is trained with: ``seed``, ``seed + 1``, ... (``seeds`` of them)."""
    return [cfg.seed + i for i in range(cfg.seeds)]


def planned_runs(cfg: Config) -> list[PlannedRun]:
    """The pipeline's training runs in stage order: each catalog model, then each deep track, every seed of each."""
    runs, seeds = Path(cfg.paths.runs), training_seeds(cfg)
    tag = (lambda s: f" s{s}") if len(seeds) > 1 else (lambda s: "")
    out = [PlannedRun(f"catalog {m}{tag(s)}", "catalog", m, s, runs / f"catalog-{m}-s{s}")
           for m in CATALOG_MODELS for s in seeds]
    out += [PlannedRun(f"train {t}{tag(s)}", "train", t, s, runs / f"{t}-{m}-s{s}")
            for t, m in DEEP_MODEL_NAMES.items() for s in seeds]
    return out


@dataclass(frozen=True)
class PlannedFusion:
    """One fusion run of the pipeline: ``stage`` (``fusion``, ``fusion without <track>``; `` s<seed>`` appended when
    ``seeds`` > 1), its ``seed``, the planned training runs it fuses (``members``), the track it leaves out (None for
    the full fusion) and its directory ``path`` (``paths.runs/fusion-stack-<stacker>-s<seed>[-without-<track>]``)."""

    stage: str
    seed: int
    members: tuple[PlannedRun, ...]
    leave_out: str | None
    path: Path


def planned_fusions(cfg: Config) -> list[PlannedFusion]:
    """The pipeline's fusion runs (none with ``fusion.enabled: false``): per seed, the fusion of one run per track
    (the ``catalog.model`` catalog run, spectra, images) and, with three or more members, each leave-one-track-out
    fusion."""
    if not cfg.fusion.enabled:
        return []
    seeds = training_seeds(cfg)
    tag = (lambda s: f" s{s}") if len(seeds) > 1 else (lambda s: "")
    out = []
    for s in seeds:
        members = tuple(p for p in planned_runs(cfg)
                        if p.seed == s and (p.kind == "train" or p.what == cfg.catalog.model))
        base = Path(cfg.paths.runs) / f"fusion-stack-{cfg.fusion.stacker}-s{s}"
        out.append(PlannedFusion(f"fusion{tag(s)}", s, members, None, base))
        if len(members) >= 3:
            for p in members:
                track = "catalog" if p.kind == "catalog" else p.what
                out.append(PlannedFusion(f"fusion without {track}{tag(s)}", s,
                                         tuple(m for m in members if m is not p), track,
                                         base.with_name(f"{base.name}-without-{track}")))
    return out


def explained_fusions(cfg: Config) -> list[PlannedFusion]:
    """The fusions ``agnbench run`` explains (modality shares, for the report's "What each modality adds"): each
    seed's full fusion (``leave_out`` None); none when the stacker is not additive (``fusion.stacker: gbm``).
    Leave-one-out fusions are not explained."""
    if cfg.fusion.stacker != _ADDITIVE_STACKER:
        return []
    return [f for f in planned_fusions(cfg) if f.leave_out is None]


def explained_runs(cfg: Config) -> list[Path]:
    """Every run directory ``agnbench run`` explains, in stage order: the training runs, then the explained
    fusions (:func:`explained_fusions`)."""
    return [*(p.path for p in planned_runs(cfg)), *(f.path for f in explained_fusions(cfg))]


def run_names(cfg: Config) -> dict[str, Path]:
    """The pipeline's run directories by stage name (``catalog xgboost``, ..., ``train spectra``, ...)."""
    return {p.stage: p.path for p in planned_runs(cfg)}


def comparison_dir(cfg: Config) -> Path:
    """``paths.comparisons/<store name>-s<seed>``: the pipeline's comparison."""
    return Path(cfg.paths.comparisons) / f"{Path(cfg.paths.data).name}-s{cfg.seed}"


def explain_name(run: Path, *, seeds: int = 1) -> str:
    """The stage name of ``agnbench explain`` of ``run``: ``explain catalog-xgboost``, ``explain
    fusion-stack-logreg`` (``explain catalog-xgboost-s0`` when the pipeline trains ``seeds`` > 1 seeds)."""
    return f"explain {run.name if seeds > 1 else run.name.rsplit('-s', 1)[0]}"


def compared_runs(comparison: Path) -> set[str] | None:
    """The run directory names a comparison's ``inputs.yaml`` lists (None if unreadable)."""
    try:
        inputs = read_inputs(comparison)
    except (OSError, ValueError):
        return None
    runs = inputs.get("runs") if isinstance(inputs, dict) else None
    return {Path(str(r.get("path", ""))).name for r in runs if isinstance(r, dict)} if isinstance(runs, list) else None


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
    planned = planned_runs(cfg)
    for p in planned:
        section = "catalog" if p.kind == "catalog" else p.what
        if is_complete(p.path) or p.kind == "train" and has_model_meta(p.path):  # a deep run resumes: its config holds
            found.append(_check(p.stage, p.path, read_run_config(p.path), p.config(cfg), (*PREP_SECTIONS, section)))
    for f in planned_fusions(cfg):
        if is_complete(f.path):
            recorded = read_run_config(f.path)
            current = replace(cfg, seed=f.seed)
            if isinstance(recorded, dict) and isinstance(recorded.get("fusion"), dict):  # members: checked upstream
                current = replace(current, fusion=replace(cfg.fusion, members=tuple(recorded["fusion"].get("members")
                                                                                     or ())))
            found.append(_check(f.stage, f.path, recorded, current, FUSION_SECTIONS))
    comparison = comparison_dir(cfg)
    if comparison_complete(comparison):
        try:
            inputs = read_inputs(comparison)
        except (OSError, ValueError):
            inputs = None
        recorded = {"seed": inputs.get("seed"), "compare": inputs.get("compare")} if isinstance(inputs, dict) \
            and "compare" in inputs else None
        found.append(_check("compare", comparison, recorded, cfg, COMPARE_SECTIONS))
    for run in explained_runs(cfg):
        if attributions_complete(run):
            found.append(_check(explain_name(run, seeds=cfg.seeds), attributions_dir(run),
                                _marker_config(attributions_dir(run)), cfg, EXPLAIN_SECTIONS))
    if report_complete(comparison):
        report = comparison_paths(comparison).report_dir
        found.append(_check("report", report, _marker_config(report), cfg, REPORT_SECTIONS))
    return [s for s in found if s is not None]


def _marker_config(directory: Path) -> dict | None:
    marker = read_marker(directory)
    config = marker.get("config") if marker else None
    return config if isinstance(config, dict) else None
