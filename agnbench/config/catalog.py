"""Config section ``catalog``: the catalog track (``agnbench train catalog``)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import (
    CALIBRATION_METHODS,
    CATALOG_FEATURE_SETS,
    CATALOG_MODELS,
    CLASS_WEIGHTS,
    SEARCH_METHODS,
    THRESHOLD_RULES,
)
from agnbench.config.rules import alternatives, check_rules


@dataclass(frozen=True)
class CatalogConfig:
    """Catalog track (``agnbench train catalog``): model, features, imbalance, calibration, threshold."""

    model: str = "xgboost"  # choices.CATALOG_MODELS
    features: str = "photometry"  # choices.CATALOG_FEATURE_SETS or comma-separated feat_ columns
    class_weight: str = "balanced"  # choices.CLASS_WEIGHTS
    calibration: str = "none"  # choices.CALIBRATION_METHODS (fitted on val)
    threshold: str = "argmax"  # choices.THRESHOLD_RULES (chosen on val, binary only)
    target_precision: float = 0.9
    early_stopping_rounds: int = 50
    threads: int = 2
    search: str = "none"  # choices.SEARCH_METHODS (hyper-parameters by CV on the train split only)
    n_trials: int = 20  # random-search trials (trial 0 = the defaults)
    cv_folds: int = 3

    def validate(self) -> None:
        """Check choices and ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("catalog", self, [
            ("search", self.search in SEARCH_METHODS, f"must be {alternatives(SEARCH_METHODS, quote=True)}"),
            ("n_trials", self.n_trials >= 1, "must be >= 1"),
            ("cv_folds", self.cv_folds >= 2, "must be >= 2"),
            ("model", self.model in CATALOG_MODELS, f"must be {alternatives(CATALOG_MODELS)}"),
            ("features", bool(self.features.strip()),
             f"must be {', '.join(CATALOG_FEATURE_SETS)} or a list of feat_ columns"),
            ("class_weight", self.class_weight in CLASS_WEIGHTS, f"must be {alternatives(CLASS_WEIGHTS, quote=True)}"),
            ("calibration", self.calibration in CALIBRATION_METHODS, f"must be {alternatives(CALIBRATION_METHODS)}"),
            ("threshold", self.threshold in THRESHOLD_RULES, f"must be {alternatives(THRESHOLD_RULES)}"),
            ("target_precision", 0 < self.target_precision < 1, "must be in (0, 1)"),
            ("early_stopping_rounds", self.early_stopping_rounds > 0, "must be > 0"),
            ("threads", self.threads > 0, "must be > 0"),
        ])
