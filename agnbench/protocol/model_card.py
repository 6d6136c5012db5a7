"""``MODEL_CARD.md`` of a training run: one layout for every track.

A card is a title, the track's facts (one ``- ...`` bullet each), the track's own sections (the catalog
track's ``## Leakage``), then the shared metrics table of the val and test splits, the ood line and the
closing sentence. The bullets every track shares (data, class balance, calibration and decision rule)
are built here too; each track's card module (:mod:`agnbench.baselines.catalog_card`,
:mod:`agnbench.deep.deep_card`) adds its own bullets and sections and calls :func:`render_model_card`.
Numbers are point estimates; ``agnbench compare`` gives intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agnbench.contracts.store import Store
from agnbench.protocol.metrics import METRIC_SPLITS

#: Columns of the card's metrics table (keys of :func:`agnbench.protocol.metrics.split_metrics`).
CARD_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss")

__all__ = ["CARD_METRICS", "class_balance_fact", "data_fact", "decision_fact", "render_model_card"]


def render_model_card(*, run_id: str, facts: Sequence[str], metrics: Mapping[str, Any],
                      sections: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """The Markdown text of a model card.

    Parameters
    ----------
    run_id : str
        The run directory's name (the card's title).
    facts : sequence of str
        The track's bullet lines (``"- ..."``), in order.
    metrics : mapping
        The run's ``metrics.json``: ``val`` and ``test`` (from
        :func:`~agnbench.protocol.metrics.split_metrics`) and ``ood`` (``n``, ``fraction_predicted``).
    sections : sequence of (str, sequence of str), optional
        Track-specific sections placed between the facts and the metrics: (heading, body lines).

    Returns
    -------
    str
        The card, ending with a newline.
    """
    lines = [f"# Model card: {run_id}", "", *facts]
    for heading, body in sections:
        lines += ["", f"## {heading}", *body]
    lines += ["", "## Metrics (point estimates)", "",
              "| split | n | " + " | ".join(CARD_METRICS) + " | majority-class accuracy |",
              "|---|---|" + "---|" * len(CARD_METRICS) + "---|"]
    for split in METRIC_SPLITS:
        m = metrics[split]
        vals = ["n/a" if m.get(k) is None else f"{m[k]:.4f}" for k in CARD_METRICS]
        lines.append(f"| {split} | {m['n']} | " + " | ".join(vals) + f" | {m['majority_baseline_accuracy']:.4f} |")
    ood = metrics["ood"]
    if ood["n"]:
        lines += ["", f"Out-of-distribution objects (split `ood`, e.g. BPT composites; n = {ood['n']}) predicted as: "
                  + ", ".join(f"{k} {v:.1%}" for k, v in ood["fraction_predicted"].items())]
    lines += ["", "Test-split numbers were computed once, after every choice was made on train and val.", ""]
    return "\n".join(lines)


def data_fact(store: Store, *, extra: str = "") -> str:
    """The ``- Data:`` bullet: store path, label scheme and classes, then ``extra`` (e.g. the input shape)."""
    return (f"- Data: `{store.path}` (label scheme `{store.manifest.get('labels', {}).get('scheme')}`, "
            f"classes {', '.join(store.classes)}){extra}")


def class_balance_fact(classes: Sequence[str], train_counts: Mapping[int, int]) -> str:
    """The ``- Training class balance:`` bullet; ``train_counts`` maps class index -> training objects."""
    return "- Training class balance: " + ", ".join(f"{classes[k]} {n}" for k, n in sorted(train_counts.items()))


def decision_fact(calibration: str, rule: Mapping[str, Any], *, extra: str = "") -> str:
    """The ``- Calibration ... decision rule`` bullet: the calibration method and the rule, both chosen on val.

    Parameters
    ----------
    calibration : str
        Calibration method (:data:`agnbench.protocol.calibration.CALIBRATION_METHODS`).
    rule : mapping
        The decision rule of :func:`agnbench.protocol.thresholds.fit_threshold` (shown as a dict).
    extra : str, optional
        Appended text (the deep tracks add their test-time augmentation).
    """
    return f"- Calibration (fitted on val): {calibration}; decision rule (chosen on val): {rule}{extra}"
