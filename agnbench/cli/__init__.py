"""The command line: ``agnbench`` and its subcommands (thin entry points over library functions).

The console script is :func:`agnbench.cli.main.main`. This package imports nothing itself, so
``python -m agnbench.cli.main`` runs that module once (no second copy under its package name).
"""
