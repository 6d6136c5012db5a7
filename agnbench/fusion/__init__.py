"""The fusion track: a stacker on other runs' calibrated predictions, fitted on the val split by cross-fitting.

``agnbench train fusion`` is :func:`train_fusion_runs` (one fusion per seed pairing, and its leave-one-track-out
fusions); :mod:`agnbench.fusion.members` reads and checks the member runs, :mod:`agnbench.fusion.stacker` builds the
inputs and cross-fits the stacker, :mod:`agnbench.fusion.train_fusion` writes the run directory (docs/contracts.md,
Contract 3; docs/fusion.md). Like the other tracks it imports only contracts, protocol, config and shared helpers.
"""

from agnbench._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "agnbench.fusion.train_fusion": ["train_fusion_runs"],
    "agnbench.fusion.members": ["Member", "load_member", "check_members", "seed_pairings"],
    "agnbench.fusion.stacker": ["StackInputs", "stack_inputs", "cross_fit"],
})
