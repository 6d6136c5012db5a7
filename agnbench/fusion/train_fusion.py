"""``agnbench train fusion``: one fusion run per seed pairing (and its leave-one-track-out fusions), Contract 3.

Steps: read and check the members (:mod:`agnbench.fusion.members`) -> build the stacker inputs and cross-fit the
stacker on val (:mod:`agnbench.fusion.stacker`) -> create the run directory and write config, environment and the
members' data fingerprint -> ``model_meta.json``, ``fusion.json``, ``coefficients.csv`` (logistic regression) ->
the shared post-training protocol (:func:`agnbench.protocol.post_training.finish_run`: calibration and decision
rule on the out-of-fold val predictions, predictions, metrics, model card, ``complete``). The test split's labels
are never read before the final metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.config.core import Config, dump_config
from agnbench.contracts import files
from agnbench.contracts.run_dir import (FAILED, RUNNING, config_path, create_run_dir, write_data_record,
                                        write_model_meta, write_status)
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_json, atomic_write_text, capture_env
from agnbench.config.choices import FUSION_TRACK
from agnbench.fusion.members import (Member, check_members, leave_out_sets, load_member, member_labels,
                                     seed_pairings)
from agnbench.fusion.stacker import INNER_FOLDS, FitOutput, StackInputs, cross_fit, stack_inputs
from agnbench.outputs import output_lock
from agnbench.protocol.leakage import check_leakage
from agnbench.protocol.model_card import decision_fact, render_model_card
from agnbench.protocol.post_training import check_decision_rule, finish_run

log = logging.getLogger(__name__)

__all__ = ["FUSION_FILE", "COEFFICIENTS_FILE", "fusion_model", "train_fusion", "train_fusion_runs"]

#: The fusion's own record beside the contract files: members, inputs, objects dropped, the stacker's fit.
FUSION_FILE = files.FUSION_RECORD
#: The fitted logistic-regression stacker's coefficients (one row per class_out and input).
COEFFICIENTS_FILE = files.FUSION_COEFFICIENTS


def fusion_model(stacker: str) -> str:
    """The run's model name: ``stack-<stacker>``."""
    return f"stack-{stacker}"


def train_fusion_runs(cfg: Config, *, runs: Sequence[str | Path], runs_dir: Path, name: str | None = None,
                      leave_one_out: bool = False) -> list[Path]:
    """Every fusion ``agnbench train fusion --runs ...`` makes: one per seed pairing (``<name>-s<seed>`` when there
    are several), each followed by its leave-one-track-out fusions (``<fusion name>-without-<track>``) with
    ``leave_one_out``. Returns the run directories in that order."""
    members = [load_member(r) for r in runs]
    check_members(members)
    pairings = seed_pairings(members)
    out = []
    for seed, group in pairings:
        run_seed = cfg.seed if seed is None else seed
        if seed is None:
            log.warning("the members have different seeds (%s) and none is repeated: one fusion with seed %d",
                        ", ".join(f"{m.run_id}: {m.seed}" for m in group), run_seed)
        run_name = f"{name}-s{run_seed}" if name and len(pairings) > 1 else name
        full = train_fusion(replace(cfg, seed=run_seed), members=group, runs_dir=runs_dir, name=run_name)
        out.append(full)
        if leave_one_out:
            for track, subset in leave_out_sets(group):
                out.append(train_fusion(replace(cfg, seed=run_seed), members=subset, runs_dir=runs_dir,
                                        name=f"{full.name}-without-{track}", leave_out=track))
    return out


