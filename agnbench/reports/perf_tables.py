"""Report tables made from run files and comparison tables: training curves, paired-difference histograms, composites.

Pure functions of DataFrames returning tidy DataFrames, drawn by :mod:`agnbench.reports.fig_performance`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from agnbench.errors import AgnbenchError

__all__ = ["BPT_COLUMNS", "bpt_table", "delta_table", "training_table"]

log = logging.getLogger(__name__)

#: Store columns of the BPT plane: log10([NII]6584/Halpha), log10([OIII]5007/Hbeta) (MPA-JHU stores only).
BPT_COLUMNS = ("q_log_nii_ha", "q_log_oiii_hb")
#: history.csv columns -> series names of :func:`training_table` (deep trainer; tree boosters).
_SERIES = {"train_loss": "train_loss", "val_loss": "val_loss", "val_score": "val_score",
           "train_logloss": "train_loss", "val_logloss": "val_loss"}


def _best_step(history: pd.DataFrame, step: str, model_info: Mapping) -> float:
    """The step whose model was kept: recorded in metrics.json, else the history's own record."""
    key = "best_epoch" if step == "epoch" else "best_iteration"
    if model_info.get(key) is not None:
        return float(model_info[key])
    if "best" in history and history["best"].astype(bool).any():
        return float(history.loc[history["best"].astype(bool), step].iloc[-1])
    if "val_score" in history and history["val_score"].notna().any():
        return float(history.loc[history["val_score"].idxmax(), step])
    val = "val_loss" if "val_loss" in history else "val_logloss"
    if val in history and history[val].notna().any():
        return float(history.loc[history[val].idxmin(), step])
    return float("nan")


def training_table(history: pd.DataFrame, *, run: str, metrics: Mapping | None = None) -> pd.DataFrame:
    """One run's training history in long form.

    Parameters
    ----------
    history : pandas.DataFrame
        The run's ``history.csv``: per ``epoch`` (deep trainer: train_loss, val_loss, val_score, best) or per
        boosting ``round`` (trees: train_logloss, val_logloss).
    run : str
        The run's name.
    metrics : mapping, optional
        The run's ``metrics.json``; ``model.best_epoch`` / ``model.best_iteration`` mark the kept model and
        ``model.val_score`` names the validation score.

    Returns
    -------
    pandas.DataFrame
        run, step_name (``epoch`` or ``round``), step, series (``train_loss``, ``val_loss``, ``val_score``), value,
        best_step (the kept model's step, NaN if unknown), score_name. Empty when the history holds fewer than two
        finite points of any series (e.g. logistic regression's one-row history).

    Raises
    ------
    AgnbenchError
        ``history`` has neither an ``epoch`` nor a ``round`` column.
    """
    step = "epoch" if "epoch" in history else "round" if "round" in history else None
    if step is None:
        raise AgnbenchError(f"history.csv of run {run!r} has no 'epoch' or 'round' column "
                            f"(columns: {list(history.columns)}); it was not written by agnbench train")
    model_info = dict((metrics or {}).get("model", {}) or {})
    best = _best_step(history, step, model_info)
    parts = []
    for col, series in _SERIES.items():
        if col in history:
            values = pd.to_numeric(history[col], errors="coerce")
            if np.isfinite(values).sum() >= 2:
                parts.append(pd.DataFrame({"run": run, "step_name": step, "step": history[step].to_numpy(),
                                           "series": series, "value": values.to_numpy(np.float64)}))
    if not parts:
        return pd.DataFrame(columns=["run", "step_name", "step", "series", "value", "best_step", "score_name"])
    out = pd.concat(parts, ignore_index=True)
    out["best_step"] = best
    out["score_name"] = str(model_info.get("val_score", "roc_auc" if step == "epoch" else ""))
    return out


