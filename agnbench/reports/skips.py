"""What a report left out, and why: one log line per skipped section, figure or table, listed in the report.

Every report builder checks its inputs first; a section whose inputs are absent (no line ratios in a
table store, no ``ood`` split, no attributions, a single run, ...) is skipped through :meth:`Skips.skip`,
which writes one INFO line ``"<what> skipped: <why>"`` and keeps the entry for the report's summary
(the "Left out of this report" table and ``report/skipped.csv``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Skip", "Skips"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skip:
    """One skipped part of the report.

    Attributes
    ----------
    what : str
        The section, figure or table (e.g. ``"BPT-plane figure"``).
    why : str
        The absent input (e.g. ``"the store has no q_log_nii_ha/q_log_oiii_hb"``).
    """

    what: str
    why: str


@dataclass
class Skips:
    """The parts of one report that were skipped, in the order they were met."""

    items: list[Skip] = field(default_factory=list)

    def skip(self, what: str, why: str, *, logger: logging.Logger | None = None) -> None:
        """Log ``"<what> skipped: <why>"`` (INFO, on ``logger``) and remember it (once per what and why)."""
        (logger or _log).info("%s skipped: %s", what, why)
        entry = Skip(str(what), str(why))
        if entry not in self.items:
            self.items.append(entry)

    def table(self) -> pd.DataFrame:
        """``what, why``: one row per skipped part."""
        return pd.DataFrame([{"what": s.what, "why": s.why} for s in self.items], columns=["what", "why"])

    def __len__(self) -> int:
        return len(self.items)
