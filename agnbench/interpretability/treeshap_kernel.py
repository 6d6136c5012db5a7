"""Which TreeSHAP kernel explains an XGBoost / LightGBM booster: the library's own, or agnbench's numba one.

Both compute the same exact path-dependent TreeSHAP values (they agree to float rounding, tested):
the libraries' native kernels (XGBoost ``pred_contribs``, LightGBM ``pred_contrib``) cost about
``rows x trees x leaves x depth`` and nothing up front; :mod:`.fast_treeshap` costs far less per row
but pays a fixed price in each new process (importing numba, loading its compiled functions, the
model's JSON dump), and the first time in an environment also numba's compilation of the kernel.

``method="auto"`` therefore picks by the size of the job, ``work = rows x trees`` (trees: the kept
boosting rounds times the number of outputs): the native kernel while ``work`` is below
``native_below`` (:data:`~agnbench.config.explain.TREESHAP_NATIVE_BELOW` by default, measured by
``python -m benchmarks.bench_shap --sweep``), numba from there on. ``"fast"`` and ``"native"`` force
a kernel. Where numba cannot represent the model (categorical splits, linear trees, ...) the native
kernel runs whatever was asked, except for ``"fast"``, which then fails.

numba compiles the kernel once per environment, not per run: its functions are cached on disk
(``cache=True``), next to ``fast_treeshap.py`` in ``__pycache__`` or, where that is not writable,
in numba's user-wide cache directory (``NUMBA_CACHE_DIR`` overrides both). The cache is keyed on the
source file's path and modification time, so a new checkout, a reinstall or an edit compiles again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from agnbench.config.choices import SHAP_METHODS
from agnbench.config.explain import TREESHAP_NATIVE_BELOW
from agnbench.errors import AgnbenchError
from agnbench.interpretability import tree_arrays

logger = logging.getLogger(__name__)

KERNEL_FAST = "fast"
KERNEL_NATIVE = "native"


@dataclass(frozen=True)
class KernelChoice:
    """The kernel that explains a booster, and why.

    Attributes
    ----------
    requested : str
        ``"auto"``, ``"fast"`` or ``"native"`` (:data:`~agnbench.config.choices.SHAP_METHODS`).
    kernel : str
        What ran: ``"fast"`` (numba, :mod:`.fast_treeshap`) or ``"native"`` (the library's own).
    work : int
        ``rows x trees`` of the job.
    native_below : int
        The threshold ``"auto"`` compared ``work`` with.
    reason : str
        One line: why this kernel.
    """

    requested: str
    kernel: str
    work: int
    native_below: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (what ``attributions/summary.json`` records under ``shap.kernel``)."""
        return asdict(self)


def booster_trees(fit: Any) -> int:
    """Trees a booster's prediction uses: kept rounds (``best_iteration + 1``, else all) times outputs.

    Parameters
    ----------
    fit : FitResult
        An ``"xgboost"`` or ``"lightgbm"`` fit.

    Returns
    -------
    int
        Number of trees (binary: one per round; ``K`` classes: ``K`` per round).
    """
    outputs = 1 if fit.n_classes == 2 else int(fit.n_classes)
    if fit.best_iteration is not None:
        return (int(fit.best_iteration) + 1) * outputs
    if fit.kind == "xgboost":
        return int(fit.model.num_boosted_rounds()) * outputs
    return int(fit.model.num_trees())


def choose_kernel(fit: Any, n_rows: int, *, method: str = "auto", native_below: int | None = None) -> KernelChoice:
    """The kernel for explaining ``n_rows`` rows with a booster.

    Parameters
    ----------
    fit : FitResult
        An ``"xgboost"`` or ``"lightgbm"`` fit.
    n_rows : int
        Rows to explain.
    method : {"auto", "fast", "native"}
        ``"auto"``: native while ``n_rows x trees < native_below``, else fast; the others force one.
    native_below : int, optional
        Threshold of ``"auto"`` in row-trees; default :data:`~agnbench.config.explain.TREESHAP_NATIVE_BELOW`.

    Returns
    -------
    KernelChoice

    Raises
    ------
    AgnbenchError
        An unknown ``method`` or a negative ``native_below``.
    """
    if method not in SHAP_METHODS:
        raise AgnbenchError(f"unknown SHAP method {method!r}; valid: {', '.join(SHAP_METHODS)}")
    threshold = TREESHAP_NATIVE_BELOW if native_below is None else int(native_below)
    if threshold < 0:
        raise AgnbenchError(f"native_below must be >= 0 row-trees, got {threshold}")
    trees = booster_trees(fit)
    work = int(n_rows) * trees
    if method != "auto":
        return KernelChoice(method, method, work, threshold, f"{method!r} requested")
    if work < threshold:
        return KernelChoice("auto", KERNEL_NATIVE, work, threshold,
                            f"{n_rows} rows x {trees} trees = {work:,} < {threshold:,} row-trees: native is faster")
    return KernelChoice("auto", KERNEL_FAST, work, threshold,
                        f"{n_rows} rows x {trees} trees = {work:,} >= {threshold:,} row-trees: numba is faster")


def fast_contribs(fit: Any, X: np.ndarray, *, threads: int, required: bool) -> tuple[np.ndarray | None, str]:
    """numba TreeSHAP (:func:`~.fast_treeshap.fast_tree_shap`) of a booster, or why it cannot explain it.

    Parameters
    ----------
    fit : FitResult
        An ``"xgboost"`` or ``"lightgbm"`` fit.
    X : numpy.ndarray, shape (n, d)
        Features, NaN for missing.
    threads : int
        numba threads.
    required : bool
        Raise rather than return ``None`` where numba cannot represent the model.

    Returns
    -------
    contributions : numpy.ndarray, shape (n, K_out, d + 1), or None
        SHAP values with the base value last; ``None`` where the model is not supported (logged at INFO).
    why : str
        Empty, or why the model is not supported.

    Raises
    ------
    AgnbenchError
        ``required`` and the model is not supported (the message names the way out: ``method='native'``).
    """
    try:
        from agnbench.interpretability.fast_treeshap import fast_tree_shap

        return fast_tree_shap(tree_arrays.from_fit(fit), X, threads=threads), ""
    except (tree_arrays.UnsupportedModelError, ImportError) as exc:
        if required:
            raise AgnbenchError(f"method='fast' cannot explain this {fit.kind} model: {exc}; use method='native' "
                                "(or 'auto', which falls back to it)") from exc
        logger.info("fast TreeSHAP does not support this %s model (%s); using the native kernel", fit.kind, exc)
        return None, str(exc)