def delta_table(replicates: pd.DataFrame, tests: pd.DataFrame, *, runs: Sequence[str],
                metrics: Sequence[str] = ("roc_auc", "balanced_accuracy"), bins: int = 40) -> pd.DataFrame:
    """Histograms of the paired bootstrap differences ``value_a - value_b`` of every pair of runs.

    Parameters
    ----------
    replicates : pandas.DataFrame
        ``replicates.parquet``: replicate, run, metric, value (one shared resample per replicate index).
    tests : pandas.DataFrame
        ``tests.csv``; its ``paired bootstrap`` rows give the pairs (a, b), delta, lo, hi, p_value, p_holm.
    runs : sequence of str
        Runs to include (e.g. the compared runs without the majority baseline).
    metrics : sequence of str
        Metrics to histogram.
    bins : int, default 40
        Equal-width bins spanning each pair's range of differences.

    Returns
    -------
    pandas.DataFrame
        One row per pair, metric and bin: run_a, run_b, metric, bin_lo, bin_hi, count, delta, lo, hi, p_value,
        p_holm, n_boot (the finite differences histogrammed).
    """
    need = {"replicate", "run", "metric", "value"}
    if not need <= set(replicates.columns):
        raise AgnbenchError(f"replicates.parquet needs columns {sorted(need)}, has {list(replicates.columns)}")
    boot = tests[tests["test"] == "paired bootstrap"]
    wide = replicates[replicates["metric"].isin(metrics) & replicates["run"].isin(runs)].pivot_table(
        index="replicate", columns=["run", "metric"], values="value", dropna=False)
    rows = []
    for t in boot[boot["metric"].isin(metrics) & boot["run_a"].isin(runs) & boot["run_b"].isin(runs)].itertuples():
        if (t.run_a, t.metric) not in wide or (t.run_b, t.metric) not in wide:
            log.info("no replicates of %s for %s vs %s; pair left out", t.metric, t.run_a, t.run_b)
            continue
        d = (wide[(t.run_a, t.metric)] - wide[(t.run_b, t.metric)]).to_numpy(np.float64)
        d = d[np.isfinite(d)]
        if d.size == 0:
            continue
        lo_edge, hi_edge = float(d.min()), float(d.max())
        if hi_edge - lo_edge < 1e-12:
            lo_edge, hi_edge = lo_edge - 5e-4, hi_edge + 5e-4
        count, edges = np.histogram(d, bins=bins, range=(lo_edge, hi_edge))
        rows.append(pd.DataFrame({"run_a": t.run_a, "run_b": t.run_b, "metric": t.metric, "bin_lo": edges[:-1],
                                  "bin_hi": edges[1:], "count": count, "delta": t.delta, "lo": t.lo, "hi": t.hi,
                                  "p_value": t.p_value, "p_holm": t.p_holm, "n_boot": d.size}))
    cols = ["run_a", "run_b", "metric", "bin_lo", "bin_hi", "count", "delta", "lo", "hi", "p_value", "p_holm",
            "n_boot"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def bpt_table(objects: pd.DataFrame, predictions: Mapping[str, pd.DataFrame], *, positive: str,
              split: str = "ood", x: str = BPT_COLUMNS[0], y: str = BPT_COLUMNS[1]) -> pd.DataFrame:
    """Each run's score for the objects of ``split`` (the BPT composites), placed on the BPT plane.

    Parameters
    ----------
    objects : pandas.DataFrame
        The store's ``objects.parquet`` (object_id and the line-ratio columns ``x``, ``y``).
    predictions : mapping of run name to pandas.DataFrame
        Each run's ``predictions.parquet`` (Contract 2).
    positive : str
        Class whose probability ``p_<positive>`` is the score.
    split : str, default "ood"
    x, y : str
        Columns of log10([NII]6584/Halpha) and log10([OIII]5007/Hbeta) (dimensionless).

    Returns
    -------
    pandas.DataFrame
        run, object_id, log_nii_ha, log_oiii_hb, score, y_pred; objects with a non-finite ratio are dropped
        (counted in the log). Empty if no run has objects in ``split``.

    Raises
    ------
    AgnbenchError
        ``objects`` lacks a needed column, or a run lacks ``p_<positive>``.
    """
    missing = [c for c in ("object_id", x, y) if c not in objects.columns]
    if missing:
        raise AgnbenchError(f"objects.parquet lacks {missing}, needed to place {split} objects on the BPT plane")
    plane = objects[["object_id", x, y]].astype({"object_id": str}).drop_duplicates("object_id")
    parts = []
    for run, preds in predictions.items():
        col = f"p_{positive}"
        if col not in preds.columns:
            raise AgnbenchError(f"predictions of run {run!r} have no column {col!r} (classes differ?)")
        part = preds.loc[preds["split"] == split, ["object_id", col, "y_pred"]].astype({"object_id": str})
        if part.empty:
            continue
        joined = part.merge(plane, on="object_id", how="inner", validate="one_to_one")
        if len(joined) != len(part):
            log.warning("run %s: %d of %d %s objects are not in the store's objects.parquet", run,
                        len(part) - len(joined), len(part), split)
        finite = np.isfinite(joined[x]) & np.isfinite(joined[y])
        if (~finite).any():
            log.info("run %s: %d %s objects without both line ratios left off the BPT plane", run,
                     int((~finite).sum()), split)
        joined = joined[finite]
        parts.append(pd.DataFrame({"run": run, "object_id": joined["object_id"].to_numpy(),
                                   "log_nii_ha": joined[x].to_numpy(np.float64),
                                   "log_oiii_hb": joined[y].to_numpy(np.float64),
                                   "score": joined[col].to_numpy(np.float64),
                                   "y_pred": joined["y_pred"].to_numpy(np.int64)}))
    cols = ["run", "object_id", "log_nii_ha", "log_oiii_hb", "score", "y_pred"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
