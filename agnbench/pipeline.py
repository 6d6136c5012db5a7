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
PENDING_STAGES = ("train catalog", "train spectra", "train images", "compare", "explain", "report")


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
    return results


def summary(results: list[StageResult]) -> str:
    """Human-readable table of stages, times and what is not available yet."""
    lines = [f"{'stage':<16}{'status':<10}{'seconds':>8}  output"]
    lines += [f"{r.name:<16}{r.status:<10}{r.seconds:>8.1f}  {r.output}" for r in results]
    lines.append("not yet available in this version: " + ", ".join(PENDING_STAGES))
    return "\n".join(lines)
