"""MODEL_CARD.md for a catalog-track run: data, features, leakage status, class balance, metrics."""

from __future__ import annotations

from agnbench.config.core import Config
from agnbench.protocol.leakage import LeakageReport
from agnbench.contracts.store import Store

_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss")


def model_card(*, run_id: str, cfg: Config, store: Store, features: list[str], leakage: LeakageReport, metrics: dict,
               model_files: list[str], train_counts: dict[int, int]) -> str:
    """Markdown model card (numbers are point estimates; `agnbench compare` gives intervals)."""
    cc = cfg.catalog
    lines = [
        f"# Model card: {run_id}",
        "",
        f"- Track: catalog; model: **{cc.model}** (files: {', '.join(model_files)}); seed {cfg.seed}",
        f"- Data: `{store.path}` (label scheme `{store.manifest.get('labels', {}).get('scheme')}`, "
        f"classes {', '.join(store.classes)})",
        "- Training class balance: " + ", ".join(f"{store.classes[k]} {n}" for k, n in sorted(train_counts.items())),
        f"- Class weights: {cc.class_weight}; early stopping on val log-loss after {cc.early_stopping_rounds} rounds "
        f"(best iteration: {metrics['model']['best_iteration']})",
        f"- Calibration (fitted on val): {cc.calibration}; decision rule (chosen on val): {metrics['model']['threshold']}",
        f"- Features ({len(features)}, set `{cc.features}`): {', '.join(features)}",
        "",
        "## Leakage",
    ]
    if leakage.leaky:
        lines.append(f"**LEAKY FEATURES WERE ALLOWED (--allow-leaky): {', '.join(leakage.leaky)}.** These define "
                     "the BPT label; numbers below are not a fair comparison.")
    else:
        top = sorted(((a, f) for f, a in leakage.auc.items() if a == a), reverse=True)[:3]
        lines.append("No feature is label-defining by name, and none separates the classes on its own with train "
                     "AUC > 0.98 (highest: " + ", ".join(f"{f} {a:.3f}" for a, f in top) + ").")
    lines += ["", "## Metrics (point estimates)", "",
              "| split | n | " + " | ".join(_METRICS) + " | majority-class accuracy |",
              "|---|---|" + "---|" * len(_METRICS) + "---|"]
    for split in ("val", "test"):
        m = metrics[split]
        vals = ["n/a" if m.get(k) is None else f"{m[k]:.4f}" for k in _METRICS]
        lines.append(f"| {split} | {m['n']} | " + " | ".join(vals) + f" | {m['majority_baseline_accuracy']:.4f} |")
    ood = metrics["ood"]
    if ood["n"]:
        lines += ["", f"Out-of-distribution objects (split `ood`, e.g. BPT composites; n = {ood['n']}) predicted as: "
                  + ", ".join(f"{k} {v:.1%}" for k, v in ood["fraction_predicted"].items())]
    lines += ["", "Test-split numbers were computed once, after every choice was made on train and val.", ""]
    return "\n".join(lines)
