"""``agnbench run``: every stage from one config, skipping stages whose output already exists.

simulate -> prep -> catalog (xgboost, lightgbm, logreg) -> spectra -> images, each model with ``seeds`` training
seeds (``seed``, ``seed + 1``, ...) -> fusion (per seed: the fusion of the tracks and its leave-one-track-out
fusions; ``fusion.enabled``) -> compare (seed groups combined: intervals over objects x seeds) ->
explain (each training run and each seed's full fusion, whose modality shares the report shows; then across
tracks) -> report. Each stage is resumable: a finished stage leaves a complete output (written atomically; deep
runs checkpoint every epoch), so an interrupted run continues from the first unfinished stage. A stage downstream
of one that ran again is redone. Whether a stage's output is complete is asked of :mod:`agnbench.contracts`, which
owns every format; whether it was made with the current config, of :mod:`agnbench.pipeline_records` (a changed one
is refused, or redone with ``overwrite``). The four top-level paths are locked for the whole run
(:mod:`agnbench.outputs`).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from agnbench.config.core import Config
from agnbench.contracts.comparison import (comparison_complete, comparison_paths, crosstrack_complete, read_inputs,
                                           read_table, report_complete)
from agnbench.contracts.run_dir import attributions_complete, attributions_dir, has_model_meta, is_complete
from agnbench.contracts.store import store_complete, survey_complete, survey_has_catalog
from agnbench.errors import AgnbenchError
from agnbench.outputs import clean_leftovers, output_lock
from agnbench.pipeline_records import (compared_runs, comparison_dir, explain_name, explained_fusions,
                                       planned_fusions, planned_runs, run_names, stale_stages)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageResult:
    """What one stage did: ``status`` is ``done`` (ran now), ``skipped`` (output existed) or ``not fitted`` (a fusion
    that could not be fitted, left out of the comparison)."""

    name: str
    status: str
    output: Path
    seconds: float


def run_all(cfg: Config, *, overwrite: bool = False, progress: bool = True) -> list[StageResult]:
    """Run the implemented stages for ``cfg``; return one result per stage.

    ``paths.raw``, ``paths.data``, ``paths.runs`` and ``paths.comparisons`` are locked for the whole run
    (:func:`agnbench.outputs.output_lock`: a second ``agnbench run`` on them is refused, naming this one's
    PID). A stage whose output is complete (:func:`~agnbench.contracts.store.survey_complete`,
    :func:`~agnbench.contracts.store.store_complete`, ...) and was made with the current config is skipped.
    One made with other science settings (:func:`agnbench.pipeline_records.stale_stages`) is never reused:
    without ``overwrite`` the run is refused, naming the stage and the changed keys; with it, that stage
    and every stage after it are redone (each output replaced only once the new one is complete).

    Raises
    ------
    AgnbenchError
        If another command holds one of the paths, or a stage's recorded config differs and not ``overwrite``.
    """
    with contextlib.ExitStack() as held:
        for directory in (cfg.paths.raw, cfg.paths.data, cfg.paths.runs, cfg.paths.comparisons):
            held.enter_context(output_lock(directory))
        stale = stale_stages(cfg)
        if stale and not overwrite:
            later = f" ({len(stale) - 1} later stage(s) changed too)" if len(stale) > 1 else ""
            raise AgnbenchError(f"{stale[0].describe()}{later}; its result is not reused: pass --overwrite to redo "
                                "it and every stage after it, or choose other paths (paths.raw, paths.data, "
                                "paths.runs, paths.comparisons)")
        for s in stale:
            log.warning("%s: redoing it and every stage after it (--overwrite)", s.describe())
        return _run_stages(cfg, redo={s.stage for s in stale}, progress=progress)


def _run_stages(cfg: Config, *, redo: set[str], progress: bool) -> list[StageResult]:
    """Every stage; those named in ``redo`` and those after a stage that ran are redone."""
    from agnbench.data_prep.mock.simulate import simulate
    from agnbench.data_prep.ingest.store import prep

    raw, data = Path(cfg.paths.raw), Path(cfg.paths.data)
    results = []
    start = time.perf_counter()
    if "simulate" in redo or not survey_complete(raw) and not store_complete(data) and not survey_has_catalog(raw):
        simulate(cfg, raw, overwrite="simulate" in redo, progress=progress)
        results.append(StageResult("simulate", "done", raw, time.perf_counter() - start))
    else:
        if not survey_complete(raw):
            log.info("simulate: %s", "the store exists" if store_complete(data)
                     else f"{raw} holds survey files (e.g. from agnbench fetch); no mock survey is made")
        else:
            log.info("simulate: %s is complete; skipping (delete it to redo this stage)", raw)
        results.append(StageResult("simulate", "skipped", raw, 0.0))
    start = time.perf_counter()
    upstream = results[-1].status == "done"
    if "prep" in redo or upstream or not store_complete(data):
        prep(cfg, source="mpajhu", raw=raw, out=data, overwrite=("prep" in redo or upstream) and data.exists(),
             progress=progress)
        results.append(StageResult("prep", "done", data, time.perf_counter() - start))
    else:
        log.info("prep: %s is complete; skipping (delete it to redo this stage)", data)
        results.append(StageResult("prep", "skipped", data, 0.0))
    stale_runs = {name for name in run_names(cfg) if name in redo or results[-1].status == "done"}
    results += _catalog_stages(cfg, data, redo=stale_runs)
    results += _deep_stages(cfg, data, redo=stale_runs, progress=progress)
    trained = [r for r in results if r.name.startswith(("catalog", "train"))]
    results += _fusion_stages(cfg, trained, redo=redo)
    fused = [r for r in results if r.name.startswith("fusion") and r.status != "not fitted"]
    recorded = compared_runs(comparison_dir(cfg))
    changed = recorded is not None and recorded != {r.output.name for r in [*trained, *fused]}
    if changed:
        log.info("compare: %s compared other runs (seeds or fusion changed?); redoing it", comparison_dir(cfg))
    compared = _compare_stage(cfg, [r.output for r in [*trained, *fused]], progress=progress,
                              stale="compare" in redo or changed or any(r.status == "done" for r in [*trained, *fused]))
    results.append(compared)
    shares = {f.path for f in explained_fusions(cfg)}  # each seed's full fusion: modality shares for the report
    explained = [_explain_stage(cfg, r.output, data, redo=explain_name(r.output, seeds=cfg.seeds) in redo,
                                progress=progress) for r in [*trained, *(r for r in fused if r.output in shares)]]
    results += explained
    cross = _crosstrack_stage(trained, compared, data, stale=compared.status == "done")
    results.append(cross)
    upstream = compared.status == "done" or any(r.status == "done" for r in [*explained, cross])
    results.append(_report_stage(cfg, compared.output, data, stale=upstream or "report" in redo, progress=progress))
    return results


def _fusion_stages(cfg: Config, trained: list[StageResult], *, redo: set[str]) -> list[StageResult]:
    """The fusion runs (:func:`~agnbench.pipeline_records.planned_fusions`): each redone when one of its members was
    (re)trained now or it is stale (a refitted fusion is a new directory: its attributions are made again). One
    that cannot be fitted (an :class:`AgnbenchError`, e.g. fewer val objects of a class than ``fusion.folds``) is
    ``not fitted``, with a warning, and left out of the comparison."""
    from agnbench.fusion.members import load_member
    from agnbench.fusion.train_fusion import train_fusion

    done = {r.output.name for r in trained if r.status == "done"}
    out = []
    for f in planned_fusions(cfg):
        again = f.stage in redo or any(m.path.name in done for m in f.members)
        if is_complete(f.path) and not again:
            out.append(StageResult(f.stage, "skipped", f.path, 0.0))
            continue
        start = time.perf_counter()
        members = [load_member(m.path) for m in f.members]
        try:
            with _replacing(f.path, redo=f.path.exists()):
                train_fusion(replace(cfg, seed=f.seed), members=members, runs_dir=Path(cfg.paths.runs),
                             name=f.path.name, leave_out=f.leave_out)
        except AgnbenchError as exc:  # e.g. too few val objects of a class for fusion.folds: the rest still runs
            log.warning("%s: not fitted (%s); it is left out of the comparison", f.stage, exc)
            out.append(StageResult(f.stage, "not fitted", f.path, time.perf_counter() - start))
            continue
        out.append(StageResult(f.stage, "done", f.path, time.perf_counter() - start))
    return out


def _explain_stage(cfg: Config, run: Path, data: Path, *, redo: bool, progress: bool) -> StageResult:
    """``agnbench explain`` of one run (a training run, or a full fusion: its modality shares), unless its
    ``attributions/`` is complete (and not to be ``redo``ne). Every seed's run is explained with the root ``seed``
    (the same objects), so attributions compare across seeds."""
    from agnbench.interpretability.explain import explain_run

    name = explain_name(run, seeds=cfg.seeds)
    if attributions_complete(run) and not redo:
        return StageResult(name, "skipped", attributions_dir(run), 0.0)
    start = time.perf_counter()
    out = explain_run(cfg, run=run, data=data, overwrite=redo, progress=progress)
    return StageResult(name, "done", out, time.perf_counter() - start)


def _crosstrack_stage(trained: list[StageResult], compared: StageResult, data: Path, *, stale: bool) -> StageResult:
    """Cross-track attribution comparison of one run per track into ``<comparison>/crosstrack``."""
    from agnbench.interpretability.crosstrack import explain_compare

    out = comparison_paths(compared.output).crosstrack_dir
    if crosstrack_complete(compared.output) and not stale:
        return StageResult("explain tracks", "skipped", out, 0.0)
    per_track: dict[str, Path] = {}
    for r in trained:  # the first run of each track (its first seed): xgboost for the catalog track
        per_track.setdefault(r.output.name.split("-", 1)[0], r.output)
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

    out = comparison_dir(cfg)
    if comparison_complete(out) and not stale:
        log.info("compare: %s is complete; skipping (delete it to redo this stage)", out)
        return StageResult("compare", "skipped", out, 0.0)
    start = time.perf_counter()
    compare(cfg, runs=runs, out=out, overwrite=stale, progress=progress)
    return StageResult("compare", "done", out, time.perf_counter() - start)


def _catalog_stages(cfg: Config, data: Path, *, redo: set[str]) -> list[StageResult]:
    """One catalog run per model and seed, named ``catalog-<model>-s<seed>`` under paths.runs."""
    from agnbench.baselines.train_catalog import train_catalog

    out = []
    runs_dir = Path(cfg.paths.runs)
    for p in planned_runs(cfg):
        if p.kind != "catalog":
            continue
        if is_complete(p.path) and p.stage not in redo:
            out.append(StageResult(p.stage, "skipped", p.path, 0.0))
            continue
        start = time.perf_counter()
        with _replacing(p.path, redo=p.stage in redo):
            train_catalog(p.config(cfg), data=data, runs_dir=runs_dir, name=p.path.name)
        out.append(StageResult(p.stage, "done", p.path, time.perf_counter() - start))
    return out


def _deep_stages(cfg: Config, data: Path, *, redo: set[str], progress: bool) -> list[StageResult]:
    """The spectra and images runs of every seed, named ``<track>-<model>-s<seed>``; an interrupted one resumes from
    its checkpoint (its config was checked by :func:`~agnbench.pipeline_records.stale_stages`: a changed one is in
    ``redo``)."""
    from agnbench.deep.train_deep import train_deep

    out = []
    runs_dir = Path(cfg.paths.runs)
    for p in planned_runs(cfg):
        if p.kind != "train":
            continue
        run, stage = p.path, p.stage
        if is_complete(run) and stage not in redo:
            out.append(StageResult(stage, "skipped", run, 0.0))
            continue
        start = time.perf_counter()
        if has_model_meta(run) and stage not in redo:
            log.info("%s was interrupted; resuming it from its last checkpoint", run)
            train_deep(p.config(cfg), track=p.what, data=data, runs_dir=runs_dir, resume=run, progress=progress)
        else:
            with _replacing(run, redo=stage in redo):
                train_deep(p.config(cfg), track=p.what, data=data, runs_dir=runs_dir, name=run.name,
                           progress=progress)
        out.append(StageResult(stage, "done", run, time.perf_counter() - start))
    return out


@contextlib.contextmanager
def _replacing(run: Path, *, redo: bool) -> Iterator[None]:
    """Clear ``run``'s name for a new training, under its lock (refused while another command trains it).

    An interrupted run is kept out of the way as ``<name>.incomplete-<time>``. A run made with another config
    (``redo``) is moved to ``.<name>.old-<random>`` and deleted once the new run exists; if training fails
    before creating it, the old run is put back.
    """
    with output_lock(run):
        clean_leftovers(run)
        old = None
        if run.exists() and redo:
            old = run.with_name(f".{run.name}.old-{secrets.token_hex(6)}")
            run.rename(old)
        elif run.exists():
            aside = run.with_name(f"{run.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
            run.rename(aside)
            log.warning("%s was incomplete; moved to %s and training again", run, aside)
        try:
            yield
        except BaseException:
            if old is not None and not run.exists():
                old.rename(run)
            raise
        finally:
            if old is not None and old.exists():
                shutil.rmtree(old, ignore_errors=True)


def summary(results: list[StageResult], *, labels: Mapping[str, str] | None = None) -> str:
    """Human-readable table of stages and times, then the headline results if the comparison exists.

    The results table names each run or seed group as the report does (``"Fusion (catalog + spectra + images,
    mean of 3 seeds)"``; :func:`agnbench.reports.display.comparison_labels`, with ``labels`` = ``report.labels``)
    and ends with its ``run`` column: the row name of ``summary.csv`` (``fusion-stack-logreg-<hash> (mean of 3
    seeds)``), to trace it in the comparison's files.
    """
    width = max(18, *(len(r.name) + 2 for r in results))
    lines = [f"{'stage':<{width}}{'status':<10}{'seconds':>8}  output"]
    lines += [f"{r.name:<{width}}{r.status:<10}{r.seconds:>8.1f}  {r.output}" for r in results]
    lines.append(f"{'total':<{width}}{'':<10}{sum(r.seconds for r in results):>8.1f}")
    compared = next((r.output for r in results if r.name == "compare"), None)
    if compared is not None and comparison_paths(compared).summary.exists():
        from agnbench.reports.display import comparison_labels
        from agnbench.reports.tables import headline_display, headline_table, reported_runs, to_markdown

        table = read_table(compared, "summary")
        groups = read_inputs(compared).get("seed_groups")
        head = headline_table(table, metrics=("roc_auc", "balanced_accuracy", "debiased_ce"),
                              runs=reported_runs(table, groups))
        names = comparison_labels(compared, labels)
        shown = headline_display(head.assign(label=head["run"].map(lambda r: names.get(r, r))))
        shown["run"] = head["run"].to_numpy()
        what = "bootstrap interval; over objects x seeds for seed groups" if groups else "bootstrap interval"
        lines += ["", f"results ({compared.name}; estimate [{what}], see the report):", to_markdown(shown)]
    return "\n".join(lines)
