"""The ``agnbench`` command line: builds the parser from the subcommand modules and dispatches.

Each subcommand parses its arguments, resolves the config (defaults < ``--config`` file <
``--set`` overrides < explicit flags) and calls ONE library function. A command that creates an
output directory prints its path as the last line of stdout. User errors (bad options, files,
configs) print one line on stderr and exit 1 without a traceback; argparse usage errors exit 2.

Subcommands live by group: :mod:`.prep` (simulate, prep), :mod:`.train` (train catalog|spectra|images),
:mod:`.predict` (predict), :mod:`.analyse` (compare, explain, report), :mod:`.run` (run), :mod:`.fetch` (fetch), :mod:`.serve` (serve); what they share
is in :mod:`.common`. None of them imports this module, so the package has no import cycle.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agnbench import __version__
from agnbench.cli.analyse import add_compare, add_explain, add_report
from agnbench.cli.common import setup_logging
from agnbench.cli.fetch import add_fetch
from agnbench.cli.predict import add_predict
from agnbench.cli.prep import add_prep, add_simulate, add_validate
from agnbench.cli.run import add_run
from agnbench.cli.serve import add_serve
from agnbench.cli.train import add_train
from agnbench.errors import AgnbenchError

_DESCRIPTION = """\
agnbench: how well do catalog features, optical spectra and images tell AGN hosts from
star-forming galaxies, how sure are we, and what does each model look at?

Start with a mock survey in the real SDSS / Legacy Survey file formats:
  agnbench simulate --n 3000 --seed 0 --out raw/mock
"""

#: Subcommand registrations, in the order ``agnbench --help`` lists them.
_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_simulate, add_prep, add_train, add_predict, add_compare, add_explain, add_report, add_run, add_fetch,
    add_validate, add_serve,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every implemented subcommand."""
    parser = argparse.ArgumentParser(prog="agnbench", description=_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"agnbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def _refuse_under_torchrun(args: argparse.Namespace) -> None:
    """Only ``train spectra|images`` runs as several torchrun processes; any other command would run N times."""
    world = os.environ.get("WORLD_SIZE", "1")
    if world not in ("", "1") and not getattr(args, "torchrun_ok", False):
        raise AgnbenchError(f"WORLD_SIZE={world}: under torchrun only 'agnbench train spectra|images' runs as several "
                            "processes (docs/scale.md); run this command as one process, without torchrun")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agnbench`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    setup_logging(quiet=args.quiet, verbose=args.verbose)
    func: Callable[[argparse.Namespace], Path | None] = args.func
    try:
        _refuse_under_torchrun(args)
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
