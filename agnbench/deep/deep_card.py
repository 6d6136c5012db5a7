"""MODEL_CARD.md for a deep-track run: data, inputs, architecture, training, metrics."""

from __future__ import annotations

from agnbench.config.deep import DeepTrainConfig
from agnbench.contracts.store import Store

_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss")


def deep_model_card(*, run_id: str, track: str, cfg: DeepTrainConfig, seed: int, store: Store, meta: dict,
                    metrics: dict, train_counts: dict[int, int]) -> str:
    """Markdown model card (numbers are point estimates; ``agnbench compare`` gives intervals)."""
    arch = meta["architecture"]
    model = metrics["model"]
    inputs = meta["inputs"]
    lines = [
        f"# Model card: {run_id}",
        "",
        f"- Track: {track}; model: **{meta['model']}** ({arch['class']}, {meta['n_parameters']:,} parameters; "
        + ", ".join(f"{k} {v}" for k, v in arch.items() if k not in ("class",)) + f"); seed {seed}",
        f"- Data: `{store.path}` (label scheme `{store.manifest.get('labels', {}).get('scheme')}`, "
        f"classes {', '.join(store.classes)}); input shape {tuple(meta['input_shape'])}",
        f"- Inputs: {inputs['channels']}" + (f"; **redshift used as an extra input** ({inputs['redshift']['note']})"
                                              if "redshift" in inputs else ""),
        "- Training class balance: " + ", ".join(f"{store.classes[k]} {n}" for k, n in sorted(train_counts.items())),
        f"- Objects without {track} (no prediction): " + ", ".join(f"{k} {v}" for k, v in model["missing_inputs"].items()),
        f"- Optimiser: AdamW lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, warm-up {cfg.warmup_epochs:g} epochs "
        f"+ cosine; batch {cfg.batch_size}; loss {cfg.loss}"
        + (f" (gamma {cfg.focal_gamma:g})" if cfg.loss == "focal" else "")
        + f", class weights {cfg.class_weight}, label smoothing {cfg.label_smoothing:g}, sampler {cfg.sampler}; "
        f"augmentation {'on' if cfg.augment else 'off'}",
        f"- Early stopping on val {model['val_score']} (patience {cfg.patience}): best epoch {model['best_epoch']} of "
        f"{model['epochs_run']} run (max {cfg.epochs}); median training speed "
        f"{model['train_samples_per_s_median']:.0f} samples/s",
        f"- Calibration (fitted on val): {model['calibration'].get('method')}; decision rule (chosen on val): "
        f"{model['threshold']}; test-time augmentation: {'8 dihedral transforms' if model['tta'] else 'none'}",
    ]
    if meta.get("init"):
        lines.append(f"- Fine-tuned from `{meta['init']['path']}` ({meta['init']['loaded']} tensors; backbone frozen "
                     f"for {cfg.freeze_epochs} epoch(s))")
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
