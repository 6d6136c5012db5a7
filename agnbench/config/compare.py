"""Config section ``compare``: the paired bootstrap comparison (``agnbench compare``)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import (COMPARE_SPLITS, INTERVAL_METHODS, PRIMARY_METRICS,
                                    PRIMARY_REFERENCE_RULES,
                                    SEED_MODES, THRESHOLD_RULES)
from agnbench.config.rules import alternatives, check_rules


@dataclass(frozen=True)
class CompareConfig:
    """Paired bootstrap comparison of runs (docs/contracts.md, Contract 4).

    One matrix of ``n_boot`` resamples of the objects that every run scored on ``split`` is applied
    to every run (stratified by the true label when ``stratify``), so intervals on differences are
    valid. ``ci`` chooses the interval in summary.csv's ``lo``/``hi``: ``newcombe`` (default: Newcombe's
    score interval for a binary ROC-AUC, which keeps its coverage near AUC = 1, and BCa for every other
    metric), ``bca`` (with a delete-a-group jackknife of ``jackknife_groups`` groups) or ``percentile``;
    percentile and BCa are always written too (docs/statistics.md gives their measured coverage).

    ``primary_metric`` and ``primary_reference`` declare the one comparison a paper leads with (each
    other track against the reference, fusion runs aside; :mod:`agnbench.bootstrap.primary`): ``best_catalog`` is
    the catalog model best on the val split, or name a run.
    """

    split: str = "test"  # choices.COMPARE_SPLITS
    n_boot: int = 2000
    confidence: float = 0.95
    stratify: bool = True
    ci: str = "newcombe"  # choices.INTERVAL_METHODS
    jackknife_groups: int = 200
    ece_bins: int = 15
    subgroups: tuple[str, ...] = ("z", "q_logmass", "q_sn_median", "q_g_r")  # store columns, binned by quantile
    subgroup_bins: int = 4
    subgroup_boot: int = 500
    threshold_rules: tuple[str, ...] = THRESHOLD_RULES  # chosen on val, applied to test
    target_precision: float = 0.9
    coverages: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7)  # abstention: answer only the most confident
    primary_metric: str = "roc_auc"  # choices.PRIMARY_METRICS
    primary_reference: str = PRIMARY_REFERENCE_RULES[0]  # or a run name
    # choices.SEED_MODES. combined: runs identical but for the seed also get one row per group whose interval includes
    # the seed-to-seed variance (objects x seeds, agnbench.bootstrap.seed_groups) and the tests compare groups;
    # separate: every run apart (intervals conditional on each trained model). Equal without such runs.
    seeds: str = "combined"

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("compare", self, [
            ("split", self.split in COMPARE_SPLITS, f"must be {alternatives(COMPARE_SPLITS, quote=True)}"),
            ("n_boot", self.n_boot >= 100, "must be >= 100 (2,000 or more for a paper)"),
            ("confidence", 0.5 <= self.confidence < 1, "must be in [0.5, 1)"),
            ("ci", self.ci in INTERVAL_METHODS, f"must be {alternatives(INTERVAL_METHODS, quote=True)}"),
            ("jackknife_groups", self.jackknife_groups >= 10, "must be >= 10"),
            ("ece_bins", self.ece_bins >= 2, "must be >= 2"),
            ("subgroup_bins", self.subgroup_bins >= 2, "must be >= 2"),
            ("subgroup_boot", self.subgroup_boot >= 100, "must be >= 100"),
            ("threshold_rules", set(self.threshold_rules) <= set(THRESHOLD_RULES),
             f"must be a list of {', '.join(THRESHOLD_RULES)}"),
            ("target_precision", 0 < self.target_precision < 1, "must be in (0, 1)"),
            ("coverages", all(0 < c <= 1 for c in self.coverages), "must be fractions in (0, 1]"),
            ("primary_metric", self.primary_metric in PRIMARY_METRICS,
             f"must be {alternatives(PRIMARY_METRICS, quote=True)}"),
            ("primary_reference", bool(str(self.primary_reference).strip()),
             f"must be {PRIMARY_REFERENCE_RULES[0]!r} or the name of a run compared"),
            ("seeds", self.seeds in SEED_MODES, f"must be {alternatives(SEED_MODES, quote=True)}"),
        ])
