"""The leakage guard: no model input may define the label.

BPT labels are computed from [OIII]/Hbeta and [NII]/Halpha, so emission-line fluxes, equivalent
widths, line ratios, BPT/WHAN classes and line-based SFRs or metallicities are refused as
features, by name and by behaviour:

1. by name (:data:`LEAKY_PATTERNS`, case-insensitive; the first matching pattern gives the reason,
   and a name naming both a forbidden and a Balmer line is an emission-line ratio);
2. by behaviour, on the training split only, whatever the names:

   - any single feature that separates the classes with a ROC AUC above ``auc_threshold`` (0.98);
   - any **pair** of the remaining features on which a small 2-D rule (a quantile-grid rule or a
     depth-3 decision tree), scored out of fold within the training split, reaches a ROC AUC above
     ``pair_threshold`` (0.98, the single-feature bar);
   - any pair that, read as the BPT plane (log [NII]/Hα, log [OIII]/Hβ), reproduces the label through
     the Kauffmann et al. (2003) or Kewley et al. (2001) line with a balanced agreement above
     ``bpt_threshold`` (0.98). See :mod:`agnbench.protocol.leakage_pairs`.

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
from agnbench.protocol.leakage_pairs import PairFinding, check_pairs

log = logging.getLogger(__name__)

_BALMER = r"h_?alpha|h_?beta|h_?gamma|h_?delta_flux|h[αβγ]|\bh[ab]_|_h[ab]\b"
_FORBIDDEN = r"o_?iii|n_?ii|s_?ii|o_?ii|\bo_?i_|ne_?iii|oi_?6300|nii_?65|sii_?67"
#: Names of strong-line ratios and indices (N2, O3, O3N2, R23, S2, n2ha, o3hb, ...) as whole tokens.
_RATIO = (r"line_?ratio|(^|[^a-z0-9])(n2|o3|s2|o3n2|n2o2|n2s2|r23|n2ha|o3hb|s2ha|o1ha|niiha|oiiihb|siiha)"
          r"([^a-z0-9]|$)|\[?(n|o|s)_?i+\]?_?/")
#: Name fragments of label-defining quantities, in priority order: (regex, reason). A name that
#: matches both the Balmer and the forbidden pattern is reported as an emission-line ratio.
LEAKY_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"bpt|whan|agn_?class|kewley|kauffmann", "emission-line classification"),
    (r"eqw|(^|_)ew(_|$|\()|equiv", "emission-line equivalent width"),
    (r"(^|_)sfr|specsfr|ssfr", "line-based star formation rate"),
    (r"(^|_)oh_|metallicity|12\+?log", "line-based metallicity"),
    (_RATIO, "emission-line ratio"),
    (_BALMER, "Balmer emission line"),
    (_FORBIDDEN, "forbidden emission line"),
    (r"line_?(flux|area)|_cont\b", "emission-line measurement"),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), why) for p, why in LEAKY_PATTERNS)
_BALMER_RE, _FORBIDDEN_RE = re.compile(_BALMER, re.IGNORECASE), re.compile(_FORBIDDEN, re.IGNORECASE)
_RATIO_REASON = "emission-line ratio"


def leaky_by_name(columns: list[str]) -> dict[str, str]:
    """Columns whose names mark them as label-defining: {column: reason}."""
    out = {}
    for col in columns:
        hits = [why for pattern, why in _COMPILED if pattern.search(col)]
        if not hits:
            continue
        if _BALMER_RE.search(col) and _FORBIDDEN_RE.search(col) and hits[0] in (
                "Balmer emission line", "forbidden emission line", "emission-line measurement"):
            out[col] = _RATIO_REASON
        else:
            out[col] = hits[0]
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
    """What the guard found: refused-by-name and flagged-by-AUC features, flagged pairs, and the kept AUCs.

    ``pairs`` holds the flagged pairs (:class:`~agnbench.protocol.leakage_pairs.PairFinding`, ``check``
    ``tree`` or ``bpt``); ``pair_check`` the pair checks' settings and best scores.
    """

    by_name: dict[str, str] = field(default_factory=dict)
    by_auc: dict[str, float] = field(default_factory=dict)
    auc: dict[str, float] = field(default_factory=dict)
    allow_leaky: bool = False
    pairs: tuple[PairFinding, ...] = ()
    pair_check: dict = field(default_factory=dict)
    smallest_class: int | None = None
    behaviour_checked: bool = True
    auc_threshold: float = 0.98

    @property
    def leaky(self) -> list[str]:
        return sorted(set(self.by_name) | set(self.by_auc) | {f for p in self.pairs for f in p.features})

    def reasons(self) -> dict[str, list[str]]:
        """Why each leaky feature is leaky: ``{feature: [reason, ...]}``."""
        out: dict[str, list[str]] = {f: [] for f in self.leaky}
        for f, why in self.by_name.items():
            out[f].append(f"name: {why}")
        for f, a in self.by_auc.items():
            out[f].append(f"train AUC {a:.3f} > {self.auc_threshold} on its own")
        for p in self.pairs:
            for f in p.features:
                out[f].append(p.reason)
        return out

    def describe(self) -> list[str]:
        """One line per reason: single features, then each flagged pair once."""
        lines = [f"{f} (name: {why})" for f, why in sorted(self.by_name.items())]
        lines += [f"{f} (train AUC {a:.3f} > {self.auc_threshold} on its own)" for f, a in sorted(self.by_auc.items())
                  if f not in self.by_name]
        return lines + [p.reason for p in self.pairs]

    def as_dict(self) -> dict:
        return {"allow_leaky": self.allow_leaky, "refused_by_name": self.by_name,
                "flagged_by_auc": {k: round(v, 4) for k, v in self.by_auc.items()},
                "train_auc": {k: round(v, 4) for k, v in self.auc.items() if np.isfinite(v)},
                "flagged_pairs": [p.as_dict() for p in self.pairs if p.check != "bpt"],
                "flagged_by_bpt": [p.as_dict() for p in self.pairs if p.check == "bpt"],
                "pair_check": self.pair_check,
                "behaviour_checked": self.behaviour_checked, "smallest_train_class": self.smallest_class,
                "leaky": self.leaky}


def check_leakage(
    df: pd.DataFrame,
    features: list[str],
    *,
    label: np.ndarray,
    train: np.ndarray,
    allow_leaky: bool = False,
    auc_threshold: float = 0.98,
    pair_threshold: float = 0.98,
    bpt_threshold: float = 0.98,
    pair_depth: int = 3,
    max_pair_features: int = 40,
    max_pair_rows: int = 20000,
    check_pairs_too: bool = True,
    min_class_count: int = 20,
    random_state: int = 0,
    source: str = "features",
    raise_on_leak: bool = True,
) -> LeakageReport:
    """Apply the name, single-feature and pair checks to ``features`` of ``df`` using the training rows only.

    With ``allow_leaky`` leaky features are kept (with a warning each); otherwise they are an
    error, or, with ``raise_on_leak=False``, only reported so the caller can leave them out.

    Parameters
    ----------
    df : DataFrame
        Holds the ``features`` columns (row-aligned with ``label`` and ``train``).
    features : list of str
    label : numpy.ndarray of int, shape (n,)
        Class index; rows with -1 (ood, excluded) are ignored.
    train : numpy.ndarray of bool, shape (n,)
        The training split; nothing else is looked at.
    auc_threshold, pair_threshold, bpt_threshold : float, keyword-only
        Bars of the single-feature AUC, the out-of-fold AUC of a depth-``pair_depth`` tree on a pair,
        and the balanced agreement of a BPT demarcation on a pair (see
        :mod:`agnbench.protocol.leakage_pairs`).
    max_pair_features, max_pair_rows : int, keyword-only
        Pairs are checked among at most this many features (top single AUC) on at most this many
        training rows (stratified, seeded by ``random_state``).
    check_pairs_too : bool, keyword-only
        Run the pair checks (on the features not already flagged on their own).
    min_class_count : int, keyword-only
        The behavioural checks (single-feature AUC, pairs, BPT lines) need at least this many training
        objects in the smallest class: with fewer, an unrelated feature separates the classes perfectly
        by chance (two AGN among 30 objects: a random feature has AUC 1 with probability 2/435), so they
        are skipped with a warning and only the names are checked (recorded as ``behaviour_checked``).

    Raises
    ------
    AgnbenchError
        Listing every leaky feature and why, unless ``allow_leaky`` or ``raise_on_leak=False``.
    """
    by_name = leaky_by_name(features)
    label = np.asarray(label)
    train = np.asarray(train, dtype=bool)
    auc = {f: single_feature_auc(df[f].to_numpy(dtype=np.float64, na_value=np.nan)[train], label[train])
           for f in features}
    rows = train & (label >= 0)
    counts = np.unique(label[rows], return_counts=True)[1]
    smallest = int(counts.min()) if counts.size >= 2 else 0
    behaviour = smallest >= min_class_count
    if not behaviour:
        log.warning("%s: the smallest class has %d training object(s) (< %d): a feature can separate so few "
                    "objects by chance, so the leakage guard checks names only (no AUC, pair or BPT-line check)",
                    source, smallest, min_class_count)
    by_auc = {f: a for f, a in auc.items() if behaviour and np.isfinite(a) and a > auc_threshold}
    pairs: tuple[PairFinding, ...] = ()
    pair_check: dict = {}
    rest = [f for f in features if f not in by_name and f not in by_auc]
    if behaviour and check_pairs_too and len(rest) >= 2 and rows.any():
        X = df[rest].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
        found = check_pairs(X, label[rows].astype(np.int64), rest, auc, pair_threshold=pair_threshold,
                            bpt_threshold=bpt_threshold, depth=pair_depth, max_features=max_pair_features,
                            max_rows=max_pair_rows, random_state=random_state)
        pairs = tuple(found["findings"])
        pair_check = {**found["settings"], "best": found["best"]}
    report = LeakageReport(by_name=by_name, by_auc=by_auc, auc=auc, allow_leaky=allow_leaky, pairs=pairs,
                           pair_check=pair_check, auc_threshold=auc_threshold, smallest_class=smallest,
                           behaviour_checked=behaviour)
    if report.leaky:
        detail = "; ".join(report.describe())
        if not allow_leaky and raise_on_leak:
            raise AgnbenchError(
                f"{source}: refusing label-defining feature(s) {', '.join(report.leaky)}: {detail}. Drop them, or "
                "pass --allow-leaky to keep them (recorded in the output)"
            )
        if allow_leaky:
            reasons = report.reasons()
            for f in report.leaky:
                log.warning("LEAKY feature kept because of --allow-leaky: %s (%s)", f, "; ".join(reasons[f]))
    return report
