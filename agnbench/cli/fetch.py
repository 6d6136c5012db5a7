"""``agnbench fetch catalog|spectra|images --raw DIR``: the command-line side of :mod:`agnbench.data_prep.fetch.download`."""

from __future__ import annotations

import argparse
from pathlib import Path

from agnbench.cli.common import add_common, resolve
from agnbench.config.choices import FETCH_TARGETS

_DESCRIPTION = """\
Download real survey files into a raw directory in the layout `agnbench prep --source mpajhu --raw DIR` reads:

  agnbench fetch catalog --raw raw/sdss --photometry casjobs.csv   # MPA-JHU galSpec*-dr8.fits (SDSS SAS)
  agnbench fetch spectra --raw raw/sdss --limit 2000                # spec-lite files of a stratified sample
  agnbench fetch images  --raw raw/sdss                             # Legacy Survey grz cutouts, same objects
  agnbench prep --source mpajhu --raw raw/sdss --out data/sdss

catalog: galSpecInfo/Extra/Line/Indx into RAW/catalog/ (config fetch.release: dr8 from the SAS, dr7 from MPA
Garching). Photometry comes from a CasJobs query (SQL in the README and in `agnbench.data_prep.fetch.download`); pass its
CSV with --photometry and it is checked and stored as RAW/catalog/photometry.csv.
spectra: RAW/spectra/PLATE/spec-PLATE-MJD-FIBER.fits (run2d from each specObjID). images: RAW/images/<id>.fits
(layer, pixscale, size, bands in config section fetch), with --jpeg also RAW/jpeg/<id>.jpeg (SDSS gri colour).
Objects: those passing prep's quality cuts; --limit N draws N of them at random (seeded by --seed), equally
many per label (sf, agn, composites) unless fetch.stratify=false; the draw is kept in RAW/selection.csv so
spectra and images fetch the same objects.

Polite by default: 4 connections (--concurrency), 0.05 s between requests per connection, retries with
exponential backoff and jitter on timeouts, 5xx and 429 (Retry-After honoured), no retry on 404 (recorded as
missing). Only fetch.allowed_hosts are contacted, over https (mirrors: set fetch.sas_base / fetch.legacy_base
and add their hosts). Every file is streamed to a temporary name, validated (FITS HDUs and shape, JPEG
decodes; HTML error pages and truncated bodies are rejected) and renamed into place. Interrupted or some
failed? Run the same command again: RAW/fetch_manifest.json records what is done (size, sha256), and only
the rest is fetched. Exit status 1 if any file failed (after saving the manifest).
"""


def add_fetch(sub: argparse._SubParsersAction) -> None:
    """Register the ``fetch`` subcommand on the top-level subparsers ``sub``."""
    p = sub.add_parser("fetch", help="download real SDSS catalogs, spectra and Legacy Survey cutouts (what prep reads)",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=FETCH_TARGETS, help="which files to download")
    p.add_argument("--raw", required=True, type=Path, help="raw survey directory (created if needed)")
    p.add_argument("--limit", type=int, help="objects for spectra/images; 0 = all (config: fetch.limit)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (files, estimated size, free disk space); download and write nothing")
    p.add_argument("--concurrency", type=int,
                   help="simultaneous connections, 1-32 (config: fetch.concurrency; default 4)")
    p.add_argument("--photometry", type=Path, metavar="FILE",
                   help="with catalog: your CasJobs photometry export (CSV/FITS/Parquet), stored as "
                        "RAW/catalog/photometry.*")
    p.add_argument("--jpeg", action="store_true", help="with images: also fetch colour JPEGs into RAW/jpeg/")
    p.add_argument("--retry-missing", action="store_true", help="try files recorded as missing (404) again")
    add_common(p)
    p.set_defaults(func=run_fetch)


def run_fetch(args: argparse.Namespace) -> Path | None:
    """Run ``agnbench fetch``; return the raw directory (None for ``--dry-run``, which only prints the plan)."""
    from agnbench.data_prep.fetch.download import fetch, plan_fetch

    cfg = resolve(args, {"--concurrency": ("fetch.concurrency", args.concurrency),
                         "--limit": ("fetch.limit", args.limit)})
    if args.dry_run:
        plan = plan_fetch(cfg, what=args.what, raw=args.raw, jpeg=args.jpeg, retry_missing=args.retry_missing,
                          estimate=True)
        print(plan.describe())
        return None
    from agnbench.outputs import claim_output, read_marker, write_marker

    with claim_output(args.raw, kind="raw"):  # no simulate, prep --out or agnbench run writes it meanwhile
        args.raw.mkdir(parents=True, exist_ok=True)
        if read_marker(args.raw) is None:
            write_marker(args.raw, kind="raw")
        return fetch(cfg, what=args.what, raw=args.raw, photometry=args.photometry, jpeg=args.jpeg,
                     retry_missing=args.retry_missing, progress=not args.quiet)
