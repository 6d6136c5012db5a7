"""Display names and colours of the compared runs: one name and one colour per run, used everywhere.

A run is shown by a name a reader understands (``"XGBoost (catalog)"``, ``"1D ResNet (spectra)"``,
``"ResNet-18 (images)"``) instead of its directory name. ``report.labels`` (run name -> display name) overrides
any of them. Runs whose default names would coincide are told apart by what differs between them: the catalog
feature set, a short hash of the config apart from the seed (:func:`seed_free_config_hash`), then the seed; a
seed group's combined row is ``"<model> (<track>, mean of K seeds)"``. :func:`display_colors` gives each run
its one colour (Okabe-Ito, then Paul Tol's bright scheme: colour-blind safe), the same in every figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agnbench.contracts.comparison import compared_run_path, read_inputs
from agnbench.contracts.predictions import find_predictions
from agnbench.contracts.run_dir import read_model_meta, read_run_config, seed_free_config_hash
from agnbench.errors import AgnbenchError

__all__ = ["MAJORITY_LABEL", "MODEL_NAMES", "PALETTE", "comparison_labels", "display_colors", "display_labels",
           "relabel"]

#: Model key (``model_meta.json`` ``model``) -> how a paper names it.
MODEL_NAMES = {"xgboost": "XGBoost", "lightgbm": "LightGBM", "logreg": "Logistic regression", "rf": "Random forest",
               "resnet1d": "1D ResNet", "resnet18": "ResNet-18"}
#: Display name of the majority-class baseline that ``agnbench compare`` adds.
MAJORITY_LABEL = "Majority class"
_MAJORITY = "majority-baseline"
#: Run colours in order: Okabe & Ito (2008) without yellow (too pale on white), then Tol's bright scheme.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377")
#: Colour of the majority-class baseline (never one of the runs').
MAJORITY_COLOR = "#7f7f7f"


def display_labels(inputs, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Run name (and seed-group row name, and ``majority-baseline``) -> display name.

    Parameters
    ----------
    inputs : ReportInputs
        The comparison (:func:`agnbench.reports.report_inputs.load_report_inputs`).
    overrides : mapping of str to str, optional
        ``report.labels``: display names chosen by the user, by run name or seed-group row name.

    Returns
    -------
    dict of str to str
        Distinct display names, in the order of ``inputs.runs``, then the seed groups, then the baseline.

    Raises
    ------
    AgnbenchError
        ``overrides`` names a run the comparison does not have, or two runs end up with the same name.
    """
    runs = list(inputs.runs)
    out = {r.name: _base_label(r) for r in runs}
    by_base: dict[str, list] = {}
    for r in runs:
        by_base.setdefault(out[r.name], []).append(r)
    for base, same_base in by_base.items():
        extra = _distinguishers(same_base)
        for r in same_base:
            if base != r.name:
                out[r.name] = base + "".join(f", {e}" for e in extra[r.name]) + ")"
    counts = pd.Series(list(out.values())).value_counts()
    for r in runs:
        if counts[out[r.name]] > 1:  # identical configs and seeds (a rerun): the run name tells them apart
            out[r.name] = (out[r.name][:-1] + f", run {r.name})") if out[r.name].endswith(")") else r.name
    by_name = {r.name: r for r in runs}
    for unit, members in (inputs.inputs.get("seed_groups") or {}).items():
        first = by_name.get(members[0]) if members else None
        if first is None:
            continue
        text, seed, mean = out[first.name], f", seed {first.seed})", f"mean of {len(members)} seeds"
        if text.endswith(seed):
            out[unit] = f"{text[:-len(seed)]}, {mean})"
        else:
            out[unit] = f"{text[:-1]}, {mean})" if text.endswith(")") else f"{text} ({mean})"
    out[_MAJORITY] = MAJORITY_LABEL
    return _apply_overrides(out, overrides or {})


@dataclass(frozen=True)
class _RunRef:
    """What :func:`display_labels` reads of a compared run (a :class:`~agnbench.reports.report_inputs.RunInfo`
    without its predictions)."""

    name: str
    path: Path
    track: str
    model: str
    seed: int


@dataclass(frozen=True)
class _Listed:
    """A comparison's ``inputs.yaml`` and its runs, as :func:`display_labels` reads them."""

    inputs: dict
    runs: list[_RunRef]


