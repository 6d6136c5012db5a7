"""The leakage guard: no model input may define the label.

BPT labels are computed from [OIII]/Hbeta and [NII]/Halpha, so emission-line fluxes, equivalent
widths, line ratios, BPT/WHAN classes and line-based SFRs or metallicities are refused as
features, twice over:

1. by name (:data:`LEAKY_PATTERNS`, case-insensitive), and
2. by behaviour: any single feature that separates the classes with a training-split ROC AUC above
   ``auc_threshold`` (0.98) on its own is flagged, whatever its name.

``allow_leaky=True`` lets them through; the caller must record that (the store manifest and the
run's model card do), and a warning is logged for every leaky feature kept.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

#: Name fragments of label-defining quantities (emission lines, line indices, line-based classes).
LEAKY_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"h_?alpha|h_?beta|h_?gamma|h_?delta_flux|\bh[ab]_|_h[ab]\b", "Balmer emission line"),
    (r"o_?iii|n_?ii|s_?ii|o_?ii|\bo_?i_|ne_?iii|oi_?6300|nii_?65|sii_?67", "forbidden emission line"),
    (r"eqw|(^|_)ew(_|$|\()|equiv", "emission-line equivalent width"),
    (r"bpt|whan|agn_?class|kewley|kauffmann", "emission-line classification"),
    (r"(^|_)sfr|specsfr|ssfr", "line-based star formation rate"),
    (r"(^|_)oh_|metallicity|12\+?log", "line-based metallicity"),
    (r"line_?(flux|area|ratio)|lineratio|_cont\b", "emission-line measurement"),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), why) for p, why in LEAKY_PATTERNS)


def leaky_by_name(columns: list[str]) -> dict[str, str]:
    """Columns whose names mark them as label-defining: {column: reason}."""
    out = {}
    for col in columns:
        for pattern, why in _COMPILED:
            if pattern.search(col):
                out[col] = why
                break
    return out


def single_feature_auc(values: np.ndarray, label: np.ndarray) -> float:
    """Best one-vs-rest ROC AUC of one feature on its own, orientation-free (max(AUC, 1 - AUC)).

    Non-finite values are dropped; returns nan when fewer than two classes remain.
    """
    values = np.asarray(values, dtype=np.float64)
    label = np.asarray(label)
    ok = np.isfinite(values) & (label >= 0)
    values, label = values[ok], label[ok]
    classes = np.unique(label)
    if classes.size < 2:
        return float("nan")
    ranks = rankdata(values)
    best = 0.0
    for k in classes if classes.size > 2 else classes[1:]:
        pos = label == k
        n_pos, n_neg = pos.sum(), (~pos).sum()
        auc = (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        best = max(best, auc, 1.0 - auc)
    return float(best)


@dataclass(frozen=True)
class LeakageReport:
    """What the guard found: refused-by-name and refused-by-AUC features, and the kept AUCs."""

    by_name: dict[str, str] = field(default_factory=dict)
    by_auc: dict[str, float] = field(default_factory=dict)
    auc: dict[str, float] = field(default_factory=dict)
    allow_leaky: bool = False

    @property
    def leaky(self) -> list[str]:
        return sorted(set(self.by_name) | set(self.by_auc))

    def as_dict(self) -> dict:
        return {"allow_leaky": self.allow_leaky, "refused_by_name": self.by_name,
                "flagged_by_auc": {k: round(v, 4) for k, v in self.by_auc.items()},
                "train_auc": {k: round(v, 4) for k, v in self.auc.items() if np.isfinite(v)}}


def check_leakage(
    df: pd.DataFrame,
    features: list[str],
    *,
    label: np.ndarray,
    train: np.ndarray,
    allow_leaky: bool = False,
    auc_threshold: float = 0.98,
    source: str = "features",
    raise_on_leak: bool = True,
) -> LeakageReport:
    """Apply both checks to ``features`` of ``df`` using the training rows only.

    With ``allow_leaky`` leaky features are kept (with a warning each); otherwise they are an
    error, or, with ``raise_on_leak=False``, only reported so the caller can leave them out.

    Raises
    ------
    AgnbenchError
        Listing every leaky feature and why, unless ``allow_leaky`` or ``raise_on_leak=False``.
    """
    by_name = leaky_by_name(features)
    auc = {f: single_feature_auc(df[f].to_numpy(dtype=np.float64, na_value=np.nan)[train], label[train])
           for f in features}
    by_auc = {f: a for f, a in auc.items() if np.isfinite(a) and a > auc_threshold}
    report = LeakageReport(by_name=by_name, by_auc=by_auc, auc=auc, allow_leaky=allow_leaky)
    if report.leaky:
        detail = "; ".join(
            f"{f} ({by_name[f]})" if f in by_name else f"{f} (train AUC {by_auc[f]:.3f} > {auc_threshold} on its own)"
            for f in report.leaky
        )
        if not allow_leaky and raise_on_leak:
            raise AgnbenchError(
                f"{source}: refusing label-defining feature(s): {detail}. Drop them, or pass --allow-leaky "
                "to keep them (recorded in the output)"
            )
        if allow_leaky:
            for f in report.leaky:
                log.warning("LEAKY feature kept because of --allow-leaky: %s", f)
    return report
