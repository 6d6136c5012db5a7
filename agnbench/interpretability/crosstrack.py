"""``agnbench explain --compare RUN... --out DIR``: how the tracks' AGN scores relate, object by object.

Writes ``correlations.csv`` (Spearman/Pearson of every pair of runs' AGN scores on the shared test
objects), ``disagreements.csv`` (the objects whose scores differ most, with their physical
properties, for follow-up), ``drivers.csv`` (Spearman correlation of each run's score with mass,
colour, Dn4000, redshift and S/N) and ``composites.parquet`` (each run's score for every BPT
composite with its position on the BPT plane).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from agnbench.bootstrap.compare_inputs import load_runs
from agnbench.contracts import files
from agnbench.contracts.store import STORE_OK, locate_store, read_objects, store_state
from agnbench.errors import AgnbenchError
from agnbench.interpretability import probes
from agnbench.fileio import atomic_directory, atomic_write_json, atomic_write_parquet, atomic_write_text
from agnbench.outputs import claiming

log = logging.getLogger(__name__)


@claiming("crosstrack", inputs=("runs", "data"))
def explain_compare(*, runs: list[Path], out: Path, data: Path | None = None, positive: str = "agn", k: int = 30,
                    overwrite: bool = False) -> Path:
    """Cross-track comparison of the runs' scores; return ``out``."""
    loaded = load_runs(runs)
    if len(loaded) < 2:
        raise AgnbenchError("explain --compare needs at least two runs")
    store = locate_store([r.path for r in loaded], data)
    if store_state(store) != STORE_OK:
        raise AgnbenchError(f"the runs' store {store} is not there (moved?); pass --data STORE")
    objects = read_objects(store)
    preds = {r.name: r.preds for r in loaded}
    wide = probes.score_table(preds, positive=positive)
    with atomic_directory(out, kind="crosstrack", overwrite=overwrite, inputs=[*runs, data]) as tmp:
        atomic_write_text(tmp / files.CROSSTRACK_CORRELATIONS, probes.score_correlations(wide).to_csv(index=False))
        atomic_write_text(tmp / files.CROSSTRACK_DISAGREEMENTS, probes.disagreements(wide, objects, k=k).to_csv(index=False))
        atomic_write_text(tmp / files.CROSSTRACK_DRIVERS, probes.score_drivers(wide, objects).to_csv(index=False))
        atomic_write_parquet(tmp / files.CROSSTRACK_SCORES, wide.reset_index())
        summary = {"runs": [r.name for r in loaded], "n_shared_test": int(len(wide))}
        try:
            ood = probes.score_table(preds, positive=positive, split="ood")
        except AgnbenchError as exc:
            summary["composites"] = f"skipped: {exc}"
        else:
            cols = [c for c in ("q_log_nii_ha", "q_log_oiii_hb", "bpt_class") if c in objects.columns]
            bpt = objects.set_index("object_id").reindex(ood.index)[cols]
            atomic_write_parquet(tmp / files.CROSSTRACK_COMPOSITES, pd.concat([ood, bpt], axis=1).reset_index())
            summary["composites"] = {run: {"n": int(len(ood)), "mean_score": float(ood[run].mean()),
                                           "fraction_score_above_half": float((ood[run] > 0.5).mean())} for run in ood}
        atomic_write_json(tmp / files.CROSSTRACK_SUMMARY, summary)
    return out
