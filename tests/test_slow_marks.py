"""``make test-fast`` (``-m "not slow"``) must leave out the tests that tests/conftest.py marks slow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _collected(marker: str) -> set[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "-m",
                          marker, "tests/fusion/test_fusion_knob.py", "tests/test_slow_marks.py"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    return {line.split("::", 1)[0] for line in out.stdout.splitlines() if "::" in line}


def test_slow_listed_tests_are_deselected_by_not_slow() -> None:
    assert _collected("not slow") == {"tests/test_slow_marks.py"}
    assert _collected("slow") == {"tests/fusion/test_fusion_knob.py"}
