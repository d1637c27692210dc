"""What a run's cost note says about its cloud bill, and what that means will happen (pure, stdlib only).

Pricing (`billing.price_run`) and re-costing (`recost.recost_runs`) write these notes; `trimtab run
show` reads them back to say on its ``billed`` line whether a bill is still to come (`bill_outlook`).
The CLI imports this module on its own, so it stays free of the catalog and the cloud gateways.
"""

from __future__ import annotations

import re

NOTE_NO_CREDENTIALS = "no cloud credentials for this workspace: compute and storage are catalog estimates"
NOTE_UNUSABLE = "cloud credentials not usable: {why}: compute and storage are catalog estimates"
# Databricks tags a pool-backed cluster's instances with the pool's tags only ("If a cluster is created
# from a pool, its EC2 instances inherit only the custom and default pool tags, not the cluster tags",
# Databricks, "Usage detail tags"), so no cloud line carries the cluster's ClusterId: its bill is never
# asked for (each Cost Explorer request costs $0.01, every re-cost pass for 72 h).
NOTE_POOL = ("instances of a pool carry the pool's tags, not the cluster's: its cloud bill cannot be told "
             "apart, so compute and storage are catalog estimates")
# Said 48 h (`RecostPolicy.settle_after_ms`) after a run whose cluster still has no tagged line.
NOTE_NO_BILL_FMT = ("no cloud bill {settle_h} h after the run (on AWS: is ClusterId an active cost allocation "
                    "tag?): estimate kept")
NOTE_REFUSED_PREFIX = "cloud bill refused"
# What a cost summed over several job clusters says (`recost.several_clusters_note`): re-costing reads
# one cluster's bill, which must not replace the sum.
SEVERAL_CLUSTERS = re.compile(r"over the run's \d+ clusters")

_NO_CREDENTIALS_PREFIX = NOTE_NO_CREDENTIALS.split(":", 1)[0]
_UNUSABLE_PREFIX = NOTE_UNUSABLE.split(":", 1)[0]
_NO_BILL = re.compile(r"no cloud bill \d+ h after the run")


def pool_noted(note: str) -> bool:
    """True when ``note`` says the cost is a pool-backed cluster's, whose bill is never looked for."""
    return NOTE_POOL in note


def bill_outlook(note: str) -> str:
    """What becomes of the compute and storage of an estimate with no bill beside it, from its ``note``:
    whether a bill is still looked for, and when not, why (said on `run show`'s ``billed`` line)."""
    if _NO_CREDENTIALS_PREFIX in note:
        return "no cloud credentials on the workspace: compute+storage stay the estimate"
    if _UNUSABLE_PREFIX in note:
        return "cloud credentials not usable: compute+storage stay the estimate"
    if pool_noted(note):
        return "pool-backed cluster: its bill cannot be told apart, compute+storage stay the estimate"
    if SEVERAL_CLUSTERS.search(note):
        return "summed over several clusters: not re-costed from a bill, compute+storage stay the estimate"
    if _NO_BILL.search(note):
        return "no cloud bill found for the cluster: compute+storage stay the estimate"
    if NOTE_REFUSED_PREFIX in note:
        return "cloud bill refused: compute+storage are the estimate"
    return "no cloud bill yet: compute+storage are the estimate"
