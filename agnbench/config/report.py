"""Config section ``report``: the paper-ready report (``agnbench report``)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.rules import check_rules


@dataclass(frozen=True)
class ReportConfig:
    """``agnbench report``: what the paper-ready report shows.

    Tables keep full precision in CSV; ``digits`` applies to the LaTeX, Markdown and HTML text.
    Significance statements use the Holm-corrected p-values at ``alpha``. ``curve_boot``
    replicates give the ROC/PR bands (paired, stratified, seeded like the comparison).
    """

    digits: int = 3
    alpha: float = 0.05  # family-wise level for "significant" (Holm-corrected p-values)
    mistakes: int = 8  # objects per confident-mistakes gallery
    curve_boot: int = 500  # bootstrap replicates for the ROC / PR bands

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("report", self, [
            ("digits", 1 <= self.digits <= 6, "must be 1-6"),
            ("alpha", 0 < self.alpha < 1, "must be in (0, 1)"),
            ("mistakes", 0 <= self.mistakes <= 64, "must be 0-64 (0 = no galleries)"),
            ("curve_boot", self.curve_boot >= 0, "must be >= 0 (0 = no bands)"),
        ])
