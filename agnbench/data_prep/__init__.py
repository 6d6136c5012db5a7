"""Raw survey files (real SDSS / Legacy Survey or the mock survey) into the dataset store.

``agnbench simulate`` is :func:`simulate`, ``agnbench prep`` :func:`prep`, ``agnbench fetch``
:func:`agnbench.fetch` (module :mod:`agnbench.data_prep.fetch`); the survey file readers are
re-exported here.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.data_prep.mock.simulate": ["simulate"],
    "agnbench.data_prep.ingest.store": ["prep"],
    "agnbench.data_prep.formats.sdss_files": ["Spectrum", "read_spectrum", "read_cutout"],
    "agnbench.data_prep.formats.catalog": ["read_table", "read_mpajhu"],
    "agnbench.data_prep.bpt": ["bpt_class", "kauffmann03", "kewley01"],
})
