"""Config section ``compare`` (``agnbench compare``): bootstrap, intervals, subgroups, decisions."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config_rules import check_rules


@dataclass(frozen=True)
class CompareConfig:
    """Paired bootstrap comparison of runs (DESIGN Contract 4).

    One matrix of ``n_boot`` resamples of the objects that every run scored on ``split`` is applied
    to every run (stratified by the true label when ``stratify``), so intervals on differences are
    valid. ``ci`` chooses the interval in summary.csv (``percentile``, or ``bca`` with a
    delete-a-group jackknife of ``jackknife_groups`` groups); both are always written.
    """

    split: str = "test"
    n_boot: int = 2000
    confidence: float = 0.95
    stratify: bool = True
    ci: str = "percentile"  # percentile | bca
    jackknife_groups: int = 200
    ece_bins: int = 15
    subgroups: tuple[str, ...] = ("z", "q_logmass", "q_sn_median", "q_g_r")  # store columns, binned by quantile
    subgroup_bins: int = 4
    subgroup_boot: int = 500
    threshold_rules: tuple[str, ...] = ("argmax", "max_f1", "target_precision")  # chosen on val, applied to test
    target_precision: float = 0.9
    coverages: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7)  # abstention: answer only the most confident
    seeds: str = "separate"  # separate | combined (also pool runs that differ only by seed)

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("compare", self, [
            ("split", self.split in ("test", "val"), "must be 'test' or 'val'"),
            ("n_boot", self.n_boot >= 100, "must be >= 100 (2,000 or more for a paper)"),
            ("confidence", 0.5 <= self.confidence < 1, "must be in [0.5, 1)"),
            ("ci", self.ci in ("percentile", "bca"), "must be 'percentile' or 'bca'"),
            ("jackknife_groups", self.jackknife_groups >= 10, "must be >= 10"),
            ("ece_bins", self.ece_bins >= 2, "must be >= 2"),
            ("subgroup_bins", self.subgroup_bins >= 2, "must be >= 2"),
            ("subgroup_boot", self.subgroup_boot >= 100, "must be >= 100"),
            ("threshold_rules", set(self.threshold_rules) <= {"argmax", "max_f1", "target_precision"},
             "must be a list of argmax, max_f1, target_precision"),
            ("target_precision", 0 < self.target_precision < 1, "must be in (0, 1)"),
            ("coverages", all(0 < c <= 1 for c in self.coverages), "must be fractions in (0, 1]"),
            ("seeds", self.seeds in ("separate", "combined"), "must be 'separate' or 'combined'"),
        ])
