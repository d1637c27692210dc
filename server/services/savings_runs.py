"""Which runs a saving compares, and at which price: the classification of a project's runs
(user-configured, on the cluster as found, of the recommendation applied now, within the SLA) and their
DBUs re-priced at the workspace's plan now. Pure.

Split from `server.services.savings` (whose docstring defines the terms), which re-exports every name here.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from server.costing.run_cost import sku_of
from server.domain import BACK_TO_USER_EDIT, ClusterConfig, CostBreakdown, Project, Run
from server.plan.candidates import config_id_of, driver_of
from server.plan.policy import kept_values
from server.spec import config_from_spec, pool_ids, pools_seen
from server.timeline import met_sla as run_met_sla
from server.timeline import sla_in_force

_T = TypeVar("_T")

MIN_INPUT_SPREAD = 1.10  # max/min input size above which input is said to vary
MIN_CORRELATION = 0.5  # runtime ~ input correlation among baseline runs to call input the driver
USER_EDIT = "user_edit"  # the run anomaly the collector sets when the cluster was edited outside Trimtab
REPRICE_TOLERANCE = 0.005  # a stored DBU cost within 0.5 % of today's price was priced under today's plan

# $/DBU now for a run's SKU (jobs, jobs_photon): the workspace's current plan in the price catalog.
DbuRate = Callable[[str], float | None]


@dataclass(frozen=True)
class PlanRate:
    """A `DbuRate` that knows its plan (`workspace_dbu_rate`), so a saving can say which plan it
    compared every run's DBUs at."""

    plan: str
    rate: DbuRate
    # The workspace's cloud: the spec as found is read on it (`as_found`), as its runs were collected.
    cloud: str = ""

    def __call__(self, sku: str) -> float | None:
        return self.rate(sku)


def rate_cloud(dbu_rate: DbuRate | None) -> str:
    """The cloud of the workspace whose plan ``dbu_rate`` prices (a `PlanRate`'s); "" when not known."""
    return dbu_rate.cloud if isinstance(dbu_rate, PlanRate) else ""


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:  # constant input or runtime: no evidence either way
        return 0.0


def input_drives_runtime(costed: Sequence[Run], baseline: Sequence[Run]) -> bool:
    sizes = [r.input_bytes or 0 for r in costed]
    if not sizes or min(sizes) <= 0:
        return False
    if max(sizes) / min(sizes) <= MIN_INPUT_SPREAD:
        return False  # about constant input: per run and per GB say the same
    if len({r.input_bytes for r in baseline}) < 3:
        # Input measured on different clusters can differ for reasons other than data
        # (re-reads when a cache does not fit): without evidence on one cluster, per run.
        return False
    # Same cluster, different inputs: does the runtime follow the input?
    return _pearson([float(r.input_bytes or 0) for r in baseline],
                    [r.runtime_s for r in baseline]) >= MIN_CORRELATION


def input_moved(baseline: Sequence[Run], since: Sequence[Run]) -> bool:
    """Whether the succeeded runs ``since`` read another input than the ``baseline`` runs: their median
    input sizes differ by more than the noise (`MIN_INPUT_SPREAD`, either way), every run's known.
    Compared per run, the data's change would read as a saving (shrunk) or a loss (grown). The median:
    one run's spike (106 GB among runs of 61) is that run's, not a new input size."""
    sizes = [[r.input_bytes or 0 for r in side if r.outcome == "succeeded"] for side in (baseline, since)]
    if not all(sizes) or min(min(side) for side in sizes) <= 0:
        return False  # a side with no run, or an input not known: nothing to compare per GB with
    then, now = (statistics.median(side) for side in sizes)
    return max(then, now) / min(then, now) > MIN_INPUT_SPREAD


def user_configured(runs: Sequence[Run], pending_apply: dict | None = None) -> list[Run]:
    """Runs on a configuration the user set outside Trimtab: each run flagged ``user_edit`` and the
    runs after it until Trimtab applies another recommendation or reverts. After the first run the
    collector rebases on the edit, so later runs are no longer flagged; they carry the same
    recommendation tag as the edited run (the user kept it) or none (the user dropped it).
    ``pending_apply``: the project's last apply or revert, whose ``applied_after_run_id`` (the job's
    newest run then) ends a span that began before it: a revert to the cluster as found writes no
    tag, and a later apply may write back a tag the user's runs carried, so the tags alone cannot.
    A revert back to the owner's cluster (``BACK_TO_USER_EDIT``: of an apply made over their edit)
    ends no span: the runs after it are on the owner's cluster again."""
    back = bool(pending_apply and pending_apply.get(BACK_TO_USER_EDIT))
    boundary = int((pending_apply or {}).get("applied_after_run_id") or 0) if pending_apply else None
    resumed_after = None if back else boundary
    back_after = boundary if back else None
    out: list[Run] = []
    editing = False
    edited_rec: int | None = None
    edited_at = 0
    for r in runs:
        if USER_EDIT in r.anomalies:
            editing, edited_rec, edited_at = True, r.recommendation_id, r.databricks_run_id
        elif back_after is not None and edited_at and r.databricks_run_id > back_after:
            editing = True  # the revert put the owner's cluster back
        elif editing and r.recommendation_id not in (None, edited_rec):
            editing = False  # Trimtab wrote a recommendation of its own again
        elif editing and resumed_after is not None and edited_at <= resumed_after < r.databricks_run_id:
            editing = False  # Trimtab applied or reverted after the edit: this run is on its cluster
        if editing:
            out.append(r)
    return out


