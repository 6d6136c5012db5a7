"""How many CPU threads a computation may use: the configured count, capped by ``$AGNBENCH_MAX_THREADS``.

Every place that hands a thread count to torch, XGBoost, LightGBM, scikit-learn or numba goes through
:func:`usable_threads`. The cap is for machines shared by several processes (a batch-queue slot,
``pytest -n``, several ``agnbench`` commands at once): threads beyond the cores a process owns make
OpenMP wait on descheduled threads, which costs far more than they gain. Results on the CPU depend
on the thread count only through the order of floating-point sums.
"""

from __future__ import annotations

import os

from agnbench.errors import ConfigError

#: environment variable: the most CPU threads any computation may use (unset: no cap)
MAX_THREADS_ENV = "AGNBENCH_MAX_THREADS"


def usable_threads(requested: int) -> int:
    """``requested`` (a config's ``threads``), lowered to ``$AGNBENCH_MAX_THREADS`` when that is set and smaller."""
    raw = os.environ.get(MAX_THREADS_ENV, "").strip()
    if not raw:
        return int(requested)
    try:
        cap = int(raw)
    except ValueError:
        cap = 0
    if cap < 1:
        raise ConfigError(f"{MAX_THREADS_ENV}={raw!r}: must be a whole number >= 1 (or unset for no cap)")
    return min(int(requested), cap)
