"""Each run's ``attributions/summary.json`` as tables a reader can scan, for the report's interpretability section.

``tables/attribution_facts.csv`` keeps every scalar as a ``run, quantity, value`` row (dotted keys, for scripts and
:mod:`agnbench.reports.attribution_seeds`). The report shows instead, per run and under its display name: the
ranked lists of the summary (top features, feature groups, spectral windows, ...) as tables with readable column
names and units, and the remaining scalars as one ``quantity, value`` table with readable names.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from agnbench.reports.fig_shap import feature_label

__all__ = ["attribution_display_tables", "readable_key"]

#: Keys never shown (bookkeeping, or shown elsewhere).
_HIDDEN = {"run", "track", "methods", "complete", "shape"}
#: Readable names of summary.json keys (others: underscores to spaces); ``{output}`` is SHAP's output scale.
_NAMES = {
    "shap": "SHAP", "ig": "Integrated Gradients", "mean_abs_shap": "mean |SHAP| ({output})",
    "mean_abs_group_shap": "mean |group SHAP| ({output})", "direction": "direction (Spearman of value vs SHAP)",
    "n_features": "features", "n": "objects", "max_additivity_error": "largest additivity error ({output})",
    "feature": "feature", "group": "feature group", "rank": "rank", "split": "split", "target": "explained class",
    "bpt_windows": "BPT line windows", "occlusion": "occlusion", "gradcam": "Grad-CAM", "baseline": "IG baseline",
    "steps": "steps", "top_features": "top features", "top_groups": "feature groups",
}


def readable_key(key: str, *, output: str = "log-odds") -> str:
    """``shap.max_additivity_error`` -> ``"SHAP: largest additivity error (log-odds)"``."""
    parts = [_NAMES.get(p, p.replace("_", " ")).format(output=output) for p in key.split(".") if p]
    return ": ".join(parts)


def attribution_display_tables(summary: Mapping, *, label: str, digits: int = 3) -> list[tuple[str, pd.DataFrame]]:
    """``(caption, table)`` pairs for one run's ``summary.json``: each ranked list, then the scalars.

    Parameters
    ----------
    summary : mapping
        The run's ``attributions/summary.json``.
    label : str
        The run's display name (named in every caption).
    digits : int
        Significant digits of the numbers (text cells; the CSV keeps full precision).
    """
    output = str((summary.get("shap") or {}).get("output", "log-odds"))
    lists: list[tuple[str, list]] = []
    scalars: list[tuple[str, object]] = []
    _walk(summary, "", lists, scalars)
    out = []
    for key, items in lists:
        frame = pd.DataFrame(items)
        if "feature" in frame.columns:
            frame["feature"] = frame["feature"].map(lambda f: feature_label(str(f)))
        if "rank" not in frame.columns:
            frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        frame = frame.rename(columns=lambda c: readable_key(str(c), output=output))
        out.append((f"{label}: {readable_key(key, output=output)}", _format(frame, digits)))
    if scalars:
        frame = pd.DataFrame({"quantity": [readable_key(k, output=output) for k, _ in scalars],
                              "value": [v for _, v in scalars]})
        out.append((f"{label}: attribution summary (from attributions/summary.json)", _format(frame, digits)))
    return out


def _walk(obj: Mapping, prefix: str, lists: list, scalars: list) -> None:
    for key, value in obj.items():
        if key in _HIDDEN or str(key).endswith("note"):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _walk(value, name + ".", lists, scalars)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            lists.append((name, [{k: v for k, v in item.items() if not isinstance(v, (list, dict))} for item in value]))
        elif isinstance(value, (int, float, str, bool)) and not isinstance(value, bool):
            scalars.append((name, value))
        elif isinstance(value, bool):
            scalars.append((name, "yes" if value else "no"))


def _format(frame: pd.DataFrame, digits: int) -> pd.DataFrame:
    """Floats as text with ``digits`` significant digits; NaN stays NaN (the renderer shows a dash)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return float("nan") if not np.isfinite(v) else f"{v:.{digits}g}"
        return v
    return frame.apply(lambda col: col.map(cell))
