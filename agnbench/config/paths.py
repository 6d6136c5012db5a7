"""Config section ``paths``: where agnbench reads and writes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from agnbench.config.rules import Message, check_rules


@dataclass(frozen=True)
class PathsConfig:
    """Where agnbench reads and writes (relative paths are relative to the working directory)."""

    raw: str = "raw/mock"  # raw survey directory (simulate writes it, prep reads it)
    data: str = "data/mock"  # dataset store
    runs: str = "runs"
    comparisons: str = "comparisons"

    def validate(self) -> None:
        """Require every path to be a non-empty string."""
        check_rules("paths", self, [
            (f.name, bool(getattr(self, f.name).strip()), Message(f"paths.{f.name} is empty: give a directory path"))
            for f in dataclasses.fields(self)
        ])
