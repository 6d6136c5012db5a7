"""``agnbench run``: every stage from one config, skipping stages whose output already exists.

Stages run in order and each is resumable: a finished stage leaves a complete output directory
(written atomically), so an interrupted run continues from the first unfinished stage. Stages
not yet implemented in this version are listed, not faked.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from agnbench.config import Config

log = logging.getLogger(__name__)

#: Stages of the full pipeline that later versions add, in order (DESIGN.md).
PENDING_STAGES = ("prep", "train catalog", "train spectra", "train images", "compare", "explain", "report")


@dataclass(frozen=True)
class StageResult:
    """What one stage did: ``status`` is ``done`` (ran now) or ``skipped`` (output existed)."""

    name: str
    status: str
    output: Path
    seconds: float


def run_all(cfg: Config, *, progress: bool = True) -> list[StageResult]:
    """Run the implemented stages for ``cfg``; return one result per stage."""
    from agnbench.data_prep.simulate import simulate

    results = []
    raw = Path(cfg.paths.raw)
    start = time.perf_counter()
    if (raw / "manifest.json").exists():
        log.info("simulate: %s already holds a survey; skipping (delete it to re-simulate)", raw)
        results.append(StageResult("simulate", "skipped", raw, 0.0))
    else:
        simulate(cfg, raw, progress=progress)
        results.append(StageResult("simulate", "done", raw, time.perf_counter() - start))
    return results


def summary(results: list[StageResult]) -> str:
    """Human-readable table of stages, times and what is not available yet."""
    lines = [f"{'stage':<16}{'status':<10}{'seconds':>8}  output"]
    lines += [f"{r.name:<16}{r.status:<10}{r.seconds:>8.1f}  {r.output}" for r in results]
    lines.append("not yet available in this version: " + ", ".join(PENDING_STAGES))
    return "\n".join(lines)
