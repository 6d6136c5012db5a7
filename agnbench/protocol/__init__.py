"""What every track shares after training: leakage rules, calibration, decision thresholds, metrics, model card.

:func:`finish_run` is the post-training protocol of every trainer (calibrate and choose the decision
rule on val, then predictions, metrics, model card, ``complete``); :func:`check_splits` and
:func:`check_decision_rule` are the checks made before training.
"""

from agnbench.protocol.calibration import Calibrator, fit_calibrator
from agnbench.protocol.leakage import LeakageReport, check_leakage, leaky_by_name, single_feature_auc
from agnbench.protocol.metrics import majority_class, prediction_metrics, split_metrics
from agnbench.protocol.model_card import class_balance_fact, data_fact, decision_fact, render_model_card
from agnbench.protocol.post_training import check_decision_rule, check_splits, finish_run
from agnbench.protocol.thresholds import apply_threshold, fit_threshold

__all__ = [
    "Calibrator",
    "LeakageReport",
    "apply_threshold",
    "check_decision_rule",
    "check_leakage",
    "check_splits",
    "class_balance_fact",
    "data_fact",
    "decision_fact",
    "finish_run",
    "fit_calibrator",
    "fit_threshold",
    "leaky_by_name",
    "majority_class",
    "prediction_metrics",
    "render_model_card",
    "single_feature_auc",
    "split_metrics",
]