def comparison_labels(comparison: str | Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """:func:`display_labels` of a comparison from its ``inputs.yaml`` and the runs' own files, without reading
    predictions (for the results table ``agnbench run`` prints): the names the report uses.

    Raises
    ------
    AgnbenchError
        As :func:`display_labels`; an unreadable ``inputs.yaml`` raises as :func:`~agnbench.contracts.comparison.
        read_inputs`.
    """
    comparison = Path(comparison)
    inputs = read_inputs(comparison)
    runs = [_RunRef(name=str(entry["name"]), path=find_predictions(compared_run_path(entry, comparison)).parent,
                    track=str(entry.get("track", "")), model=str(entry.get("model", "")),
                    seed=int(entry.get("seed", 0)))
            for entry in inputs.get("runs") or []]
    return display_labels(_Listed(inputs=inputs, runs=runs), overrides)


def _base_label(run) -> str:
    """``"XGBoost (catalog"`` (closed by the caller), ``"Fusion (catalog + images"`` for a fusion run
    (its members' labels from ``model_meta.json``), or the run name for a run of unknown track."""
    if not run.track:
        return run.name
    if run.track == "fusion":
        try:
            members = read_model_meta(run.path).get("members") or []
        except (AgnbenchError, OSError, ValueError):
            members = []
        labels = [str(m.get("label") or m.get("track")) for m in members if isinstance(m, Mapping)]
        if labels:
            return f"Fusion ({' + '.join(labels)}"
    return f"{MODEL_NAMES.get(run.model, run.model)} ({run.track}"


def _distinguishers(runs: list) -> dict[str, list[str]]:
    """What tells apart runs of one track and model: feature set, then config hash, then seed."""
    extra: dict[str, list[str]] = {r.name: [] for r in runs}
    if len(runs) < 2:
        return extra
    feats = {r.name: _feature_text(r) for r in runs}
    hashes = {r.name: seed_free_config_hash(r.path) for r in runs}
    if len(set(feats.values())) > 1:
        for r in runs:
            extra[r.name].append(feats[r.name] or "no feature set")
    for text in set(feats.values()):
        same = [r for r in runs if feats[r.name] == text]
        if len({hashes[r.name] for r in same}) > 1:
            for r in same:
                extra[r.name].append(f"config {hashes[r.name][:6]}" if hashes[r.name] else "no config")
    if len({r.seed for r in runs}) > 1:
        for r in runs:
            extra[r.name].append(f"seed {r.seed}")
    return extra


def _feature_text(run) -> str:
    """``"features photometry"`` for a catalog run (its ``catalog.features``), else ``""``."""
    cfg = read_run_config(run.path) or {}
    feats = (cfg.get("catalog") or {}).get("features") if run.track == "catalog" else None
    if feats is None:
        return ""
    if isinstance(feats, (list, tuple)):
        return f"features {', '.join(map(str, feats))}" if len(feats) <= 4 else f"{len(feats)} named features"
    return f"features {feats}"


def _apply_overrides(labels: dict[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    unknown = [k for k in overrides if k not in labels]
    if unknown:
        raise AgnbenchError(f"report.labels names {', '.join(map(repr, unknown))}, not a run of this comparison; "
                            f"use one of: {', '.join(k for k in labels if k != _MAJORITY)}")
    out = {k: str(overrides.get(k, v)).strip() for k, v in labels.items()}
    seen: dict[str, str] = {}
    for run, text in out.items():
        if text in seen:
            raise AgnbenchError(f"report.labels: runs {seen[text]!r} and {run!r} would both be shown as {text!r}; "
                                "give each run its own display name")
        seen[text] = run
    return out


def display_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per name, in the given order (:data:`PALETTE`, cycled; the majority baseline grey).

    The one place run colours are chosen: every figure of a report takes them from here, keyed by run name
    (or by display name through :func:`relabel`), so a run has the same colour in every figure.
    """
    out: dict[str, str] = {}
    i = 0
    for name in dict.fromkeys(names):
        if name in (_MAJORITY, MAJORITY_LABEL):
            out[name] = MAJORITY_COLOR
            continue
        out[name] = PALETTE[i % len(PALETTE)]
        i += 1
    return out


def relabel(table: pd.DataFrame, labels: Mapping[str, str],
            columns: Sequence[str] = ("run", "run_a", "run_b", "reference")) -> pd.DataFrame:
    """A copy of ``table`` with its run-name columns shown as display names (names not in ``labels`` kept)."""
    out = table.copy()
    for col in columns:
        if col in out.columns:
            out[col] = out[col].map(lambda v: labels.get(v, v) if isinstance(v, str) else v)
    return out
