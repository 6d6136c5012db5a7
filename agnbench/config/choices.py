"""Every list of choices agnbench accepts, spelled once.

Config validation, argparse ``choices=`` and the code that acts on a choice all read these tuples, so a
new choice is added here (and implemented where it is acted on) and nowhere else. The order is the order
shown to users (messages, ``--help``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# ---------------------------------------------------------------------------------------------- labels, tracks

#: ``labels.scheme``: how MPA-JHU BPT codes (or SDSS classes) become training labels (docs: "Label schemes").
LABEL_SCHEMES: tuple[str, ...] = ("agn_vs_sf", "agn_vs_sf_lowsn", "bpt4", "sdss_class")
#: Tracks of the benchmark: what a run was trained on.
TRACKS: tuple[str, ...] = ("catalog", "spectra", "images")
#: The fusion track (``agnbench train fusion``): a stacker on other runs' predictions, not a modality.
FUSION_TRACK = "fusion"
#: Tracks trained by the deep trainer (``agnbench train spectra|images``; config sections of the same names).
DEEP_TRACKS: tuple[str, ...] = TRACKS[1:]

# ---------------------------------------------------------------------------------------------- data

#: ``agnbench prep --source``: MPA-JHU files in a raw survey directory, or the user's own table.
PREP_SOURCES: tuple[str, ...] = ("mpajhu", "table", "spectra")
#: ``prep.frame``: the spectra grid's frame; ``auto`` = observed for ``sdss_class`` (galaxies, QSOs to z ~ 7 and
#: stars share no rest frame), rest otherwise.
SPECTRA_FRAMES: tuple[str, ...] = ("auto", "rest", "observed")
#: ``prep.norm_method``: divide by the median flux in ``norm_wave_min..max`` (window) or the median |flux| over
#: the grid (median); ``auto`` = window in the rest frame, median in the observed frame.
NORM_METHODS: tuple[str, ...] = ("auto", "window", "median")
#: ``prep.norm_fallback``: what a near-zero or negative window normaliser does.
NORM_FALLBACKS: tuple[str, ...] = ("median_abs", "quarantine")
#: ``prep.reader.layout``: where a 1-D spectrum file keeps its pixels (agnbench.data_prep.formats.spectrum1d).
SPECTRUM_LAYOUTS: tuple[str, ...] = ("auto", "sdss", "table", "image")
#: ``prep.reader.noise``: what the noise row/column of an image-layout spectrum holds.
NOISE_KINDS: tuple[str, ...] = ("variance", "sigma", "ivar")
#: ``prep.reader.medium``: air or vacuum wavelengths; ``auto`` reads CTYPE1/AIRORVAC/VACUUM (else vacuum).
WAVELENGTH_MEDIA: tuple[str, ...] = ("auto", "vacuum", "air")
#: ``prep.image_source``: Legacy Survey grz FITS cutouts, or SDSS gri 8-bit JPEGs.
IMAGE_SOURCES: tuple[str, ...] = ("fits", "jpeg")
#: ``prep.stretch``: one arcsinh scale per band over the store, or a min-max per image.
STRETCH_METHODS: tuple[str, ...] = ("asinh_global", "minmax_per_image")
#: ``prep.masked_lines``: every emission line (continuum-only) or the BPT lines only.
MASKED_LINE_SETS: tuple[str, ...] = ("all", "bpt")
#: ``agnbench fetch WHAT``: which real survey files to download.
FETCH_TARGETS: tuple[str, ...] = ("catalog", "spectra", "images")
#: ``fetch.release``: MPA-JHU DR8 ``galSpec*`` files (SDSS SAS) or DR7 ``gal_*`` files (MPA Garching).
FETCH_RELEASES: tuple[str, ...] = ("dr8", "dr7")
#: ``fetch.verify``: how a finished download is checked before it is skipped.
FETCH_VERIFY: tuple[str, ...] = ("sha256", "size")

# ---------------------------------------------------------------------------------------------- training

#: ``catalog.model`` / ``agnbench train catalog --model``: the catalog-track model kinds.
CATALOG_MODELS: tuple[str, ...] = ("xgboost", "lightgbm", "logreg", "rf")
#: Catalog models that ``agnbench run`` trains (the reference points every paper table needs).
RUN_CATALOG_MODELS: tuple[str, ...] = CATALOG_MODELS[:3]
#: The network of each deep track (run names ``<track>-<model>-s<seed>``).
DEEP_MODEL_NAMES = MappingProxyType({"spectra": "resnet1d", "images": "resnet18"})
#: ``catalog.features``: named feature sets (or else a comma-separated list of ``feat_`` columns).
CATALOG_FEATURE_SETS: tuple[str, ...] = ("photometry", "physical", "all")
#: ``catalog.search``: hyper-parameter search on the train split.
SEARCH_METHODS: tuple[str, ...] = ("none", "random")
#: ``catalog.class_weight`` and ``spectra|images.class_weight``.
CLASS_WEIGHTS: tuple[str, ...] = ("balanced", "none")
#: ``catalog.calibration``: probability calibration fitted on val.
CALIBRATION_METHODS: tuple[str, ...] = ("none", "isotonic", "sigmoid", "temperature")
#: ``spectra|images.calibration``: the calibrations the deep trainer fits.
DEEP_CALIBRATION_METHODS: tuple[str, ...] = ("none", "temperature")
#: Decision rules chosen on val (``catalog.threshold``, ``spectra|images.threshold``, ``compare.threshold_rules``).
THRESHOLD_RULES: tuple[str, ...] = ("argmax", "max_f1", "target_precision")
#: ``fusion.stacker``: the fusion track's stacker (run model ``stack-<stacker>``).
FUSION_STACKERS: tuple[str, ...] = ("logreg", "gbm")
#: ``fusion.missing``: what the fusion track does with an object a member did not score.
FUSION_MISSING: tuple[str, ...] = ("drop", "indicator")
#: ``spectra|images.loss``: cross-entropy or focal loss.
LOSSES: tuple[str, ...] = ("ce", "focal")
#: ``spectra|images.sampler``: plain shuffling or class-balanced sampling with replacement.
SAMPLERS: tuple[str, ...] = ("shuffle", "balanced")
#: ``spectra|images.device`` / ``--device``.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
#: ``spectra|images.precision``.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
#: ``spectra.stem_stride``: stride of the 1D ResNet stem.
SPECTRA_STEM_STRIDES: tuple[int, ...] = (1, 2, 4)
#: ``spectra.pool``: global pooling before the head: average and max concatenated (a narrow line is found
#: wherever it is), or average only (what runs before agnbench 0.x used; a 10-pixel line is diluted ~1000x).
SPECTRA_POOLS: tuple[str, ...] = ("avgmax", "avg")
#: ``images.stem``: small-cutout stem (3x3 conv, no max-pool), patchify stem (non-overlapping
#: ``stem_stride`` x ``stem_stride`` conv, as in ConvNeXt) or the original ImageNet stem.
IMAGE_STEMS: tuple[str, ...] = ("small", "patch", "imagenet")
#: ``images.stem_stride``: stride of the small stem (4: a stride-2 conv, then a 2x2 max-pool) or patch size of the
#: patch stem.
IMAGE_STEM_STRIDES: tuple[int, ...] = (1, 2, 4)

# ---------------------------------------------------------------------------------------------- analysis

#: ``compare.split``: the split every run is scored on.
COMPARE_SPLITS: tuple[str, ...] = ("test", "val")
#: ``agnbench predict --rethreshold``: the new store's split a run's decision rule may be refitted on
#: (never test).
RETHRESHOLD_SPLITS: tuple[str, ...] = ("val",)
#: ``compare.ci``: the interval in summary.csv's ``lo``/``hi`` (percentile and BCa are always written too).
#: ``newcombe``: Newcombe's score interval for a binary ROC-AUC, percentile for the calibration metrics, BCa for
#: every other metric; it keeps its coverage near AUC = 1, where percentile and BCa intervals are too narrow
#: (docs/statistics.md).
INTERVAL_METHODS: tuple[str, ...] = ("newcombe", "bca", "percentile")
#: How reports name each interval method (and what it applies to), as in "95% <label> intervals".
INTERVAL_LABELS: dict[str, str] = {
    "newcombe": "Newcombe score (ROC AUC), percentile bootstrap (calibration) and BCa bootstrap (other metrics)",
    "bca": "BCa bootstrap",
    "percentile": "percentile bootstrap",
}
#: ``compare.primary_metric``: metrics a primary comparison may be declared on (higher is better for each).
PRIMARY_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "balanced_accuracy", "macro_f1", "mcc", "accuracy")
#: ``compare.primary_reference``: rules choosing the reference (best_catalog: the catalog model best on val);
#: any other value names a run.
PRIMARY_REFERENCE_RULES: tuple[str, ...] = ("best_catalog",)
#: ``compare.seeds``: runs that differ only by seed kept apart, or also pooled.
SEED_MODES: tuple[str, ...] = ("separate", "combined")
#: ``explain.split`` / ``agnbench explain --split``.
EXPLAIN_SPLITS: tuple[str, ...] = ("test", "val", "ood")
#: ``explain.target``: attribute the predicted class or the true class.
EXPLAIN_TARGETS: tuple[str, ...] = ("predicted", "true")
#: ``explain.spectra_baseline``: the Integrated-Gradients baseline of the spectra track.
SPECTRA_BASELINES: tuple[str, ...] = ("expected_gradients", "continuum", "class_mean", "zeros")
#: ``explain.image_baseline``: the Integrated-Gradients baseline of the images track.
IMAGE_BASELINES: tuple[str, ...] = ("zeros", "blurred")
#: ``agnbench explain --methods``: the attribution methods of each track (read-only mapping).
EXPLAIN_METHODS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "catalog": ("shap", "interactions", "permutation"),
    "spectra": ("ig", "saliency", "occlusion"),
    "images": ("ig", "gradcam", "occlusion"),
    "fusion": ("modality_shares",),
})
#: ``explain.treeshap``: TreeSHAP kernels of XGBoost / LightGBM: ``auto`` (the library's own below
#: ``explain.treeshap_native_below`` rows x trees, numba above), ``fast`` (numba) or ``native``.
SHAP_METHODS: tuple[str, ...] = ("auto", "fast", "native")

# ---------------------------------------------------------------------------------------------- spectra files

#: SDSS ``SPPIXMASK`` bits (and_mask / or_mask), from the SDSS bitmask documentation: the names accepted in
#: ``prep.reader.and_mask_ignore``.
SPPIXMASK_BITS: Mapping[str, int] = MappingProxyType({
    "NOPLUG": 0, "BADTRACE": 1, "BADFLAT": 2, "BADARC": 3, "MANYBADCOLUMNS": 4, "MANYREJECTED": 5,
    "LARGESHIFT": 6, "BADSKYFIBER": 7, "NEARWHOPPER": 8, "WHOPPER": 9, "SMEARIMAGE": 10, "SMEARHIGHSN": 11,
    "SMEARMEDSN": 12, "NEARBADPIXEL": 16, "LOWFLAT": 17, "FULLREJECT": 18, "PARTIALREJECT": 19,
    "SCATTEREDLIGHT": 20, "CROSSTALK": 21, "NOSKY": 22, "BRIGHTSKY": 23, "NODATA": 24, "COMBINEREJ": 25,
    "BADFLUXFACTOR": 26, "BADSKYCHI": 27, "REDMONSTER": 28,
})

# ---------------------------------------------------------------------------------------------- tracking

#: ``tracking.backends`` / ``--track``: experiment trackers a training run also logs to (docs/tracking.md).
TRACKING_BACKENDS: tuple[str, ...] = ("mlflow", "tensorboard")
