"""``agnbench run``: every stage from one config."""

from __future__ import annotations

import argparse
from pathlib import Path

from agnbench.cli.common import add_common, add_track, resolve, track_flag
from agnbench.config.choices import RUN_CATALOG_MODELS


def add_run(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench run`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "run",
        help="run every stage from one config (the README's main command)",
        description=(
            "Run the whole suite from one config (default: the built-in defaults, identical to "
            "configs/quick.yaml): simulate the mock survey into paths.raw if it is not there yet, prep it into "
            f"the store paths.data, train the catalog models ({', '.join(RUN_CATALOG_MODELS)}) and the spectra and "
            "images tracks into paths.runs, fuse them per seed (fusion-stack-logreg-s<seed>: a stacker on their "
            "predictions fitted on val, and its leave-one-track-out fusions; fusion.enabled, docs/fusion.md), compare "
            "them all (paired bootstrap) into "
            "paths.comparisons/<store>-s<seed>, explain every trained run and each seed's full fusion "
            "(attributions/; a fusion's modality shares) and the tracks against each other "
            "(<comparison>/crosstrack), and "
            "write the report (<comparison>/report/report.html). Finished stages are skipped, an interrupted deep "
            "run resumes from its last checkpoint, and stages downstream of one that ran again are redone, so "
            "rerunning the command continues. Each stage's output records the settings that made it: after a config "
            "change (e.g. --set prep.mask_lines=true) the run is refused, naming the stage and the changed keys, "
            "unless --overwrite redoes that stage and everything after it. The four paths are locked while it "
            "runs: a second agnbench run on them is refused, naming the first one's PID. At the end it prints the time per stage, the headline results "
            "(runs and seed groups by the report's display names, then their row names in summary.csv) and, as the "
            "last line, the report directory. With a real store in paths.data (and paths.raw "
            "holding fetched files) the same steps run on real data."
        ),
    )
    p.add_argument("--overwrite", action="store_true",
                   help="redo every stage whose output was made with other settings (and every stage after it), "
                        "replacing it once the new one is complete; without it such a run is refused")
    add_track(p)
    add_common(p)
    p.set_defaults(func=run_suite)


def run_suite(args: argparse.Namespace) -> Path:
    """Run ``agnbench run``; print the summary and return the report directory."""
    from agnbench.pipeline import run_all, summary

    cfg = resolve(args, {"--track": track_flag(args)})
    results = run_all(cfg, overwrite=args.overwrite, progress=not args.quiet)
    print(summary(results, labels=cfg.report.labels))
    return results[-1].output
