"""Config section ``tracking``: experiment tracking of training runs (MLflow, TensorBoard; docs/tracking.md)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import TRACKING_BACKENDS
from agnbench.config.rules import Message, alternatives, check_rules


@dataclass(frozen=True)
class TrackingConfig:
    """Where ``agnbench train`` and ``agnbench run`` also log each run (the run directory stays the record).

    ``backends`` (``--track``): none by default; ``mlflow`` logs the resolved config, per-epoch / per-round
    metrics, the final metrics and the run directory to the MLflow store at ``uri`` in the experiment
    ``experiment``; ``tensorboard`` writes per-epoch / per-round scalars into ``<run_dir>/tensorboard/``.
    ``uri``: a local directory (the default ``mlruns``: an MLflow file store in the working directory; works
    offline with mlflow-skinny), ``file:///abs/path``, a tracking server ``http(s)://host:port``, or a
    database ``sqlite:///mlflow.db`` (needs the full ``mlflow`` package). Tracking never changes a trained
    model, so runs that differ only here are still one seed group.
    """

    backends: tuple[str, ...] = ()  # choices.TRACKING_BACKENDS
    uri: str = "mlruns"
    experiment: str = "agnbench"

    def validate(self) -> None:
        """Known, distinct backends; a non-empty uri and experiment name."""
        unknown = [b for b in self.backends if b not in TRACKING_BACKENDS]
        check_rules("tracking", self, [
            ("backends", not unknown, Message(f"tracking.backends: unknown tracker {unknown[0]!r}; use "
                                              f"{alternatives(TRACKING_BACKENDS)}") if unknown else ""),
            ("backends", len(set(self.backends)) == len(self.backends), "must not name a tracker twice"),
            ("uri", bool(self.uri.strip()), Message("tracking.uri is empty: give a directory (mlruns), "
                                                    "file:///path, http(s)://host:port or sqlite:///mlflow.db")),
            ("experiment", bool(self.experiment.strip()),
             Message("tracking.experiment is empty: give an MLflow experiment name (default agnbench)")),
        ])
