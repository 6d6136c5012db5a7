"""The ``agnbench`` command line.

Each subcommand parses its arguments, resolves the config (defaults < ``--config`` file <
``--set`` overrides < explicit flags) and calls ONE library function. A command that creates an
output directory prints its path as the last line of stdout. User errors (bad options, files,
configs) print one line on stderr and exit 1 without a traceback; argparse usage errors exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agnbench import __version__
from agnbench.config.core import Config, load_config, replace_in
from agnbench.errors import AgnbenchError

log = logging.getLogger("agnbench")

_DESCRIPTION = """\
agnbench: how well do catalog features, optical spectra and images tell AGN hosts from
star-forming galaxies, how sure are we, and what does each model look at?

Start with a mock survey in the real SDSS / Legacy Survey file formats:
  agnbench simulate --n 3000 --seed 0 --out raw/mock
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML config (any subset of keys; unknown keys are errors)")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override one config value, e.g. --set simulate.snr_scale=0.5 (repeatable)")
    parser.add_argument("--seed", type=int, help="master seed; every random stream derives from it (config: seed)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="write a mock SDSS-like survey (catalogs, spectra, grz cutouts) in the real file formats",
        description=(
            "Write a mock survey of N galaxies: MPA-JHU-style catalog FITS (galSpecInfo/Extra/Line/Indx "
            "+ photometry), SDSS spec-lite files spectra/PLATE/spec-PLATE-MJD-FIBER.fits, Legacy "
            "Survey-style grz cutouts images/<object_id>.fits, and truth.parquet with the planted "
            "physics. BPT labels are measured from the noisy spectra, as MPA-JHU does. The same seed "
            "gives the same bytes. Difficulty knobs live in the config section 'simulate' "
            "(snr_scale, psf_fwhm_min/max, point_source_fraction/strength, frac_seyfert, ...)."
        ),
    )
    p.add_argument("--n", type=int, help="number of galaxies (config: simulate.n; default 3000)")
    p.add_argument("--out", required=True, type=Path, help="output directory (must not exist unless --overwrite)")
    p.add_argument("--image-size", type=int, help="cutout side in pixels, 16-160 (config: simulate.image_size)")
    p.add_argument("--workers", type=int, help="processes; 0 = all cores (config: simulate.workers)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing survey once the new one is complete")
    _common(p)
    p.set_defaults(func=_run_simulate)


def _resolve(args: argparse.Namespace, flags: dict[str, tuple[str, object]]) -> Config:
    """Config from ``--config`` and ``--set``, then explicit flags (``{flag: (key, value)}``)."""
    cfg = load_config(args.config, overrides=args.overrides)
    flags = {"--seed": ("seed", args.seed), **flags}
    for flag, (key, value) in flags.items():
        if value is not None:
            cfg = replace_in(cfg, key, value, source=flag)
    return cfg


def _run_simulate(args: argparse.Namespace) -> Path:
    from agnbench.data_prep.mock.simulate import simulate

    cfg = _resolve(args, {"--n": ("simulate.n", args.n), "--image-size": ("simulate.image_size", args.image_size),
                          "--workers": ("simulate.workers", args.workers)})
    return simulate(cfg, args.out, overwrite=args.overwrite, progress=not args.quiet)


