"""The member runs of a fusion: read their predictions (Contract 2), check they can be fused, pair them by seed.

A member is a complete run directory with ``predictions.parquet`` and ``data.json``. Members must share the
store (``data.json`` ``objects_sha256``), the label scheme and the classes, and agree on every object's label.

Seeds (:func:`seed_pairings`): the members are grouped by their seed-free identity (``<track>-<model>-<config
hash>``, :func:`agnbench.contracts.run_dir.seed_free_config_hash`; a run without a config is its own group). If
every group holds one run, they make one fusion. Otherwise every group must hold the same seeds, once each, and
each seed makes one fusion of that seed's run of every group; a group without a seed, or with a seed twice, is an
error naming it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agnbench.contracts.predictions import predictions_path, read_predictions
from agnbench.contracts.run_dir import (COMPLETE, read_data_record, read_model_meta, read_status,
                                        seed_free_config_hash, has_model_meta)
from agnbench.contracts.schema import class_names
from agnbench.errors import AgnbenchError

__all__ = ["Member", "check_members", "leave_out_sets", "load_member", "member_labels", "seed_pairings"]

#: The fusion track's name (``track`` of its predictions and ``model_meta.json``).
FUSION_TRACK = "fusion"


@dataclass(frozen=True)
class Member:
    """One member run.

    Attributes
    ----------
    path : Path
        The run directory.
    run_id, track, model : str
        From its predictions.
    seed : int
    classes : tuple of str
        Class names in label order (its ``p_`` columns).
    data : dict
        Its ``data.json``.
    identity : str
        Seed-free identity ``<track>-<model>-<config hash[:8]>`` (``<track>-<model>-<run id>`` without a config).
    preds : pandas.DataFrame
        Its predictions.
    """

    path: Path
    run_id: str
    track: str
    model: str
    seed: int
    classes: tuple[str, ...]
    data: dict
    identity: str
    preds: pd.DataFrame


def load_member(path: str | Path) -> Member:
    """Read one member run; refuse one that is not a complete run with predictions and ``data.json``."""
    path = Path(path)
    if not path.is_dir():
        raise AgnbenchError(f"{path}: not a run directory (fusion --runs needs run directories)")
    status = read_status(path)
    if status is not None and status != COMPLETE:
        raise AgnbenchError(f"{path}: the run is not complete (status.json: {status}); finish or resume it before "
                            "fusing it")
    if not predictions_path(path).exists():
        raise AgnbenchError(f"{path}: no predictions.parquet (not a run directory, or the run did not finish)")
    data = read_data_record(path)
    if not data.get("objects_sha256"):
        raise AgnbenchError(f"{path}: no data.json with objects_sha256; fusion needs members trained on a store")
    preds = read_predictions(predictions_path(path))
    if has_model_meta(path) and read_model_meta(path).get("track") == FUSION_TRACK:
        raise AgnbenchError(f"{path}: is a fusion run; fuse the runs it was made of instead")
    first = preds.iloc[0]
    track, model = str(first["track"]), str(first["model"])
    digest = seed_free_config_hash(path)
    identity = f"{track}-{model}-{digest[:8]}" if digest else f"{track}-{model}-{path.name}"
    return Member(path=path, run_id=str(first["run_id"]), track=track, model=model, seed=int(first["seed"]),
                  classes=tuple(class_names(preds)), data=data, identity=identity, preds=preds)


def check_members(members: Sequence[Member]) -> None:
    """Refuse members on different stores, label schemes or classes, or disagreeing on a label."""
    if len(members) < 2:
        given = members[0].path if members else "none"
        raise AgnbenchError(f"fusion needs at least two member runs (given: {given}); pass --runs RUN_A RUN_B ...")
    ref = members[0]
    for m in members[1:]:
        if m.path.resolve() == ref.path.resolve():
            raise AgnbenchError(f"{m.path}: given twice; each member once")
        if m.data.get("objects_sha256") != ref.data.get("objects_sha256"):
            raise AgnbenchError(f"{m.path} and {ref.path} were made on different stores (objects.parquet sha256 "
                                f"{str(m.data.get('objects_sha256'))[:12]} vs {str(ref.data.get('objects_sha256'))[:12]}); "
                                "fuse runs trained on the same dataset store")
        if m.classes != ref.classes or m.data.get("label_scheme") != ref.data.get("label_scheme"):
            raise AgnbenchError(f"{m.path} has label scheme {m.data.get('label_scheme')} (classes {', '.join(m.classes)}) "
                                f"but {ref.path} has {ref.data.get('label_scheme')} ({', '.join(ref.classes)}); "
                                "fuse runs with the same label scheme")
    labels = pd.concat([m.preds.loc[m.preds["split"] != "ood", ["object_id", "y_true"]].assign(run=str(m.path))
                        for m in members])
    spread = labels.groupby("object_id")["y_true"].nunique()
    if (spread > 1).any():
        bad = spread.index[spread > 1][0]
        runs = labels.loc[labels["object_id"] == bad, ["run", "y_true"]].to_dict("records")
        raise AgnbenchError(f"object {bad} has different labels in the members ({runs}); they disagree on labels "
                            "(different store or label scheme)")


def seed_pairings(members: Sequence[Member]) -> list[tuple[int | None, list[Member]]]:
    """The fusions to make: ``(seed, members)`` per seed (seed None: one fusion of members of unpaired seeds).

    See the module docstring for the rule.
    """
    groups: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        groups[m.identity].append(m)
    if all(len(g) == 1 for g in groups.values()):
        seeds = {m.seed for m in members}
        return [(seeds.pop() if len(seeds) == 1 else None, list(members))]
    seed_sets = {name: sorted(m.seed for m in g) for name, g in groups.items()}
    for name, seeds in seed_sets.items():
        if len(set(seeds)) != len(seeds):
            raise AgnbenchError(f"--runs holds two runs of {name} with the same seed ({seeds}); give each seed once")
    all_seeds = sorted({s for seeds in seed_sets.values() for s in seeds})
    for name, seeds in seed_sets.items():
        if seeds != all_seeds:
            lacking = sorted(set(all_seeds) - set(seeds))
            raise AgnbenchError(f"--runs: {name} has no run of seed(s) {lacking} (it has {seeds}, the others "
                                f"{all_seeds}); fusions pair members by seed: give every model the same seeds")
    return [(s, [next(m for m in g if m.seed == s) for g in groups.values()]) for s in all_seeds]


def member_labels(members: Sequence[Member]) -> list[str]:
    """A short unique label per member: its track, ``<track>-<model>`` if two share a track, else its run id."""
    tracks = [m.track for m in members]
    pairs = [f"{m.track}-{m.model}" for m in members]
    return [t if tracks.count(t) == 1 else p if pairs.count(p) == 1 else m.run_id
            for m, t, p in zip(members, tracks, pairs)]


def leave_out_sets(members: Sequence[Member]) -> list[tuple[str, list[Member]]]:
    """Leave-one-track-out member sets: ``(track left out, the members of the other tracks)``, for each track whose
    removal leaves at least two members (a fusion of one member is that member, compared directly)."""
    tracks = list(dict.fromkeys(m.track for m in members))
    if len(tracks) < 2:
        return []
    return [(t, [m for m in members if m.track != t]) for t in tracks
            if len([m for m in members if m.track != t]) >= 2]
