"""Incremental value of a modality: each fusion run against its members and its leave-one-out fusions.

A fusion run (docs/contracts.md, Contract 3, "fusion runs"; ``model_meta.json`` ``track: fusion``) names its
member runs in ``model_meta.json`` ``members``. Among the runs compared, :func:`fusion_relations` finds, for each
fusion run,

* ``vs_member``: each member compared (matched by ``run_id`` or by path); what the fusion adds over it is the
  other members' tracks (``catalog + images`` vs ``catalog`` adds ``images``);
* ``vs_leave_one_out``: each other fusion run compared whose members are the fusion's members but those of one
  track (the ``-without-<track>`` fusions of ``agnbench train fusion --leave-one-out``); what the fusion adds is
  that track.

With seed groups (``compare.seeds: combined``) the pairs are mapped to the units of ``tests.csv`` (a seed group's
row ``<group> (mean of K seeds)``, or the run), so a fusion group of K seeds is compared with its members' group.

:func:`incremental_table` then QUOTES ``tests.csv``: the difference (fusion - baseline), its interval and
p-value are the paired bootstrap rows of the same replicates as every other interval (over objects x seeds for a
seed group), and DeLong where ``tests.csv`` has it (two single runs, binary ROC-AUC). Nothing is re-computed;
``p_holm`` is Holm-corrected over the incremental rows alone, within each (metric, test) family.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.bootstrap.compare_inputs import RunPredictions
from agnbench.bootstrap.paired import family_of_test
from agnbench.bootstrap.paired_tests import holm
from agnbench.contracts.run_dir import has_model_meta, read_model_meta
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

__all__ = ["FUSION_TRACK", "INCREMENTAL_COLUMNS", "INCREMENTAL_METRICS", "Relation", "fusion_relations",
           "incremental_table", "is_fusion"]

#: ``model_meta.json`` ``track`` of a fusion run.
FUSION_TRACK = "fusion"
#: The relation of a baseline to the fusion it is compared with.
VS_MEMBER, VS_LEAVE_ONE_OUT = "vs_member", "vs_leave_one_out"
#: Metrics of the table besides ``compare.primary_metric``.
INCREMENTAL_METRICS = ("balanced_accuracy",)
#: Columns of ``incremental.csv``.
INCREMENTAL_COLUMNS = ("fusion", "baseline", "relation", "added", "fusion_inputs", "baseline_inputs", "metric",
                       "fusion_estimate", "baseline_estimate", "delta", "lo", "hi", "method", "p_value", "p_floor",
                       "p_holm", "family", "family_size", "n", "seeds", "note", "text")
#: Short metric names of the ``text`` column.
_SHORT = {"roc_auc": "AUC", "pr_auc": "PR-AUC", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro F1",
          "mcc": "MCC", "accuracy": "accuracy", "brier": "Brier score", "log_loss": "log loss"}
#: Tests of tests.csv quoted, in order.
_TESTS = ("paired bootstrap", "DeLong")


@dataclass(frozen=True)
class Relation:
    """One fusion run against one baseline run (both among the runs compared).

    Attributes
    ----------
    fusion, baseline : str
        Run names (:attr:`RunPredictions.name`).
    relation : str
        ``vs_member`` or ``vs_leave_one_out``.
    added : str
        The tracks the fusion adds over the baseline, joined by `` + `` in the fusion's member order.
    fusion_inputs, baseline_inputs : str
        The tracks each uses, joined by `` + `` (a member: its own track).
    """

    fusion: str
    baseline: str
    relation: str
    added: str
    fusion_inputs: str
    baseline_inputs: str


def _members(run: RunPredictions) -> list[dict] | None:
    """The fusion run's ``model_meta.json`` ``members``; None for a run of another track."""
    if not has_model_meta(run.path):
        return None
    meta = read_model_meta(run.path)
    if meta.get("track") != FUSION_TRACK:
        return None
    members = meta.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, dict) and m.get("track")
                                                               for m in members):
        raise AgnbenchError(f"{run.path / 'model_meta.json'}: a fusion run needs 'members', a list of "
                            "{run_id, path, track, model, seed} (docs/contracts.md, Contract 3, fusion runs); "
                            "re-run agnbench train fusion")
    return members


