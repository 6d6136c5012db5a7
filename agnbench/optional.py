"""Optional dependencies, imported when first needed, with one clear error naming what to install.

``pip install agnbench`` leaves out what only some commands use (docs/install.md): the XGBoost wheel
(``xgboost-cpu`` or ``xgboost``: extras ``cpu`` / ``cuda``), ``dask.distributed`` (``prep|predict
--scheduler``: extra ``dask``). Runtime code imports them through :func:`import_optional`, never at module
import time.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from agnbench.errors import AgnbenchError

__all__ = ["XGBOOST_HINT", "import_optional", "import_xgboost"]

#: What to install when the ``xgboost`` module is missing: either wheel provides it.
XGBOOST_HINT = ("install one XGBoost wheel (both provide the `xgboost` module): pip install xgboost-cpu (CPU only, "
                "small; or pip install 'agnbench[cpu]') or pip install xgboost (with CUDA; 'agnbench[cuda]')")


def import_optional(module: str, *, purpose: str, install: str) -> ModuleType:
    """Import ``module``; if it (not something it imports) is missing, raise one :class:`AgnbenchError` line.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"distributed"``.
    purpose : str
        What needs it, for the message (e.g. ``"--scheduler"``).
    install : str
        What to run, e.g. ``"pip install 'agnbench[dask]'"``.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):
            raise  # a dependency of an installed package is missing: its own message is the right one
        raise AgnbenchError(f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not installed; "
                            f"{install}") from None


def import_xgboost(*, purpose: str = "the XGBoost catalog model") -> ModuleType:
    """The ``xgboost`` module (from the ``xgboost-cpu`` or the ``xgboost`` wheel), or a clear error."""
    return import_optional("xgboost", purpose=purpose, install=XGBOOST_HINT)
