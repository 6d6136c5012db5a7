"""Survey file formats: FITS readers and writers for each survey layout, catalog tables."""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.data_prep.formats.sdss_files": ["Spectrum", "read_spectrum", "write_speclite", "spec_filename",
                                              "specobjid", "read_cutout", "write_cutout"],
    "agnbench.data_prep.formats.catalog": ["read_table", "read_mpajhu"],
    "agnbench.data_prep.formats.fastfits": ["read_bintable", "read_image"],
})
