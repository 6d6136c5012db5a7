"""The one owner of every on-disk format (docs/contracts.md): dataset store, run directory, predictions, comparison.

- :mod:`~agnbench.contracts.files`: every file name, spelled once;
- :mod:`~agnbench.contracts.store` (Contract 1): store and raw-survey paths, :func:`open_store`, the store
  behind runs (:func:`locate_store`, :func:`store_state`), :func:`store_complete`, :func:`survey_complete`;
- :mod:`~agnbench.contracts.predictions` (Contract 2): :func:`prediction_frame`, :func:`read_predictions`;
- :mod:`~agnbench.contracts.run_dir` (Contract 3): run ids, ``status.json``, ``model_meta.json``,
  ``data.json``, attributions, :func:`is_complete`, :func:`attributions_complete`;
- :mod:`~agnbench.contracts.comparison` (Contract 4): :func:`write_comparison`, readers,
  :func:`comparison_complete`, :func:`crosstrack_complete`, :func:`report_complete`;
- :mod:`~agnbench.contracts.schema`: column validators.
"""

from agnbench.contracts import files
from agnbench.contracts.comparison import (
    OPTIONAL_TABLES,
    REQUIRED_TABLES,
    ComparisonPaths,
    comparison_complete,
    comparison_paths,
    crosstrack_complete,
    read_inputs,
    read_optional_tables,
    read_replicates,
    read_table,
    report_complete,
    write_comparison,
)
from agnbench.contracts.predictions import (
    find_predictions,
    prediction_frame,
    predictions_path,
    read_predictions,
    write_predictions,
)
from agnbench.contracts.run_dir import (
    COMPLETE,
    FAILED,
    INTERRUPTED,
    RUNNING,
    STATUSES,
    attributions_complete,
    attributions_dir,
    attributions_summary_path,
    config_path,
    create_run_dir,
    env_path,
    has_model_meta,
    history_path,
    is_complete,
    is_run_dir,
    metrics_path,
    model_weights_path,
    read_attributions_summary,
    read_data_record,
    read_history,
    read_metrics,
    read_model_meta,
    read_status,
    run_id,
    write_data_record,
    write_model_meta,
    write_status,
)
from agnbench.contracts.schema import validate_objects, validate_predictions
from agnbench.contracts.store import (
    STORE_CHANGED,
    STORE_MISSING,
    STORE_OK,
    STORE_UNKNOWN,
    Store,
    StorePaths,
    SurveyPaths,
    check_store,
    locate_store,
    open_store,
    read_manifest,
    read_objects,
    read_survey_manifest,
    recorded_sha256,
    store_candidates,
    store_complete,
    store_paths,
    store_state,
    survey_complete,
    survey_has_catalog,
    survey_paths,
)

__all__ = [
    "COMPLETE", "FAILED", "INTERRUPTED", "OPTIONAL_TABLES", "REQUIRED_TABLES", "RUNNING", "STATUSES",
    "STORE_CHANGED", "STORE_MISSING", "STORE_OK", "STORE_UNKNOWN",
    "ComparisonPaths", "Store", "StorePaths", "SurveyPaths",
    "attributions_complete", "attributions_dir", "attributions_summary_path", "check_store", "comparison_complete",
    "comparison_paths", "config_path", "create_run_dir", "crosstrack_complete", "env_path", "files",
    "find_predictions", "has_model_meta", "history_path", "is_complete", "is_run_dir", "locate_store",
    "metrics_path", "model_weights_path", "open_store", "prediction_frame", "predictions_path",
    "read_attributions_summary", "read_data_record", "read_history", "read_inputs", "read_manifest", "read_metrics",
    "read_model_meta", "read_objects", "read_optional_tables", "read_predictions", "read_replicates", "read_status",
    "read_survey_manifest", "read_table", "recorded_sha256", "report_complete", "run_id", "store_candidates",
    "store_complete", "store_paths", "store_state", "survey_complete", "survey_has_catalog", "survey_paths",
    "validate_objects", "validate_predictions", "write_comparison", "write_data_record", "write_model_meta",
    "write_predictions", "write_status",
]
