"""``agnbench train catalog|spectra|images|fusion``: one run directory per seed."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import MappingProxyType

from agnbench.cli.common import add_common, add_track, parse_seeds, resolve, track_flag
from agnbench.config.choices import CATALOG_FEATURE_SETS, CATALOG_MODELS, DEEP_TRACKS, DEVICES, FUSION_STACKERS
from agnbench.errors import AgnbenchError

#: Short help and the augmentation sentence of each deep track's description.
_DEEP_HELP = MappingProxyType({
    "spectra": ("a 1D ResNet on the store's rest-frame spectra (flux and an ivar weight channel)",
                "Spectra augmentation: noise drawn from ivar, redshift jitter, blanked windows. A store built with "
                "--mask-lines gives the continuum-only ablation."),
    "images": ("a ResNet-18 (width multiplier, small-cutout stem) on the store's grz cutouts",
               "Image augmentation: the 8 dihedral flips/rotations, sub-pixel shifts, noise; predictions average "
               "the 8 dihedral transforms (images.tta)."),
})


def add_train(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench train`` and its tracks on the top-level subparsers ``sub``."""
    p = sub.add_parser("train", help="train one track on a dataset store and write a run directory")
    tracks = p.add_subparsers(dest="track", metavar="TRACK")
    tracks.required = True
    c = tracks.add_parser(
        "catalog",
        help="gradient-boosted trees (xgboost, lightgbm) or references (logreg, rf) on catalog features",
        description=(
            "Train the catalog track on a store's feat_* columns and write runs/<run-id>/ (docs/contracts.md, "
            "Contract 3): config.yaml, env.json, data.json, the model in its native format (xgboost JSON, lightgbm "
            "text, sklearn via skops), history.csv, calibration.json, predictions.parquet for val/test/ood, "
            "metrics.json and MODEL_CARD.md. Early stopping, calibration and the decision threshold use the val "
            "split only. Label-defining features are refused unless --allow-leaky (recorded in the run)."
        ),
    )
    c.add_argument("--data", required=True, type=Path, help="dataset store (agnbench prep --out)")
    c.add_argument("--model", choices=CATALOG_MODELS, help="config: catalog.model")
    c.add_argument("--features", help=f"{' | '.join(CATALOG_FEATURE_SETS)} | feat_a,feat_b (config: catalog.features)")
    c.add_argument("--seeds", help="comma-separated seeds: one run each, e.g. 0,1,2,3,4 (seed spread)")
    c.add_argument("--runs-dir", type=Path, help="where runs go (config: paths.runs; default runs/)")
    c.add_argument("--name", help="run directory name instead of <time>-catalog-<model>-s<seed>")
    c.add_argument("--allow-leaky", action="store_true", help="allow label-defining features (loud; recorded)")
    add_track(c)
    add_common(c)
    c.set_defaults(func=run_train_catalog)
    for track in DEEP_TRACKS:
        _add_train_deep(tracks, track)
    _add_train_fusion(tracks)


def _add_train_fusion(tracks: argparse._SubParsersAction) -> None:
    p = tracks.add_parser(
        "fusion", help="a stacker on other runs' calibrated predictions, fitted on val by cross-fitting",
        description=(
            "Fuse trained runs (docs/fusion.md): the members' calibrated probabilities (as logits) are the inputs of "
            "a stacker (fusion.stacker: L2 logistic regression with C chosen by inner CV, or a shallow gradient-"
            "boosted model) fitted on the val split only by fusion.folds-fold stratified cross-fitting: val "
            "predictions are out-of-fold, test and ood predictions come from the stacker refitted on all of val, so "
            "the test split is never used for a choice. Members must be complete runs on one store and label scheme. "
            "Objects a member did not score are dropped (counted) or flagged (fusion.missing). Runs of several seeds "
            "make one fusion per seed, pairing each model's run of that seed. Writes runs/<run-id>/ (docs/"
            "contracts.md, Contract 3) with track fusion and model stack-<stacker>, plus fusion.json and "
            "coefficients.csv."
        ),
    )
    p.add_argument("--runs", required=True, nargs="+", type=Path, metavar="RUN",
                   help="member run directories (two or more; several seeds of each model make one fusion per seed)")
    p.add_argument("--stacker", choices=FUSION_STACKERS, help="config: fusion.stacker")
    p.add_argument("--leave-one-out", action="store_true",
                   help="also fit each leave-one-track-out fusion, named <name>-without-<track>")
    p.add_argument("--runs-dir", type=Path, help="where runs go (config: paths.runs; default runs/)")
    p.add_argument("--name", help="run directory name instead of <time>-fusion-stack-<stacker>-s<seed>")
    add_common(p)
    p.set_defaults(func=run_train_fusion)


