"""Apply a finished catalog run to new objects (``agnbench predict``).

:func:`catalog_predictor` loads the run's model (:func:`~agnbench.baselines.catalog_models.load_model`:
XGBoost JSON, LightGBM text or skops, never pickle) and predicts uncalibrated class probabilities
from a frame holding the run's ``feat_*`` columns, exactly as training predicted its own val, test
and ood objects. Missing values go to the model as in training (trees natively; logistic regression
imputes the run's own training medians, saved with the model). Calibration and the decision rule
are applied by the caller (the shared protocol).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.baselines.catalog_models import TRACK, load_model
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

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
        text = [f for f in names if not (pd.api.types.is_numeric_dtype(frame[f].dtype)
                                         or pd.api.types.is_bool_dtype(frame[f].dtype))]
        if text:
            sample = frame[text[0]].dropna().astype(str).head(3).tolist()
            raise AgnbenchError(f"the new data's feature column(s) {', '.join(text)} hold text, not numbers "
                                f"(e.g. {sample}); the {TRACK} run needs numbers there")
        X = frame[names].to_numpy(dtype=np.float64, na_value=np.nan)
        inf = np.isinf(X)
        if inf.any():
            log.warning("infinite feature values set to NaN (a missing measurement): %s",
                        ", ".join(f"{names[j]}: {int(k)}" for j, k in enumerate(inf.sum(axis=0)) if k))
            X = np.where(inf, np.nan, X)
        return fit.predict_proba(X)

    return CatalogPredictor(feature_names=names, predict=predict)
