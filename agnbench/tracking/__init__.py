"""Experiment tracking of training runs: MLflow and TensorBoard behind one small protocol (docs/tracking.md).

Every track opens a :class:`Tracker` with :func:`open_tracker` from the config section ``tracking``
(``--track mlflow,tensorboard``) before it creates its run directory, then calls ``start``,
``log_history`` and ``finish`` (``agnbench compare``: :func:`open_comparison_tracker`, then
``log_comparison``); the backends (:class:`Backend`) are imported only when chosen. Tracks
share this package as they share :mod:`agnbench.protocol`; it imports no track.
"""

from agnbench.tracking.base import (
    Backend, Tracker, config_params, final_metrics, history_steps, open_comparison_tracker, open_tracker,
)

__all__ = ["Backend", "Tracker", "config_params", "final_metrics", "history_steps", "open_comparison_tracker",
           "open_tracker"]