def train_fusion(cfg: Config, *, members: Sequence[Member], runs_dir: Path, name: str | None = None,
                 leave_out: str | None = None) -> Path:
    """Fit one fusion of ``members`` (checked, one seed) and write its run directory; return it.

    Parameters
    ----------
    cfg : Config
        Resolved config: its ``fusion`` section and ``seed`` (the fold split's seed, recorded in the predictions).
    members : sequence of Member
        At least two, on one store (:func:`~agnbench.fusion.members.check_members`).
    runs_dir : Path
        Where the run directory is created (never overwritten).
    name : str, optional
        Run directory name (default ``<time>-fusion-stack-<stacker>-s<seed>``).
    leave_out : str, optional
        The track these members leave out of a full fusion (recorded in ``model_meta.json``).

    Raises
    ------
    AgnbenchError
        Bad members, too few val objects per class for ``fusion.folds``, a binary rule on a multi-class store: all
        before any run directory is made.
    """
    fc = cfg.fusion
    check_members(members)
    classes = members[0].classes
    check_decision_rule(fc.threshold, n_classes=len(classes), section="fusion")
    labels = member_labels(members)
    features = _store_features(members[0]) if fc.features else None
    inputs = stack_inputs([m.preds for m in members], labels, classes, missing=fc.missing, features=features)
    fit = cross_fit(inputs, stacker=fc.stacker, n_classes=len(classes), folds=fc.folds, seed=cfg.seed,
                    c_grid=fc.c_grid, depth=fc.gbm_depth, n_iter=fc.gbm_iter)
    model = fusion_model(fc.stacker)
    run_cfg = replace(cfg, fusion=replace(fc, members=tuple(sorted(m.identity for m in members))))
    run_dir = create_run_dir(runs_dir, track=FUSION_TRACK, model=model, seed=cfg.seed, name=name)
    with output_lock(run_dir):
        _write_run(run_dir, cfg=run_cfg, members=members, labels=labels, inputs=inputs, fit=fit, model=model,
                   leave_out=leave_out)
    return run_dir


def _store_features(member: Member) -> pd.DataFrame:
    """The store's ``feat_*`` columns by object_id (``fusion.features``), from the member's recorded store, less those
    the protocol's leakage guard finds label-defining on the val split (left out with a warning)."""
    from agnbench.contracts.store import open_store

    path = Path(str(member.data.get("store", "")))
    try:
        store = open_store(path)
    except AgnbenchError as exc:
        raise AgnbenchError(f"fusion.features=true needs the members' store {path}: {exc}") from None
    if store.fingerprint().get("objects_sha256") != member.data.get("objects_sha256"):
        raise AgnbenchError(f"{path} is not the store {member.path} was trained on (objects.parquet sha256 differs)")
    objects = store.objects
    cols = [c for c in objects.columns if c.startswith("feat_")]
    if not cols:
        raise AgnbenchError(f"fusion.features=true but the store {path} has no feat_* columns")
    val = (objects["split"] == "val").to_numpy() & (objects["label"].to_numpy() >= 0)
    report = check_leakage(objects, cols, label=objects["label"].to_numpy(np.int64), train=val, raise_on_leak=False,
                           source=f"{path} (fusion.features)")
    leaky = set(report.leaky)
    if leaky:
        log.warning("fusion.features: leaving out the label-defining store columns %s", ", ".join(sorted(leaky)))
    return objects.set_index("object_id")[[c for c in cols if c not in leaky]]


