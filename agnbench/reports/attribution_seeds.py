"""Attribution summaries over training seeds: how much a headline attribution number moves with the seed.

``agnbench run`` trains every model with several seeds and explains each run; the per-run scalars of
``attributions/summary.json`` (:func:`agnbench.reports.report.attribution_facts`: the fraction of |IG| in the
BPT windows, the most important occlusion window, the top SHAP features, ...) are gathered here per seed group
(``inputs.yaml`` ``seed_groups``). The quantities are read generically, by name, so whatever ``agnbench
explain`` adds to ``summary.json`` flows through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["SPREAD_COLUMNS", "attribution_seed_spread"]

#: Columns of ``tables/attribution_seeds.csv``.
SPREAD_COLUMNS = ["group", "quantity", "n_seeds", "mean", "std", "min", "max", "most_common", "agreement", "text",
                  "values"]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def attribution_seed_spread(facts: pd.DataFrame, seed_groups: Mapping[str, Sequence[str]] | None) -> pd.DataFrame:
    """One row per (seed group, quantity) that at least two of the group's runs report.

    Parameters
    ----------
    facts : pandas.DataFrame
        ``run, quantity, value`` rows (the report's ``attribution_facts.csv``).
    seed_groups : mapping of str to sequence of str, or None
        Group (its combined row name) -> its runs, from ``inputs.yaml``.

    Returns
    -------
    pandas.DataFrame
        :data:`SPREAD_COLUMNS`. Numbers: ``mean``, ``std`` (ddof 1), ``min``, ``max`` over the seeds and ``text``
        ``"mean ± std [min, max] over K seeds"``; text values (a window, a feature name): ``most_common`` and
        ``agreement`` (the fraction of the seeds giving it) and ``text`` ``"value (k of K seeds)"``; ``values``
        lists every seed's value in run order.
    """
    rows = []
    for group, members in (seed_groups or {}).items():
        part = facts[facts["run"].isin(members)]
        order = {r: i for i, r in enumerate(members)}
        for quantity, sub in part.groupby("quantity", sort=False):
            sub = sub.sort_values("run", key=lambda s: s.map(order))
            values = list(sub["value"])
            if len(values) < 2:
                continue
            numbers = [_number(v) for v in values]
            row = {"group": group, "quantity": quantity, "n_seeds": len(values),
                   "values": "; ".join(_show(v) for v in values)}
            if all(x is not None for x in numbers):
                x = np.array(numbers, dtype=np.float64)
                row.update(mean=float(x.mean()), std=float(x.std(ddof=1)), min=float(x.min()), max=float(x.max()),
                           text=f"{_show(x.mean())} ± {_show(x.std(ddof=1))} [{_show(x.min())}, {_show(x.max())}] "
                                f"over {len(x)} seeds")
            else:
                top, count = Counter(_show(v) for v in values).most_common(1)[0]
                row.update(most_common=top, agreement=count / len(values),
                           text=f"{top} ({count} of {len(values)} seeds)")
            rows.append(row)
    return pd.DataFrame(rows, columns=SPREAD_COLUMNS)


def _show(value: object) -> str:
    number = _number(value)
    return f"{number:.4g}" if number is not None else str(value)
