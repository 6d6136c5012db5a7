"""The interactive explorer (``agnbench serve``)."""
