"""What each reported number is, in words generated from the settings the comparison recorded.

Every caption, the summary paragraph and the tables name the method behind each interval and p-value
through these functions, so a caption can never say one thing while the computation did another:

* :func:`interval_phrase` — the interval of the metrics (method, level, replicates, stratification);
* :func:`prevalence_note` — what stratified resampling conditions on;
* :func:`difference_method` — the interval quoted for one ``tests.csv`` row (bootstrap or DeLong);
* :func:`p_bounds` / :func:`holm_bounds` / :func:`p_text` — p-values limited by the number of bootstrap
  replicates are printed ``p ≤ 2/(B+1)``, never as an equality; :func:`floor_note` says why;
* :func:`holm_phrase` — the family within which the Holm correction ran.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from agnbench.bootstrap.paired import family_of_test
from agnbench.config.choices import INTERVAL_LABELS

__all__ = ["BOOTSTRAP_TEST", "difference_method", "floor_note", "holm_bounds", "holm_phrase", "interval_name",
           "interval_phrase", "p_bounds", "p_text", "prevalence_note", "seed_caption", "seed_sentence"]

#: The ``tests.csv`` test whose p-value is limited by the number of replicates.
BOOTSTRAP_TEST = "paired bootstrap"
#: Short names of one row's interval (``summary.csv``/``tests.csv`` ``ci``), as in "95% BCa interval".
_ROW_INTERVALS = {"percentile": "percentile", "bca": "BCa", "newcombe": "Newcombe score"}


def interval_name(ci: str | None) -> str:
    """Display name of a ``compare.ci`` value (:data:`~agnbench.config.choices.INTERVAL_LABELS`, e.g. ``bca`` ->
    ``BCa bootstrap``); other values are shown as given."""
    return INTERVAL_LABELS.get(str(ci or "percentile"), str(ci))


def interval_phrase(settings: Mapping, *, split: str, ci: str | None = None) -> str:
    """``"95% BCa bootstrap intervals (2000 paired resamples of the test objects, stratified by class)"``.

    Parameters
    ----------
    settings : mapping
        ``inputs.yaml`` ``compare`` (confidence, n_boot, ci, stratify).
    split : str
        The split compared.
    ci : str, optional
        The interval actually written (``summary.csv`` ``ci``); default ``settings["ci"]``.
    """
    level = 100 * float(settings.get("confidence", 0.95))
    strat = ", stratified by class" if settings.get("stratify", True) else ", not stratified"
    return (f"{level:g}% {interval_name(ci or settings.get('ci'))} intervals "
            f"({settings.get('n_boot', '?')} paired resamples of the {split} objects{strat})")


def prevalence_note(settings: Mapping, *, split: str) -> str:
    """What the resampling holds fixed, and why the majority baseline's accuracy interval has zero width."""
    if settings.get("stratify", True):
        return (f"Resampling is stratified by true class, so every interval is conditional on the {split} split's "
                "class counts (its prevalence); the majority baseline's accuracy is fixed by those counts and its "
                "interval has zero width. Set compare.stratify: false to include the variation of the class mix.")
    return (f"Resampling is not stratified: intervals include the sampling variation of the {split} split's class "
            "mix.")


def difference_method(row: Mapping, settings: Mapping) -> str:
    """The interval quoted for one ``tests.csv`` row, in words (``"DeLong normal-approximation 95% interval"``)."""
    level = 100 * float(settings.get("confidence", 0.95))
    test = str(row.get("test", ""))
    if test == "DeLong":
        return f"DeLong normal-approximation {level:g}% interval"
    if test == BOOTSTRAP_TEST:
        ci = row.get("ci")
        ci = ci if isinstance(ci, str) and ci else "percentile"
        name = _ROW_INTERVALS.get(ci, ci)
        over_seeds = "objects x seeds" in str(row.get("note", "")) or any(
            " seeds)" in str(row.get(k, "")) for k in ("run", "run_a", "run_b", "reference"))  # seed-group rows
        seeds = " over objects x seeds" if over_seeds else ""
        return f"{level:g}% {name} interval of {settings.get('n_boot', '?')} paired bootstrap differences{seeds}"
    if test.startswith("McNemar"):
        return "no interval (McNemar tests the discordant pairs)"
    return f"{level:g}% interval ({test})"


def p_bounds(tests: pd.DataFrame, *, n_boot: int | None) -> pd.Series:
    """Per row of ``tests``: True where ``p_value`` is the paired bootstrap's floor ``2/(B+1)`` (an upper bound).

    Uses the row's ``p_floor`` when ``tests.csv`` has it (B counts the replicates where the difference is
    defined); else the floor of ``n_boot`` replicates.
    """
    if tests.empty:
        return pd.Series([], dtype=bool)
    boot = tests["test"].astype(str) == BOOTSTRAP_TEST
    floor = np.full(len(tests), 2.0 / (int(n_boot) + 1) if n_boot else np.nan)
    if "p_floor" in tests:
        own = tests["p_floor"].to_numpy(np.float64)
        floor = np.where(np.isfinite(own), own, floor)
    p = tests["p_value"].to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        hit = np.isfinite(floor) & np.isfinite(p) & (p <= floor * (1 + 1e-9))
    return pd.Series(boot.to_numpy() & hit, index=tests.index)


