"""Each modality's share of a fusion run's decision (``agnbench explain`` of a fusion run; issue 20 item 3).

A logistic stacker's logit of class ``k`` against class 0 is exactly additive over its inputs:
``z_k = b_k + sum_j w_kj x_j`` (``w_kj`` the raw-unit coefficients of ``coefficients.csv``; for a multinomial
stacker ``w_k - w_0``). The inputs of one member (its logits, its missing-indicator) form that member's modality
(its track; the store's ``feat_*`` inputs form ``features``); its contribution (members of one track are told apart by their labels) is ``C_m = sum_{j in m} w_kj x_j``
and its share of the decision ``share_m = |C_m| / sum_m' |C_m'|`` (0 for every modality where all contributions
are 0). Checks: ``sum_m C_m + b_k == z_k`` to 1e-8 (every input belongs to one modality) and, when the fusion
applies no calibration (``fusion.calibration: none``), the softmax of the rebuilt logits equals the run's
predicted probabilities to 1e-8 (the inputs were rebuilt as the stacker saw them); a failure is an error.

The inputs are rebuilt from the members' ``predictions.parquet`` (paths in ``model_meta.json`` ``members``) by
the rule of docs/contracts.md, Contract 3, fusion runs: ``<label>:logit_<class k>`` = ``log p_k - log p_0`` with
probabilities clipped to ``[1e-6, 1]`` (0 where the member did not score the object), ``<label>:missing`` = 1
there, ``feat_*`` the store's column (NaN: the median over the fusion's val objects).

Outputs (``attributions/``): ``modality_shares.parquet`` (per object: ``object_id, split, y_true, y_pred,
class_out, logit, intercept, contribution_<modality>..., share_<modality>...``) and ``modality_shares.csv``
(``by, bin, lo, hi, class_out, modality, mean_share, median_share, mean_contribution, n``: by true class, and in
``n_bins`` quantile bins of the redshift ``z`` and of the spectrum S/N ``q_spec_sn`` where the store has them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.contracts import files
from agnbench.contracts.predictions import predictions_path, read_predictions
from agnbench.contracts.run_dir import read_model_meta, read_run_config
from agnbench.contracts.schema import class_names
from agnbench.errors import AgnbenchError
from agnbench.fileio import read_csv

log = logging.getLogger(__name__)

__all__ = ["ADDITIVITY_TOL", "SHARE_BINS", "decompose", "fusion_modality_shares", "share_summary"]

#: Tolerance of the additivity and prediction checks.
ADDITIVITY_TOL = 1e-8
#: Quantile bins of ``z`` and ``q_spec_sn`` in the summary; the store columns binned.
SHARE_BINS = 4
_BIN_COLUMNS = (("redshift", "z"), ("sn", "q_spec_sn"))
#: The stacker's coefficient table in a fusion run, and the probability clip of its inputs.
COEFFICIENTS_FILE = files.FUSION_COEFFICIENTS
_EPS = 1e-6
_INTERCEPT = "(intercept)"
_FEATURES = "features"


def decompose(X: np.ndarray, coef: np.ndarray, intercept: float, modality: Sequence[str], *,
              logit: np.ndarray | None = None, what: str = "the stacker") -> pd.DataFrame:
    """Per-object contributions and shares of each modality to one logit.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        The stacker's inputs.
    coef : numpy.ndarray, shape (d,)
        Raw-unit coefficients of the logit.
    intercept : float
    modality : sequence of str, length d
        The modality of each input.
    logit : numpy.ndarray, shape (n,), optional
        The stacker's logit to check the decomposition against (default: ``intercept + X @ coef``).
    what : str
        Named in the error.

    Returns
    -------
    pandas.DataFrame
        ``logit, intercept, contribution_<m>..., share_<m>...`` in the order modalities first appear.

    Raises
    ------
    AgnbenchError
        When ``sum contributions + intercept`` differs from ``logit`` by more than :data:`ADDITIVITY_TOL`.
    """
    X = np.asarray(X, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64)
    if X.ndim != 2 or coef.shape != (X.shape[1],) or len(modality) != X.shape[1]:
        raise AgnbenchError(f"{what}: inputs {X.shape}, coefficients {coef.shape} and {len(modality)} modality names "
                            "do not match")
    terms = X * coef
    names = list(dict.fromkeys(modality))
    contrib = np.column_stack([terms[:, [j for j, m in enumerate(modality) if m == name]].sum(axis=1)
                               for name in names])
    z = intercept + terms.sum(axis=1) if logit is None else np.asarray(logit, dtype=np.float64)
    err = np.abs(contrib.sum(axis=1) + intercept - z)
    if err.size and not np.all(err <= ADDITIVITY_TOL * np.maximum(1.0, np.abs(z))):
        raise AgnbenchError(f"{what}: the modality contributions plus the intercept differ from the stacker's logit "
                            f"by up to {float(err.max()):.3g} (> {ADDITIVITY_TOL:g}); the decomposition is not "
                            "additive (an input outside every modality, or coefficients not those of the stacker)")
    total = np.abs(contrib).sum(axis=1, keepdims=True)
    share = np.divide(np.abs(contrib), total, out=np.zeros_like(contrib), where=total > 0)
    out = {"logit": z, "intercept": np.full(z.size, float(intercept))}
    out.update({f"contribution_{m}": contrib[:, i] for i, m in enumerate(names)})
    out.update({f"share_{m}": share[:, i] for i, m in enumerate(names)})
    return pd.DataFrame(out)


def _coefficients(run: Path, inputs: Sequence[str], classes: Sequence[str]) -> dict[str, tuple[np.ndarray, float]]:
    """``class k -> (w_k, b_k)`` against class 0, in raw input units, from the run's ``coefficients.csv``."""
    path = run / COEFFICIENTS_FILE
    if not path.is_file():
        raise AgnbenchError(f"{path} not found: modality shares need a logistic-regression stacker (stack-logreg); "
                            "a gbm stacker has no additive coefficients")
    table = read_csv(path, required=("class_out", "input", "coefficient"), fix="re-run agnbench train fusion")
    table["class_out"] = table["class_out"].astype(str)
    per = {}
    for cls, part in table.groupby("class_out", sort=False):
        by = part.set_index("input")["coefficient"]
        missing = [i for i in [*inputs, _INTERCEPT] if i not in by.index]
        if missing:
            raise AgnbenchError(f"{path}: class_out {cls} has no coefficient for {', '.join(missing)}")
        per[cls] = (by.reindex(list(inputs)).to_numpy(np.float64), float(by[_INTERCEPT]))
    if set(per) == {classes[1]} and len(classes) == 2:
        return per
    if set(per) != set(classes):
        raise AgnbenchError(f"{path}: class_out {sorted(per)} is neither the binary stacker's {classes[1]!r} nor "
                            f"every class {list(classes)}")
    w0, b0 = per[classes[0]]
    return {c: (per[c][0] - w0, per[c][1] - b0) for c in classes[1:]}


