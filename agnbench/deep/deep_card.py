"""The deep tracks' part of ``MODEL_CARD.md``: inputs, architecture, optimiser, early stopping, fine-tuning.

The layout and the metrics table are :func:`agnbench.protocol.model_card.render_model_card`'s.
"""

from __future__ import annotations

from agnbench.config.deep import DeepTrainConfig
from agnbench.contracts.store import Store
from agnbench.protocol.model_card import class_balance_fact, data_fact, decision_fact, render_model_card


def deep_model_card(*, run_id: str, track: str, cfg: DeepTrainConfig, seed: int, store: Store, meta: dict,
                    metrics: dict, train_counts: dict[int, int]) -> str:
    """Markdown model card of a spectra or images run (numbers are point estimates; ``agnbench compare`` gives intervals).

    Parameters
    ----------
    run_id : str
        The run directory's name.
    track : {"spectra", "images"}
    cfg : DeepTrainConfig
        The track's section of the run's resolved config.
    seed : int
    store : Store
        The dataset store trained on.
    meta : dict
        The run's ``model_meta.json`` (architecture, input shape and description, parameters, init).
    metrics : dict
        The run's ``metrics.json`` (its ``model`` section holds the training facts shown).
    train_counts : dict of int to int
        Training objects per class index.
    """
    arch = meta["architecture"]
    model = metrics["model"]
    inputs = meta["inputs"]
    facts = [
        f"- Track: {track}; model: **{meta['model']}** ({arch['class']}, {meta['n_parameters']:,} parameters; "
        + ", ".join(f"{k} {v}" for k, v in arch.items() if k not in ("class",)) + f"); seed {seed}",
        data_fact(store, extra=f"; input shape {tuple(meta['input_shape'])}"),
        f"- Inputs: {inputs['channels']}" + (f"; **redshift used as an extra input** ({inputs['redshift']['note']})"
                                              if "redshift" in inputs else ""),
        class_balance_fact(store.classes, train_counts),
        f"- Objects without {track} (no prediction): " + ", ".join(f"{k} {v}" for k, v in model["missing_inputs"].items()),
        f"- Optimiser: AdamW lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, warm-up {cfg.warmup_epochs:g} epochs "
        f"+ cosine; batch {cfg.batch_size}; loss {cfg.loss}"
        + (f" (gamma {cfg.focal_gamma:g})" if cfg.loss == "focal" else "")
        + f", class weights {cfg.class_weight}, label smoothing {cfg.label_smoothing:g}, sampler {cfg.sampler}; "
        f"augmentation {'on' if cfg.augment else 'off'}",
        f"- Early stopping on val {model['val_score']} (patience {cfg.patience}): best epoch {model['best_epoch']} of "
        f"{model['epochs_run']} run (max {cfg.epochs}); median training speed "
        f"{model['train_samples_per_s_median']:.0f} samples/s",
        decision_fact(model["calibration"].get("method"), model["threshold"],
                      extra=f"; test-time augmentation: {'8 dihedral transforms' if model['tta'] else 'none'}"),
    ]
    if meta.get("init_weights"):
        iw = meta["init_weights"]
        facts.append(f"- Started from the pretrained weights `{iw['path']}` (sha256 {iw['sha256'][:12]}..., "
                     f"{iw['loaded']} tensors, {iw['layout']} layout; {iw['file']} lists them; backbone frozen for "
                     f"{cfg.freeze_epochs} epoch(s))")
    if meta.get("init"):
        facts.append(f"- Fine-tuned from `{meta['init']['path']}` ({meta['init']['loaded']} tensors; backbone frozen "
                     f"for {cfg.freeze_epochs} epoch(s))")
    return render_model_card(run_id=run_id, facts=facts, metrics=metrics)
