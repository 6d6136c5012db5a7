"""Config section ``fusion``: the fusion track (``agnbench train fusion``; ``agnbench run`` fits it after training)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import CALIBRATION_METHODS, FUSION_MISSING, FUSION_STACKERS, THRESHOLD_RULES
from agnbench.config.rules import alternatives, check_rules


@dataclass(frozen=True)
class FusionConfig:
    """Fusion track: a stacker on the member runs' calibrated predictions, fitted on the val split only.

    Every object's stacker inputs are the members' log-ratios ``log p_k - log p_0`` (k = 1..K-1: the logit of
    ``p_<class 1>`` for two classes), plus the store's ``feat_*`` columns with ``features``. The stacker is fitted
    by ``folds``-fold stratified cross-fitting on val (val predictions are out-of-fold; test and ood predictions
    come from the stacker refitted on all of val), then calibrated (``calibration``) and thresholded
    (``threshold``) on those out-of-fold val predictions by the protocol every track uses. ``logreg``: L2 logistic
    regression on standardised inputs, ``C`` chosen from ``c_grid`` by an inner stratified 3-fold CV (log
    loss) within each training set inside each training fold; ``gbm``: scikit-learn's HistGradientBoosting (depth ``gbm_depth``,
    ``gbm_iter`` rounds). ``missing``: an object a member did not score is dropped (``drop``, counts recorded) or
    given logit 0 and a missing-indicator input (``indicator``). ``enabled``: whether ``agnbench run`` fits the
    fusion of its trained tracks. ``members`` is written by the trainer (the members' seed-free identities,
    ``<track>-<model>-<config hash>``), so fusions of other members form other seed groups; leave it empty.
    """

    enabled: bool = True
    stacker: str = "logreg"  # choices.FUSION_STACKERS
    folds: int = 5
    features: bool = False  # also give the stacker the store's feat_* columns
    missing: str = "drop"  # choices.FUSION_MISSING
    c_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    gbm_depth: int = 2
    gbm_iter: int = 100
    calibration: str = "none"  # choices.CALIBRATION_METHODS (fitted on the out-of-fold val predictions)
    threshold: str = "argmax"  # choices.THRESHOLD_RULES (chosen on the out-of-fold val predictions)
    target_precision: float = 0.9
    members: tuple[str, ...] = ()  # written by agnbench train fusion

    def validate(self) -> None:
        """Check choices and ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("fusion", self, [
            ("stacker", self.stacker in FUSION_STACKERS, f"must be {alternatives(FUSION_STACKERS, quote=True)}"),
            ("folds", self.folds >= 2, "must be >= 2"),
            ("missing", self.missing in FUSION_MISSING, f"must be {alternatives(FUSION_MISSING, quote=True)}"),
            ("c_grid", len(self.c_grid) >= 1 and all(c > 0 for c in self.c_grid), "must be a list of numbers > 0"),
            ("gbm_depth", self.gbm_depth >= 1, "must be >= 1"),
            ("gbm_iter", self.gbm_iter >= 1, "must be >= 1"),
            ("calibration", self.calibration in CALIBRATION_METHODS, f"must be {alternatives(CALIBRATION_METHODS)}"),
            ("threshold", self.threshold in THRESHOLD_RULES, f"must be {alternatives(THRESHOLD_RULES)}"),
            ("target_precision", 0 < self.target_precision < 1, "must be in (0, 1)"),
        ])
