"""``agnbench explain RUN``: attributions of one run into ``runs/<id>/attributions/``.

Steps: read the run (status must be complete) and its store -> pick the objects (a seeded subset
of the split, stratified by class) -> the track's methods (catalog: TreeSHAP, interactions,
permutation importance, logreg coefficients; spectra/images: see :mod:`explain_deep`) -> physics
summaries -> write everything into a temporary directory renamed into place, so an interrupted
explanation never looks complete. Arrays are keyed by ``object_ids.csv`` (row order).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.config.core import Config, load_config
from agnbench.contracts import files
from agnbench.contracts.run_dir import (attributions_dir, config_path, has_model_meta, is_complete, is_run_dir,
                                        read_data_record, read_model_meta)
from agnbench.contracts.store import STORE_CHANGED, STORE_OK, Store, locate_store, open_store, store_state
from agnbench.errors import AgnbenchError
from agnbench.config.provenance import EXPLAIN_SECTIONS, science_config
from agnbench.fileio import atomic_directory, atomic_write_json, atomic_write_parquet, atomic_write_text
from agnbench.seeding import rng
from agnbench.config.choices import EXPLAIN_METHODS as METHODS

log = logging.getLogger(__name__)


def explain_run(cfg: Config, *, run: Path, n: int | None = None, data: Path | None = None,
                methods: list[str] | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """Explain one run; return ``run/attributions``.

    Parameters
    ----------
    cfg : Config
        ``cfg.explain`` settings (the run's own config gives the model settings).
    n : int, optional
        Objects to explain; an explicit ``n`` larger than the split is an error, the config's
        default is capped at the split size.
    data : Path, optional
        The store, if it moved since training (default: ``data.json``'s path).
    methods : list of str, optional
        A subset of the track's methods (:data:`METHODS`); default all.
    """
    run = Path(run)
    track, run_cfg = _run_track(run)
    methods = _check_methods(track, methods, run)
    ec = cfg.explain
    if track == "fusion":
        return _explain_fusion(cfg, run=run, data=data, methods=methods, overwrite=overwrite)
    store = _open_run_store(run, data)
    positions = _select(store, track, ec.split, n if n is not None else ec.n, explicit=n is not None, seed=cfg.seed)
    log.info("explaining %s (%s) on %d %s objects: %s", run.name, track, positions.size, ec.split, ", ".join(methods))
    with atomic_directory(attributions_dir(run), kind="attributions", overwrite=overwrite, inputs=[data],
                          config=science_config(cfg, EXPLAIN_SECTIONS)) as tmp:
        ids = store.objects["object_id"].to_numpy()[positions].astype(str)
        atomic_write_text(tmp / files.ATTRIBUTIONS_OBJECT_IDS, pd.DataFrame({"object_id": ids}).to_csv(index=False))
        if track == "catalog":
            summary = _explain_catalog(run, store, positions, methods, ec, cfg.seed, tmp)
        else:
            from agnbench.interpretability.explain_deep import explain_deep

            summary = explain_deep(run, run_cfg, track, store, positions, methods, ec, cfg.seed, tmp,
                                   progress=progress)
        atomic_write_json(tmp / files.ATTRIBUTIONS_SUMMARY,
                          _json_safe({"run": run.name, "track": track, "split": ec.split, "n": int(positions.size),
                                      "methods": methods, "target": ec.target, **summary, "complete": True}))
    return attributions_dir(run)


def _explain_fusion(cfg: Config, *, run: Path, data: Path | None, methods: list[str], overwrite: bool) -> Path:
    """A fusion run: each modality's share of the stacker's decision on every ``explain.split`` object it scored
    (:mod:`agnbench.interpretability.modality_shares`); the store, when found, gives the z and S/N bins."""
    from agnbench.interpretability.modality_shares import fusion_modality_shares, share_summary

    ec = cfg.explain
    try:
        objects = _open_run_store(run, data).objects
    except AgnbenchError as exc:
        log.info("%s: no store (%s); modality shares by class only", run.name, exc)
        objects = None
    shares, record = fusion_modality_shares(run, split=ec.split, store_objects=objects)
    classes = list(read_data_record(run).get("classes") or [])
    if not classes:
        from agnbench.contracts.predictions import predictions_path, read_predictions
        from agnbench.contracts.schema import class_names

        classes = class_names(read_predictions(predictions_path(run)))
    table = share_summary(shares, classes=classes, store_objects=objects)
    ids = shares["object_id"].drop_duplicates().to_numpy().astype(str)
    with atomic_directory(attributions_dir(run), kind="attributions", overwrite=overwrite, inputs=[data],
                          config=science_config(cfg, EXPLAIN_SECTIONS)) as tmp:
        atomic_write_text(tmp / files.ATTRIBUTIONS_OBJECT_IDS, pd.DataFrame({"object_id": ids}).to_csv(index=False))
        atomic_write_parquet(tmp / files.ATTRIBUTIONS_MODALITY_SHARES, shares)
        atomic_write_text(tmp / files.ATTRIBUTIONS_MODALITY_SUMMARY, table.to_csv(index=False))
        atomic_write_json(tmp / files.ATTRIBUTIONS_SUMMARY,
                          _json_safe({"run": run.name, "track": "fusion", "split": ec.split, "n": int(ids.size),
                                      "methods": methods, "modality_shares": record, "complete": True}))
    return attributions_dir(run)


def _json_safe(obj):
    """NaN/inf -> None (JSON has no NaN); recursively."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _run_track(run: Path) -> tuple[str, Config | None]:
    """The run's track and saved config (None for a fusion run, whose stacker is read from its own files);
    the run must be complete."""
    if not is_run_dir(run):
        raise AgnbenchError(f"{run}: not a run directory (no config.yaml)")
    if not is_complete(run):
        raise AgnbenchError(f"{run}: the run is not complete; finish (or --resume) it before explaining it")
    no_track = AgnbenchError(f"{run}: model_meta.json does not say which track made it")
    if not has_model_meta(run):
        raise no_track
    try:
        track = read_model_meta(run)["track"]
    except AgnbenchError:
        raise no_track from None
    return track, None if track == "fusion" else load_config(config_path(run))


def _open_run_store(run: Path, data: Path | None) -> Store:
    """The store the run was trained on (``data`` if given); it must hold the recorded objects.parquet."""
    path = locate_store([run], data)
    state = store_state(path, read_data_record(run).get("objects_sha256"))
    if state == STORE_CHANGED:
        raise AgnbenchError(f"{path} is not the store {run.name} was trained on (objects.parquet sha256 differs)")
    if state != STORE_OK:
        raise AgnbenchError(f"{run}: its store {path} is not there (moved?); pass --data STORE")
    return open_store(path)


def _check_methods(track: str, methods: list[str] | None, run: Path) -> list[str]:
    valid = METHODS[track]
    if not methods:
        return list(valid)
    bad = [m for m in methods if m not in valid]
    if bad:
        raise AgnbenchError(f"{', '.join(bad)} cannot explain a {track} run ({run.name}); "
                            f"methods for this track: {', '.join(valid)}")
    return list(methods)


def _select(store: Store, track: str, split: str, n: int, *, explicit: bool, seed: int) -> np.ndarray:
    """A seeded subset of the split's objects with this track's inputs, stratified by label."""
    obj = store.objects
    mask = obj["split"].to_numpy() == split
    if split != "ood":
        mask &= obj["label"].to_numpy() >= 0
    row = {"spectra": "spec_row", "images": "image_row"}.get(track)
    if row:
        mask &= obj[row].to_numpy() >= 0
    pos = np.flatnonzero(mask)
    if pos.size == 0:
        raise AgnbenchError(f"{store.path}: no {split} object has {track} inputs; nothing to explain")
    if n > pos.size:
        if explicit:
            raise AgnbenchError(f"--n {n} is more than the {pos.size} {split} objects with {track} inputs; "
                                f"use --n {pos.size} or less")
        log.info("explain.n=%d capped at the %d %s objects", n, pos.size, split)
        return pos
    gen = rng(seed, "explain", "subset")
    labels = obj["label"].to_numpy()[pos]
    chosen = []
    for k in np.unique(labels):
        members = pos[labels == k]
        take = max(1, int(round(n * members.size / pos.size)))
        chosen.append(gen.choice(members, size=min(take, members.size), replace=False))
    return np.sort(np.concatenate(chosen))[:n]


def _explain_catalog(run: Path, store: Store, positions: np.ndarray, methods: list[str], ec, seed: int,
                     out: Path) -> dict:
    from agnbench.baselines.catalog_models import load_model
    from agnbench.interpretability import tree_shap as ts
    from agnbench.interpretability.feature_groups import group_importance
    from agnbench.interpretability.permutation import permutation_importance

    fit = load_model(run)
    X = store.objects[fit.feature_names].to_numpy(np.float64, na_value=np.nan)[positions]
    y = store.objects["label"].to_numpy(np.int64)[positions]
    ids = store.objects["object_id"].to_numpy()[positions].astype(str)
    summary: dict = {}
    if "shap" in methods:
        if fit.kind == "logreg":
            atomic_write_text(out / files.ATTRIBUTIONS_COEFFICIENTS, ts.logreg_coefficients(fit).to_csv(index=False))
        res = ts.tree_shap(fit, X, method=ec.treeshap, native_below=ec.treeshap_native_below)
        log.info("SHAP of %s: %s (%s)", run.name, res.method, res.kernel.get("reason", res.kernel.get("kernel")))
        frames = []
        for j, k in enumerate(res.classes_out):
            f = pd.DataFrame(res.values[:, j, :], columns=res.feature_names)
            f.insert(0, "base", res.base[j])
            f.insert(0, "class_out", int(k))
            f.insert(0, "object_id", ids)
            frames.append(f)
        atomic_write_parquet(out / files.ATTRIBUTIONS_SHAP, pd.concat(frames, ignore_index=True))
        importance = ts.global_importance(res, X)
        atomic_write_text(out / files.ATTRIBUTIONS_IMPORTANCE, importance.to_csv(index=False))
        groups = group_importance(res.values, res.feature_names, res.classes_out)
        atomic_write_text(out / files.ATTRIBUTIONS_IMPORTANCE_GROUPS, groups.to_csv(index=False))
        atomic_write_parquet(out / files.ATTRIBUTIONS_DEPENDENCE, ts.dependence_table(res, X, seed=seed))
        top = importance.sort_values("rank").drop_duplicates("feature").head(5)
        summary["shap"] = {"output": res.output, "method": res.method, "kernel": res.kernel,
                           "max_additivity_error": res.max_additivity_error,
                           "top_features": [{"feature": r.feature, "mean_abs_shap": float(r.mean_abs_shap),
                                             "direction": float(r.direction)} for r in top.itertuples()],
                           "top_groups": [{"group": r.group, "mean_abs_group_shap": float(r.mean_abs_group_shap),
                                           "n_features": int(r.n_features)}
                                          for r in groups[groups["class_out"] == groups["class_out"].max()]
                                          .itertuples()]}
    if "interactions" in methods and ec.max_interactions > 0 and fit.kind in ("xgboost", "lightgbm"):
        try:
            inter, rows = ts.tree_shap_interactions(fit, X, max_rows=ec.max_interactions, seed=seed)
        except AgnbenchError as exc:
            summary["interactions"] = f"skipped: {exc}"
        else:
            np.save(out / files.ATTRIBUTIONS_INTERACTIONS, inter.astype(np.float32))
            atomic_write_text(out / files.ATTRIBUTIONS_INTERACTIONS_OBJECTS,
                              pd.DataFrame({"object_id": ids[rows]}).to_csv(index=False))
            summary["interactions"] = {"n": int(len(rows)), "shape": list(inter.shape)}
    if "permutation" in methods and np.unique(y).size > 1:
        table = permutation_importance(fit.predict_proba, X, y, feature_names=fit.feature_names,
                                       n_repeats=ec.permutation_repeats, random_state=seed)
        table = table[0] if isinstance(table, tuple) else table
        atomic_write_text(out / files.ATTRIBUTIONS_PERMUTATION, table.to_csv(index=False))
    return summary
