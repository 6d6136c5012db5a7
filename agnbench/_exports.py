"""Lazy re-exports for the package ``__init__`` files (PEP 562 module ``__getattr__``).

A package lists its public names by the module that defines them; each module is imported the
first time one of its names is read, so ``import agnbench`` stays cheap (no torch, xgboost or
matplotlib) and no package ``__init__`` can create an import cycle. A public name never equals a
submodule's name (``agnbench.bootstrap.compare`` is the module; the function is
``agnbench.compare``): importing the submodule would rebind the name to it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` re-exporting ``{module: [name, ...]}``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str -> sequence of str
        Absolute module name to the public names it defines, in the order of ``__all__``.

    Returns
    -------
    tuple
        The module-level ``__getattr__`` (imports the owning module on first access and caches the
        value on the package), ``__dir__`` and ``__all__``.
    """
    owner = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in owner:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(owner[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *owner})

    return __getattr__, __dir__, list(owner)