def _write_run(run_dir: Path, *, cfg: Config, members: Sequence[Member], labels: Sequence[str], inputs: StackInputs,
               fit: FitOutput, model: str, leave_out: str | None) -> None:
    fc = cfg.fusion
    classes = members[0].classes
    write_status(run_dir, RUNNING)
    dump_config(cfg, config_path(run_dir))
    atomic_write_json(run_dir / files.ENV, capture_env(device="cpu"))
    data = members[0].data
    write_data_record(run_dir, {k: data[k] for k in ("store", "objects_sha256", "label_scheme", "classes", "counts")
                                if k in data})
    try:
        member_rows = [{"run_id": m.run_id, "path": str(m.path.resolve()), "track": m.track, "model": m.model,
                        "seed": m.seed, "label": lab, "identity": m.identity} for m, lab in zip(members, labels)]
        write_model_meta(run_dir, {"track": FUSION_TRACK, "model": model, "stacker": fc.stacker,
                                   "members": member_rows, "inputs": list(inputs.inputs),
                                   "input_members": list(inputs.input_member), "missing": fc.missing,
                                   "leave_out": leave_out, "classes": list(classes)})
        n_objects = {s: int(np.sum(inputs.split == s)) for s in ("val", "test", "ood")}
        record = {"members": member_rows, "inputs": list(inputs.inputs), "missing": {
            "mode": fc.missing, "not_scored": inputs.dropped, "n_objects": n_objects}, "leave_out": leave_out,
            "fit": {k: v for k, v in fit.summary.items() if k != "coefficients"}, "seed": cfg.seed}
        atomic_write_json(run_dir / FUSION_FILE, record)
        if "coefficients" in fit.summary:
            table = pd.DataFrame(fit.summary["coefficients"])
            table.insert(0, "class_out", table.pop("class_out").map(lambda k: classes[k]))
            atomic_write_text(run_dir / COEFFICIENTS_FILE, table.to_csv(index=False))
        counts = data.get("counts", {})
        y_train = np.repeat(np.arange(len(classes)), [int(counts.get(f"train/{c}", 0)) for c in classes])
        if y_train.size == 0:  # no training counts recorded: the val labels give the majority baseline
            y_train = inputs.y[inputs.split == "val"]

        def summary(calibrator, rule) -> dict:
            return {"stacker": fc.stacker, "folds": fc.folds, "C": fit.summary.get("C"),
                    "C_per_fold": [f["C"] for f in fit.summary["per_fold"]], "calibration": calibrator.method,
                    "threshold": rule, "members": [m.run_id for m in members], "inputs": list(inputs.inputs),
                    "missing": fc.missing, "not_scored": inputs.dropped, "n_objects": n_objects,
                    "leave_out": leave_out}

        finish_run(run_dir, object_id=inputs.object_id, split=inputs.split, labels=inputs.y, proba=fit.proba,
                   classes=classes, y_train=y_train, track=FUSION_TRACK, model=model, seed=cfg.seed,
                   calibration=fc.calibration, threshold=fc.threshold, target_precision=fc.target_precision,
                   model_summary=summary,
                   model_card=lambda metrics: _card(run_dir.name, cfg, members, labels, inputs, fit, data, metrics,
                                                    leave_out))
    except BaseException as exc:
        write_status(run_dir, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise


def _card(run_id: str, cfg: Config, members: Sequence[Member], labels: Sequence[str], inputs: StackInputs,
          fit: FitOutput, data: dict, metrics: dict, leave_out: str | None) -> str:
    fc = cfg.fusion
    stacker = (f"L2 logistic regression on standardised inputs, C chosen from {list(fc.c_grid)} by inner "
               f"{INNER_FOLDS}-fold CV (log loss) within each training set; refit C = {fit.summary.get('C')}"
               if fc.stacker == "logreg"
               else f"HistGradientBoosting (depth {fc.gbm_depth}, {fc.gbm_iter} rounds)")
    dropped = {lab: {s: n for s, n in d.items() if n} for lab, d in inputs.dropped.items()}
    dropped = {lab: d for lab, d in dropped.items() if d}
    facts = [
        f"- Track: fusion (`{fusion_model(fc.stacker)}`), seed {cfg.seed}"
        + (f"; leave-one-out fusion without the {leave_out} track" if leave_out else ""),
        "- Members: " + "; ".join(f"{lab} = `{m.run_id}` ({m.track}/{m.model}, seed {m.seed})"
                                  for m, lab in zip(members, labels)),
        f"- Data: `{data.get('store')}` (label scheme `{data.get('label_scheme')}`, classes "
        f"{', '.join(members[0].classes)})",
        f"- Stacker: {stacker}; inputs: {', '.join(inputs.inputs)}",
        f"- Fitted on the val split only by {fc.folds}-fold stratified cross-fitting: val predictions are "
        "out-of-fold, test and ood predictions come from the stacker refitted on all of val",
        f"- Objects a member did not score: {fc.missing}"
        + (f" ({dropped})" if dropped else " (every member scored every object)"),
        decision_fact(fc.calibration, metrics["model"]["threshold"], extra=" (on the out-of-fold val predictions)"),
    ]
    return render_model_card(run_id=run_id, facts=facts, metrics=metrics)
