"""Downloads of real survey files (MPA-JHU catalogs, SDSS spectra, Legacy Survey cutouts).

``agnbench fetch`` is :func:`fetch`; :func:`plan_fetch` says what it would download.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.data_prep.fetch.download": ["FetchPlan", "plan_fetch", "fetch"],
    "agnbench.data_prep.fetch.validate": ["validate_catalog", "validate_spectrum", "validate_cutout"],
})
