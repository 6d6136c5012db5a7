"""Config section ``explain``: attributions (``agnbench explain``)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import EXPLAIN_SPLITS, EXPLAIN_TARGETS, IMAGE_BASELINES, SHAP_METHODS, SPECTRA_BASELINES
from agnbench.config.rules import alternatives, check_rules

#: ``explain.treeshap_native_below``: rows x trees below which ``treeshap: auto`` uses the library's own
#: TreeSHAP rather than numba's (measured by ``python -m benchmarks.bench_shap --sweep``; docs/kept-libraries.md).
TREESHAP_NATIVE_BELOW = 100_000


@dataclass(frozen=True)
class ExplainConfig:
    """Attributions (``agnbench explain``): how many objects, which class, which baselines.

    Attributions explain the predicted class of each object (``target: predicted``) or its true
    class (``true``), never a sum over classes. The spectra track is explained by expected gradients
    by default (``expected_gradients``: Integrated Gradients averaged over ``eg_references`` training
    spectra, class-balanced), a baseline that singles out no wavelength. ``continuum`` (the object's
    own line-free spectrum: every emission-line window bridged by a straight line) differs from the
    input only in the line windows, so it puts all attribution there by construction; ``class_mean``
    uses the mean star-forming training spectrum and ``zeros`` an empty spectrum. Images use an
    empty sky (``zeros``) or a blurred copy (``blurred``).
    """

    split: str = "test"  # choices.EXPLAIN_SPLITS
    n: int = 250  # objects explained (a seeded random subset of the split, stratified by class), in every seed's run
    target: str = "predicted"  # choices.EXPLAIN_TARGETS
    ig_steps: int = 32  # most path steps of an object's integrated gradients (adaptive: see ig_min_steps)
    ig_min_steps: int = 8  # first pass; objects whose completeness error is > 5% of their logit change double it
    spectra_baseline: str = "expected_gradients"  # choices.SPECTRA_BASELINES
    eg_references: int = 4  # training spectra (class-balanced) that expected gradients averages over
    image_baseline: str = "zeros"  # choices.IMAGE_BASELINES
    psf_fwhm_arcsec: float = 1.3  # radius unit of the image radial profiles (Legacy Survey median seeing)
    max_interactions: int = 300  # SHAP interaction values on at most this many objects
    permutation_repeats: int = 5
    treeshap: str = "auto"  # choices.SHAP_METHODS: auto (native below treeshap_native_below, else numba), fast, native
    treeshap_native_below: int = TREESHAP_NATIVE_BELOW  # rows x trees
    sanity_check: bool = True  # Adebayo et al. (2018): compare with a model whose weights are re-initialised

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("explain", self, [
            ("split", self.split in EXPLAIN_SPLITS, f"must be {alternatives(EXPLAIN_SPLITS)}"),
            ("n", self.n >= 1, "must be >= 1"),
            ("target", self.target in EXPLAIN_TARGETS, f"must be {alternatives(EXPLAIN_TARGETS, quote=True)}"),
            ("ig_steps", self.ig_steps >= 4, "must be >= 4"),
            ("ig_min_steps", 1 <= self.ig_min_steps <= self.ig_steps, "must be >= 1 and <= explain.ig_steps"),
            ("spectra_baseline", self.spectra_baseline in SPECTRA_BASELINES,
             f"must be {alternatives(SPECTRA_BASELINES)}"),
            ("eg_references", self.eg_references >= 1, "must be >= 1"),
            ("image_baseline", self.image_baseline in IMAGE_BASELINES, f"must be {alternatives(IMAGE_BASELINES)}"),
            ("psf_fwhm_arcsec", self.psf_fwhm_arcsec > 0, "must be > 0"),
            ("max_interactions", self.max_interactions >= 0, "must be >= 0 (0 = none)"),
            ("permutation_repeats", self.permutation_repeats >= 1, "must be >= 1"),
            ("treeshap", self.treeshap in SHAP_METHODS, f"must be {alternatives(SHAP_METHODS)}"),
            ("treeshap_native_below", self.treeshap_native_below >= 0, "must be >= 0 (0 = always numba under auto)"),
        ])
