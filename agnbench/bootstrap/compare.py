"""``agnbench compare RUN... --out comparisons/NAME``: Contract 4 (docs/contracts.md) from predictions files only.

Steps: load and check the runs -> align the objects every run scored on the split (counts
reported) -> add the majority-class baseline -> ONE paired bootstrap for all runs -> summary with
percentile and BCa intervals -> pairwise deltas, DeLong, McNemar with Holm correction -> Spiegelhalter's
calibration test per run -> seed
spread of runs that differ only by seed and (``compare.seeds: combined``, the default) one row per seed group
with an interval over objects x seeds, the tests then comparing groups -> subgroups (store q_ columns),
composites (ood), thresholds and abstention chosen on val -> write everything atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.bootstrap.decisions import abstention_table, threshold_table
from agnbench.bootstrap.incremental import INCREMENTAL_METRICS, fusion_relations, incremental_table, is_fusion
from agnbench.bootstrap.compare_inputs import Aligned, RunPredictions, align, load_runs, train_majority
from agnbench.bootstrap.paired import PairedComparison, long_replicates, paired_comparison, with_holm
from agnbench.bootstrap.seed_groups import SeedUnits, combined_units
from agnbench.bootstrap.paired_tests import seed_spread
from agnbench.bootstrap.primary import PrimaryChoice, choose_reference, primary_table, val_scores
from agnbench.bootstrap.resample import counts_from_indices, index_chunks, percentile_interval
from agnbench.bootstrap.subgroups import subgroup_metrics
from agnbench.config.choices import PRIMARY_REFERENCE_RULES
from agnbench.config.core import Config, config_to_dict
from agnbench.contracts.comparison import write_comparison
from agnbench.contracts.store import STORE_MISSING, STORE_UNKNOWN, locate_store, read_objects, store_state
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_directory, capture_env
from agnbench.outputs import claiming
from agnbench.seeding import derive_seed
from agnbench.tracking import open_comparison_tracker

log = logging.getLogger(__name__)
MAJORITY = "majority-baseline"


@claiming("comparison", inputs=("runs", "data"))
def compare(cfg: Config, *, runs: list[Path], out: Path, data: Path | None = None, overwrite: bool = False,
            transfer: bool = False, progress: bool = True) -> Path:
    """Compare runs by their predictions; write ``out`` (Contract 4) and return it.

    With ``cfg.tracking.backends`` naming mlflow, the finished comparison is also logged to MLflow
    (:meth:`agnbench.tracking.Tracker.log_comparison`); the tracking store is checked before any work.

    Parameters
    ----------
    runs : list of Path
        Run directories holding ``predictions.parquet`` (any track, or a user's own model).
    data : Path, optional
        The dataset store, for subgroup variables; default: the store named in the runs' data.json.
    transfer : bool
        Allow runs on different stores, or whose models were trained on different stores (``agnbench
        predict``); objects are matched by ``object_id`` and ``inputs.yaml`` records ``transfer``.
    """
    with open_comparison_tracker(cfg.tracking) as tracker:  # an unusable tracking store stops here, before the work
        _compare(cfg, runs=runs, out=out, data=data, overwrite=overwrite, transfer=transfer, progress=progress)
        tracker.log_comparison(out, cfg)
    return out


def _compare(cfg: Config, *, runs: list[Path], out: Path, data: Path | None, overwrite: bool, transfer: bool,
             progress: bool) -> None:
    """:func:`compare`'s work: load, align, bootstrap, write ``out`` atomically."""
    cc = cfg.compare
    loaded = load_runs(runs, transfer=transfer)
    classes = loaded[0].classes
    aligned = align(loaded, cc.split)
    names = [r.name for r in loaded]
    proba, y_pred = dict(aligned.proba), dict(aligned.y_pred)
    majority = train_majority(loaded)
    if majority is not None:
        k, freq = majority
        proba[MAJORITY] = np.tile(freq, (aligned.y_true.size, 1))
        y_pred[MAJORITY] = np.full(aligned.y_true.size, k, dtype=np.int64)
    log.info("comparing %d runs on %d shared %s objects; %d paired bootstrap replicates", len(names),
             aligned.y_true.size, cc.split, cc.n_boot)
    paired = paired_comparison(aligned.y_true, proba, y_pred, classes=classes, n_boot=cc.n_boot, seed=cfg.seed,
                               stratify=cc.stratify, confidence=cc.confidence, ci=cc.ci,
                               jackknife_groups=cc.jackknife_groups, ece_bins=cc.ece_bins, tested=names,
                               progress=progress)
    summary, tests, reps = paired.summary, paired.tests, paired.replicates
    seeds, units = _seed_tables(loaded, paired, cc, seed=cfg.seed, tested=names)
    if units is not None:
        summary = pd.concat([summary, units.summary], ignore_index=True)
        tests, reps = with_holm(units.tests), {**reps, **units.replicates}
    extras, skipped = _extra_tables(cfg, loaded, aligned, data, paired.metrics)
    choice = _primary_choice(loaded, cc, groups={} if units is None else units.groups)
    extras["primary"] = primary_table(tests, summary, choice)
    if choice.why_not:
        skipped["primary"] = choice.why_not
    extras["incremental"], why = _incremental(loaded, tests, summary, cc, n=aligned.y_true.size,
                                              groups={} if units is None else units.groups)
    if why:
        skipped["incremental"] = why
    record = _inputs(cfg, loaded, aligned, majority, skipped, transfer=transfer, primary=choice)
    record["seed_groups"] = {} if units is None else units.groups
    with atomic_directory(out, kind="comparison", overwrite=overwrite, inputs=[*runs, data]) as tmp:
        write_comparison(tmp, replicates=long_replicates(reps), summary=summary, tests=tests,
                         tables={"seeds": seeds, "calibration": paired.calibration, **extras}, inputs=record)
    log.info("comparison written to %s", out)


def _seed_tables(loaded: list[RunPredictions], paired: PairedComparison, cc, *, seed: int, tested: list[str]
                 ) -> tuple[pd.DataFrame, SeedUnits | None]:
    """Seed spread (mean, std of point estimates across seeds) per seed group with > 1 run (runs whose config.yaml
    is the same apart from the seed: :attr:`RunPredictions.group`) and, with ``compare.seeds: combined``, the
    seed-inclusive summary rows and the tests among units (:mod:`agnbench.bootstrap.seed_groups`)."""
    groups: dict[str, list[str]] = {}
    for run in loaded:
        groups.setdefault(run.group, []).append(run.name)
    est = paired.summary.set_index(["run", "metric"])["estimate"]
    spread = [{"group": group, "metric": m, **seed_spread(np.array([est[(r, m)] for r in members])),
               "runs": " ".join(members)}
              for group, members in groups.items() if len(members) > 1 for m in paired.metrics]
    units = None
    if cc.seeds == "combined":
        seeds = {r.name: r.seed for r in loaded}
        distinct = {}
        for group, members in groups.items():
            if len({seeds[r] for r in members}) == len(members):
                distinct[group] = members
            else:  # reruns with the same seed: no seed variance to speak of; kept apart
                log.warning("seed group %s: runs %s share a seed; not combined", group, ", ".join(members))
                distinct.update({f"{group}/{r}": [r] for r in members})
        units = combined_units(distinct, summary=paired.summary, tests=paired.tests, replicates=paired.replicates,
                               jackknife=paired.jackknife, metrics=paired.metrics, tested=tested, seed=seed, ci=cc.ci,
                               confidence=cc.confidence)
    return pd.DataFrame(spread), units


def _extra_tables(cfg: Config, loaded: list[RunPredictions], aligned: Aligned, data: Path | None,
                  metrics: list[str]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Subgroups, composites, thresholds and abstention; a table that cannot be made is skipped with the reason."""
    cc = cfg.compare
    classes = loaded[0].classes
    tables: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    store = _store_objects(loaded, data)
    if isinstance(store, str):
        skipped["subgroups"] = store
    else:
        variables = {}
        by_id = store.set_index("object_id")
        missing = [v for v in cc.subgroups if v not in by_id.columns]
        if missing:
            skipped["subgroups_missing_columns"] = ", ".join(missing)
        for v in cc.subgroups:
            if v in by_id.columns:
                values = by_id[v].reindex(aligned.object_id).to_numpy(np.float64)
                variables[v] = values
        if variables:
            tables["subgroups"] = subgroup_metrics(
                y_true=aligned.y_true, probas=aligned.proba, preds=aligned.y_pred, variables=variables,
                classes=classes, metrics=[m for m in ("accuracy", "balanced_accuracy", "roc_auc", "macro_f1")
                                          if m in metrics], n_bins=cc.subgroup_bins, n_boot=cc.subgroup_boot,
                seed=cfg.seed, confidence=cc.confidence, stratify=cc.stratify)
    try:
        tables["ood"] = _ood_table(loaded, cfg)
    except AgnbenchError as exc:
        skipped["ood"] = str(exc)
    if cc.split == "test":
        try:
            val = align(loaded, "val")
        except AgnbenchError as exc:
            skipped["thresholds"] = str(exc)
        else:
            v = {r: (val.y_true, val.proba[r]) for r in val.proba}
            t = {r: (aligned.y_true, aligned.proba[r]) for r in aligned.proba}
            tables["thresholds"] = threshold_table(val=v, test=t, classes=classes, rules=cc.threshold_rules,
                                                   target_precision=cc.target_precision)
            tables["abstention"] = abstention_table(val=v, test=t, classes=classes, coverages=cc.coverages)
    return tables, skipped


def _store_objects(loaded: list[RunPredictions], data: Path | None) -> pd.DataFrame | str:
    """The store's objects table, or why it is unavailable."""
    path = locate_store([r.path for r in loaded], data)
    state = store_state(path)
    if state == STORE_UNKNOWN:
        return "no store known (bare predictions files): pass --data STORE for subgroups"
    if state == STORE_MISSING:
        return f"store {path} not found (moved?): pass --data STORE for subgroups"
    return read_objects(path)


def _ood_table(loaded: list[RunPredictions], cfg: Config) -> pd.DataFrame:
    """Composites (split ``ood``): fraction of them each run assigns to each class, with bootstrap intervals."""
    cc = cfg.compare
    ood = align(loaded, "ood")
    n = ood.object_id.size
    classes = loaded[0].classes
    rows = []
    frac: dict[str, np.ndarray] = {r: np.empty((cc.n_boot, len(classes))) for r in ood.y_pred}
    for first, idx in index_chunks(n, n_boot=cc.n_boot, seed=derive_seed(cfg.seed, "compare", "ood")):
        counts = counts_from_indices(idx, n, dtype=np.float64)
        for run, pred in ood.y_pred.items():
            onehot = np.eye(len(classes))[pred]
            frac[run][first : first + idx.shape[0]] = counts @ onehot / n
    for run, pred in ood.y_pred.items():
        for k, c in enumerate(classes):
            lo, hi = percentile_interval(frac[run][:, k], confidence=cc.confidence)
            rows.append({"run": run, "predicted_class": c, "fraction": float(np.mean(pred == k)), "lo": float(lo),
                         "hi": float(hi), "mean_probability": float(ood.proba[run][:, k].mean()), "n": n})
    return pd.DataFrame(rows)


def _incremental(loaded: list[RunPredictions], tests: pd.DataFrame, summary: pd.DataFrame, cc, *,
                 groups: dict[str, list[str]], n: int) -> tuple[pd.DataFrame, str | None]:
    """``incremental.csv`` (:mod:`agnbench.bootstrap.incremental`): each fusion run against its members and its
    leave-one-out fusions, quoting ``tests.csv`` between the units compared, and why it is empty when fusion runs
    are compared without any of their members (nothing at all without fusion runs: the comparison is unchanged)."""
    relations = fusion_relations(loaded)
    if not relations:
        fusions = [r.name for r in loaded if is_fusion(r)]
        why = (f"fusion runs {', '.join(fusions)} compared without any of their members or leave-one-out fusions; "
               "add them to agnbench compare" if fusions else None)
        return pd.DataFrame(), why
    unit_of = {r.name: r.name for r in loaded}
    unit_of.update({r: g for g, members in groups.items() for r in members})
    return incremental_table(relations, tests=tests, summary=summary, units=unit_of,
                             seeds={r.name: r.seed for r in loaded},
                             metrics=[cc.primary_metric, *INCREMENTAL_METRICS], n=n), None


def _primary_choice(loaded: list[RunPredictions], cc, *, groups: dict[str, list[str]]) -> PrimaryChoice:
    """The primary comparison's reference (:mod:`agnbench.bootstrap.primary`), chosen on val, never on test.

    The units compared are those of tests.csv: each seed group of ``groups`` (combined row name -> its runs) and
    every run in no group; a group's val score is the mean of its runs'.
    """
    by_name = {r.name: r for r in loaded}
    grouped = {r for members in groups.values() for r in members}
    units = {**{g: list(m) for g, m in groups.items()}, **{r.name: [r.name] for r in loaded if r.name not in grouped}}
    tracks = {u: by_name[members[0]].track for u, members in units.items()}
    scores, why = None, None
    if cc.primary_reference == PRIMARY_REFERENCE_RULES[0]:
        candidates = {u: m for u, m in units.items() if tracks[u] == "catalog"}
        if candidates:
            try:
                scores = val_scores([by_name[r] for m in candidates.values() for r in m], metric=cc.primary_metric,
                                    units=candidates)
            except AgnbenchError as exc:
                why = f"the catalog runs cannot be scored on val ({exc})"
    return choose_reference(metric=cc.primary_metric, setting=cc.primary_reference, tracks=tracks, scores=scores,
                            why_no_scores=why)


def _inputs(cfg: Config, loaded: list[RunPredictions], aligned: Aligned, majority, skipped: dict, *,
            transfer: bool = False, primary: PrimaryChoice | None = None) -> dict:
    out = {
        "runs": [{"path": str(r.path.resolve()), "name": r.name, "track": r.track, "model": r.model, "seed": r.seed}
                 for r in loaded],
        "classes": list(loaded[0].classes),
        "store_sha256": loaded[0].data.get("objects_sha256"),
        "label_scheme": loaded[0].data.get("label_scheme"),
        "objects": aligned.counts,
        "class_counts": {c: int(np.sum(aligned.y_true == k)) for k, c in enumerate(loaded[0].classes)},
        "majority_baseline": None if majority is None else {
            "class": loaded[0].classes[majority[0]], "train_frequencies": [float(f) for f in majority[1]],
            "note": "predicts the training split's majority class, with its training frequencies as probabilities"},
        "skipped": skipped,
        "compare": config_to_dict(cfg.compare),
        "primary": None if primary is None else primary.record(),
        "seed": cfg.seed,
        "env": {k: v for k, v in capture_env().items() if k in ("agnbench", "git", "packages", "timestamp_utc")},
    }
    if transfer:
        out["transfer"] = {
            "note": "runs on different stores or trained on different stores, objects matched by object_id",
            "stores": {r.name: r.data.get("objects_sha256") for r in loaded},
            "trained_on": {r.name: r.trained_on for r in loaded}}
    return out
