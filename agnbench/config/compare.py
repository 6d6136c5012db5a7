"""Config sections ``compare`` (bootstrap, intervals, subgroups, decisions) and ``explain`` (attributions)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.rules import check_rules


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


@dataclass(frozen=True)
class ExplainConfig:
    """Attributions (``agnbench explain``): how many objects, which class, which baselines.

    Attributions explain the predicted class of each object (``target: predicted``) or its true
    class (``true``), never a sum over classes. The spectra Integrated-Gradients baseline is the
    object's own line-free continuum by default (``continuum``: every emission-line window
    replaced by a straight line), so the attribution is that of the emission lines; ``class_mean``
    uses the mean star-forming training spectrum and ``zeros`` an empty spectrum. Images use an
    empty sky (``zeros``) or a blurred copy (``blurred``).
    """

    split: str = "test"
    n: int = 500  # objects explained (a seeded random subset of the split, stratified by class)
    target: str = "predicted"  # predicted | true
    ig_steps: int = 32
    spectra_baseline: str = "continuum"  # continuum | class_mean | zeros
    image_baseline: str = "zeros"  # zeros | blurred
    psf_fwhm_arcsec: float = 1.3  # radius unit of the image radial profiles (Legacy Survey median seeing)
    max_interactions: int = 300  # SHAP interaction values on at most this many objects
    permutation_repeats: int = 5
    sanity_check: bool = True  # Adebayo et al. (2018): compare with a model whose weights are re-initialised

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("explain", self, [
            ("split", self.split in ("test", "val", "ood"), "must be test, val or ood"),
            ("n", self.n >= 1, "must be >= 1"),
            ("target", self.target in ("predicted", "true"), "must be 'predicted' or 'true'"),
            ("ig_steps", self.ig_steps >= 4, "must be >= 4"),
            ("spectra_baseline", self.spectra_baseline in ("continuum", "class_mean", "zeros"),
             "must be continuum, class_mean or zeros"),
            ("image_baseline", self.image_baseline in ("zeros", "blurred"), "must be zeros or blurred"),
            ("psf_fwhm_arcsec", self.psf_fwhm_arcsec > 0, "must be > 0"),
            ("max_interactions", self.max_interactions >= 0, "must be >= 0 (0 = none)"),
            ("permutation_repeats", self.permutation_repeats >= 1, "must be >= 1"),
        ])


@dataclass(frozen=True)
class ReportConfig:
    """``agnbench report``: what the paper-ready report shows.

    Tables keep full precision in CSV; ``digits`` applies to the LaTeX, Markdown and HTML text.
    Significance statements use the Holm-corrected p-values at ``alpha``. ``curve_boot``
    replicates give the ROC/PR bands (paired, stratified, seeded like the comparison).
    """

    digits: int = 3
    alpha: float = 0.05  # family-wise level for "significant" (Holm-corrected p-values)
    mistakes: int = 8  # objects per confident-mistakes gallery
    curve_boot: int = 500  # bootstrap replicates for the ROC / PR bands

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("report", self, [
            ("digits", 1 <= self.digits <= 6, "must be 1-6"),
            ("alpha", 0 < self.alpha < 1, "must be in (0, 1)"),
            ("mistakes", 0 <= self.mistakes <= 64, "must be 0-64 (0 = no galleries)"),
            ("curve_boot", self.curve_boot >= 0, "must be >= 0 (0 = no bands)"),
        ])
