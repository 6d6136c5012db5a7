"""The stacker: inputs from the members' predictions, cross-fitted on the val split only.

:func:`stack_inputs` turns the members' calibrated probabilities into one row per object: for each member the
``K - 1`` log-ratios ``log p_k - log p_0`` (the logit of ``p_<class 1>`` for two classes; probabilities clipped
to ``[1e-6, 1]``), named ``<member label>:logit_<class k>``, then (``fusion.missing: indicator``) one
``<member label>:missing`` column per member that did not score some objects (its logits there are 0), then
(``fusion.features``) the store's ``feat_*`` columns. With ``missing: drop`` only objects every member scored are
kept, and the objects dropped are counted per member and split.

:func:`cross_fit` fits the stacker on val only: val objects (in ``object_id`` order) are split into
``folds`` stratified folds (seeded by ``rng(seed, "fusion", "folds")``); each fold's predictions come from the
stacker fitted on the other folds (out-of-fold), and the test and ood predictions from the stacker refitted on
all of val. Nothing of the test or ood objects but their inputs is read, so their labels cannot reach it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from agnbench.errors import AgnbenchError
from agnbench.seeding import derive_seed

__all__ = ["EPS", "StackInputs", "cross_fit", "stack_inputs"]

#: Probabilities are clipped to [EPS, 1] before their logarithm.
EPS = 1e-6
#: Folds of the inner CV choosing the logistic regression's C within each training set.
INNER_FOLDS = 3
#: The splits a fusion predicts.
FUSED_SPLITS = ("val", "test", "ood")


@dataclass(frozen=True)
class StackInputs:
    """The stacker's design matrix.

    Attributes
    ----------
    object_id, split : numpy.ndarray of str, shape (n,)
        Sorted by (split order val, test, ood; then object_id).
    y : numpy.ndarray of int, shape (n,)
        Labels (-1 for ood).
    X : numpy.ndarray of float, shape (n, d)
    inputs : list of str, length d
        Column names.
    input_member : list of str, length d
        The member label each column comes from (``features`` for store columns).
    dropped : dict
        ``{member label: {split: n}}``: objects dropped because that member did not score them (``drop``), or
        imputed (``indicator``).
    """

    object_id: np.ndarray
    split: np.ndarray
    y: np.ndarray
    X: np.ndarray
    inputs: list[str]
    input_member: list[str]
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)


def stack_inputs(member_preds: Sequence[pd.DataFrame], labels: Sequence[str], classes: Sequence[str], *,
                 missing: str, features: pd.DataFrame | None = None) -> StackInputs:
    """Build the stacker inputs from the members' predictions (see the module docstring).

    Parameters
    ----------
    member_preds : sequence of pandas.DataFrame
        Each member's predictions (Contract 2).
    labels : sequence of str
        Each member's label (prefix of its input names).
    classes : sequence of str, length K
    missing : str
        ``drop`` or ``indicator``.
    features : pandas.DataFrame, optional
        Indexed by ``object_id``: extra ``feat_*`` inputs (NaN filled with the val median by the stacker).
    """
    per = []
    for preds in member_preds:
        part = preds[preds["split"].isin(FUSED_SPLITS)].set_index("object_id")
        per.append(part)
    ids = sorted(set().union(*(set(p.index) for p in per)))
    frame = pd.DataFrame(index=pd.Index(ids, name="object_id"))
    split = pd.Series(index=frame.index, dtype=object)
    y = pd.Series(index=frame.index, dtype="float64")
    for p in per:
        split = split.fillna(p["split"].reindex(frame.index))
        y = y.fillna(p["y_true"].reindex(frame.index).astype("float64"))
    cols, col_member, scored = [], [], []
    for p, label in zip(per, labels):
        have = frame.index.isin(p.index)
        scored.append(have)
        proba = np.clip(p[[f"p_{c}" for c in classes]].reindex(frame.index).to_numpy(np.float64), EPS, 1.0)
        logp = np.log(proba)
        for k, c in enumerate(classes[1:], start=1):
            name = f"{label}:logit_{c}"
            frame[name] = np.where(have, logp[:, k] - logp[:, 0], 0.0)
            cols.append(name)
            col_member.append(label)
    scored_all = np.column_stack(scored)
    split_arr = split.to_numpy().astype(str)
    dropped = {label: {s: int(np.sum(~scored_all[:, j] & (split_arr == s))) for s in FUSED_SPLITS}
               for j, label in enumerate(labels)}
    if missing == "drop":
        keep = scored_all.all(axis=1)
    elif missing == "indicator":
        keep = np.ones(len(frame), dtype=bool)
        for j, label in enumerate(labels):
            if not scored_all[:, j].all():
                name = f"{label}:missing"
                frame[name] = (~scored_all[:, j]).astype(np.float64)
                cols.append(name)
                col_member.append(label)
    else:
        raise AgnbenchError(f"fusion.missing={missing!r}: must be drop or indicator")
    if features is not None:
        extra = features.reindex(frame.index)
        for c in extra.columns:
            frame[c] = extra[c].to_numpy(np.float64)
            cols.append(str(c))
            col_member.append("features")
    order = np.lexsort((frame.index.to_numpy().astype(str), [FUSED_SPLITS.index(s) for s in split_arr]))
    order = order[keep[order]]
    ids_arr = frame.index.to_numpy().astype(str)[order]
    return StackInputs(object_id=ids_arr, split=split_arr[order], y=y.to_numpy()[order].astype(np.int64),
                       X=frame[cols].to_numpy(np.float64)[order], inputs=cols, input_member=col_member,
                       dropped=dropped)


@dataclass(frozen=True)
class FitOutput:
    """What :func:`cross_fit` returns.

    Attributes
    ----------
    proba : numpy.ndarray, shape (n, K)
        Out-of-fold probabilities for val rows, refitted-stacker probabilities for the others.
    fold : numpy.ndarray of int, shape (n,)
        The val fold of each val row (-1 elsewhere).
    summary : dict
        JSON-serialisable: the stacker, its chosen ``C`` per fold and in the refit, ``coefficients`` of the refit
        (logreg) and the per-fold val scores.
    model : object
        The refitted scikit-learn estimator.
    """

    proba: np.ndarray
    fold: np.ndarray
    summary: dict[str, Any]
    model: Any


def _pipeline(model):
    """Median imputation (of store features), standardisation, then ``model``."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), model)


