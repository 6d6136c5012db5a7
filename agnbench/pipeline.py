"""``agnbench run``: every stage from one config, skipping stages whose output already exists.

simulate -> prep -> catalog (xgboost, lightgbm, logreg) -> spectra -> images -> compare ->
explain (each run, then across tracks) -> report. Each stage is resumable: a finished stage leaves
a complete output (written atomically; deep runs checkpoint every epoch), so an interrupted run
continues from the first unfinished stage. A stage downstream of one that ran again is redone.
Whether a stage's output is complete is asked of :mod:`agnbench.contracts`, which owns every format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from agnbench.config.core import Config
from agnbench.contracts.comparison import (comparison_complete, comparison_paths, crosstrack_complete, read_table,
                                           report_complete)
from agnbench.contracts.run_dir import attributions_complete, attributions_dir, has_model_meta, is_complete
from agnbench.contracts.store import store_complete, survey_complete, survey_has_catalog
from agnbench.config.choices import RUN_CATALOG_MODELS as CATALOG_MODELS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageResult:
    """What one stage did: ``status`` is ``done`` (ran now) or ``skipped`` (output existed)."""

    name: str
    status: str
    output: Path
    seconds: float


def run_all(cfg: Config, *, progress: bool = True) -> list[StageResult]:
    """Run the implemented stages for ``cfg``; return one result per stage.

    A stage whose output is complete (:func:`~agnbench.contracts.store.survey_complete`,
    :func:`~agnbench.contracts.store.store_complete`, ...) is skipped.
    """
    from agnbench.data_prep.mock.simulate import simulate
    from agnbench.data_prep.ingest.store import prep

    raw, data = Path(cfg.paths.raw), Path(cfg.paths.data)
    stages: list[tuple[str, Path, Callable[[Path], bool], Callable[[], object]]] = [
        ("simulate", raw, survey_complete, lambda: simulate(cfg, raw, progress=progress)),
        ("prep", data, store_complete, lambda: prep(cfg, source="mpajhu", raw=raw, out=data, progress=progress)),
    ]
    results = []
    for name, output, complete, action in stages:
        start = time.perf_counter()
        if complete(output):
            log.info("%s: %s is complete; skipping (delete it to redo this stage)", name, output)
            results.append(StageResult(name, "skipped", output, 0.0))
            continue
        if name == "simulate" and (store_complete(data) or survey_has_catalog(raw)):
            log.info("simulate: %s", "the store exists" if store_complete(data)
                     else f"{raw} holds survey files (e.g. from agnbench fetch); no mock survey is made")
            results.append(StageResult(name, "skipped", raw, 0.0))
            continue
        action()
        results.append(StageResult(name, "done", output, time.perf_counter() - start))
    results += _catalog_stages(cfg, data)
    results += _deep_stages(cfg, data, progress=progress)
    trained = [r for r in results if r.name.startswith(("catalog", "train"))]
    compared = _compare_stage(cfg, [r.output for r in trained], stale=any(r.status == "done" for r in trained),
                              progress=progress)
    results.append(compared)
    explained = [_explain_stage(cfg, r.output, data, progress=progress) for r in trained]
    results += explained
    cross = _crosstrack_stage(trained, compared, data, stale=compared.status == "done")
    results.append(cross)
    upstream = compared.status == "done" or any(r.status == "done" for r in [*explained, cross])
    results.append(_report_stage(cfg, compared.output, data, stale=upstream, progress=progress))
    return results


def _explain_stage(cfg: Config, run: Path, data: Path, *, progress: bool) -> StageResult:
    """``agnbench explain`` of one run, unless its ``attributions/`` is complete."""
    from agnbench.interpretability.explain import explain_run

    name = f"explain {run.name.rsplit('-s', 1)[0]}"
    if attributions_complete(run):
        return StageResult(name, "skipped", attributions_dir(run), 0.0)
    start = time.perf_counter()
    out = explain_run(cfg, run=run, data=data, progress=progress)
    return StageResult(name, "done", out, time.perf_counter() - start)


def _crosstrack_stage(trained: list[StageResult], compared: StageResult, data: Path, *, stale: bool) -> StageResult:
    """Cross-track attribution comparison of one run per track into ``<comparison>/crosstrack``."""
    from agnbench.interpretability.crosstrack import explain_compare

    out = comparison_paths(compared.output).crosstrack_dir
    if crosstrack_complete(compared.output) and not stale:
        return StageResult("explain tracks", "skipped", out, 0.0)
    per_track: dict[str, Path] = {}
    for r in trained:  # the first run of each track: xgboost for the catalog track
        kind, what = r.name.split(maxsplit=1)
        per_track.setdefault("catalog" if kind == "catalog" else what, r.output)
    start = time.perf_counter()
    explain_compare(runs=list(per_track.values()), out=out, data=data, overwrite=True)
    return StageResult("explain tracks", "done", out, time.perf_counter() - start)


def _report_stage(cfg: Config, comparison: Path, data: Path, *, stale: bool, progress: bool) -> StageResult:
    """``agnbench report`` of the comparison; redone whenever anything upstream ran in this invocation."""
    from agnbench.reports.report import build_report

    out = comparison_paths(comparison).report_dir
    if report_complete(comparison) and not stale:
        return StageResult("report", "skipped", out, 0.0)
    start = time.perf_counter()
    build_report(cfg, comparison=comparison, data=data, overwrite=True, progress=progress)
    return StageResult("report", "done", out, time.perf_counter() - start)


def _compare_stage(cfg: Config, runs: list[Path], *, stale: bool, progress: bool) -> StageResult:
    """Every run of this pipeline compared into ``paths.comparisons/<store name>-s<seed>``.

    An existing comparison is kept unless a run was (re)trained in this invocation (``stale``); then it is
    replaced atomically once the new one is complete.
    """
    from agnbench.bootstrap.compare import compare

    out = Path(cfg.paths.comparisons) / f"{Path(cfg.paths.data).name}-s{cfg.seed}"
    if comparison_complete(out) and not stale:
        log.info("compare: %s is complete; skipping (delete it to redo this stage)", out)
        return StageResult("compare", "skipped", out, 0.0)
    start = time.perf_counter()
    compare(cfg, runs=runs, out=out, overwrite=stale, progress=progress)
    return StageResult("compare", "done", out, time.perf_counter() - start)


def _catalog_stages(cfg: Config, data: Path) -> list[StageResult]:
    """One catalog run per model, named ``catalog-<model>-s<seed>`` under paths.runs."""
    from agnbench.baselines.train_catalog import train_catalog

    out = []
    runs_dir = Path(cfg.paths.runs)
    for model in CATALOG_MODELS:
        name = f"catalog-{model}-s{cfg.seed}"
        run = runs_dir / name
        if is_complete(run):
            out.append(StageResult(f"catalog {model}", "skipped", run, 0.0))
            continue
        if run.exists():  # interrupted earlier: keep it, out of the way
            aside = run.with_name(f"{name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
            run.rename(aside)
            log.warning("%s was incomplete; moved to %s and training again", run, aside)
        start = time.perf_counter()
        model_cfg = replace(cfg, catalog=replace(cfg.catalog, model=model))
        train_catalog(model_cfg, data=data, runs_dir=runs_dir, name=name)
        out.append(StageResult(f"catalog {model}", "done", run, time.perf_counter() - start))
    return out


def _deep_stages(cfg: Config, data: Path, *, progress: bool) -> list[StageResult]:
    """The spectra and images runs, named ``<track>-<model>-s<seed>``; an interrupted one resumes from its checkpoint."""
    from agnbench.deep.train_deep import MODEL_NAMES, train_deep

    out = []
    runs_dir = Path(cfg.paths.runs)
    for track, model in MODEL_NAMES.items():
        run = runs_dir / f"{track}-{model}-s{cfg.seed}"
        if is_complete(run):
            out.append(StageResult(f"train {track}", "skipped", run, 0.0))
            continue
        start = time.perf_counter()
        if has_model_meta(run):
            log.info("%s was interrupted; resuming it from its last checkpoint", run)
            train_deep(cfg, track=track, data=data, runs_dir=runs_dir, resume=run, progress=progress)
        else:
            if run.exists():  # created but never started training: keep it, out of the way
                aside = run.with_name(f"{run.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
                run.rename(aside)
                log.warning("%s was incomplete; moved to %s and training again", run, aside)
            train_deep(cfg, track=track, data=data, runs_dir=runs_dir, name=run.name, progress=progress)
        out.append(StageResult(f"train {track}", "done", run, time.perf_counter() - start))
    return out


def summary(results: list[StageResult]) -> str:
    """Human-readable table of stages and times, then the headline results if the comparison exists."""
    width = max(18, *(len(r.name) + 2 for r in results))
    lines = [f"{'stage':<{width}}{'status':<10}{'seconds':>8}  output"]
    lines += [f"{r.name:<{width}}{r.status:<10}{r.seconds:>8.1f}  {r.output}" for r in results]
    lines.append(f"{'total':<{width}}{'':<10}{sum(r.seconds for r in results):>8.1f}")
    compared = next((r.output for r in results if r.name == "compare"), None)
    if compared is not None and comparison_paths(compared).summary.exists():
        from agnbench.reports.tables import headline_display, headline_table, to_markdown

        head = headline_table(read_table(compared, "summary"), metrics=("roc_auc", "balanced_accuracy", "ece"))
        lines += ["", f"results ({compared.name}; estimate [bootstrap interval], see the report):",
                  to_markdown(headline_display(head))]
    return "\n".join(lines)
