"""Apply a finished catalog run to new objects (``agnbench predict``).

:func:`catalog_predictor` loads the run's model (:func:`~agnbench.baselines.catalog_models.load_model`:
XGBoost JSON, LightGBM text or skops, never pickle) and predicts uncalibrated class probabilities
from a frame holding the run's ``feat_*`` columns, exactly as training predicted its own val, test
and ood objects. Missing values go to the model as in training (trees natively; logistic regression
imputes the run's own training medians, saved with the model). Calibration and the decision rule
are applied by the caller (the shared protocol).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.baselines.catalog_models import TRACK, load_model
from agnbench.errors import AgnbenchError

__all__ = ["CatalogPredictor", "catalog_predictor"]


@dataclass
class CatalogPredictor:
    """A catalog run loaded for prediction.

    Attributes
    ----------
    feature_names : list of str
        The run's ``feat_*`` columns, in model order.
    predict : callable
        ``predict(frame) -> (n, K)`` uncalibrated probabilities from a frame with those columns.
    """

    feature_names: list[str]
    predict: Callable[[pd.DataFrame], np.ndarray]


def catalog_predictor(run_dir: str | Path) -> CatalogPredictor:
    """Load a finished catalog run for prediction.

    Parameters
    ----------
    run_dir : path
        A complete catalog run directory (``model_meta.json`` and the model file).

    Raises
    ------
    AgnbenchError
        Not a catalog run, or a frame given to ``predict`` lacks some of the run's features (all are
        named, with the hint to map the table's columns).
    """
    run_dir = Path(run_dir)
    fit = load_model(run_dir)
    names = list(fit.feature_names)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        missing = [f for f in names if f not in frame.columns]
        if missing:
            raise AgnbenchError(
                f"the new data lacks {len(missing)} of the {TRACK} run's {len(names)} features: {', '.join(missing)}; "
                "give them as columns named like that (or by the table column prep turned into them, e.g. "
                "'petroR50_r' for feat_petror50_r)")
        X = frame[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return fit.predict_proba(X)

    return CatalogPredictor(feature_names=names, predict=predict)
