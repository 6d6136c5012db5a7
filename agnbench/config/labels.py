"""Config section ``labels``: the label scheme (read by ``prep`` and every track)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import LABEL_SCHEMES
from agnbench.config.rules import Message, check_rules, suggestion


@dataclass(frozen=True)
class LabelsConfig:
    """Label scheme that turns MPA-JHU BPT codes (or SDSS classes) into training labels."""

    scheme: str = "agn_vs_sf"  # one of choices.LABEL_SCHEMES

    def validate(self) -> None:
        """Require ``scheme`` to be one of :data:`~agnbench.config.choices.LABEL_SCHEMES`."""
        check_rules("labels", self, [
            ("scheme", self.scheme in LABEL_SCHEMES,
             Message(f"labels.scheme={self.scheme!r} is unknown: use one of {', '.join(LABEL_SCHEMES)}"
                     + suggestion(self.scheme, LABEL_SCHEMES))),
        ])