def _rebuild_inputs(meta: dict, preds: pd.DataFrame, classes: Sequence[str], store_objects: pd.DataFrame | None,
                    run: Path) -> tuple[np.ndarray, list[str]]:
    """The stacker's inputs on the fusion's objects (module docstring) and each input's modality."""
    ids = preds["object_id"].to_numpy()
    tracks = [str(m["track"]) for m in meta["members"]]
    track_of = {str(m.get("label", m["run_id"])): (t if tracks.count(t) == 1 else str(m.get("label", m["run_id"])))
                for m, t in zip(meta["members"], tracks)}  # two members of one track: told apart by their labels
    member_preds = {}
    for m in meta["members"]:
        label = str(m.get("label", m["run_id"]))
        path = Path(str(m["path"]))
        if not predictions_path(path).is_file():
            raise AgnbenchError(f"{run}: member {label} ({path}) has no predictions.parquet (moved?); its inputs "
                                "cannot be rebuilt")
        p = read_predictions(predictions_path(path))
        member_preds[label] = p.drop_duplicates("object_id").set_index("object_id")
    inputs, input_members = list(meta["inputs"]), list(meta.get("input_members") or [])
    columns, modality = [], []
    for j, name in enumerate(inputs):
        label, _, rest = name.partition(":")
        if label in member_preds and rest.startswith("logit_"):
            k = list(classes).index(rest[len("logit_"):])
            part = member_preds[label]
            have = np.isin(ids, part.index.to_numpy())
            prob = np.clip(part[[f"p_{classes[0]}", f"p_{classes[k]}"]].reindex(ids).to_numpy(np.float64), _EPS, 1.0)
            columns.append(np.where(have, np.log(prob[:, 1]) - np.log(prob[:, 0]), 0.0))
            modality.append(track_of[label])
        elif label in member_preds and rest == "missing":
            columns.append((~np.isin(ids, member_preds[label].index.to_numpy())).astype(np.float64))
            modality.append(track_of[label])
        elif name.startswith("feat_"):
            if store_objects is None or name not in store_objects.columns:
                raise AgnbenchError(f"{run}: the stacker uses store column {name}, which the store does not hold; "
                                    "pass --data STORE")
            col = store_objects.set_index("object_id")[name].reindex(ids).to_numpy(np.float64)
            val = preds["split"].to_numpy() == "val"
            columns.append(np.where(np.isnan(col), np.nanmedian(col[val]) if val.any() else 0.0, col))
            modality.append(_FEATURES)
        else:
            owner = input_members[j] if j < len(input_members) else "?"
            raise AgnbenchError(f"{run}: stacker input {name!r} (member {owner}) is not one agnbench knows how to "
                                "rebuild (<label>:logit_<class>, <label>:missing, feat_*)")
    return np.column_stack(columns), modality


