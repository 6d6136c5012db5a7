"""The command line: ``agnbench`` and its subcommands (thin entry points over library functions)."""

from agnbench.cli.main import main

__all__ = ["main"]