def on_user_config(project: Project, runs: Sequence[Run], by_user: Sequence[Run]) -> list[Run]:
    """The runs since the latest edit outside Trimtab (from the run flagged ``user_edit`` on) when the
    job still runs that configuration: the newest run is user-configured (`user_configured`, given as
    ``by_user``) and no apply or revert was recorded after it (``pending_apply``'s
    ``applied_after_run_id``: the owner's apply before the next run puts Trimtab's cluster back).
    Empty otherwise, and when the edit left the cluster Trimtab decides as the run before it had it (a
    Spark conf, tags, libraries: compared as the planner compares configurations, `config_id_of` and
    the driver), since the job then still runs what Trimtab applied, or the cluster as found after a
    revert."""
    pending = project.pending_apply or {}
    if pending.get(BACK_TO_USER_EDIT) and by_user:
        # Reverted to the owner's cluster (an apply over their edit, reverted): the job runs it again,
        # whatever ran between. Their runs since the edit say what it costs.
        start = max(i for i, r in enumerate(runs) if USER_EDIT in r.anomalies)
        mine = {id(r) for r in by_user}
        return [r for r in runs[start:] if id(r) in mine]
    if not runs or not by_user or by_user[-1] is not runs[-1]:
        return []
    newest = runs[-1]
    if pending and int(pending.get("applied_after_run_id") or 0) >= newest.databricks_run_id:
        return []
    start = max(i for i, r in enumerate(runs) if USER_EDIT in r.anomalies)
    before = runs[start - 1].config if start > 0 else None
    if before is not None and newest.config is not None and \
            (config_id_of(before), driver_of(before)) == (config_id_of(newest.config), driver_of(newest.config)):
        return []
    return list(runs[start:])


def estimate_total(cost: CostBreakdown) -> float:
    """The catalog estimate of a run: a billed run keeps it beside the bill (DBUs + compute + storage)."""
    if cost.source != "billed":
        return cost.total
    return cost.dbu_cost + cost.compute_cost + cost.storage_cost


def of_applied(project: Project, applied_id: int | None, runs: Sequence[Run],
               cloud: str = "") -> Callable[[Run], bool]:
    """Whether a run ran the configuration applied now (recommendation ``applied_id``): a run of that
    recommendation, or one of the same configuration (`as_found`'s comparison, the driver included)
    under another. A recommendation of the cluster the job already ran changes only its tag: applying
    one made savings read "no succeeded run within the SLA yet" beside twenty such runs (review:
    coherence). The configuration is the apply record's spec, else that of the recommendation's
    latest run."""
    if applied_id is None:
        return lambda _r: False
    pending = project.pending_apply or {}
    spec = pending.get("applied_spec") if str(pending.get("recommendation_id")) == str(applied_id) else None
    if spec:
        same = same_config_as(project, spec, runs, cloud)
    else:
        ran = next((r.config for r in reversed(runs) if r.recommendation_id == applied_id and r.config), None)
        if ran is None:
            return lambda r: r.recommendation_id == applied_id
        same = _same_config(ran, pooled=any(pool_ids(ran.spec)))
    return lambda r: r.recommendation_id == applied_id or (r.config is not None and same(r.config))


def applied_recommendation(project: Project, trimtab: Sequence[Run]) -> int | None:
    """The recommendation on the cluster now: the project's last apply or revert says it (None after
    a revert to the cluster as found); without one (never recorded, or dropped for a user's edit),
    the recommendation of the latest Trimtab run."""
    if project.pending_apply:
        rec = project.pending_apply.get("recommendation_id")
        return int(rec) if rec is not None else None
    return trimtab[-1].recommendation_id if trimtab else None


def repriced(cost: CostBreakdown, rate: float | None) -> CostBreakdown:
    """``cost`` with its DBUs at ``rate`` $/DBU (None: as stored). The DBU count does not depend on
    the plan and a bill replaces only compute and storage, so estimated and billed runs alike."""
    if rate is None or cost.dbus <= 0:
        return cost
    dbu_cost = cost.dbus * rate
    return _with(cost, dbu_cost=dbu_cost, total=cost.total - cost.dbu_cost + dbu_cost)


