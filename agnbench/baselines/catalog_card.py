"""The catalog track's part of ``MODEL_CARD.md``: model, features, early stopping and the leakage section.

The layout and the metrics table are :func:`agnbench.protocol.model_card.render_model_card`'s.
"""

from __future__ import annotations

from agnbench.config.core import Config
from agnbench.contracts.store import Store
from agnbench.protocol.leakage import LeakageReport
from agnbench.protocol.model_card import class_balance_fact, data_fact, decision_fact, render_model_card


def catalog_model_card(*, run_id: str, cfg: Config, store: Store, features: list[str], leakage: LeakageReport,
                       metrics: dict, model_files: list[str], train_counts: dict[int, int]) -> str:
    """Markdown model card of a catalog-track run (numbers are point estimates; `agnbench compare` gives intervals).

    Parameters
    ----------
    run_id : str
        The run directory's name.
    cfg : Config
        The run's resolved config (its ``catalog`` section and seed are shown).
    store : Store
        The dataset store trained on.
    features : list of str
        The ``d`` feature columns, in model order.
    leakage : LeakageReport
        The leakage guard's verdict on the training split.
    metrics : dict
        The run's ``metrics.json`` (``model`` holds ``best_iteration`` and ``threshold``).
    model_files : list of str
        Files the model was saved to, relative to the run directory.
    train_counts : dict of int to int
        Training objects per class index.
    """
    cc = cfg.catalog
    facts = [
        f"- Track: catalog; model: **{cc.model}** (files: {', '.join(model_files)}); seed {cfg.seed}",
        data_fact(store),
        class_balance_fact(store.classes, train_counts),
        f"- Class weights: {cc.class_weight}; early stopping on val log-loss after {cc.early_stopping_rounds} rounds "
        f"(best iteration: {metrics['model']['best_iteration']})",
        decision_fact(cc.calibration, metrics["model"]["threshold"]),
        f"- Features ({len(features)}, set `{cc.features}`): {', '.join(features)}",
    ]
    return render_model_card(run_id=run_id, facts=facts, metrics=metrics,
                             sections=[("Leakage", [_leakage_text(leakage)])])


def _leakage_text(leakage: LeakageReport) -> str:
    """The leakage section: the leaky features that were allowed and why, or the strongest separations found."""
    if leakage.leaky:
        reasons = "".join(f"\n- {line}" for line in leakage.describe())
        return (f"**LEAKY FEATURES WERE ALLOWED (--allow-leaky): {', '.join(leakage.leaky)}.** These define "
                f"the BPT label; numbers below are not a fair comparison. Why each was flagged:{reasons}")
    if not leakage.behaviour_checked:
        return (f"No feature is label-defining by name. **The behavioural checks were skipped**: the smallest class "
                f"has {leakage.smallest_class} training object(s), too few to tell a label-defining feature (or "
                "pair) from one that separates so few objects by chance. With more objects, re-train to check.")
    top = sorted(((a, f) for f, a in leakage.auc.items() if a == a), reverse=True)[:3]
    text = (f"No feature is label-defining by name, and none separates the classes on its own with train "
            f"AUC > {leakage.auc_threshold} (highest: " + ", ".join(f"{f} {a:.3f}" for a, f in top) + ").")
    best = leakage.pair_check.get("best")
    if best:
        def show(key: str) -> str:
            pair, score = best[key]["pair"], best[key]["score"]
            if score is None:
                return "not scored"
            return f"{', '.join(pair) if isinstance(pair, list) else pair} {score:.3f}"
        text += (f" No pair of features reproduces the label (out-of-fold train ROC AUC of a small 2-D rule > "
                 f"{leakage.pair_check['pair_threshold']}; highest: grid {show('grid')}, tree {show('tree')}), and "
                 f"none reconstructs it through the Kauffmann et al. (2003) or Kewley et al. (2001) BPT line "
                 f"(agreement > {leakage.pair_check['bpt_threshold']}; highest: {show('bpt')}).")
    return text