def is_fusion(run: RunPredictions) -> bool:
    """True if ``run`` is a fusion run (``model_meta.json`` ``track: fusion``)."""
    return has_model_meta(run.path) and read_model_meta(run.path).get("track") == FUSION_TRACK


def _run_id(run: RunPredictions) -> str:
    return str(run.preds["run_id"].iloc[0])


def _find(member: dict, runs: Sequence[RunPredictions]) -> RunPredictions | None:
    """The compared run that is ``member``: same ``run_id``, or the same directory."""
    path = Path(str(member.get("path", ""))) if member.get("path") else None
    for run in runs:
        if member.get("run_id") is not None and str(member["run_id"]) in (_run_id(run), run.path.name):
            return run
        if path is not None and path.resolve() == run.path.resolve():
            return run
    return None


def _key(member: dict) -> str:
    """A member's identity for comparing member lists: its run_id, else its resolved path."""
    return str(member.get("run_id") or Path(str(member.get("path", ""))).resolve())


def fusion_relations(runs: Sequence[RunPredictions]) -> list[Relation]:
    """Every (fusion run, member or leave-one-out fusion) pair among ``runs`` (see the module docstring).

    A member that is not among the runs compared is left out with a log line (compare it to get its row).
    """
    fusions = {run.name: m for run in runs if (m := _members(run)) is not None}
    out = []
    for run in runs:
        if run.name not in fusions:
            continue
        members = fusions[run.name]
        tracks = [str(m["track"]) for m in members]
        if len(set(tracks)) < len(tracks):  # two members of one track: named by their labels (or run ids)
            tracks = [str(m.get("label") or m.get("run_id")) for m in members]
        for i, member in enumerate(members):
            hit = _find(member, [r for r in runs if r.name != run.name])
            if hit is None:
                log.info("fusion %s: member %s is not among the runs compared; no vs_member row for it", run.name,
                         member.get("run_id") or member.get("path"))
                continue
            out.append(Relation(run.name, hit.name, VS_MEMBER, " + ".join(t for j, t in enumerate(tracks) if j != i),
                                " + ".join(tracks), tracks[i]))
        keys = [_key(m) for m in members]
        own = [str(m["track"]) for m in members]
        for other, sub in fusions.items():
            sub_keys = {_key(m) for m in sub}
            left = [i for i, k in enumerate(keys) if k not in sub_keys]
            if (other == run.name or not sub_keys < set(keys) or len({own[i] for i in left}) != 1
                    or left != [i for i, t in enumerate(own) if t == own[left[0]]]):
                continue  # a leave-one-out fusion omits every member of exactly one track
            out.append(Relation(run.name, other, VS_LEAVE_ONE_OUT, own[left[0]], " + ".join(tracks),
                                " + ".join(t for j, t in enumerate(tracks) if j not in left)))
    return out


