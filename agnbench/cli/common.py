"""What every ``agnbench`` subcommand shares: the common options, config resolution, seeds, logging."""

from __future__ import annotations

import argparse
import logging
import sys

from agnbench.config import Config, load_config, replace_in
from agnbench.config.choices import TRACKING_BACKENDS
from agnbench.errors import AgnbenchError


def add_common(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``, ``--set``, ``--seed``, ``--quiet`` and ``--verbose`` to a subcommand's ``parser``."""
    parser.add_argument("--config", metavar="FILE|PRESET",
                        help="YAML config (any subset of keys; unknown keys are errors), or a packaged preset: "
                             "quick (the defaults), paper, spectra_tiny")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override one config value, e.g. --set simulate.snr_scale=0.5 (repeatable)")
    parser.add_argument("--seed", type=int, help="master seed; every random stream derives from it (config: seed)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def resolve(args: argparse.Namespace, flags: dict[str, tuple[str, object]]) -> Config:
    """Config from ``--config`` and ``--set``, then ``--seed`` and the explicit flags.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of a subcommand that called :func:`add_common`.
    flags : dict of str to (str, object)
        ``{flag: (dotted config key, value)}``; a value of None (flag not given) leaves the key as it is.
        Errors name the flag as their source.
    """
    cfg = load_config(args.config, overrides=args.overrides)
    flags = {"--seed": ("seed", args.seed), **flags}
    for flag, (key, value) in flags.items():
        if value is not None:
            cfg = replace_in(cfg, key, value, source=flag)
    return cfg


def parse_seeds(args: argparse.Namespace, cfg: Config) -> list[int]:
    """The seeds of ``--seeds 0,1,2`` (one run each), or ``[cfg.seed]`` without the flag."""
    try:
        return [int(s) for s in args.seeds.split(",") if s.strip()] if args.seeds else [cfg.seed]
    except ValueError:
        raise AgnbenchError(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. --seeds 0,1,2") from None


def setup_logging(*, quiet: bool, verbose: bool) -> None:
    """Log to stderr as ``agnbench: message`` at WARNING (``quiet``), DEBUG (``verbose``) or INFO."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="agnbench: %(message)s", stream=sys.stderr, force=True)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter


def add_track(parser: argparse.ArgumentParser) -> None:
    """Add ``--track mlflow|tensorboard`` (repeatable, or a comma list) to a training ``parser``."""
    parser.add_argument("--track", action="append", metavar="|".join(TRACKING_BACKENDS),
                        help="also log to an experiment tracker (repeatable or comma-separated; config: "
                             "tracking.backends; MLflow store: tracking.uri, default ./mlruns; docs/tracking.md)")


def track_flag(args: argparse.Namespace) -> tuple[str, tuple[str, ...] | None]:
    """``("tracking.backends", backends)`` of ``--track`` for :func:`resolve` (None when not given)."""
    given = getattr(args, "track", None)
    if not given:
        return "tracking.backends", None
    names = [n.strip() for item in given for n in item.split(",") if n.strip()]
    return "tracking.backends", tuple(dict.fromkeys(names))
