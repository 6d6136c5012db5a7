"""What a tracked comparison logs (``agnbench compare`` with ``tracking.backends`` naming mlflow).

Metric names are ``<run>/<metric>`` (the point estimate of ``summary.csv``), ``<run>/<metric>.lo`` and
``.hi`` (its ``compare.ci`` interval), and ``primary/<run>-vs-<reference>/<metric>.delta`` (``.lo``,
``.hi``, ``.p_holm``) from ``primary.csv``; characters MLflow does not allow in a name (such as the
parentheses of a seed group's ``(mean of 3 seeds)``) become ``_``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from agnbench.contracts.comparison import read_inputs, read_table

#: What MLflow allows in a metric name: letters, digits, ``_ - . : /`` and spaces.
_NOT_ALLOWED = re.compile(r"[^\w\-. :/]")


def metric_name(*parts: str) -> str:
    """``parts`` joined by ``/``, each with the characters MLflow refuses replaced by ``_``."""
    return "/".join(_NOT_ALLOWED.sub("_", str(p)) for p in parts)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def comparison_metrics(comparison: Path) -> dict[str, float]:
    """Every estimate of ``summary.csv`` with its interval, and the primary comparison's deltas (finite values)."""
    out: dict[str, float] = {}
    for row in read_table(comparison, "summary").itertuples(index=False):
        base = metric_name(row.run, row.metric)
        for suffix, value in (("", row.estimate), (".lo", row.lo), (".hi", row.hi)):
            if _finite(value):
                out[base + suffix] = float(value)
    try:
        primary = read_table(comparison, "primary")
    except FileNotFoundError:
        return out
    for row in primary.itertuples(index=False):
        base = metric_name("primary", f"{row.run}-vs-{row.reference}", row.metric)
        for suffix, value in ((".delta", row.delta), (".lo", row.lo), (".hi", row.hi), (".p_holm", row.p_holm)):
            if _finite(value):
                out[base + suffix] = float(value)
    return out


def comparison_tags(comparison: Path) -> dict[str, str]:
    """Tags of a tracked comparison: its directory and the runs it compared (``inputs.yaml``)."""
    inputs = read_inputs(comparison)
    runs = inputs.get("runs") or []
    names = [str(r.get("name", r)) if isinstance(r, dict) else str(r) for r in runs]
    return {"agnbench.kind": "comparison", "agnbench.comparison": str(Path(comparison).resolve()),
            "agnbench.run_id": Path(comparison).name, "agnbench.runs": ",".join(names)[:5000]}
