"""File names of the four on-disk contracts (docs/contracts.md), spelled once.

Every module that reads or writes a dataset store, a run directory or a comparison takes its file
names from here (or a path from :mod:`~agnbench.contracts.store`, :mod:`~agnbench.contracts.run_dir`,
:mod:`~agnbench.contracts.predictions` and :mod:`~agnbench.contracts.comparison`); no other module
spells them.
"""

from __future__ import annotations

#: Marker inside every output directory agnbench writes (docs/contracts.md, "Output directories").
OUTPUT_MARKER = ".agnbench-output.json"

# --- Contract 1: the dataset store (``agnbench prep``) and a raw survey (``agnbench simulate``)
OBJECTS = "objects.parquet"
MANIFEST = "manifest.json"
QUARANTINE = "quarantine.csv"
CONFIG = "config.yaml"
SPECTRA_DIR = "spectra"
SPECTRA_WAVE = "wave.npy"
SPECTRA_FLUX = "flux.npy"
SPECTRA_IVAR = "ivar.npy"
IMAGES_DIR = "images"
IMAGES_CUTOUTS = "cutouts.npy"
IMAGES_META = "meta.json"
#: A raw survey's catalog tables (``agnbench simulate`` or ``agnbench fetch catalog``).
SURVEY_CATALOG_DIR = "catalog"
#: The mock survey's planted truth (``agnbench simulate`` only).
SURVEY_TRUTH = "truth.parquet"

# --- Contract 3: a run directory (``agnbench train``)
ENV = "env.json"
DATA_RECORD = "data.json"
STATUS = "status.json"
MODEL_META = "model_meta.json"
MODEL_WEIGHTS = "model.pt"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL_CARD = "MODEL_CARD.md"
CALIBRATION = "calibration.json"
#: What ``--init-weights`` loaded into an images run (file sha256, keys matched and skipped).
INIT_WEIGHTS = "init_weights.json"
#: A fusion run's record (members, inputs, missing-object counts, cross-fitting) and its stacker's raw-unit
#: coefficients (logistic regression only), beside the run's other files (``agnbench train fusion``).
FUSION_RECORD = "fusion.json"
FUSION_COEFFICIENTS = "coefficients.csv"

# --- Contract 3: a run's attributions (``agnbench explain``), inside the run directory
ATTRIBUTIONS_DIR = "attributions"
ATTRIBUTIONS_SUMMARY = "summary.json"
ATTRIBUTIONS_OBJECT_IDS = "object_ids.csv"
#: Per-object table of a spectra/images explanation (labels, targets, IG completeness, probes).
ATTRIBUTIONS_OBJECTS = "objects.parquet"
ATTRIBUTIONS_COEFFICIENTS = "coefficients.csv"
ATTRIBUTIONS_SHAP = "shap.parquet"
ATTRIBUTIONS_IMPORTANCE = "importance.csv"
#: Mean |sum of SHAP values| per feature group (colours, size/morphology, ...), next to importance.csv.
ATTRIBUTIONS_IMPORTANCE_GROUPS = "importance_groups.csv"
ATTRIBUTIONS_DEPENDENCE = "dependence.parquet"
ATTRIBUTIONS_INTERACTIONS = "interactions.npy"
ATTRIBUTIONS_INTERACTIONS_OBJECTS = "interactions_objects.csv"
ATTRIBUTIONS_PERMUTATION = "permutation.csv"
ATTRIBUTIONS_IG = "ig.npy"
ATTRIBUTIONS_SALIENCY = "saliency.npy"
ATTRIBUTIONS_GRADCAM = "gradcam.npy"
ATTRIBUTIONS_STACKED = "stacked_by_class.csv"
ATTRIBUTIONS_OCCLUSION_WINDOWS = "occlusion_windows.parquet"
#: A fusion run's per-object modality contributions and shares, and their summary by class, z and S/N bins.
ATTRIBUTIONS_MODALITY_SHARES = "modality_shares.parquet"
ATTRIBUTIONS_MODALITY_SUMMARY = "modality_shares.csv"

# --- Contract 2: predictions
PREDICTIONS = "predictions.parquet"
#: What ``agnbench predict`` applied (source run, new data, options, counts, metrics), beside its predictions.
PREDICT_RECORD = "predict.json"
#: A partitioned prediction (``agnbench predict`` over a directory of Parquet partitions): one Contract 2 part per
#: input partition, ``part-00000.parquet`` ..., in this folder, and the marker written after the last part.
PREDICTION_PARTS_DIR = "predictions"
PREDICTION_PART = "part-{:05d}.parquet"
PARTS_COMPLETE = "_SUCCESS"

# --- Contract 4: a comparison (``agnbench compare``), its cross-track attributions and its report
COMPARISON_INPUTS = "inputs.yaml"
REPLICATES = "replicates.parquet"
SUMMARY = "summary.csv"
TESTS = "tests.csv"
#: Suffix of every table of a comparison (``<stem>.csv``).
TABLE_SUFFIX = ".csv"
REPORT_DIR = "report"
REPORT_HTML = "report.html"
REPORT_MD = "report.md"
CROSSTRACK_DIR = "crosstrack"
CROSSTRACK_SUMMARY = "summary.json"
CROSSTRACK_CORRELATIONS = "correlations.csv"
CROSSTRACK_DISAGREEMENTS = "disagreements.csv"
CROSSTRACK_DRIVERS = "drivers.csv"
CROSSTRACK_SCORES = "scores.parquet"
CROSSTRACK_COMPOSITES = "composites.parquet"
