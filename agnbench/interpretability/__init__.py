"""What each track looks at: SHAP for trees, gradient attribution for networks, physics probes.

``agnbench explain`` is :func:`explain_run` (one run) and :func:`explain_compare` (across tracks).
:func:`explain_trees` explains a user's own XGBoost / LightGBM classifier; the gradient methods
take any torch classifier that returns logits.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.interpretability.explain": ["explain_run"],
    "agnbench.interpretability.crosstrack": ["explain_compare"],
    "agnbench.interpretability.tree_models": ["explain_trees"],
    "agnbench.interpretability.tree_shap": ["ShapResult", "tree_shap_interactions", "global_importance",
                                            "dependence_table"],
    "agnbench.interpretability.gradients": ["Attribution", "integrated_gradients", "expected_gradients", "saliency",
                                            "grad_cam", "predicted_or_true"],
    "agnbench.interpretability.ig_baselines": ["continuum_baseline", "class_mean_baseline", "zero_baseline",
                                               "blurred_baseline"],
    "agnbench.interpretability.occlusion": ["occlude_windows", "occlude_rings", "occlude_centre_outskirts"],
    "agnbench.interpretability.feature_groups": ["feature_group", "grouped_shap", "group_importance"],
    "agnbench.interpretability.permutation": ["permutation_importance"],
})