def run_sku(r: Run) -> str:
    return sku_of(r.config.spec) if r.config is not None and r.config.spec else "jobs"


def met_sla(project: Project, r: Run) -> bool:
    """Succeeded, and within the SLA in force when it was collected (`server.timeline.sla_in_force`:
    the project's own when the run has none recorded), as `project list` judges it (`met_sla`)."""
    met = run_met_sla(r.outcome, r.runtime_s, sla_in_force(r.sla_s, project.settings.sla_seconds),
                      execution_only=r.execution_only)
    return r.outcome == "succeeded" if met is None else met


def as_found(project: Project, runs: Sequence[Run], cloud: str = "") -> Callable[[ClusterConfig | None], bool]:
    """Whether a run's configuration is the cluster as found at import (``original_spec``), compared as
    the planner compares configurations: its id (`config_id_of`: node type, workers or autoscale range,
    spot) and its driver type. The Spark version, tags and conf are not part of it: a runtime upgrade
    leaves the cluster's size as found. A pool-backed spec names pools, not node types: they are the
    types the project's runs on those pools recorded (`pools_seen`). A project without an original spec
    (nothing to compare with) or a run whose configuration was not recorded count as found. ``cloud``:
    the workspace's: an availability the spec as found leaves unset is the one its runs ran with
    there (`server.spec.unset_attributes`: the one its cluster policy fills in, as the planner last read
    the policy, `server.plan.policy.kept_values`; else spot on AWS), as the collector recorded them from
    the cluster's record."""
    if not project.original_spec:
        return lambda _config: True
    return same_config_as(project, project.original_spec, runs, cloud)


def same_config_as(project: Project, spec: dict, runs: Sequence[Run],
                   cloud: str = "") -> Callable[[ClusterConfig | None], bool]:
    """Whether a run's configuration is the cluster ``spec`` describes, compared as `as_found` says
    (a run whose configuration was not recorded counts as it)."""
    found = config_from_spec(spec, pools_seen(spec, (r.config for r in runs)),
                             cloud=cloud, policy_values=kept_values(project.state, spec))
    # A pool owns its instances' availability: the spec as found says none (or another), the runs
    # record the pool's (review rev15j: every run on a spot pool read as another cluster).
    return _same_config(found, pooled=any(pool_ids(spec)))


def _same_config(found: ClusterConfig, *, pooled: bool) -> Callable[[ClusterConfig | None], bool]:
    def key_of(config: ClusterConfig) -> tuple[str, str]:
        if pooled:
            config = dataclasses.replace(config, availability="", first_on_demand=0)
        return config_id_of(config), driver_of(config)

    key = key_of(found)
    seen: dict[int, bool] = {}  # by configuration object: a fast read's runs share them (`savings_kept`)

    def matches(config: ClusterConfig | None) -> bool:
        if config is None:
            return True
        if id(config) not in seen:
            seen[id(config)] = key_of(config) == key
        return seen[id(config)]

    return matches


def other_config(project: Project, runs: Sequence[Run], cloud: str = "") -> list[Run]:
    """The runs without a recommendation that started before the import (a backfilled history) on
    another cluster than the one found (`as_found`). Runs collected since the import are the cluster
    as found whatever their recorded configuration (an owner's edit is flagged `user_edit` apart):
    judged by their configuration too, every run on a spot pool and every run after a detach, a
    resize and a re-attach left the baseline, and savings vanished (review rev15j)."""
    found = as_found(project, runs, cloud)
    return [r for r in runs if r.recommendation_id is None and r.start_ms < project.created_at_ms
            and not found(r.config)]


def _at_todays_plan(runs: Sequence[Run], dbu_rate: DbuRate | None) -> tuple[list[Run], int]:
    """The runs with their DBUs priced at the plan now, and how many had been priced under another."""
    if dbu_rate is None:
        return list(runs), 0
    out: list[Run] = []
    moved = 0
    skus: dict[int, str] = {}  # by configuration object: the runs of a fast read share them (`savings_kept`)
    for r in runs:
        if r.cost is None:
            out.append(r)
            continue
        key = id(r.config)
        if key not in skus:
            skus[key] = run_sku(r)
        cost = repriced(r.cost, dbu_rate(skus[key]))
        if abs(cost.dbu_cost - r.cost.dbu_cost) > REPRICE_TOLERANCE * max(r.cost.dbu_cost, 1e-9):
            moved += 1
        out.append(_with(r, cost=cost))
    return out, moved


def _with(obj: _T, **changes: object) -> _T:
    """``dataclasses.replace(obj, **changes)`` for the frozen, slot-less domain classes without a
    ``__post_init__``, a tenth of its cost: replace re-reads the class's fields and runs ``__init__``,
    which was half of pricing a year of runs at the plan now."""
    out = object.__new__(type(obj))
    out.__dict__.update(obj.__dict__, **changes)
    return out
