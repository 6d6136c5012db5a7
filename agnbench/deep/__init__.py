"""Deep tracks: 1D ResNet on spectra, 2D ResNet-18 on image cutouts, one shared trainer."""
