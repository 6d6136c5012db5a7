"""Deep tracks: 1D ResNet on spectra, 2D ResNet-18 on image cutouts, one shared trainer.

``agnbench train spectra|images`` is :func:`agnbench.train_deep` (module
:mod:`agnbench.deep.train_deep`) and, for several seeds, :func:`train_deep_seeds`.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.deep.train_deep": ["train_deep_seeds"],
    "agnbench.deep.resnet1d": ["ResNet1d"],
    "agnbench.deep.resnet2d": ["ResNet18"],
    "agnbench.deep.networks": ["build_model", "load_run_model"],
})