def _add_train_deep(tracks: argparse._SubParsersAction, track: str) -> None:
    short, extra = _DEEP_HELP[track]
    p = tracks.add_parser(
        track, help=short,
        description=(
            f"Train the {track} track ({short}) and write runs/<run-id>/ (docs/contracts.md, Contract 3): "
            "config.yaml, env.json, data.json, model_meta.json, model.pt (best val epoch; torch state_dict), "
            "model_best.pt, checkpoint_last.pt (resume), history.csv per epoch, calibration.json, predictions.parquet "
            "for val/test/ood, metrics.json and MODEL_CARD.md. AdamW with warm-up + cosine schedule, class-weighted "
            "cross-entropy or focal loss, early stopping on val (ROC-AUC, or macro-F1 for multi-class), "
            f"temperature scaling and the decision threshold fitted on val. {extra} Settings live in the config "
            f"section '{track}' (e.g. --set {track}.epochs=30). Interrupted? agnbench train {track} --resume RUN_DIR."
        ),
    )
    p.add_argument("--data", type=Path, help="dataset store (agnbench prep --out); optional with --resume")
    p.add_argument("--epochs", type=int, help=f"maximum epochs (config: {track}.epochs)")
    p.add_argument("--batch-size", type=int, help=f"training batch size (config: {track}.batch_size)")
    p.add_argument("--device", choices=DEVICES, help=f"config: {track}.device (default auto)")
    p.add_argument("--workers", type=int, help=f"data-loading processes, 0 = main process (config: {track}.workers)")
    p.add_argument("--seeds", help="comma-separated seeds: one run each, e.g. 0,1,2 (seed spread)")
    p.add_argument("--runs-dir", type=Path, help="where runs go (config: paths.runs; default runs/)")
    p.add_argument("--name", help=f"run directory name instead of <time>-{track}-<model>-s<seed>")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue an interrupted run from its last checkpoint, with its saved config")
    p.add_argument("--init-from", type=Path, metavar="CHECKPOINT",
                   help=f"fine-tune from a run directory or state_dict (frozen backbone for {track}.freeze_epochs)")
    if track == "images":
        p.add_argument("--init-weights", metavar="PATH",
                       help="start from a local torchvision/timm ResNet-18 state_dict (read with weights_only=True; "
                            "needs --set images.width=1.0 --set images.stem=imagenet; the run's init_weights.json "
                            "lists the keys matched; config: images.init_weights; docs/init-weights.md)")
    add_track(p)
    add_common(p)
    p.set_defaults(func=run_train_deep, track_name=track, torchrun_ok=True)


def run_train_catalog(args: argparse.Namespace) -> Path:
    """Run ``agnbench train catalog``; print every run but the last, return the last."""
    from agnbench.baselines.train_catalog import train_catalog_seeds

    cfg = resolve(args, {"--model": ("catalog.model", args.model), "--features": ("catalog.features", args.features),
                         "--track": track_flag(args)})
    seeds = parse_seeds(args, cfg)
    runs = train_catalog_seeds(cfg, data=args.data, runs_dir=args.runs_dir or Path(cfg.paths.runs), seeds=seeds,
                               name=args.name, allow_leaky=args.allow_leaky)
    for run in runs[:-1]:
        print(run)
    return runs[-1]


def run_train_fusion(args: argparse.Namespace) -> Path:
    """Run ``agnbench train fusion``; print every run but the last, return the last."""
    from agnbench.fusion.train_fusion import train_fusion_runs

    cfg = resolve(args, {"--stacker": ("fusion.stacker", args.stacker)})
    runs = train_fusion_runs(cfg, runs=args.runs, runs_dir=args.runs_dir or Path(cfg.paths.runs), name=args.name,
                             leave_one_out=args.leave_one_out)
    for run in runs[:-1]:
        print(run)
    return runs[-1]


def run_train_deep(args: argparse.Namespace) -> Path | None:
    """Run ``agnbench train spectra|images``; print every run but the last, return the last (rank 0 under torchrun)."""
    from agnbench.deep.distributed import from_env
    from agnbench.deep.train_deep import train_deep_seeds

    t = args.track_name
    init_weights = getattr(args, "init_weights", None)
    if args.resume is not None and (args.config or args.overrides or args.seeds or args.seed is not None
                                    or init_weights):
        raise AgnbenchError("--resume continues a run with its own saved config: do not combine it with "
                            "--config, --set, --seed, --seeds or --init-weights")
    cfg = resolve(args, {"--epochs": (f"{t}.epochs", args.epochs), "--batch-size": (f"{t}.batch_size", args.batch_size),
                         "--device": (f"{t}.device", args.device), "--workers": (f"{t}.workers", args.workers),
                         **({"--init-weights": ("images.init_weights", init_weights)} if t == "images" else {}),
                         "--track": track_flag(args)})
    runs = train_deep_seeds(cfg, track=t, data=args.data, runs_dir=args.runs_dir or Path(cfg.paths.runs),
                            seeds=parse_seeds(args, cfg), name=args.name, resume=args.resume, init_from=args.init_from,
                            progress=not args.quiet)
    if not from_env().is_main:  # under torchrun rank 0 alone prints the runs
        return None
    for run in runs[:-1]:
        print(run)
    return runs[-1]