def _logreg(c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=float(c), max_iter=2000, tol=1e-6)


def _fit(stacker: str, X: np.ndarray, y: np.ndarray, *, c_grid: Sequence[float], folds: int, seed: int, depth: int,
         n_iter: int) -> tuple[Any, float | None]:
    """Fit a stacker on ``(X, y)``: returns the fitted pipeline and the chosen ``C`` (logreg; None for gbm).

    logreg: ``C`` is the value of ``c_grid`` with the lowest mean log loss over an inner stratified
    :data:`INNER_FOLDS`-fold CV of ``(X, y)`` (seeded by ``rng(seed, "fusion", "inner")``; ties: the smallest C, the strongest penalty).
    """
    if stacker == "logreg":
        from sklearn.metrics import log_loss
        from sklearn.model_selection import StratifiedKFold

        n_inner = int(min(INNER_FOLDS, np.bincount(y)[np.bincount(y) > 0].min()))
        best = float(min(c_grid))
        if n_inner >= 2 and len(c_grid) > 1:
            inner = StratifiedKFold(n_splits=n_inner, shuffle=True,
                                    random_state=derive_seed(seed, "fusion", "inner") % 2**32)
            splits = list(inner.split(X, y))
            labels = np.unique(y)
            losses = []
            for c in sorted(c_grid):
                loss = [log_loss(y[te], _pipeline(_logreg(c)).fit(X[tr], y[tr]).predict_proba(X[te]), labels=labels)
                        for tr, te in splits]
                losses.append(float(np.mean(loss)))
            best = float(sorted(c_grid)[int(np.argmin(losses))])
        return _pipeline(_logreg(best)).fit(X, y), best
    if stacker == "gbm":
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(max_depth=depth, max_iter=n_iter, learning_rate=0.1,
                                               early_stopping=False, l2_regularization=1.0,
                                               random_state=derive_seed(seed, "fusion", "gbm") % 2**32)
        return _pipeline(model).fit(X, y), None
    raise AgnbenchError(f"fusion.stacker={stacker!r}: must be logreg or gbm")


