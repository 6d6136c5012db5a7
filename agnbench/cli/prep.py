"""``agnbench simulate``, ``agnbench prep`` and ``agnbench validate``: the mock survey and the dataset store."""

from __future__ import annotations

import argparse
from pathlib import Path

from agnbench.cli.common import add_common, resolve
from agnbench.config.choices import PREP_SOURCES, SPECTRA_FRAMES


def add_simulate(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench simulate`` on the top-level subparsers ``sub``."""
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
    add_common(p)
    p.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> Path:
    """Run ``agnbench simulate``; return the survey directory."""
    from agnbench.data_prep.mock.simulate import simulate

    cfg = resolve(args, {"--n": ("simulate.n", args.n), "--image-size": ("simulate.image_size", args.image_size),
                         "--workers": ("simulate.workers", args.workers)})
    return simulate(cfg, args.out, overwrite=args.overwrite, progress=not args.quiet)


def add_prep(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench prep`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "prep",
        help="build the dataset store (objects, spectra, cutouts, splits) from raw files or your own table",
        description=(
            "Build a dataset store (docs/contracts.md, Contract 1): objects.parquet with labels, splits, feat_* "
            "and q_* columns; spectra/flux.npy, ivar.npy, wave.npy on one rest-frame grid; images/cutouts.npy "
            "with a global per-band arcsinh stretch; quarantine.csv listing every rejected input; manifest.json "
            "with counts and sha256 of every file. --source mpajhu reads MPA-JHU galSpec FITS + photometry in "
            "RAW/catalog, spectra RAW/spectra/PLATE/spec-*.fits and cutouts RAW/images/<object_id>.fits (what "
            "`agnbench simulate` writes). --source table reads your own CSV/Parquet/FITS table. --source spectra "
            "makes a store from a folder (or a text list) of 1-D spectrum files of any survey (SDSS/BOSS spec "
            "files, 6dF/IRAF image rows with a linear or log WCS, DESI/LAMOST-like tables; config prep.reader), "
            "labelled by the files' own pipeline CLASS (--set labels.scheme=sdss_class: galaxy/qso/star, on an "
            "observed-frame grid) or by --table joined on --id-col or plate/mjd/fiber. Interrupted? "
            "Run the same command again: finished shards are kept."
        ),
    )
    p.add_argument("--source", required=True, choices=PREP_SOURCES, help="input kind")
    p.add_argument("--raw", type=Path,
                   help="raw survey directory: with --source mpajhu the survey (catalog/, spectra/, images/); with "
                        "--source table optional, attaching spectra RAW/spectra/**/spec-PLATE-MJD-FIBER.fits by the "
                        "table's plate/mjd/fiber columns (redshift needed) and cutouts RAW/images/<object_id>.fits; "
                        "an error if nothing can be attached; with --source spectra a folder of spectrum files, a "
                        "text file listing them, or one file")
    p.add_argument("--table", type=Path, help="your table, CSV/Parquet/FITS (--source table; with --source spectra: "
                                              "the labels, joined on --id-col or plate/mjd/fiberid)")
    p.add_argument("--id-col", help="unique object id column (--source table); with --source spectra: the column "
                                    "matching the spectra's object id, file name or header object name")
    p.add_argument("--label-col", help="column holding the class (--source table)")
    p.add_argument("--label-map", help="VALUE:NAME pairs, e.g. 1:sf,3:agn; NAME 'ood' sends objects to the ood split")
    p.add_argument("--ra-col", help="RA column (deg); default: recognised in any case as ra, RAJ2000, ra_deg, ...")
    p.add_argument("--dec-col", help="Dec column (deg); default: recognised as dec, DEJ2000, DECJ2000, dec_deg, ...")
    p.add_argument("--z-col", help="redshift column; default: recognised as z, redshift, zspec, z_spec, ... "
                                   "(a z beside u, g, r, i columns is the band)")
    p.add_argument("--plate-col", help="plate column (to find spectra); default: plate, plateid")
    p.add_argument("--mjd-col", help="MJD column (to find spectra); default: mjd")
    p.add_argument("--fiber-col", help="fiber column (to find spectra); default: fiberid, fiber")
    p.add_argument("--column-map",
                   help="map your columns onto the catalog inputs so the photometry/physical feature sets work, "
                        "e.g. u=umag,g=gmag,r=rmag,i=imag,z=zmag,petror50_r=r50,petror90_r=r90: u..z are dereddened "
                        "magnitudes (colours are computed), also modelmag_<b>, extinction_<b>, fracdev_r, logmass, "
                        "d4000_n, lick_hd_a, v_disp. Columns already named like the MPA-JHU/CasJobs inputs (dered_u, "
                        "petroR90_r, ...) are found without it")
    p.add_argument("--features", help="comma-separated feature columns (default: the catalog features computed from "
                                      "recognised inputs, plus every other numeric non-id column)")
    p.add_argument("--out", required=True, type=Path, help="store directory (must not exist unless --overwrite)")
    p.add_argument("--allow-leaky", action="store_true",
                   help="keep label-defining features (line fluxes, EWs, BPT classes...); recorded in the manifest")
    p.add_argument("--mask-lines", action="store_true",
                   help="blank the emission lines in the spectra: continuum-only ablation (config: prep.mask_lines, "
                        "prep.masked_lines)")
    p.add_argument("--frame", choices=SPECTRA_FRAMES,
                   help="spectra grid frame (config: prep.frame; auto = observed for labels.scheme sdss_class)")
    p.add_argument("--workers", type=int, help="processes; 0 = all cores (config: prep.workers)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the spectra and cutout shards on a Dask cluster: its scheduler's tcp://host:port (`dask "
                        "scheduler`; workers: `dask worker ADDRESS`, each with agnbench and the raw files at the same "
                        "paths). The store is byte-identical to a local build (config: prep.scheduler; default: local "
                        "processes)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing store once the new one is complete (only a store agnbench made, never "
                        "--raw or --table)")
    add_common(p)
    p.set_defaults(func=run_prep)


def run_prep(args: argparse.Namespace) -> Path:
    """Run ``agnbench prep``; return the store directory."""
    from agnbench.data_prep.ingest.store import prep

    cfg = resolve(args, {"--workers": ("prep.workers", args.workers), "--frame": ("prep.frame", args.frame),
                         "--scheduler": ("prep.scheduler", args.scheduler),
                         "--mask-lines": ("prep.mask_lines", True if args.mask_lines else None)})
    from agnbench.data_prep.ingest.features import parse_column_map

    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    return prep(cfg, source=args.source, out=args.out, raw=args.raw, table=args.table, id_col=args.id_col,
                label_col=args.label_col, label_map=args.label_map, ra_col=args.ra_col, dec_col=args.dec_col,
                z_col=args.z_col, plate_col=args.plate_col, mjd_col=args.mjd_col, fiber_col=args.fiber_col,
                column_map=parse_column_map(args.column_map), features=features, allow_leaky=args.allow_leaky,
                overwrite=args.overwrite, progress=not args.quiet)


def add_validate(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench validate`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "validate",
        help="check a dataset store: objects.parquet, files against manifest.json, every array value finite",
        description=(
            "Check a dataset store written by agnbench prep (docs/contracts.md, Contract 1): objects.parquet "
            "follows the schema, every file manifest.json lists is present with its recorded size and sha256, "
            "and every value of spectra/flux.npy, ivar.npy and images/cutouts.npy is finite (|x| <= ~1.8e19). "
            "Problems are listed with the array, the count and the object ids; exit status 1."
        ),
    )
    p.add_argument("store", type=Path, help="the store directory")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> str:
    """Run ``agnbench validate``; return the one-line verdict."""
    from agnbench.contracts.store import validate_store

    store = validate_store(args.store)
    objects = store.objects
    return (f"{store.path}: valid store ({len(objects)} objects, {int((objects['spec_row'] >= 0).sum())} spectra, "
            f"{int((objects['image_row'] >= 0).sum())} cutouts)")
