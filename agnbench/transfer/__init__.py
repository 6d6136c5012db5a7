"""Applying a finished run to new objects: ``agnbench predict`` (:func:`agnbench.predict`).

:mod:`~agnbench.transfer.new_data` opens the new data (another dataset store, or a table for a
catalog run); :mod:`~agnbench.transfer.apply_run` dispatches to the run's track (each track owns an
``apply`` module: :mod:`agnbench.baselines.apply_catalog`, :mod:`agnbench.deep.apply_deep`), applies
the run's calibration and decision rule, optionally corrects for prior shift and re-thresholds on
the new val split, and writes the predictions (docs/contracts.md, "Applying a run to new data").
:mod:`~agnbench.transfer.partitioned` applies a catalog run to a directory of Parquet partitions larger than
memory, one partition at a time, in local processes or on a Dask cluster (docs/scale.md).
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.transfer.apply_run": ["predict"],
    "agnbench.transfer.new_data": ["NewData", "load_new_data"],
    "agnbench.transfer.partitioned": ["find_partitions", "predict_partition", "predict_partitioned",
                                      "predict_store_chunk"],
})