def incremental_table(relations: Sequence[Relation], *, tests: pd.DataFrame, summary: pd.DataFrame,
                      units: Mapping[str, str], seeds: Mapping[str, int], metrics: Sequence[str], n: int
                      ) -> pd.DataFrame:
    """``incremental.csv``: each relation's rows of ``tests.csv``, oriented fusion - baseline.

    Parameters
    ----------
    relations : sequence of Relation
        From :func:`fusion_relations` (run names).
    tests, summary : pandas.DataFrame
        The comparison's final ``tests.csv`` (with seed-group units) and ``summary.csv``.
    units : mapping of str to str
        Run name -> its unit in ``tests.csv`` (its seed group's row name, or itself).
    seeds : mapping of str to int
        Run name -> its training seed.
    metrics : sequence of str
        The metrics quoted (the primary metric, then balanced accuracy); absent ones are skipped.
    n : int
        Objects compared.

    Returns
    -------
    pandas.DataFrame
        :data:`INCREMENTAL_COLUMNS`, one row per (unit pair, metric, test); empty without relations.

    Raises
    ------
    AgnbenchError
        When ``tests.csv`` lacks a pair's paired bootstrap row: an internal inconsistency.
    """
    pairs: dict[tuple[str, str], Relation] = {}
    runs_of: dict[str, list[str]] = {}
    for run, unit in units.items():
        runs_of.setdefault(unit, []).append(run)
    for rel in relations:
        key = (units[rel.fusion], units[rel.baseline])
        if key[0] == key[1]:
            continue
        pairs.setdefault(key, rel)
    est = summary.set_index(["run", "metric"])["estimate"]
    rows = []
    for (fu, bu), rel in pairs.items():
        for metric in dict.fromkeys(metrics):
            for test in _TESTS:
                hit, sign = _oriented(tests, fu, bu, metric, test)
                if hit is None:
                    if test == _TESTS[0] and ((est.index.get_level_values("metric") == metric).any()):
                        raise AgnbenchError(f"tests.csv has no {test!r} row for {fu} vs {bu} on {metric}; the "
                                            "comparison is incomplete (re-run agnbench compare)")
                    continue
                lo, hi = (hit["lo"], hit["hi"]) if sign > 0 else (-hit["hi"], -hit["lo"])
                rows.append({"fusion": fu, "baseline": bu, "relation": rel.relation, "added": rel.added,
                             "fusion_inputs": rel.fusion_inputs, "baseline_inputs": rel.baseline_inputs,
                             "metric": metric, "fusion_estimate": float(est.get((fu, metric), np.nan)),
                             "baseline_estimate": float(est.get((bu, metric), np.nan)),
                             "delta": sign * float(hit["delta"]), "lo": float(lo), "hi": float(hi),
                             "method": _method(hit), "p_value": float(hit["p_value"]),
                             "p_floor": float(hit["p_floor"]) if pd.notna(hit.get("p_floor")) else np.nan,
                             "n": int(n), "seeds": " ".join(str(s) for s in sorted({seeds[r] for r in runs_of[fu]})),
                             "note": str(hit["note"]) if pd.notna(hit["note"]) else ""})
    table = pd.DataFrame(rows, columns=[c for c in INCREMENTAL_COLUMNS if c not in ("p_holm", "family",
                                                                                     "family_size", "text")])
    if table.empty:
        return pd.DataFrame(columns=list(INCREMENTAL_COLUMNS))
    table["family"] = "incremental/" + table["metric"] + "/" + table["method"].map(_test_of)
    table["p_holm"] = table.groupby("family", sort=False)["p_value"].transform(lambda p: holm(p.to_numpy(np.float64)))
    table["family_size"] = table.groupby("family", sort=False)["p_value"].transform("size").astype(int)
    table["text"] = [incremental_text(r) for r in table.itertuples()]
    return table[list(INCREMENTAL_COLUMNS)]


def _oriented(tests: pd.DataFrame, a: str, b: str, metric: str, test: str) -> tuple[pd.Series | None, float]:
    """The ``tests.csv`` row of ``test`` on ``metric`` for the pair (a, b) and the sign making it a - b."""
    rows = tests[(tests["metric"] == metric) & (tests["test"] == test)]
    hit = rows[(rows["run_a"] == a) & (rows["run_b"] == b)]
    if not hit.empty:
        return hit.iloc[0], 1.0
    hit = rows[(rows["run_a"] == b) & (rows["run_b"] == a)]
    return (hit.iloc[0], -1.0) if not hit.empty else (None, 1.0)


def _method(row: pd.Series) -> str:
    """The interval's method: the paired bootstrap's percentile interval (over objects x seeds for a seed group),
    or DeLong's normal interval."""
    if row["test"] == "DeLong":
        return "DeLong"
    return "paired bootstrap percentile" + (" over objects x seeds" if "objects x seeds" in str(row["note"]) else "")


def _test_of(method: str) -> str:
    """The tests.csv test (Holm family kind) behind a ``method``."""
    return family_of_test("DeLong" if method == "DeLong" else _TESTS[0])


def incremental_text(row) -> str:
    """``catalog + images vs catalog alone: ΔAUC +0.031 [+0.006, +0.058]`` (the row's method in brackets after
    the interval when it is DeLong)."""
    base = f"{row.baseline_inputs} alone" if row.relation == VS_MEMBER else row.baseline_inputs
    how = " (DeLong)" if row.method == "DeLong" else ""
    return (f"{row.fusion_inputs} vs {base}: Δ{_SHORT.get(row.metric, row.metric)} {row.delta:+.3f} "
            f"[{row.lo:+.3f}, {row.hi:+.3f}]{how}")
