"""``agnbench serve``: browse a comparison and classify uploaded files in a local web app (Gradio)."""

from __future__ import annotations

import argparse
from pathlib import Path

from agnbench.errors import AgnbenchError

#: Address and port the explorer listens on by default (this machine only).
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860


def add_serve(sub: argparse._SubParsersAction) -> None:
    """Register ``agnbench serve`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "serve",
        help="interactive explorer of a comparison: objects, attributions, mistakes, classify an uploaded file",
        description=(
            "agnbench serve COMPARISON starts a local web app (Gradio; pip install 'agnbench[app]') on "
            f"http://{DEFAULT_HOST}:{DEFAULT_PORT} to browse a comparison directory (docs/contracts.md, Contract 4): "
            "each run's probabilities for an object, its spectrum with the emission lines marked and the spectra "
            "run's Integrated Gradients attribution, its cutout with IG and Grad-CAM, the catalog run's SHAP "
            "waterfall (attributions from agnbench explain), each run's most confident mistakes, and to upload a "
            "FITS spectrum (SDSS spec-lite, BOSS spec, ...) or a cutout (FITS/JPEG) and classify it with a "
            "spectra or images run of the comparison, processed with the settings of the run's store and scored "
            "with the run's calibration and decision rule (as agnbench predict). Nothing is sent anywhere: "
            "analytics off, no share link, no web fonts. Ctrl-C stops it (docs/explorer.md)."
        ),
    )
    p.add_argument("comparison", type=Path, metavar="COMPARISON", help="comparison directory (agnbench compare --out)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 exposes the app, "
                        "which has no login, to the network)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--data", type=Path, help="the dataset store, if it moved since training (default: from the runs' "
                                             "data.json)")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    """Run ``agnbench serve`` until interrupted."""
    if not 0 < args.port < 65536:
        raise AgnbenchError(f"--port {args.port}: give a port between 1 and 65535")
    from agnbench.serve.app import serve

    serve(args.comparison, host=args.host, port=args.port, data=args.data, block=True, quiet=args.quiet)