def _add_prep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prep",
        help="build the dataset store (objects, spectra, cutouts, splits) from raw files or your own table",
        description=(
            "Build a dataset store (DESIGN Contract 1): objects.parquet with labels, splits, feat_* and q_* "
            "columns; spectra/flux.npy, ivar.npy, wave.npy on one rest-frame grid; images/cutouts.npy with a "
            "global per-band arcsinh stretch; quarantine.csv listing every rejected input; manifest.json with "
            "counts and sha256 of every file. --source mpajhu reads MPA-JHU galSpec FITS + photometry in "
            "RAW/catalog, spectra RAW/spectra/PLATE/spec-*.fits and cutouts RAW/images/<object_id>.fits (what "
            "`agnbench simulate` writes). --source table reads your own CSV/Parquet/FITS table. Interrupted? "
            "Run the same command again: finished shards are kept."
        ),
    )
    p.add_argument("--source", required=True, choices=("mpajhu", "table"), help="input kind")
    p.add_argument("--raw", type=Path, help="raw survey directory (--source mpajhu)")
    p.add_argument("--table", type=Path, help="your table, CSV/Parquet/FITS (--source table)")
    p.add_argument("--id-col", help="unique object id column (--source table)")
    p.add_argument("--label-col", help="column holding the class (--source table)")
    p.add_argument("--label-map", help="VALUE:NAME pairs, e.g. 1:sf,3:agn; NAME 'ood' sends objects to the ood split")
    p.add_argument("--ra-col", help="RA column (deg); default: ra/RA if present")
    p.add_argument("--dec-col", help="Dec column (deg); default: dec/DEC if present")
    p.add_argument("--z-col", help="redshift column; default: z/Z/redshift if present")
    p.add_argument("--features", help="comma-separated feature columns (default: every numeric non-id column)")
    p.add_argument("--out", required=True, type=Path, help="store directory (must not exist unless --overwrite)")
    p.add_argument("--allow-leaky", action="store_true",
                   help="keep label-defining features (line fluxes, EWs, BPT classes...); recorded in the manifest")
    p.add_argument("--mask-lines", action="store_true",
                   help="blank the emission lines in the spectra: continuum-only ablation (config: prep.mask_lines, "
                        "prep.masked_lines)")
    p.add_argument("--workers", type=int, help="processes; 0 = all cores (config: prep.workers)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store once the new one is complete")
    _common(p)
    p.set_defaults(func=_run_prep)


def _run_prep(args: argparse.Namespace) -> Path:
    from agnbench.data_prep.ingest.store import prep

    cfg = _resolve(args, {"--workers": ("prep.workers", args.workers),
                          "--mask-lines": ("prep.mask_lines", True if args.mask_lines else None)})
    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    return prep(cfg, source=args.source, out=args.out, raw=args.raw, table=args.table, id_col=args.id_col,
                label_col=args.label_col, label_map=args.label_map, ra_col=args.ra_col, dec_col=args.dec_col,
                z_col=args.z_col, features=features, allow_leaky=args.allow_leaky, overwrite=args.overwrite,
                progress=not args.quiet)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one track on a dataset store and write a run directory")
    tracks = p.add_subparsers(dest="track", metavar="TRACK")
    tracks.required = True
    c = tracks.add_parser(
        "catalog",
        help="gradient-boosted trees (xgboost, lightgbm) or references (logreg, rf) on catalog features",
        description=(
            "Train the catalog track on a store's feat_* columns and write runs/<run-id>/ (DESIGN Contract 3): "
            "config.yaml, env.json, data.json, the model in its native format (xgboost JSON, lightgbm text, "
            "sklearn via skops), history.csv, calibration.json, predictions.parquet for val/test/ood, "
            "metrics.json and MODEL_CARD.md. Early stopping, calibration and the decision threshold use the val "
            "split only. Label-defining features are refused unless --allow-leaky (recorded in the run)."
        ),
    )
    c.add_argument("--data", required=True, type=Path, help="dataset store (agnbench prep --out)")
    c.add_argument("--model", choices=("xgboost", "lightgbm", "logreg", "rf"), help="config: catalog.model")
    c.add_argument("--features", help="photometry | physical | all | feat_a,feat_b (config: catalog.features)")
    c.add_argument("--seeds", help="comma-separated seeds: one run each, e.g. 0,1,2,3,4 (seed spread)")
    c.add_argument("--runs-dir", type=Path, help="where runs go (config: paths.runs; default runs/)")
    c.add_argument("--name", help="run directory name instead of <time>-catalog-<model>-s<seed>")
    c.add_argument("--allow-leaky", action="store_true", help="allow label-defining features (loud; recorded)")
    _common(c)
    c.set_defaults(func=_run_train_catalog)
    for track in ("spectra", "images"):
        _add_train_deep(tracks, track)


