"""``agnbench run``: every stage from one config, skipping stages whose output already exists.

Stages run in order and each is resumable: a finished stage leaves a complete output directory
(written atomically), so an interrupted run continues from the first unfinished stage. Stages
not yet implemented in this version are listed, not faked.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from agnbench.config import Config

log = logging.getLogger(__name__)

#: Stages of the full pipeline that later versions add, in order (DESIGN.md).
#: Catalog models trained by ``agnbench run`` (DESIGN: the reference points every paper table needs).
CATALOG_MODELS = ("xgboost", "lightgbm", "logreg")
PENDING_STAGES = ("explain", "report")


@dataclass(frozen=True)
class StageResult:
    """What one stage did: ``status`` is ``done`` (ran now) or ``skipped`` (output existed)."""

    name: str
    status: str
    output: Path
    seconds: float


def run_all(cfg: Config, *, progress: bool = True) -> list[StageResult]:
    """Run the implemented stages for ``cfg``; return one result per stage.

    A stage whose output directory holds a ``manifest.json`` (written last, atomically) is done.
    """
    from agnbench.data_prep.simulate import simulate
    from agnbench.data_prep.store import prep

    raw, data = Path(cfg.paths.raw), Path(cfg.paths.data)
    stages = [
        ("simulate", raw, lambda: simulate(cfg, raw, progress=progress)),
        ("prep", data, lambda: prep(cfg, source="mpajhu", raw=raw, out=data, progress=progress)),
    ]
    results = []
    for name, output, action in stages:
        start = time.perf_counter()
        if (output / "manifest.json").exists():
            log.info("%s: %s is complete; skipping (delete it to redo this stage)", name, output)
            results.append(StageResult(name, "skipped", output, 0.0))
            continue
        action()
        results.append(StageResult(name, "done", output, time.perf_counter() - start))
    results += _catalog_stages(cfg, data)
    results += _deep_stages(cfg, data, progress=progress)
    trained = [r for r in results if r.name.startswith(("catalog", "train"))]
    results.append(_compare_stage(cfg, [r.output for r in trained], stale=any(r.status == "done" for r in trained),
                                  progress=progress))
    return results


def _compare_stage(cfg: Config, runs: list[Path], *, stale: bool, progress: bool) -> StageResult:
    """Every run of this pipeline compared into ``paths.comparisons/<store name>-s<seed>``.

    An existing comparison is kept unless a run was (re)trained in this invocation (``stale``); then it is
    replaced atomically once the new one is complete.
    """
    from agnbench.bootstrap.compare import compare

    out = Path(cfg.paths.comparisons) / f"{Path(cfg.paths.data).name}-s{cfg.seed}"
    if (out / "inputs.yaml").exists() and not stale:
        log.info("compare: %s is complete; skipping (delete it to redo this stage)", out)
        return StageResult("compare", "skipped", out, 0.0)
    start = time.perf_counter()
    compare(cfg, runs=runs, out=out, overwrite=stale, progress=progress)
    return StageResult("compare", "done", out, time.perf_counter() - start)


def _run_complete(run: Path) -> bool:
    status = run / "status.json"
    return status.exists() and json.loads(status.read_text()).get("status") == "complete"


def _catalog_stages(cfg: Config, data: Path) -> list[StageResult]:
    """One catalog run per model, named ``catalog-<model>-s<seed>`` under paths.runs."""
    from agnbench.baselines.train import train_catalog

    out = []
    runs_dir = Path(cfg.paths.runs)
    for model in CATALOG_MODELS:
        name = f"catalog-{model}-s{cfg.seed}"
        run = runs_dir / name
        if _run_complete(run):
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
    from agnbench.deep.train import MODEL_NAMES, train_deep

    out = []
    runs_dir = Path(cfg.paths.runs)
    for track, model in MODEL_NAMES.items():
        run = runs_dir / f"{track}-{model}-s{cfg.seed}"
        if _run_complete(run):
            out.append(StageResult(f"train {track}", "skipped", run, 0.0))
            continue
        start = time.perf_counter()
        if (run / "model_meta.json").exists():
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
    """Human-readable table of stages, times and what is not available yet."""
    lines = [f"{'stage':<18}{'status':<10}{'seconds':>8}  output"]
    lines += [f"{r.name:<18}{r.status:<10}{r.seconds:>8.1f}  {r.output}" for r in results]
    lines.append("not yet available in this version: " + ", ".join(PENDING_STAGES))
    return "\n".join(lines)
