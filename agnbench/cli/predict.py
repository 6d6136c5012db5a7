"""``agnbench predict``: apply a finished run to another store or a table of new objects."""

from __future__ import annotations

import argparse
from pathlib import Path

from agnbench.cluster import CONNECT_TIMEOUT_S
from agnbench.config.choices import RETHRESHOLD_SPLITS
from agnbench.errors import AgnbenchError


def add_predict(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench predict`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "predict",
        help="apply a trained run to new galaxies (another store, or a table for a catalog run)",
        description=(
            "agnbench predict RUN --data STORE_OR_TABLE --out DIR applies a finished run (any track) with ITS OWN "
            "preprocessing, calibration and decision rule, and writes DIR (never overwritten): predictions.parquet "
            "(docs/contracts.md, Contract 2; split = the new store's val/test/ood, or 'unlabelled' for objects "
            "without a label and for every row of a table; a store's train split is not predicted), data.json (the "
            "new data's fingerprint and the run's) and predict.json (what was applied, counts, metrics on the "
            "labelled splits). --data is a dataset store (agnbench prep; spectra/images runs need the run store's "
            "grid, cutout size, bands and stretch: prep the new data with the run store's config.yaml), or for a "
            "catalog run a CSV/Parquet/FITS table holding the run's features (feat_* names, or the columns prep "
            "turned into them). --adapt-prior re-estimates the class prior on the new store's val objects, "
            "labels unused (a table's rows when there is no val split; EM, Saerens et al. 2002) and adjusts "
            "the posteriors; --rethreshold val refits the run's decision rule on the new store's labelled val "
            "split. The new test split is never used for any choice. Compare the "
            "result with runs trained on the new store: agnbench compare DIR RUN... --transfer "
            "(docs/contracts.md, 'Applying a run to new data'). A catalog table larger than memory: give --data a "
            "directory of Parquet partitions; each is predicted on its own (in local processes, or on a Dask cluster "
            "with --scheduler) and DIR holds predictions/part-NNNNN.parquet, one per partition, with "
            "predictions/_SUCCESS, data.json and predict.json (docs/scale.md)."
        ),
    )
    p.add_argument("run", type=Path, metavar="RUN", help="a complete run directory (agnbench train ...)")
    p.add_argument("--data", required=True, type=Path, help="dataset store, or a table file for a catalog run")
    p.add_argument("--out", required=True, type=Path, help="output directory (must not exist)")
    p.add_argument("--adapt-prior", action="store_true",
                   help="re-estimate the class prior on the new data by EM (Saerens et al. 2002) before deciding")
    p.add_argument("--rethreshold", choices=RETHRESHOLD_SPLITS,
                   help="refit the run's decision rule on the new store's labelled val split")
    p.add_argument("--id-col", help="a table's object id column (default: object_id, objid, specobjid or id)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="predict on a Dask cluster, its scheduler's tcp://host:port: the partitions of --data a "
                        "directory of Parquet partitions (catalog runs), or shards of a store (spectra/images runs); "
                        "default: this machine")
    p.add_argument("--workers", type=int, default=0,
                   help="with --data a directory of Parquet partitions and no --scheduler: local processes (0 = all "
                        "cores)")
    p.add_argument("--scheduler-timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="SECONDS",
                   help=f"seconds to wait for the scheduler and its first worker (default {CONNECT_TIMEOUT_S:g})")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> Path:
    """Run ``agnbench predict``; return the output directory."""
    from agnbench.transfer.apply_run import predict
    from agnbench.transfer.partitioned import find_partitions, predict_partitioned

    if find_partitions(args.data):
        for flag, given in (("--adapt-prior", args.adapt_prior), ("--rethreshold", args.rethreshold)):
            if given:
                raise AgnbenchError(f"{flag} needs every posterior at once, which a partitioned prediction of "
                                    f"{args.data} never holds; prep the data into a store to use it")
        return predict_partitioned(run=args.run, data=args.data, out=args.out, id_col=args.id_col,
                                   scheduler=args.scheduler or "", workers=args.workers,
                                   timeout=args.scheduler_timeout, progress=not args.quiet)
    if args.scheduler and not args.data.is_dir():
        raise AgnbenchError(f"--scheduler: {args.data} is a single table, predicted in memory; for a table larger "
                            "than memory give --data a directory of Parquet partitions")
    return predict(run=args.run, data=args.data, out=args.out, adapt_prior=args.adapt_prior,
                   rethreshold=args.rethreshold, id_col=args.id_col, progress=not args.quiet,
                   scheduler=args.scheduler or "", timeout=args.scheduler_timeout)
