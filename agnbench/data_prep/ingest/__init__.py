"""Building the dataset store (``agnbench prep``): objects, labels, splits, features, spectra, cutouts.

``agnbench prep`` is :func:`prep`; :func:`build_store` writes a store from an object selection.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.data_prep.ingest.store": ["prep", "build_store"],
    "agnbench.data_prep.ingest.objects": ["Selection", "select_mpajhu", "select_table"],
    "agnbench.data_prep.ingest.labels": ["assign_labels"],
    "agnbench.data_prep.ingest.splits": ["assign_splits"],
    "agnbench.data_prep.ingest.features": ["catalog_features"],
    "agnbench.data_prep.ingest.spectra": ["rest_grid", "resample", "ingest_spectra"],
    "agnbench.data_prep.ingest.images": ["ingest_cutouts"],
})
