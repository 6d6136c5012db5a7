"""TensorBoard backend of :class:`agnbench.tracking.base.Tracker` (``--track tensorboard``).

Scalars per epoch (deep tracks) or boosting round (catalog track) and the final metrics
(``final/<split>.<metric>``, at the last step) go to ``<run_dir>/tensorboard/``, so
``tensorboard --logdir runs`` shows every run; the resolved config is a text summary. A resumed run
appends to the same directory: events at or after the epoch it resumes from are purged, and the
epochs already trained are logged only when the directory has no events yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agnbench.errors import AgnbenchError
from agnbench.tracking.base import INSTALL_HINT

#: The folder inside the run directory.
TENSORBOARD_DIR = "tensorboard"


def tensorboard_dir(run_dir: Path) -> Path:
    """``<run_dir>/tensorboard``: where a run's TensorBoard events go."""
    return Path(run_dir) / TENSORBOARD_DIR


class TensorBoardBackend:
    """A ``torch.utils.tensorboard.SummaryWriter`` on the run directory."""

    name = "tensorboard"

    def __init__(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise AgnbenchError(f"--track tensorboard needs TensorBoard ({exc}): {INSTALL_HINT}") from None
        self._writer_cls = SummaryWriter
        self.writer = None

    def start(self, run_dir: Path, *, name: str, tags: Mapping[str, str],
              history: list[tuple[int, dict[str, float]]]) -> None:
        """Open the writer; log ``history`` (a resumed run's epochs) unless the directory already has events."""
        out = tensorboard_dir(run_dir)
        had_events = out.is_dir() and any(out.glob("events.out.tfevents.*"))
        purge = history[-1][0] + 1 if history else None
        self.writer = self._writer_cls(log_dir=str(out), purge_step=purge if had_events else None)
        self.writer.add_text("tags", "\n".join(f"    {k}: {v}" for k, v in sorted(tags.items())))
        if not had_events:
            for step, metrics in history:
                self.log_metrics(metrics, step=step)

    def log_params(self, params: Mapping[str, str], *, config_yaml: Path | None) -> None:
        """The resolved config as one text summary (``config``); other parameters as ``params``."""
        text = "\n".join(f"    {k}: {v}" for k, v in params.items())  # indented: TensorBoard shows it verbatim
        if text:
            self.writer.add_text("config" if config_yaml is not None else "params", text)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        """One scalar per metric at ``step``; dotted names (``test.roc_auc``) are final metrics, under ``final/``."""
        for key, value in metrics.items():
            self.writer.add_scalar(f"final/{key}" if "." in key else key, float(value), global_step=int(step))
        self.writer.flush()

    def log_artifacts(self, run_dir: Path) -> None:
        """Nothing: the events already live in the run directory."""

    def close(self, status: str) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