def fusion_modality_shares(run: str | Path, *, split: str, store_objects: pd.DataFrame | None = None
                           ) -> tuple[pd.DataFrame, dict]:
    """Per-object modality contributions and shares of a logistic fusion run on ``split`` (module docstring).

    Returns
    -------
    (pandas.DataFrame, dict)
        ``modality_shares.parquet``'s rows (one per object and ``class_out`` k >= 1) and the summary.json entry
        (``modalities``, ``checked_against_predictions``, ``max_additivity_error``, ``max_probability_error``).
    """
    run = Path(run)
    meta = read_model_meta(run)
    if meta.get("track") != "fusion":
        raise AgnbenchError(f"{run}: not a fusion run (model_meta.json track {meta.get('track')!r})")
    preds = read_predictions(predictions_path(run))
    classes = class_names(preds)
    preds = preds[preds["split"] == split].sort_values("object_id").reset_index(drop=True)
    if preds.empty:
        raise AgnbenchError(f"{run}: no {split} objects in predictions.parquet; set explain.split")
    coefs = _coefficients(run, meta["inputs"], classes)
    X, modality = _rebuild_inputs(meta, preds, classes, store_objects, run)
    logits = {c: b + X @ w for c, (w, b) in coefs.items()}
    cfg = read_run_config(run) or {}
    calibration = (cfg.get("fusion") or {}).get("calibration", "none")
    checked = calibration == "none"
    prob_err = float("nan")
    if checked:
        z = np.column_stack([np.zeros(len(preds)), *logits.values()])
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        prob_err = float(np.abs(p - preds[[f"p_{c}" for c in classes]].to_numpy(np.float64)).max())
        if prob_err > ADDITIVITY_TOL:
            raise AgnbenchError(f"{run}: the stacker rebuilt from coefficients.csv and the members' predictions gives "
                                f"probabilities up to {prob_err:.3g} away from the run's predictions.parquet "
                                f"(> {ADDITIVITY_TOL:g}); the members' predictions changed since the fusion was fitted, "
                                "or its inputs are not rebuilt as the stacker saw them")
    parts = []
    for c, (w, b) in coefs.items():
        table = decompose(X, w, b, modality, logit=logits[c], what=f"{run.name} class {c}")
        table.insert(0, "class_out", c)
        for col in ("y_pred", "y_true", "split", "object_id"):
            table.insert(0, col, preds[col].to_numpy())
        parts.append(table)
    out = pd.concat(parts, ignore_index=True)
    names = list(dict.fromkeys(modality))
    record = {"modalities": names, "class_out": list(coefs), "calibration": calibration,
              "checked_against_predictions": checked, "max_probability_error": prob_err,
              "additivity_tolerance": ADDITIVITY_TOL,
              "mean_share": {m: float(out[f"share_{m}"].mean()) for m in names}}
    return out, record


def share_summary(shares: pd.DataFrame, *, classes: Sequence[str], store_objects: pd.DataFrame | None = None,
                  n_bins: int = SHARE_BINS) -> pd.DataFrame:
    """``modality_shares.csv``: mean and median share of each modality by true class and in quantile bins of the
    store's ``z`` and ``q_spec_sn`` (columns absent from the store are left out)."""
    names = [c[len("share_"):] for c in shares.columns if c.startswith("share_")]
    groups: list[tuple[str, str, float, float, np.ndarray]] = []
    y = shares["y_true"].to_numpy()
    for k, c in enumerate(classes):
        groups.append(("class", c, np.nan, np.nan, y == k))
    if store_objects is not None:
        by_id = store_objects.set_index("object_id")
        for what, column in _BIN_COLUMNS:
            if column not in by_id.columns:
                continue
            v = by_id[column].reindex(shares["object_id"]).to_numpy(np.float64)
            ok = np.isfinite(v)
            if ok.sum() < n_bins:
                continue
            edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, n_bins + 1)))
            which = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, edges.size - 2)
            for b in range(edges.size - 1):
                groups.append((what, f"{column} bin {b + 1}", float(edges[b]), float(edges[b + 1]), ok & (which == b)))
    rows = []
    for by, name, lo, hi, mask in groups:
        for cls, part in shares[mask].groupby("class_out", sort=False):
            for m in names:
                rows.append({"by": by, "bin": name, "lo": lo, "hi": hi, "class_out": cls, "modality": m,
                             "mean_share": float(part[f"share_{m}"].mean()),
                             "median_share": float(part[f"share_{m}"].median()),
                             "mean_contribution": float(part[f"contribution_{m}"].mean()), "n": int(len(part))})
    return pd.DataFrame(rows, columns=["by", "bin", "lo", "hi", "class_out", "modality", "mean_share", "median_share",
                                       "mean_contribution", "n"])
