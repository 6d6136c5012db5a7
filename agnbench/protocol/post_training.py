"""The post-training protocol every track shares, and the checks made before training.

After a model is trained, :func:`finish_run` takes its (uncalibrated) probabilities on the val, test
and ood objects and, for every track alike:

1. fits the calibrator (:func:`~agnbench.protocol.calibration.fit_calibrator`) and then the decision
   rule (:func:`~agnbench.protocol.thresholds.fit_threshold`, on the calibrated val probabilities) on
   the labelled val objects only, and writes ``calibration.json``;
2. calibrates every object and applies the rule -> ``predictions.parquet``
   (:func:`~agnbench.contracts.predictions.prediction_frame`; ood objects get ``y_true = -1``);
3. scores val and test (:func:`~agnbench.protocol.metrics.prediction_metrics`, majority class from the
   training labels) and adds the track's ``model`` section -> ``metrics.json``;
4. writes ``MODEL_CARD.md`` and marks the run ``complete``.

The test split is used for nothing but these final predictions. What differs between the tracks (the
``model`` section of ``metrics.json``, the card's text) is passed in by the trainer.

Before training, :func:`check_splits` (train and val each hold at least two classes) and
:func:`check_decision_rule` (binary rules need two classes) refuse runs that cannot be scored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agnbench.contracts import files
from agnbench.contracts.predictions import prediction_frame
from agnbench.contracts.run_dir import COMPLETE, write_status
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_json, atomic_write_parquet, atomic_write_text
from agnbench.protocol.calibration import Calibrator, fit_calibrator
from agnbench.protocol.metrics import OOD_SPLIT, majority_class, prediction_metrics
from agnbench.protocol.thresholds import apply_threshold, fit_threshold

log = logging.getLogger(__name__)

#: ``model_summary(calibrator, rule) -> dict``: the track's ``model`` section of ``metrics.json``.
ModelSummary = Callable[[Calibrator, dict], dict]
#: ``model_card(metrics) -> str``: the run's ``MODEL_CARD.md`` text, given its complete ``metrics.json``.
ModelCard = Callable[[dict], str]

__all__ = ["ModelCard", "ModelSummary", "check_decision_rule", "check_splits", "finish_run"]


def check_splits(y_train: np.ndarray, y_val: np.ndarray, *, classes: Sequence[str], track: str,
                 inputs_required: bool = False) -> None:
    """Refuse to train unless the train and the val split each hold at least two classes.

    Parameters
    ----------
    y_train, y_val : numpy.ndarray of int, shape (n_train,), (n_val,)
        Class indices (0..K-1) of the labelled objects the track trains and calibrates on.
    classes : sequence of str, length K
        Class names in label order (named in the message).
    track : str
        ``catalog``, ``spectra`` or ``images`` (named in the message).
    inputs_required : bool
        True when the splits count only the objects that have the track's own inputs (spectra,
        cutouts): the message then says so and points at the store's ``quarantine.csv``.

    Raises
    ------
    AgnbenchError
        ``the <split> split has <n> class(es) ...`` naming the classes present.
    """
    for name, y in (("train", y_train), ("val", y_val)):
        present = np.unique(y)
        if present.size < 2:
            have = ", ".join(classes[k] for k in present) or "none"
            if inputs_required:
                raise AgnbenchError(f"the {name} split has {present.size} class(es) with {track} ({have}); training "
                                    "needs at least two: check the store's label scheme, cuts and quarantine.csv")
            raise AgnbenchError(f"the {name} split has {present.size} class(es) ({have}); the {track} track needs "
                                "at least two: check the store's label scheme and cuts")


def check_decision_rule(rule: str, *, n_classes: int, section: str) -> None:
    """Refuse a binary decision rule (anything but ``argmax``) on a multi-class label scheme.

    Parameters
    ----------
    rule : str
        The configured threshold rule (:data:`agnbench.protocol.thresholds.THRESHOLD_RULES`).
    n_classes : int
        Number of classes ``K`` of the store.
    section : str
        The config section that set it (``catalog``, ``spectra``, ``images``), named in the message.

    Raises
    ------
    AgnbenchError
        If ``K > 2`` and ``rule`` is not ``argmax``.
    """
    if n_classes > 2 and rule != "argmax":
        raise AgnbenchError(f"{section}.threshold={rule} needs a binary label scheme; use argmax for multi-class")


def finish_run(run_dir: str | Path, *, object_id: np.ndarray, split: np.ndarray, labels: np.ndarray,
               proba: np.ndarray, classes: Sequence[str], y_train: np.ndarray, track: str, model: str, seed: int,
               calibration: str, threshold: str, target_precision: float, model_summary: ModelSummary,
               model_card: ModelCard) -> dict[str, Any]:
    """Calibrate and choose the decision rule on val, then write the run's outputs and mark it complete.

    Writes ``calibration.json``, ``predictions.parquet``, ``metrics.json``, ``MODEL_CARD.md`` and
    ``status.json`` (``complete``) into ``run_dir``; the run id recorded in the predictions is
    ``run_dir``'s name. The same inputs give the same bytes.

    Parameters
    ----------
    run_dir : str or Path
        The run directory (created by :func:`agnbench.contracts.run_dir.create_run_dir`).
    object_id : numpy.ndarray of str, shape (n,)
        The scored objects: every val, test and ood object the track predicts, in the order the
        predictions table lists them.
    split : numpy.ndarray of str, shape (n,)
        ``val``, ``test`` or ``ood`` per object.
    labels : numpy.ndarray of int, shape (n,)
        Class index per object (``-1`` where unlabelled; ood objects are written with ``-1`` whatever
        their label). The calibrator and the rule are fitted on the val objects with a label >= 0.
    proba : numpy.ndarray of float, shape (n, K)
        The model's uncalibrated class probabilities (rows sum to 1).
    classes : sequence of str, length K
        Class names in label order.
    y_train : numpy.ndarray of int, shape (n_train,)
        Training labels: their most frequent class is the majority-class baseline of the metrics.
    track, model : str
        Recorded in every prediction row (e.g. ``catalog``/``xgboost``, ``spectra``/``resnet1d``).
    seed : int
        The run's seed, recorded in every prediction row.
    calibration : str
        Calibration method (:data:`agnbench.protocol.calibration.CALIBRATION_METHODS`).
    threshold : str
        Decision rule (:data:`agnbench.protocol.thresholds.THRESHOLD_RULES`).
    target_precision : float
        Target of the ``target_precision`` rule, in (0, 1).
    model_summary : callable
        ``model_summary(calibrator, rule) -> dict``: the ``model`` section of ``metrics.json`` (the
        track decides its keys and how the calibrator and the rule appear in it).
    model_card : callable
        ``model_card(metrics) -> str``: the card's text given the complete ``metrics.json``.

    Returns
    -------
    dict
        The run's ``metrics.json`` content (``val``, ``test``, ``ood``, ``model``).
    """
    run_dir = Path(run_dir)
    split = np.asarray(split)
    labels = np.asarray(labels, dtype=np.int64)
    proba = np.asarray(proba)
    val = (split == "val") & (labels >= 0)
    calibrator = fit_calibrator(proba[val], labels[val], method=calibration)
    rule = fit_threshold(calibrator.transform(proba[val]), labels[val], rule=threshold,
                         target_precision=target_precision)
    atomic_write_json(run_dir / files.CALIBRATION, {"calibrator": calibrator.to_dict(), "threshold": rule})
    calibrated = calibrator.transform(proba)
    predictions = prediction_frame(object_id=object_id, split=split, y_true=np.where(split == OOD_SPLIT, -1, labels),
                                   proba=calibrated, y_pred=apply_threshold(calibrated, rule), classes=tuple(classes),
                                   track=track, model=model, run_id=run_dir.name, seed=seed)
    atomic_write_parquet(run_dir / files.PREDICTIONS, predictions)
    metrics = prediction_metrics(predictions, classes=classes, majority=majority_class(y_train, len(classes)))
    metrics["model"] = model_summary(calibrator, rule)
    atomic_write_json(run_dir / files.METRICS, metrics)
    atomic_write_text(run_dir / files.MODEL_CARD, model_card(metrics))
    write_status(run_dir, COMPLETE)
    log.info("run %s complete: test accuracy %.3f (majority %.3f)", run_dir.name, metrics["test"]["accuracy"],
             metrics["test"]["majority_baseline_accuracy"])
    return metrics
