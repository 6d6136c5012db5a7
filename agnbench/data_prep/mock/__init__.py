"""The mock survey: a simulated SDSS/Legacy survey written in the real file formats.

``agnbench simulate`` is :func:`agnbench.simulate` (module :mod:`agnbench.data_prep.mock.simulate`);
its building blocks are re-exported here.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.data_prep.mock.population": ["draw_population"],
    "agnbench.data_prep.mock.spectra": ["render_spectra"],
    "agnbench.data_prep.mock.images": ["render_cutouts"],
    "agnbench.data_prep.mock.catalogs": ["catalog_tables", "photometry_table"],
    "agnbench.data_prep.mock.linefit": ["fit_lines"],
})
