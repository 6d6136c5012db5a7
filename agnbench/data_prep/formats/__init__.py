"""Survey file formats: FITS readers and writers for each survey layout, catalog tables."""
