"""Downloads of real survey files (MPA-JHU catalogs, SDSS spectra, Legacy Survey cutouts)."""
