"""The fusion track: a stacker on other runs' calibrated predictions, fitted on the val split by cross-fitting.

:func:`train_fusion_runs` is ``agnbench train fusion`` (one fusion per seed pairing, and its leave-one-track-out
fusions); :mod:`.members` reads and checks the member runs, :mod:`.stacker` builds the inputs and cross-fits the
stacker, :mod:`.train_fusion` writes the run directory (docs/contracts.md, Contract 3; docs/fusion.md). Like the
other tracks it imports only contracts, protocol, config and the shared helpers.
"""

from agnbench.fusion.members import Member, check_members, load_member, seed_pairings
from agnbench.fusion.stacker import StackInputs, cross_fit, stack_inputs
from agnbench.fusion.train_fusion import train_fusion, train_fusion_runs

__all__ = ["Member", "StackInputs", "check_members", "cross_fit", "load_member", "seed_pairings", "stack_inputs",
           "train_fusion", "train_fusion_runs"]
