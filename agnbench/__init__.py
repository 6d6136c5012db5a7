"""agnbench: catalog features vs spectra vs images for telling AGN hosts from star-forming galaxies.

The public API (docs/api.md). Pipeline entry points, each the library function behind one
command (they take a :class:`~agnbench.config.core.Config` from :func:`load_config`):
:func:`simulate`, :func:`fetch`, :func:`prep`, :func:`train_catalog`, :func:`train_deep`,
:func:`predict` (a run on new objects), :func:`compare`, :func:`explain_run`, :func:`build_report`, :func:`run_all`. On a user's own
arrays and models: :func:`compare_predictions` (paired bootstrap comparison), :func:`explain_trees`
(TreeSHAP of an XGBoost / LightGBM classifier), :func:`integrated_gradients`, :func:`saliency` and
:func:`grad_cam` (a torch classifier). Bringing a model's predictions to ``agnbench compare``:
:func:`prediction_frame` and :func:`validate_predictions` (docs/contracts.md).

Names are imported on first use, so ``import agnbench`` loads neither torch nor xgboost.
"""

from agnbench._exports import lazy_exports

__version__ = "0.2.0"

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.config.core": ["load_config"],
    "agnbench.errors": ["AgnbenchError"],
    "agnbench.data_prep.mock.simulate": ["simulate"],
    "agnbench.data_prep.fetch.download": ["fetch"],
    "agnbench.data_prep.ingest.store": ["prep"],
    "agnbench.baselines.train_catalog": ["train_catalog"],
    "agnbench.deep.train_deep": ["train_deep"],
    "agnbench.transfer.apply_run": ["predict"],
    "agnbench.bootstrap.compare": ["compare"],
    "agnbench.interpretability.explain": ["explain_run"],
    "agnbench.reports.report": ["build_report"],
    "agnbench.pipeline": ["run_all"],
    "agnbench.bootstrap.compare_arrays": ["compare_predictions"],
    "agnbench.interpretability.tree_models": ["explain_trees"],
    "agnbench.interpretability.gradients": ["integrated_gradients", "saliency", "grad_cam"],
    "agnbench.contracts.predictions": ["prediction_frame"],
    "agnbench.contracts.schema": ["validate_predictions"],
})
__all__ += ["__version__"]
