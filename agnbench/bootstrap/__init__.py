"""Paired bootstrap intervals and significance tests between tracks.

``agnbench compare`` is :func:`agnbench.compare` (module :mod:`agnbench.bootstrap.compare`);
:func:`compare_predictions` runs the same comparison on a user's own arrays.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.bootstrap.compare_arrays": ["compare_predictions"],
    "agnbench.bootstrap.paired": ["PairedComparison", "paired_comparison", "paired_replicates", "jackknife_values",
                                  "summary_table", "pairwise_tests", "long_replicates"],
    "agnbench.bootstrap.compare_inputs": ["load_runs", "align"],
    "agnbench.bootstrap.metrics": ["METRIC_NAMES", "point_metrics", "weighted_metrics"],
    "agnbench.bootstrap.calibration": ["spiegelhalter_test", "logistic_calibration"],
    "agnbench.bootstrap.resample": ["index_chunks", "percentile_interval", "bca_interval", "bootstrap_pvalue"],
    "agnbench.bootstrap.delong": ["delong_test", "delong_ci"],
    "agnbench.bootstrap.auc_intervals": ["newcombe_auc_interval"],
    "agnbench.bootstrap.paired_tests": ["mcnemar_test", "holm"],
    "agnbench.bootstrap.subgroups": ["subgroup_metrics"],
    "agnbench.bootstrap.decisions": ["threshold_table", "abstention_table"],
})
