"""Raw survey files (real SDSS / Legacy Survey or the mock survey) into the dataset store."""
