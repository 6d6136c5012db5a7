"""Integrated gradients with as few path steps as each object needs: start coarse, refine the objects that fail.

The completeness error ``delta = sum(attr) - (f(x) - f(baseline))`` is known for every object after
one pass, so the number of quadrature steps need not be fixed in advance: most objects converge
with a few steps, a few (a path that crosses many ReLU kinks) need many. :func:`refine_steps`
attributes every object with ``min_steps``, then re-attributes only the objects whose error exceeds
``rtol * |f(x) - f(baseline)| + atol`` with twice the steps, until every object passes or
``max_steps`` is reached. An object's result is always one complete quadrature at a single step
count (the Gauss-Legendre nodes of different orders are not nested, so nothing is mixed), and the
step count each object used is returned, so a reader can see where the path integral was hard.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from agnbench.errors import AgnbenchError
from agnbench.interpretability.gradients import DELTA_ATOL, Attribution

log = logging.getLogger(__name__)


def logit_gap(result: Attribution) -> np.ndarray:
    """(n,) ``f(x) - f(baseline)`` of each object's target logit, from its attributions and completeness error."""
    n = result.attr.shape[0]
    return result.attr.reshape(n, -1).sum(axis=1, dtype=np.float64) - result.delta


def refine_steps(attribute: Callable[[np.ndarray, int], Attribution], n: int, *, min_steps: int, max_steps: int,
                 rtol: float = 0.05, atol: float = 0.01) -> tuple[Attribution, np.ndarray]:
    """Attribute ``n`` objects with the fewest path steps (doubling from ``min_steps``) that meet completeness.

    Parameters
    ----------
    attribute : callable
        ``attribute(rows, steps)`` returns the :class:`Attribution` of the objects at positions
        ``rows`` (int array, ascending) computed with ``steps`` quadrature points, in that order;
        e.g. a closure over :func:`~agnbench.interpretability.gradients.integrated_gradients`.
    n : int
        Number of objects.
    min_steps, max_steps : int
        First and largest step count (``min_steps == max_steps``: one fixed-step pass).
    rtol, atol : float
        An object is refined while ``|delta| > rtol * |f(x) - f(baseline)| + atol`` (logits).

    Returns
    -------
    Attribution
        Every object's attributions from its last (finest) pass; ``max_relative_delta`` recomputed.
    np.ndarray
        (n,) int step count each object's attributions used.
    """
    if not 1 <= min_steps <= max_steps:
        raise AgnbenchError(f"adaptive integrated gradients needs 1 <= min_steps <= max_steps, got {min_steps} and "
                            f"{max_steps}")
    rows = np.arange(n)
    steps = min_steps
    result = attribute(rows, steps)
    attr, delta = result.attr.copy(), result.delta.astype(np.float64).copy()
    used = np.full(n, steps, dtype=np.int64)
    gap = logit_gap(result)
    while steps < max_steps:
        todo = rows[np.abs(delta) > rtol * np.abs(gap) + atol]
        if todo.size == 0:
            break
        steps = min(2 * steps, max_steps)
        finer = attribute(todo, steps)
        attr[todo], delta[todo], used[todo] = finer.attr, finer.delta, steps
        log.info("integrated gradients: %d of %d objects refined to %d steps", todo.size, n, steps)
    max_rel = float((np.abs(delta) / np.maximum(np.abs(gap), DELTA_ATOL)).max()) if n else 0.0
    return replace(result, attr=attr, delta=delta, max_relative_delta=max_rel), used
