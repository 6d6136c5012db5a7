"""Building the dataset store (``agnbench prep``): objects, labels, splits, features, spectra, cutouts."""