def cross_fit(inputs: StackInputs, *, stacker: str, n_classes: int, folds: int, seed: int,
              c_grid: Sequence[float] = (0.01, 0.1, 1.0, 10.0), depth: int = 2, n_iter: int = 100) -> FitOutput:
    """Cross-fit the stacker on the val rows of ``inputs`` (see the module docstring).

    Raises
    ------
    AgnbenchError
        Fewer than two classes in val, or a class with fewer val objects than ``folds`` (lower ``fusion.folds``).
    """
    from sklearn.model_selection import StratifiedKFold

    val = inputs.split == "val"
    y_val = inputs.y[val]
    X_val = inputs.X[val]
    counts = np.bincount(y_val[y_val >= 0], minlength=n_classes)
    if (counts > 0).sum() < 2:
        raise AgnbenchError(f"the val split has {int((counts > 0).sum())} class(es) among the objects every member "
                            "scored; the fusion stacker needs at least two")
    if counts[counts > 0].min() < folds:
        raise AgnbenchError(f"the val split has only {int(counts[counts > 0].min())} objects of a class; "
                            f"fusion.folds={folds} needs at least {folds} per class: lower fusion.folds")
    make = dict(c_grid=c_grid, folds=folds, seed=seed, depth=depth, n_iter=n_iter)
    outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=derive_seed(seed, "fusion", "folds") % 2**32)
    oof = np.zeros((X_val.shape[0], n_classes))
    fold = np.full(X_val.shape[0], -1, dtype=np.int64)
    per_fold = []
    for f, (tr, te) in enumerate(outer.split(X_val, y_val)):
        pipe, c = _fit(stacker, X_val[tr], y_val[tr], **make)
        oof[te] = _full_proba(pipe, X_val[te], n_classes)
        fold[te] = f
        per_fold.append({"fold": f, "n_fit": int(tr.size), "n_predicted": int(te.size), "C": c})
    final, c_final = _fit(stacker, X_val, y_val, **make)
    proba = np.zeros((inputs.X.shape[0], n_classes))
    proba[val] = oof
    if (~val).any():
        proba[~val] = _full_proba(final, inputs.X[~val], n_classes)
    fold_all = np.full(inputs.X.shape[0], -1, dtype=np.int64)
    fold_all[val] = fold
    summary = {"stacker": stacker, "folds": folds, "c_grid": [float(c) for c in c_grid] if stacker == "logreg" else None,
               "C": c_final, "per_fold": per_fold, "n_val": int(val.sum())}
    if stacker == "logreg":
        summary["coefficients"] = coefficient_table(final, inputs.inputs, inputs.input_member, n_classes)
    return FitOutput(proba=proba, fold=fold_all, summary=summary, model=final)


def _full_proba(pipe, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` with a column for every class (a class absent from a fold gets probability 0)."""
    p = pipe.predict_proba(X)
    out = np.zeros((X.shape[0], n_classes))
    out[:, pipe.classes_.astype(int)] = p
    return out


def coefficient_table(pipe, inputs: Sequence[str], input_member: Sequence[str], n_classes: int) -> list[dict]:
    """Rows ``class_out, input, member, coefficient`` (per raw input unit), ``standardized_coefficient`` (per
    standard deviation of the input on val), ``mean``, ``std``, plus one ``(intercept)`` row per class_out.

    Binary: one ``class_out`` (class index 1); multi-class: one per class (multinomial logistic regression).
    """
    scaler, model = pipe[-2], pipe[-1]
    coef = np.atleast_2d(model.coef_)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    rows = []
    outs = [int(model.classes_[1])] if coef.shape[0] == 1 else [int(c) for c in model.classes_]
    for r, k in enumerate(outs):
        raw = coef[r] / scale
        intercept = float(model.intercept_[r] - np.sum(raw * scaler.mean_))
        for j, name in enumerate(inputs):
            rows.append({"class_out": k, "input": name, "member": input_member[j], "coefficient": float(raw[j]),
                         "standardized_coefficient": float(coef[r, j]), "mean": float(scaler.mean_[j]),
                         "std": float(scale[j])})
        rows.append({"class_out": k, "input": "(intercept)", "member": "", "coefficient": intercept,
                     "standardized_coefficient": float(model.intercept_[r]), "mean": 0.0, "std": 1.0})
    return rows
