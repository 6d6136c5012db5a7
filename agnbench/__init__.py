"""agnbench: catalog features vs spectra vs images for telling AGN hosts from star-forming galaxies."""

__version__ = "0.1.0"
