"""``agnbench compare``, ``agnbench explain`` and ``agnbench report``: from runs to a paper-ready report."""

from __future__ import annotations

import argparse
from pathlib import Path

from agnbench.cli.common import add_common, add_track, resolve, track_flag
from agnbench.config.choices import EXPLAIN_METHODS, EXPLAIN_SPLITS
from agnbench.errors import AgnbenchError


def add_compare(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench compare`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "compare",
        help="paired bootstrap intervals and significance tests between runs (from their predictions)",
        description=(
            "Compare runs from their predictions.parquet files (any track, or your own model written in that "
            "schema; docs/contracts.md, Contract 2) and write comparisons/NAME/ (Contract 4): inputs.yaml, "
            "replicates.parquet (raw bootstrap draws), summary.csv (every metric per run, including the debiased "
            "calibration error and calibration slope/intercept, with the compare.ci interval - default Newcombe for "
            "ROC-AUC, percentile for calibration, BCa otherwise - named in its ci column, and the majority-class "
            "baseline), tests.csv (paired deltas with intervals and bootstrap p-values, DeLong for ROC-AUC, McNemar "
            "for accuracy, Holm-corrected within each metric and test kind), primary.csv (the one comparison "
            "declared in compare.primary_metric / primary_reference: each track against the catalog model best on "
            "val; fusion runs are compared in incremental.csv instead), calibration.csv (Spiegelhalter's test), "
            "seeds.csv (seed spread; with compare.seeds combined, the "
            "default, runs that differ only by seed also get one row whose interval is over objects x seeds), "
            "subgroups.csv (metrics in bins of redshift, mass, S/N, colour), ood.csv (where each run puts the "
            "composites), thresholds.csv and abstention.csv (chosen on val, applied to test). Only objects scored "
            "by every run are used, with one shared resample matrix. Settings: config section 'compare' (n_boot, "
            "confidence, ci, subgroups...)."
        ),
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run directories")
    p.add_argument("--out", required=True, type=Path, help="comparison directory (must not exist unless --overwrite)")
    p.add_argument("--n-boot", type=int, help="bootstrap replicates (config: compare.n_boot; default 2000)")
    p.add_argument("--data", type=Path, help="dataset store for subgroup columns (default: from the runs' data.json)")
    p.add_argument("--transfer", action="store_true",
                   help="allow runs on different stores, or from models trained on different stores (agnbench "
                        "predict): objects are matched by object_id, counts in inputs.yaml (docs/contracts.md, "
                        "Contract 4)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing comparison once the new one is complete (only a comparison agnbench made, "
                        "never a compared run)")
    add_track(p)
    add_common(p)
    p.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> Path:
    """Run ``agnbench compare``; return the comparison directory."""
    from agnbench.bootstrap.compare import compare

    cfg = resolve(args, {"--n-boot": ("compare.n_boot", args.n_boot), "--track": track_flag(args)})
    return compare(cfg, runs=args.runs, out=args.out, data=args.data, overwrite=args.overwrite,
                   transfer=args.transfer, progress=not args.quiet)


def add_explain(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench explain`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "explain",
        help="attributions of a run (SHAP, Integrated Gradients, Grad-CAM, occlusion) or a cross-track comparison",
        description=(
            "agnbench explain RUN writes RUN/attributions/: catalog runs get TreeSHAP values (log-odds; additivity "
            "checked), global importance with signs and per feature group (colours, size/morphology, ...), "
            "dependence data, interaction values on a capped subsample and permutation importance; spectra and images "
            "runs get Integrated Gradients (completeness checked; spectra: expected gradients over training spectra "
            "by default), saliency or Grad-CAM, occlusion of wavelength windows or of equal-area rings filled with the "
            "local sky, and physics probes (fraction of attribution in the BPT line windows, against the grid and "
            "against the pixels the baseline leaves free; radial profile in PSF units; band balance), "
            "plus a randomised-weights sanity check. Arrays are keyed by object_ids.csv. "
            "agnbench explain --compare RUN RUN ... --out DIR compares the tracks' AGN scores object by object. "
            "Settings: config section 'explain'."
        ),
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run directory (several with --compare)")
    p.add_argument("--compare", action="store_true", help="cross-track comparison of several runs (needs --out)")
    p.add_argument("--out", type=Path, help="output directory for --compare")
    p.add_argument("--n", type=int, help="objects to explain (config: explain.n); more than the split is an error")
    p.add_argument("--split", choices=EXPLAIN_SPLITS, help="config: explain.split")
    p.add_argument("--methods", help="comma-separated subset: "
                                     + " | ".join(",".join(methods) for methods in EXPLAIN_METHODS.values()))
    p.add_argument("--data", type=Path, help="the dataset store, if it moved since training")
    p.add_argument("--overwrite", action="store_true", help="replace existing attributions once the new ones are complete")
    add_common(p)
    p.set_defaults(func=run_explain)


def run_explain(args: argparse.Namespace) -> Path:
    """Run ``agnbench explain`` (one run, or ``--compare`` several); return the output directory."""
    cfg = resolve(args, {"--split": ("explain.split", args.split)})
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


def add_report(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench report`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "report",
        help="paper-ready report of a comparison: HTML + Markdown, LaTeX/CSV tables, PDF/PNG figures",
        description=(
            "agnbench report comparisons/NAME writes comparisons/NAME/report/: report.html (one self-contained "
            "file, figures embedded, readable offline), report.md, summary.txt (a few sentences led by the primary "
            "comparison, then the full results paragraph, to paste and edit), tables/*.csv (full precision) and tables/*.tex (booktabs; intervals as "
            "value_{-lo}^{+hi}), figures/*.pdf and *.png sized for a journal column (3.3 in) or page (7 in). "
            "It reads the comparison, the compared runs (predictions, history, attributions from `agnbench "
            "explain`) and the dataset store; a section whose inputs are absent (e.g. the BPT plane in a store "
            "without line ratios) is left out with one log line and listed in the summary and skipped.csv. "
            "Runs are shown by display names (defaults such as 'XGBoost (catalog)'; choose them with --set "
            "'report.labels={RUN: NAME}'). Settings: config section 'report' (digits, alpha, mistakes, curve_boot, "
            "labels, workers: processes rendering the figures)."
        ),
    )
    p.add_argument("comparison", type=Path, metavar="COMPARISON", help="a directory written by agnbench compare")
    p.add_argument("--data", type=Path, help="the dataset store, if it moved since training")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report once the new one is complete")
    add_common(p)
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> Path:
    """Run ``agnbench report``; return the report directory."""
    from agnbench.reports.report import build_report

    return build_report(resolve(args, {}), comparison=args.comparison, data=args.data, overwrite=args.overwrite,
                        progress=not args.quiet)
