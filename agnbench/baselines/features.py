"""Feature sets of the catalog track, and the leakage guard applied again at training time.

- ``photometry``: dereddened colours and magnitudes, Petrosian sizes and concentration, fracDeV
  (what Guo et al. 2022 gave XGBoost: ugriz + Petrosian radius, and a little more);
- ``physical``: photometry + stellar mass, Dn4000, HdeltaA, velocity dispersion, redshift and
  absolute magnitude;
- ``all``: every ``feat_*`` column of the store;
- or an explicit comma-separated list of ``feat_*`` columns.

Named sets use the members the store has (a user's table may have fewer) and fail if none is present,
naming the set's members, the store's columns and the fixes. ``prep --source table`` computes these
canonical ``feat_*`` from columns under their MPA-JHU/CasJobs names (dered_u, petroR90_r, ...) or mapped
with ``--column-map``.
"""

from __future__ import annotations

import pandas as pd

from agnbench.errors import AgnbenchError

PHOTOMETRY = (
    "feat_u_g", "feat_g_r", "feat_r_i", "feat_i_z",
    "feat_dered_u", "feat_dered_g", "feat_dered_r", "feat_dered_i", "feat_dered_z",
    "feat_petror50_r", "feat_petror90_r", "feat_concentration", "feat_fracdev_r",
)
PHYSICAL = PHOTOMETRY + ("feat_logmass", "feat_d4000_n", "feat_lick_hd_a", "feat_v_disp", "feat_z", "feat_abs_r")
FEATURE_SETS = {"photometry": PHOTOMETRY, "physical": PHYSICAL}


def select_features(objects: pd.DataFrame, spec: str) -> list[str]:
    """Resolve a feature-set name or an explicit list against the store's ``feat_*`` columns."""
    available = [c for c in objects.columns if c.startswith("feat_")]
    if not available:
        raise AgnbenchError("the store has no feat_* columns; the catalog track needs catalog features "
                            "(prep --source mpajhu with photometry, or --source table with numeric columns)")
    spec = spec.strip()
    if spec == "all":
        return available
    if spec in FEATURE_SETS:
        chosen = [f for f in FEATURE_SETS[spec] if f in available]
        if not chosen:
            raise AgnbenchError(
                f"the store has none of the '{spec}' features (expected: {', '.join(FEATURE_SETS[spec])}); it has: "
                f"{', '.join(available)}. Fixes: catalog.features=all (every feat_ column), a comma-separated list of "
                "them, or re-run prep --source table with --column-map (e.g. u=umag,g=gmag,r=rmag,i=imag,z=zmag,"
                "petror50_r=r50,petror90_r=r90) so the canonical photometry features are computed from your columns")
        return chosen
    chosen = [f.strip() for f in spec.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in available]
    if unknown:
        raise AgnbenchError(f"unknown feature column(s) {', '.join(unknown)} in catalog.features; "
                            f"use photometry, physical, all or some of: {', '.join(available)}")
    return chosen
