"""The one owner of every on-disk format (docs/contracts.md): dataset store, run directory, predictions, comparison."""
