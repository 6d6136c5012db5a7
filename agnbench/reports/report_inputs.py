"""Everything a report is made from, read once from a comparison directory (Contract 4).

:func:`load_report_inputs` reads ``comparisons/NAME`` (``inputs.yaml``, ``summary.csv``,
``tests.csv``, ``replicates.parquet`` and the optional tables), then each compared run's
``predictions.parquet``, ``history.csv`` and ``attributions/`` when present, and the dataset store
the runs were trained on (when it can be found and its ``objects.parquet`` still has the recorded
sha256). Missing optional pieces become ``None`` and the report says so; nothing is invented.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from agnbench.contracts.comparison import (REQUIRED_TABLES, compared_run_path, comparison_complete, comparison_paths,
                                           crosstrack_complete, read_inputs, read_optional_tables, read_replicates,
                                           read_table)
from agnbench.contracts.predictions import find_predictions, read_predictions
from agnbench.contracts.run_dir import attributions_complete, attributions_dir, read_history, read_metrics
from agnbench.contracts.store import (STORE_CHANGED, STORE_MISSING, read_manifest, read_objects, recorded_sha256,
                                     store_candidates, store_paths, store_state)
from agnbench.errors import AgnbenchError
from agnbench.reports.display import display_colors, display_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunInfo:
    """One compared run.

    Attributes
    ----------
    name : str
        The run's label in every comparison table.
    path : Path
        Run directory.
    track, model : str
    seed : int
    predictions : pandas.DataFrame
        Contract 2 rows (val, test, ood).
    history : pandas.DataFrame or None
        ``history.csv`` (per epoch for deep runs, per boosting round for trees).
    attributions : Path or None
        ``attributions/`` if ``agnbench explain`` has completed for this run.
    metrics : dict
        ``metrics.json`` (empty if absent).
    label : str
        Its display name (:func:`agnbench.reports.display.display_labels`); :attr:`shown` falls back to ``name``.
    """

    name: str
    path: Path
    track: str
    model: str
    seed: int
    predictions: pd.DataFrame
    history: pd.DataFrame | None = None
    attributions: Path | None = None
    metrics: dict = field(default_factory=dict)
    label: str = ""

    @property
    def shown(self) -> str:
        """The display name (``label``), else the run name."""
        return self.label or self.name


@dataclass(frozen=True)
class ReportInputs:
    """A comparison and what it was made from.

    Attributes
    ----------
    comparison : Path
        The comparison directory.
    inputs : dict
        Parsed ``inputs.yaml`` (runs, classes, split, object counts, compare settings, env).
    classes : list of str
        Class names, in label order (``p_<class>`` columns).
    split : str
        The split the comparison was computed on (normally ``test``).
    runs : list of RunInfo
        In the order of ``inputs.yaml``.
    tables : dict of str to pandas.DataFrame
        ``summary``, ``tests`` and each present optional table, keyed by file stem.
    replicates : pandas.DataFrame or None
        ``replicates.parquet`` (replicate, run, metric, value).
    store : Path or None
        The dataset store, if found and unchanged since training.
    objects : pandas.DataFrame or None
        The store's ``objects.parquet``.
    cross_track : Path or None
        An ``agnbench explain --compare`` output inside the comparison (``crosstrack/``), if present.
    labels : dict of str to str
        Run name -> display name (:func:`agnbench.reports.display.display_labels`; with ``report.labels``
        applied by :func:`agnbench.reports.report.build_report`); the defaults when empty.
    """

    comparison: Path
    inputs: dict
    classes: list[str]
    split: str
    runs: list[RunInfo]
    tables: dict[str, pd.DataFrame]
    replicates: pd.DataFrame | None
    store: Path | None
    objects: pd.DataFrame | None
    cross_track: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def display(self) -> dict[str, str]:
        """Run name (seed-group row, majority baseline) -> display name: :attr:`labels`, else the defaults."""
        return dict(self.labels) if self.labels else display_labels(self)

    @property
    def colors(self) -> dict[str, str]:
        """Run name and display name -> its one colour (:func:`agnbench.reports.display.display_colors`)."""
        names = [r.name for r in self.runs] + list(self.inputs.get("seed_groups") or {}) + ["majority-baseline"]
        by_name = display_colors(names)
        labels = self.display
        return {**by_name, **{labels[n]: c for n, c in by_name.items() if n in labels}}

    @property
    def positive(self) -> str:
        """The class whose probability is the score of binary figures (the last class, e.g. ``agn``)."""
        return self.classes[-1]

    def run(self, name: str) -> RunInfo:
        """The run called ``name``."""
        for r in self.runs:
            if r.name == name:
                return r
        raise KeyError(f"no run {name!r} in {self.comparison} (runs: {[r.name for r in self.runs]})")


def load_report_inputs(comparison: Path, *, data: Path | None = None,
                       labels: Mapping[str, str] | None = None) -> ReportInputs:
    """Read a comparison directory and what it points to.

    Parameters
    ----------
    comparison : Path
        ``comparisons/NAME`` as written by ``agnbench compare``.
    data : Path, optional
        The dataset store, if it moved since training (default: the path recorded in the first
        run's ``data.json``).
    labels : mapping of str to str, optional
        ``report.labels``: display names by run name (the others get :func:`display_labels`' defaults).

    Raises
    ------
    AgnbenchError
        Not a comparison directory, a required table missing, or a run directory that vanished.
    """
    comparison = Path(comparison)
    paths = comparison_paths(comparison)
    if not comparison_complete(comparison):
        raise AgnbenchError(f"{comparison}: no inputs.yaml; not a comparison directory "
                            f"(make one with `agnbench compare RUN... --out {comparison}`)")
    inputs = read_inputs(comparison)
    tables = {}
    for stem in REQUIRED_TABLES:
        if not paths.table(stem).exists():
            raise AgnbenchError(f"{paths.table(stem)} is missing; the comparison is incomplete: run "
                                f"`agnbench compare` again with --overwrite")
        tables[stem] = read_table(comparison, stem)
    tables.update(read_optional_tables(comparison))
    replicates = read_replicates(comparison)
    runs = [_read_run(entry, comparison) for entry in inputs.get("runs", [])]
    if not runs:
        raise AgnbenchError(f"{paths.inputs} lists no runs")
    store, objects = _find_store(runs, data, inputs.get("store_sha256"))
    base = ReportInputs(comparison=comparison, inputs=inputs, classes=list(inputs.get("classes", [])),
                        split=str(inputs.get("objects", {}).get("split", "test")), runs=runs, tables=tables,
                        replicates=replicates, store=store, objects=objects,
                        cross_track=paths.crosstrack_dir if crosstrack_complete(comparison) else None)
    shown = display_labels(base, labels)
    return dataclasses.replace(base, labels=shown, runs=[dataclasses.replace(r, label=shown[r.name]) for r in runs])


def _read_run(entry: dict, comparison: Path) -> RunInfo:
    path = compared_run_path(entry, comparison)
    preds = find_predictions(path)
    if not preds.exists():
        raise AgnbenchError(f"{comparison_paths(comparison).inputs}: run {entry.get('name')} at {path} has no "
                            f"predictions.parquet (moved or deleted?)")
    run_dir = preds.parent
    return RunInfo(name=str(entry["name"]), path=run_dir, track=str(entry.get("track", "")),
                   model=str(entry.get("model", "")), seed=int(entry.get("seed", 0)),
                   predictions=read_predictions(preds, validate=False), history=read_history(run_dir),
                   attributions=attributions_dir(run_dir) if attributions_complete(run_dir) else None,
                   metrics=read_metrics(run_dir))


def _find_store(runs: list[RunInfo], data: Path | None, sha: str | None) -> tuple[Path | None, pd.DataFrame | None]:
    """The store the runs were trained on, if found with the recorded objects.parquet sha256."""
    run_dirs = [r.path for r in runs]
    candidates = store_candidates(run_dirs, data)
    sha = sha or recorded_sha256(run_dirs)
    for path in candidates:
        state = store_state(path, sha)
        if state == STORE_MISSING:
            continue
        if state == STORE_CHANGED:
            if data is not None and path == Path(data):
                raise AgnbenchError(f"{path} is not the store these runs were trained on (objects.parquet sha256 "
                                    f"differs from the recorded {sha[:12]}...)")
            log.warning("%s changed since training (objects.parquet sha256 differs); the report omits "
                        "store-based sections", path)
            continue
        return path, read_objects(path)
    log.warning("dataset store not found (tried %s); the report omits the dataset and gallery sections; "
                "pass --data to point at it", ", ".join(map(str, candidates)) or "nothing recorded")
    return None, None


#: :func:`ood_description` of ood objects that are all BPT composites (MPA-JHU ``bpt_class`` 3).
COMPOSITES = "BPT composites"


def ood_description(inputs: ReportInputs) -> str:
    """What the ood objects are: :data:`COMPOSITES` when the store codes every one as a BPT composite
    (``bpt_class`` 3), else ``"objects the label scheme sends to split ood"``."""
    objects = inputs.objects
    if objects is not None and {"split", "bpt_class"} <= set(objects.columns):
        ood = objects.loc[objects["split"] == "ood", "bpt_class"]
        if len(ood) and (pd.to_numeric(ood, errors="coerce") == 3).all():
            return COMPOSITES
    return "objects the label scheme sends to split ood"


def store_kind(inputs: ReportInputs) -> str:
    """A few words on where the store came from (``"table store"``), or ``""`` when unknown."""
    if inputs.store is None or not store_paths(inputs.store).manifest.exists():
        return ""
    try:
        recorded = read_manifest(inputs.store).get("inputs") or {}
    except (AgnbenchError, ValueError):
        return ""
    return "table store" if isinstance(recorded, dict) and "table" in recorded else ""
