"""Axis labels (with units) for the quantities and metrics the report figures show."""

from __future__ import annotations

from agnbench.reports import tables

__all__ = ["METRIC_LABELS", "QUANTITY_LABELS", "metric_label", "quantity_label"]

#: Store columns -> axis label with units (mathtext).
QUANTITY_LABELS = {
    "z": "Redshift $z$",
    "q_logmass": r"$\log_{10}(M_\star/M_\odot)$",
    "q_g_r": "$g - r$ (mag)",
    "q_sn_median": "Median spectral S/N (per pixel)",
    "q_spec_sn": "Spectral S/N (per pixel)",
    "q_r_mag": "$r$ (mag)",
    "q_d4000_n": r"$D_n(4000)$",
    "q_ebv_mw": "$E(B-V)_{\\mathrm{MW}}$ (mag)",
    "q_log_nii_ha": r"$\log_{10}$([N II] 6584 / H$\alpha$)",
    "q_log_oiii_hb": r"$\log_{10}$([O III] 5007 / H$\beta$)",
}

#: Metric names of ``summary.csv`` -> label.
METRIC_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro $F_1$",
    "mcc": "MCC",
    "roc_auc": "ROC AUC",
    "pr_auc": "Average precision",
    "brier": "Brier score",
    "log_loss": "Log-loss",
    "ece": "ECE",
    "debiased_ce": "Debiased L2 calibration error",
    "calibration_slope": "Calibration slope",
    "calibration_intercept": "Calibration intercept",
}


def quantity_label(column: str) -> str:
    """Axis label of a store column (the column name itself when unknown)."""
    return QUANTITY_LABELS.get(column, column)


def metric_label(metric: str) -> str:
    """Axis/legend name of a metric (per-class metrics as ``Recall (agn)``; mathtext)."""
    return tables.metric_label(metric, labels=METRIC_LABELS, f1="$F_1$")
