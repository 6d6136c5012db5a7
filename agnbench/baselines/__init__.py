"""Catalog track: gradient-boosted trees and reference models on catalog features.

:func:`train_catalog` trains one run (``agnbench train catalog``) through the shared post-training
protocol (:func:`agnbench.protocol.finish_run`); :func:`fit_model` / :func:`load_model` train and reload
one model.
"""

from agnbench.baselines.catalog_card import catalog_model_card
from agnbench.baselines.catalog_models import FitResult, class_weights, fit_model, load_model, resolve_params
from agnbench.baselines.features import select_features
from agnbench.baselines.search import draw_params, random_search
from agnbench.baselines.train_catalog import train_catalog, train_catalog_seeds

__all__ = [
    "FitResult",
    "catalog_model_card",
    "class_weights",
    "draw_params",
    "fit_model",
    "load_model",
    "random_search",
    "resolve_params",
    "select_features",
    "train_catalog",
    "train_catalog_seeds",
]