def holm_bounds(tests: pd.DataFrame, *, n_boot: int | None) -> pd.Series:
    """Per row: True where the Holm-corrected p is an upper bound, i.e. set by a floor-limited raw p.

    Holm's adjusted p of the j-th smallest p in a family of m is ``max_{i<=j} min(1, (m-i+1) p_(i))``; it is
    a bound when the term attaining the maximum comes from a p-value at the bootstrap floor. Families are
    (metric, :func:`family_of_test`), as in the comparison.
    """
    raw = p_bounds(tests, n_boot=n_boot)
    out = pd.Series(False, index=tests.index)
    if tests.empty:
        return out
    keys = list(zip(tests["metric"], tests["test"].map(family_of_test)))
    for key in dict.fromkeys(keys):
        idx = [i for i, k in zip(tests.index, keys) if k == key]
        p = tests.loc[idx, "p_value"].to_numpy(np.float64)
        order = np.argsort(np.where(np.isfinite(p), p, np.inf), kind="stable")
        m = np.count_nonzero(np.isfinite(p))
        best, bound = -np.inf, False
        for rank, pos in enumerate(order):
            if not np.isfinite(p[pos]):
                continue
            term = min(1.0, (m - rank) * p[pos])
            if term > best:
                best, bound = term, bool(raw[idx[pos]]) and term < 1.0
            out[idx[pos]] = bound
    return out


def p_text(p: float, *, bound: bool = False, prefix: str = "p") -> str:
    """``"p = 0.034"``, ``"p ≤ 0.001"`` (a floor-limited bound) or ``"p < 1e-4"``; ``prefix`` may be empty."""
    if not np.isfinite(p):
        return f"{prefix} n/a".strip()
    value = f"{p:.3g}"
    if bound:
        return f"{prefix} \N{LESS-THAN OR EQUAL TO} {value}".strip()
    if p < 1e-4:
        return f"{prefix} < 1e-4".strip()
    return f"{prefix} = {value}".strip() if prefix else value


def floor_note(n_boot: int | None) -> str:
    """Why some p-values are printed as bounds."""
    b = int(n_boot) if n_boot else None
    floor = f"2/(B+1) = {2.0 / (b + 1):.2g} for B = {b}" if b else "2/(B+1)"
    return (f"\N{LESS-THAN OR EQUAL TO} marks a bootstrap p-value at its floor, {floor}: no replicate reached a "
            "zero difference, so the true p is at most this (more replicates resolve smaller values); a Holm p set "
            "by such a value is likewise a bound.")


def holm_phrase(tests: pd.DataFrame) -> str:
    """How the Holm correction was grouped, with the family sizes found in ``tests``."""
    if tests.empty:
        return "Holm-corrected within each (metric, test) family"
    sizes = tests.groupby([tests["metric"], tests["test"].map(family_of_test)]).size()
    span = f"{sizes.min()}" if sizes.min() == sizes.max() else f"{sizes.min()}-{sizes.max()}"
    return (f"Holm-corrected within each family of run pairs compared on one metric by one test "
            f"({len(sizes)} families of {span} comparisons), not over all metrics")


def _seed_counts(inputs: Mapping) -> str:
    """``"3"`` or ``"2, 3"``: the numbers of seeds of the comparison's seed groups ("" without any)."""
    groups = inputs.get("seed_groups") or {}
    return ", ".join(map(str, sorted({len(v) for v in groups.values()})))


def seed_sentence(inputs: Mapping) -> str:
    """The summary's note on seed groups (``inputs.yaml`` ``seed_groups``; "" without them)."""
    ks = _seed_counts(inputs)
    if not ks:
        return ""
    return (f" Each model 'mean of K seeds' is the mean over K = {ks} training seeds; its "
            "intervals, differences and p-values come from a two-stage bootstrap over objects x seeds, so they "
            "include the seed-to-seed variance as well as the sampling of the test objects.")


def seed_caption(inputs: Mapping) -> str:
    """What a seed group's row is and what its interval includes ("" without seed groups)."""
    ks = _seed_counts(inputs)
    if not ks:
        return ""
    return (f" Rows 'mean of K seeds' (K = {ks}): the mean over K training seeds of identical "
            "runs; their intervals come from a two-stage bootstrap over objects x seeds, so they include the "
            "seed-to-seed variance as well as the sampling of the test objects (the other rows are conditional on "
            "one trained model).")
