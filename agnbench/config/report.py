"""Config section ``report``: the paper-ready report (``agnbench report``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agnbench.config.rules import check_rules


@dataclass(frozen=True)
class ReportConfig:
    """``agnbench report``: what the paper-ready report shows.

    Tables keep full precision in CSV; ``digits`` applies to the LaTeX, Markdown and HTML text.
    Significance statements use the Holm-corrected p-values at ``alpha``. ``curve_boot``
    replicates give the ROC/PR bands (paired, stratified, seeded like the comparison). ``labels`` maps a run
    name (or a seed group's row name) to the display name used in every table, figure and sentence of the
    report; runs not named get a default from their track and model (``"XGBoost (catalog)"``,
    ``"1D ResNet (spectra)"``, ``"ResNet-18 (images)"``; see :mod:`agnbench.reports.display`). ``workers``
    processes render the figures (0 = every usable core, 1 = in the main process); the files do not depend on it.
    """

    digits: int = 3
    alpha: float = 0.05  # family-wise level for "significant" (Holm-corrected p-values)
    mistakes: int = 8  # objects per confident-mistakes gallery
    curve_boot: int = 500  # bootstrap replicates for the ROC / PR bands
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # run name -> display name
    workers: int = 0  # processes rendering the figures; 0 = all usable cores, 1 = serial; files independent of it

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("report", self, [
            ("digits", 1 <= self.digits <= 6, "must be 1-6"),
            ("alpha", 0 < self.alpha < 1, "must be in (0, 1)"),
            ("mistakes", 0 <= self.mistakes <= 64, "must be 0-64 (0 = no galleries)"),
            ("curve_boot", self.curve_boot >= 0, "must be >= 0 (0 = no bands)"),
            ("labels", all(v.strip() for v in self.labels.values()), "display names must not be empty"),
            ("workers", self.workers >= 0, "must be >= 0 (0 = all usable cores, 1 = serial)"),
        ])
