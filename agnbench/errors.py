"""User-facing error types.

The CLI catches :class:`AgnbenchError` and prints its message as one line on stderr,
exiting non-zero without a traceback. Anything else is a bug and keeps its traceback.
"""


class AgnbenchError(Exception):
    """An error caused by the user's input (file, option, config), with a message saying what to do."""


class ConfigError(AgnbenchError):
    """Invalid configuration: unknown key, wrong type, out-of-range value."""


class SchemaError(AgnbenchError):
    """A table does not follow one of the data contracts of docs/contracts.md."""


class RunExistsError(AgnbenchError):
    """An output directory already exists; agnbench never overwrites a run."""
