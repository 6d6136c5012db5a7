"""File names of the four on-disk contracts (docs/contracts.md), spelled once.

Every module that reads or writes a dataset store, a run directory or a comparison takes its file
names from here; no other module spells them.
"""

from __future__ import annotations

# --- Contract 1: the dataset store (``agnbench prep``) and a raw survey (``agnbench simulate``)
OBJECTS = "objects.parquet"
MANIFEST = "manifest.json"
QUARANTINE = "quarantine.csv"
CONFIG = "config.yaml"
SPECTRA_DIR = "spectra"
IMAGES_DIR = "images"

# --- Contract 3: a run directory (``agnbench train``)
ENV = "env.json"
DATA_RECORD = "data.json"
STATUS = "status.json"
MODEL_META = "model_meta.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL_CARD = "MODEL_CARD.md"
CALIBRATION = "calibration.json"
ATTRIBUTIONS_DIR = "attributions"
ATTRIBUTIONS_SUMMARY = "summary.json"

# --- Contract 2: predictions
PREDICTIONS = "predictions.parquet"

# --- Contract 4: a comparison (``agnbench compare``) and its report
COMPARISON_INPUTS = "inputs.yaml"
REPLICATES = "replicates.parquet"
SUMMARY = "summary.csv"
TESTS = "tests.csv"
REPORT_DIR = "report"
CROSSTRACK_DIR = "crosstrack"
CROSSTRACK_SUMMARY = "summary.json"