_DEEP_HELP = {
    "spectra": ("a 1D ResNet on the store's rest-frame spectra (flux and an ivar weight channel)",
                "Spectra augmentation: noise drawn from ivar, redshift jitter, blanked windows. A store built with "
                "--mask-lines gives the continuum-only ablation."),
    "images": ("a ResNet-18 (width multiplier, small-cutout stem) on the store's grz cutouts",
               "Image augmentation: the 8 dihedral flips/rotations, sub-pixel shifts, noise; predictions average "
               "the 8 dihedral transforms (images.tta)."),
}


def _add_train_deep(tracks: argparse._SubParsersAction, track: str) -> None:
    short, extra = _DEEP_HELP[track]
    p = tracks.add_parser(
        track, help=short,
        description=(
            f"Train the {track} track ({short}) and write runs/<run-id>/ (DESIGN Contract 3): config.yaml, env.json, "
            "data.json, model_meta.json, model.pt (best val epoch; torch state_dict), model_best.pt, "
            "checkpoint_last.pt (resume), history.csv per epoch, calibration.json, predictions.parquet for "
            "val/test/ood, metrics.json and MODEL_CARD.md. AdamW with warm-up + cosine schedule, class-weighted "
            "cross-entropy or focal loss, early stopping on val (ROC-AUC, or macro-F1 for multi-class), "
            f"temperature scaling and the decision threshold fitted on val. {extra} Settings live in the config "
            f"section '{track}' (e.g. --set {track}.epochs=30). Interrupted? agnbench train {track} --resume RUN_DIR."
        ),
    )
    p.add_argument("--data", type=Path, help="dataset store (agnbench prep --out); optional with --resume")
    p.add_argument("--epochs", type=int, help=f"maximum epochs (config: {track}.epochs)")
    p.add_argument("--batch-size", type=int, help=f"training batch size (config: {track}.batch_size)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help=f"config: {track}.device (default auto)")
    p.add_argument("--workers", type=int, help=f"data-loading processes, 0 = main process (config: {track}.workers)")
    p.add_argument("--seeds", help="comma-separated seeds: one run each, e.g. 0,1,2 (seed spread)")
    p.add_argument("--runs-dir", type=Path, help="where runs go (config: paths.runs; default runs/)")
    p.add_argument("--name", help=f"run directory name instead of <time>-{track}-<model>-s<seed>")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue an interrupted run from its last checkpoint, with its saved config")
    p.add_argument("--init-from", type=Path, metavar="CHECKPOINT",
                   help=f"fine-tune from a run directory or state_dict (frozen backbone for {track}.freeze_epochs)")
    _common(p)
    p.set_defaults(func=_run_train_deep, track_name=track)


def _seeds(args: argparse.Namespace, cfg: Config) -> list[int]:
    try:
        return [int(s) for s in args.seeds.split(",") if s.strip()] if args.seeds else [cfg.seed]
    except ValueError:
        raise AgnbenchError(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. --seeds 0,1,2") from None


def _run_train_deep(args: argparse.Namespace) -> Path:
    from agnbench.deep.train_deep import train_deep_seeds

    t = args.track_name
    if args.resume is not None and (args.config or args.overrides or args.seeds or args.seed is not None):
        raise AgnbenchError("--resume continues a run with its own saved config: do not combine it with "
                            "--config, --set, --seed or --seeds")
    cfg = _resolve(args, {"--epochs": (f"{t}.epochs", args.epochs), "--batch-size": (f"{t}.batch_size", args.batch_size),
                          "--device": (f"{t}.device", args.device), "--workers": (f"{t}.workers", args.workers)})
    runs = train_deep_seeds(cfg, track=t, data=args.data, runs_dir=args.runs_dir or Path(cfg.paths.runs),
                            seeds=_seeds(args, cfg), name=args.name, resume=args.resume, init_from=args.init_from,
                            progress=not args.quiet)
    for run in runs[:-1]:
        print(run)
    return runs[-1]


def _run_train_catalog(args: argparse.Namespace) -> Path:
    from agnbench.baselines.train_catalog import train_catalog_seeds

    cfg = _resolve(args, {"--model": ("catalog.model", args.model), "--features": ("catalog.features", args.features)})
    seeds = _seeds(args, cfg)
    runs = train_catalog_seeds(cfg, data=args.data, runs_dir=args.runs_dir or Path(cfg.paths.runs), seeds=seeds,
                               name=args.name, allow_leaky=args.allow_leaky)
    for run in runs[:-1]:
        print(run)
    return runs[-1]


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="paired bootstrap intervals and significance tests between runs (from their predictions)",
        description=(
            "Compare runs from their predictions.parquet files (any track, or your own model written in that "
            "schema; DESIGN Contract 2) and write comparisons/NAME/ (Contract 4): inputs.yaml, replicates.parquet "
            "(raw bootstrap draws), summary.csv (every metric per run with percentile and BCa intervals, and the "
            "majority-class baseline), tests.csv (paired deltas with intervals and bootstrap p-values, DeLong for "
            "ROC-AUC, McNemar for accuracy, Holm-corrected), seeds.csv (seed spread), subgroups.csv (metrics in "
            "bins of redshift, mass, S/N, colour), ood.csv (where each run puts the composites), thresholds.csv "
            "and abstention.csv (chosen on val, applied to test). Only objects scored by every run are used, with "
            "one shared resample matrix. Settings: config section 'compare' (n_boot, confidence, ci, subgroups...)."
        ),
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run directories")
    p.add_argument("--out", required=True, type=Path, help="comparison directory (must not exist unless --overwrite)")
    p.add_argument("--n-boot", type=int, help="bootstrap replicates (config: compare.n_boot; default 2000)")
    p.add_argument("--data", type=Path, help="dataset store for subgroup columns (default: from the runs' data.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing comparison once the new one is complete")
    _common(p)
    p.set_defaults(func=_run_compare)


def _run_compare(args: argparse.Namespace) -> Path:
    from agnbench.bootstrap.compare import compare

    cfg = _resolve(args, {"--n-boot": ("compare.n_boot", args.n_boot)})
    return compare(cfg, runs=args.runs, out=args.out, data=args.data, overwrite=args.overwrite,
                   progress=not args.quiet)


def _add_explain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="attributions of a run (SHAP, Integrated Gradients, Grad-CAM, occlusion) or a cross-track comparison",
        description=(
            "agnbench explain RUN writes RUN/attributions/: catalog runs get TreeSHAP values (log-odds; additivity "
            "checked), global importance with signs, dependence data, interaction values on a capped subsample and "
            "permutation importance; spectra and images runs get Integrated Gradients (completeness checked) with a "
            "physical baseline, saliency or Grad-CAM, occlusion of wavelength windows or of the centre, and physics "
            "probes (fraction of attribution in the BPT line windows; radial profile in PSF units; band balance), "
            "plus a randomised-weights sanity check. Arrays are keyed by object_ids.csv. "
            "agnbench explain --compare RUN RUN ... --out DIR compares the tracks' AGN scores object by object. "
            "Settings: config section 'explain'."
        ),
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run directory (several with --compare)")
    p.add_argument("--compare", action="store_true", help="cross-track comparison of several runs (needs --out)")
    p.add_argument("--out", type=Path, help="output directory for --compare")
    p.add_argument("--n", type=int, help="objects to explain (config: explain.n); more than the split is an error")
    p.add_argument("--split", choices=("test", "val", "ood"), help="config: explain.split")
    p.add_argument("--methods", help="comma-separated subset: shap,interactions,permutation | ig,saliency,occlusion "
                                     "| ig,gradcam,occlusion")
    p.add_argument("--data", type=Path, help="the dataset store, if it moved since training")
    p.add_argument("--overwrite", action="store_true", help="replace existing attributions once the new ones are complete")
    _common(p)
    p.set_defaults(func=_run_explain)


def _run_explain(args: argparse.Namespace) -> Path:
    cfg = _resolve(args, {"--split": ("explain.split", args.split)})
    if args.compare:
        from agnbench.interpretability.crosstrack import explain_compare

        if args.out is None:
            raise AgnbenchError("explain --compare needs --out DIR")
        return explain_compare(runs=args.runs, out=args.out, data=args.data, overwrite=args.overwrite)
    from agnbench.interpretability.explain import explain_run

    if len(args.runs) != 1:
        raise AgnbenchError("explain takes one run (use --compare for several)")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    return explain_run(cfg, run=args.runs[0], n=args.n, data=args.data, methods=methods, overwrite=args.overwrite,
                       progress=not args.quiet)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="paper-ready report of a comparison: HTML + Markdown, LaTeX/CSV tables, PDF/PNG figures",
        description=(
            "agnbench report comparisons/NAME writes comparisons/NAME/report/: report.html (one self-contained "
            "file, figures embedded, readable offline), report.md, summary.txt (a factual results paragraph to "
            "paste and edit), tables/*.csv (full precision) and tables/*.tex (booktabs; intervals as "
            "value_{-lo}^{+hi}), figures/*.pdf and *.png sized for a journal column (3.3 in) or page (7 in). "
            "It reads the comparison, the compared runs (predictions, history, attributions from `agnbench "
            "explain`) and the dataset store; sections whose inputs are absent are left out and logged. "
            "Settings: config section 'report' (digits, alpha, mistakes, curve_boot)."
        ),
    )
    p.add_argument("comparison", type=Path, metavar="COMPARISON", help="a directory written by agnbench compare")
    p.add_argument("--data", type=Path, help="the dataset store, if it moved since training")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report once the new one is complete")
    _common(p)
    p.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> Path:
    from agnbench.reports.report import build_report

    return build_report(_resolve(args, {}), comparison=args.comparison, data=args.data, overwrite=args.overwrite,
                        progress=not args.quiet)


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run every stage from one config (the README's main command)",
        description=(
            "Run the whole suite from one config (default: the built-in defaults, identical to "
            "configs/quick.yaml): simulate the mock survey into paths.raw if it is not there yet, prep it into "
            "the store paths.data, train the catalog models (xgboost, lightgbm, logreg) and the spectra and images "
            "tracks into paths.runs, compare them all (paired bootstrap) into paths.comparisons/<store>-s<seed>, "
            "explain every run (attributions/) and the tracks against each other (<comparison>/crosstrack), and "
            "write the report (<comparison>/report/report.html). Finished stages are skipped, an interrupted deep "
            "run resumes from its last checkpoint, and stages downstream of one that ran again are redone, so "
            "rerunning the command continues. At the end it prints the time per stage, the headline results "
            "and, as the last line, the report directory. With a real store in paths.data (and paths.raw "
            "holding fetched files) the same steps run on real data."
        ),
    )
    _common(p)
    p.set_defaults(func=_run_all)


def _run_all(args: argparse.Namespace) -> Path:
    from agnbench.pipeline import run_all, summary

    results = run_all(_resolve(args, {}), progress=not args.quiet)
    print(summary(results))
    return results[-1].output


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every implemented subcommand."""
    parser = argparse.ArgumentParser(prog="agnbench", description=_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"agnbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_simulate(sub)
    _add_prep(sub)
    _add_train(sub)
    _add_compare(sub)
    _add_explain(sub)
    _add_report(sub)
    _add_run(sub)
    from agnbench.cli.fetch import add_fetch  # noqa: PLC0415 - cli_fetch uses this module's helpers
    add_fetch(sub)
    return parser


def _setup_logging(*, quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="agnbench: %(message)s", stream=sys.stderr, force=True)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agnbench`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    _setup_logging(quiet=args.quiet, verbose=args.verbose)
    func: Callable[[argparse.Namespace], Path | None] = args.func
    try:
        result = func(args)
    except AgnbenchError as exc:
        print(f"agnbench {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"agnbench {args.command}: interrupted; nothing partial was left as complete", file=sys.stderr)
        return 130
    if result is not None:
        print(result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
