"""Savings: what a project cost before Trimtab changed its cluster, against since.

The exact definition is in docs/savings.md; in short:

- *user-configured runs*: runs flagged ``user_edit`` (the cluster was edited outside
  Trimtab) and the runs after one until Trimtab applies another recommendation (same
  recommendation tag or none: still the user's configuration). They are neither the
  cluster as found nor Trimtab's configuration: they enter nothing and are counted apart.
- *baseline runs*: succeeded, costed runs made with the cluster as found
  (no recommendation attributed, not user-configured, and on the configuration of the project's
  ``original_spec``: `as_found`); *Trimtab runs*: costed runs made with a recommendation (learning
  trials included, whatever their outcome).
- *other-cluster runs*: runs with no recommendation on another configuration than the one found at
  import (a backfill's months-old runs on a cluster the owner has since resized): neither the cluster
  as found nor Trimtab's, they enter nothing and are counted apart (``other_config_runs``). Taken as
  baseline, 10 old runs on m5.2xlarge x8 made an unchanged m5.xlarge x2 read as a 43 % saving.
- *cost basis*: ``billed`` when every baseline and Trimtab run is billed, else
  ``estimate``: the catalog estimate on both sides (a billed run keeps its estimate beside
  the bill), since a bill holds charges and discounts the estimate does not.
- *basis*: ``per_input_gb`` when input size drives runtime (every succeeded costed
  run knows its input, the input varied by more than 10 %, and three or more baseline
  runs with distinct inputs show their runtime rising with it), else ``per_run``.
- *workload changes*: the model's change points (`stored_changes`, as the planner stored them on the
  recommendations). After an input shift the basis is per GB when every compared run knows
  its input, even without the baseline's evidence (then preliminary). A code change or a runtime
  regression (or a shift without input sizes) cuts the runs into segments, each compared with its own
  baseline runs (or an earlier segment's with the same stage signature); the latest with none is
  ``not_comparable``: no saving now nor projection, saved to date over the comparable segments.
- *baseline cost of a run*: per run, the mean baseline cost. Per GB, only the execution scales with
  input: each baseline run's cost splits by its runtime into the cluster's setup (``setup_s``: minutes
  that do not depend on the data) and the execution; a run at G GB would have cost the mean setup part
  + G x (the execution parts / their input GB). A baseline run without a setup figure takes the
  project's mean reported setup; with none reported anywhere the whole cost scales (``setup_known``
  False, said so). Scaling the whole cost read minutes of setup as data work: x4 input put the cluster
  as found at $1.30 a run where it cost $0.54, and the saving at 78 % where it was ~48 %.
- *extrapolated*: per GB with today's input more than 1.5x from every baseline run's
  (``extrapolated_from_gb``): the baseline is a projection, so the saving and saved to date are
  preliminary.
- *saved to date*: sum over Trimtab runs of (the baseline cost of a run of its input - the run's
  cost). A failed Trimtab run therefore counts as its whole cost lost.
- *current unit cost*: over the succeeded runs of the recommendation applied now that
  met the SLA (``current_source = "applied"``); until there is one, over the last three
  succeeded Trimtab runs, learning trials included (``"recent"``), and said so; when every
  succeeded run of the recommendation applied now missed the SLA (planned against a working SLA
  while the owner's is out of reach), over those runs (``"applied_over_sla"``). After a
  revert to the cluster as found nothing Trimtab chose is on the job: the current unit cost
  is the baseline's (``"original"``), so the saving now and the projection are 0. Likewise while the
  job runs a cluster its owner set outside Trimtab (the newest runs are user-configured, no apply or
  revert since; or a revert of an apply made over the owner's edit put it back): the current cost is
  what the owner's runs since the edit cost (``"user_edit"``), for information only; the saving now
  and the projection are 0, saved to date stays.
- *one price list*: every run's DBUs are priced at the workspace's plan *now* (the stored
  DBUs do not depend on the plan; the stored $ do), so a change of plan moves both sides
  alike instead of showing as a saving won or lost. Compute and storage stay as stored: the
  store keeps neither the region a run was priced in nor its node-hours by node type, so a
  change of region cannot be re-priced (docs/savings.md says so).
- *preliminary*: a saving resting on fewer than three runs on either side (baseline, now), or per
  GB for an input shift alone; setup time alone varies by minutes between two runs of one cluster.
- *projected annual*: (baseline unit - current unit) x recent scale x runs a
  year. Runs a year come
  from the job's own schedule when it has an unpaused Quartz schedule Trimtab can
  count (``cadence_basis = "schedule"``: its fire times in the 365 days from the
  latest run; no more than can start: ``max_concurrent_runs`` x a year / the typical
  run's span, and 10 s apart, said in ``cadence_note``), else from the observed cadence
  (``"observed"``: one year / the median gap between run starts). Observed gaps are distorted by manual re-runs,
  repairs, backfills and accelerated demos; the schedule is what the job will do.

`project_savings` is pure; `get_savings` reads the store (`savings_from_history` the plain way).
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from server.cadence import YEAR_MS, Cadence, cadence, runs_per_year  # noqa: F401 - savings' names too
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.costing.run_cost import sku_of
from server.domain import BACK_TO_USER_EDIT, ClusterConfig, CostBreakdown, Project, Run
from server.errors import NotFound
from server.plan.candidates import config_id_of, driver_of
from server.plan.policy import kept_values
from server.spec import config_from_spec, pool_ids, pools_seen
from server.store import Store
from server.timeline import CODE_CHANGE, INPUT_SHIFT, REBASE_LABELS, RUNTIME_REGRESSION, ChangePoint
from server.timeline import met_sla as run_met_sla

log = logging.getLogger(__name__)
_T = TypeVar("_T")

RECENT_RUNS = 3
MIN_INPUT_SPREAD = 1.10  # max/min input size above which input is said to vary
MIN_CORRELATION = 0.5  # runtime ~ input correlation among baseline runs to call input the driver
USER_EDIT = "user_edit"  # the run anomaly the collector sets when the cluster was edited outside Trimtab
# Fewer runs than this on either side and the saving is preliminary: one run's setup time alone
# varies by minutes (5m04 against 3m12 on one demo cluster).
FIRM_RUNS = 3
NOT_COMPARABLE = "not_comparable"  # the basis when the workload changed since the baseline (no saving now)
REPRICE_TOLERANCE = 0.005  # a stored DBU cost within 0.5 % of today's price was priced under today's plan
# Per GB, today's input this many times from every baseline run's (either way): the baseline cost is an
# extrapolation, preliminary. The model's own input-shift threshold (models/changes.py).
EXTRAPOLATION_LIMIT = 1.5
# A setup figure never leaves less than this share of a baseline run to its execution (models/setup.py).
MIN_EXECUTION_SHARE = 0.05

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


@dataclass(frozen=True)
class ProjectSavings:
    project_id: int
    project_name: str
    baseline_cost_per_run: float
    current_cost_per_run: float
    saved_to_date: float
    projected_annual: float
    basis: str  # per_run | per_input_gb | not_comparable (see not_comparable_since_run_id)
    runs: int  # costed runs considered
    baseline_runs: int = 0
    trimtab_runs: int = 0
    baseline_cost_per_gb: float | None = None
    current_cost_per_gb: float | None = None
    runs_per_year: float = 0.0
    cadence_basis: str = "observed"  # schedule | observed: where runs_per_year comes from
    cadence_note: str = ""  # why a job's schedule was not used, when it has one
    # Where current_cost_per_run comes from: "applied" (the recommendation applied now, its runs
    # that met the SLA), "applied_over_sla" (its succeeded runs, every one over the SLA: a working
    # SLA's plan), "recent" (none of those yet: the last three succeeded Trimtab runs) or
    # "original" (reverted to the cluster as found: the baseline runs, so no saving now) or "user_edit"
    # (the job runs a cluster its owner set outside Trimtab since user_config_since_run_id: the owner's
    # runs since, for information; no saving now nor projection).
    current_source: str = "recent"
    current_recommendation_id: int | None = None  # the recommendation applied now, when known
    current_runs: int = 0  # runs behind current_cost_per_run
    cost_basis: str = "estimate"  # billed | estimate: which cost of each run is compared
    billed_runs: int = 0  # baseline and Trimtab runs that have a bill
    user_edited_runs: int = 0  # runs on a configuration the user set outside Trimtab: in nothing above
    # current_source "user_edit": the run (flagged user_edit) since which the job runs the owner's cluster.
    user_config_since_run_id: int | None = None
    # Runs without a recommendation on another configuration than the cluster as found (`as_found`),
    # e.g. backfilled runs from before the owner resized the job: in nothing above either.
    other_config_runs: int = 0
    # Runs whose DBUs were priced under another plan than the workspace's now, compared at today's
    # (`dbu_plan`): their figures here differ from the stored costs `run list` and the timeline show.
    repriced_runs: int = 0
    dbu_plan: str = ""  # the plan every run's DBUs are compared at; "" when the stored costs are
    has_sla: bool = False  # the project has an SLA (the "recent" fallback's reason depends on it)
    # basis "not_comparable": the workload changed at this run (a change point of the model) and no
    # run of the cluster as found has run it since, so no saving now nor projection is shown.
    not_comparable_since_run_id: int | None = None
    workload_change: str = ""  # its kind: code_change | input_shift | runtime_regression
    not_comparable_runs: int = 0  # Trimtab runs of a changed workload: in no saving, counted here
    # The input shift (a change point) that put the basis per GB, when the baseline alone did not.
    input_shift_run_id: int | None = None
    per_gb_unproven: bool = False  # per GB for an input shift, without the baseline's evidence
    # Per GB: the part of a baseline run that does not scale with input (its cluster setup), $ a run.
    baseline_fixed_cost: float = 0.0
    # Per GB: False when no run reports its setup (then the whole baseline cost scaled with input).
    setup_known: bool = True
    # Per GB, today's input far (> EXTRAPOLATION_LIMIT x) from every baseline run's: the baseline
    # input nearest today's (GB), and today's. None otherwise.
    extrapolated_from_gb: float | None = None
    input_gb_now: float | None = None

    @property
    def comparable(self) -> bool:
        return self.basis != NOT_COMPARABLE

    @property
    def extrapolated(self) -> bool:
        return self.extrapolated_from_gb is not None

    @property
    def preliminary(self) -> bool:
        """Fewer than three runs behind the baseline or the cost now: one run's noise is the figure;
        or per GB for an input shift before the baseline runs showed runtime rising with input; or the
        baseline cost extrapolated to an input far from any it ran."""
        return (self.baseline_runs < FIRM_RUNS or self.current_runs < FIRM_RUNS or self.per_gb_unproven
                or self.extrapolated)

    @property
    def saved_to_date_preliminary(self) -> bool:
        """Saved to date rests on the baseline too: preliminary with fewer than three baseline runs, per GB
        for an input shift alone, or extrapolated (the runs' own costs are no estimate)."""
        return self.baseline_runs < FIRM_RUNS or self.per_gb_unproven or self.extrapolated

    @property
    def baseline_note(self) -> str:
        """How the cost before Trimtab at today's input was reached, in words ("" when it was measured)."""
        notes = []
        if self.extrapolated and self.input_gb_now is not None and self.extrapolated_from_gb is not None:
            notes.append(f"before/run at today's {self.input_gb_now:,.0f} GB of input is extrapolated from the "
                         f"cluster as found's runs at {self.extrapolated_from_gb:,.0f} GB (its setup held, its "
                         "execution scaled with input): the saving and saved to date are preliminary")
        if self.other_config_runs:
            notes.append(f"{self.other_config_runs} run(s) without a Trimtab recommendation on another cluster than "
                         "the one found at import (runs from before the job was resized, read by a backfill) are "
                         "left out of before, now and saved to date")
        if self.basis == "per_input_gb" and not self.setup_known:
            notes.append("no run reports its cluster setup, so the whole cost as found was scaled with input; "
                         "setup does not grow with the data, so before/run reads high when the input grew")
        return "; ".join(notes)

    @property
    def saving_fraction(self) -> float | None:
        """Per-run saving now, as a fraction of the baseline cost (None without a baseline, or when
        the workload changed since it: the difference is not a saving)."""
        if self.baseline_cost_per_run <= 0 or not self.comparable:
            return None
        if self.current_source == USER_EDIT:
            return 0.0  # the owner's cluster: what it costs against the cluster as found is no saving of Trimtab's
        return 1.0 - self.current_cost_per_run / self.baseline_cost_per_run

    @property
    def not_comparable_note(self) -> str:
        """Why there is no saving now, in words ("" when there is one)."""
        if self.comparable:
            return ""
        what = {CODE_CHANGE: "code change", INPUT_SHIFT: "input size shift without input sizes",
                RUNTIME_REGRESSION: "runtime regression"}.get(self.workload_change, "workload change")
        since = f" since run {self.not_comparable_since_run_id}" if self.not_comparable_since_run_id else ""
        return (f"not comparable{since} ({what}): the cluster as found never ran the job as it is now, so "
                "its cost then is no measure of a saving; no saving now nor projection is shown")


@dataclass(frozen=True)
class SavingsReport:
    projects: tuple[ProjectSavings, ...]
    total_saved_to_date: float
    total_projected_annual: float
    currency: str
    # Projects whose Trimtab runs all failed or were canceled: no saving yet, said per project.
    waiting: tuple[NoSavingsYet, ...] = ()


@dataclass(frozen=True)
class NoSavingsYet:
    """A project with Trimtab runs but no succeeded one: there is no cost now to compare, so no row;
    what its failed runs cost (their DBUs at the plan now, as in a saving) counts against its saved
    to date once one succeeds (docs/savings.md), and is said until then."""

    project_id: int
    project_name: str
    failed_runs: int  # Trimtab runs (failed or canceled), learning trials included
    failed_cost: float  # what they cost, on the cost basis a saving would use
    baseline_runs: int  # succeeded runs of the cluster as found (0: nothing to compare with either)
    currency: str = "USD"

    @property
    def reason(self) -> str:
        said = f"no savings yet: its {self.failed_runs} Trimtab run(s) all failed or were canceled"
        cost = f"they cost {self.failed_cost:.2f} {self.currency}"
        if not self.baseline_runs:
            # Without a run as found there is no saving to count them against, a Trimtab run's
            # success alone does not make one (review rev15d).
            return (f"{said} and no run of the cluster as found succeeded; {cost}; a saving needs a succeeded run "
                    "of the cluster as found to compare with first")
        return f"{said}; {cost}, which counts against the savings once a Trimtab run succeeds"


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
    """Succeeded, and within the project's SLA when it has one (`server.timeline.met_sla`)."""
    met = run_met_sla(r.outcome, r.runtime_s, project.settings.sla_seconds, execution_only=r.execution_only)
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


def project_savings(project: Project, runs: Sequence[Run], dbu_rate: DbuRate | None = None,
                    changes: Sequence[ChangePoint] = (),
                    signatures: Mapping[int, str | None] | None = None) -> ProjectSavings | None:
    """None until there is both a baseline run and a Trimtab run. ``dbu_rate``: $/DBU of a SKU under
    the workspace's plan now; every run's DBUs are re-priced at it (None: the stored costs).
    ``changes``: where the model found the workload changed (`stored_changes`); a run
    after a code change or a runtime regression is compared only with baseline runs after it too, and
    after an input shift per GB of input (see the module docstring). ``signatures``: the stage
    signature (`server.plan.observe.stage_signature`) of runs by id, at least the change points' and
    the baseline runs': a changed workload that runs the baseline's code again is compared with it."""
    runs, repriced_runs = _at_todays_plan(runs, dbu_rate)
    costed = [r for r in runs if r.cost is not None]
    by_user = user_configured(runs, project.pending_apply)
    # A user's edit puts its runs on another cluster too: they count as user-configured, not here.
    user_ids = {id(r) for r in by_user}
    others = [r for r in other_config(project, costed, rate_cloud(dbu_rate)) if id(r) not in user_ids]
    user_ids |= {id(r) for r in others}
    clean = [r for r in costed if id(r) not in user_ids]
    baseline_all = [r for r in clean if r.recommendation_id is None and r.outcome == "succeeded"]
    trimtab_all = [r for r in clean if r.recommendation_id is not None]
    if not baseline_all or not any(r.outcome == "succeeded" for r in trimtab_all):
        return None
    setup = _typical_setup(runs)
    segments = _segments(runs, clean, changes, signatures or {}, setup)
    latest = segments[-1]
    compared = baseline_all + trimtab_all
    billed_runs = sum(1 for r in compared if r.cost is not None and r.cost.source == "billed")
    # A bill holds other charges and contract discounts the catalog estimate does not: one basis
    # for every run, the bill only when every run has one.
    cost_basis = "billed" if billed_runs == len(compared) else "estimate"

    def cost(r: Run) -> float:
        assert r.cost is not None
        return r.cost.total if cost_basis == "billed" else estimate_total(r.cost)

    # Saved to date: each segment's Trimtab runs against that segment's baseline; a segment with none
    # (the workload changed and the cluster as found never ran it) has nothing to compare with.
    saved = 0.0
    not_comparable_runs = 0
    for seg in segments:
        if seg.baseline:
            saved += seg.saved(cost)
        else:
            not_comparable_runs += len(seg.trimtab)
    # The figures now: the latest segment's, or, when it has no baseline, the last one that has.
    shown = latest if latest.baseline else next(seg for seg in reversed(segments) if seg.baseline)
    baseline = shown.baseline
    trimtab = latest.trimtab if latest.trimtab else shown.trimtab
    recent = [r for r in trimtab if r.outcome == "succeeded"][-RECENT_RUNS:] or \
        [r for r in trimtab_all if r.outcome == "succeeded"][-RECENT_RUNS:]
    applied_id = None if project.detached else applied_recommendation(project, trimtab_all)
    # A detach writes the cluster as found back over any edit: the branch after this one.
    edited_since = [] if project.detached else on_user_config(project, runs, by_user)
    if edited_since:
        # The job runs the owner's cluster now (an edit outside Trimtab, not followed by an apply or a
        # revert): nothing Trimtab chose is on it, so no saving now nor projection, as after a revert.
        # Its cost is the owner's runs' since the edit, said for information: it is not a saving (the
        # latest Trimtab run's recommendation read as applied, and showed a saving the job no longer
        # made while it cost more than as found).
        current = [r for r in edited_since if r.cost is not None and r.outcome == "succeeded"] or \
            [r for r in edited_since if r.cost is not None]
        source = USER_EDIT
    elif not project.detached and (project.pending_apply or {}).get(BACK_TO_USER_EDIT):
        # Reverted to the owner's cluster, of which no run is known (their edit was found by an apply
        # before any run): not the cluster as found, so neither the baseline nor a saving.
        current, source = [], USER_EDIT
    elif project.detached or (project.pending_apply and applied_id is None):
        # Reverted to the cluster as found, or detached (which puts it back too): nothing Trimtab chose
        # is on the job, so it costs what it did before Trimtab. Its runs since are baseline runs (no
        # tag) and enter B.
        current, source = baseline, "original"
    else:
        # The configuration applied now, where it did what was asked: learning trials and runs that
        # missed the SLA say what Trimtab tried, not what the job costs from now on.
        applied_now = of_applied(project, applied_id, trimtab_all, rate_cloud(dbu_rate))
        current = [r for r in trimtab if applied_now(r) and met_sla(project, r)]
        source = "applied" if current else "recent"
        ran = [r for r in trimtab if applied_now(r) and r.outcome == "succeeded"]
        if not current and ran and project.settings.sla_seconds is not None:
            # Every succeeded run of the plan applied now missed the SLA: one planned against a working
            # SLA (the owner's out of reach, `models.decide._working_sla`) does by design, so "none
            # within the SLA yet" never ended. What the job costs now is those runs.
            current, source = ran, "applied_over_sla"
    if not current and source != USER_EDIT:
        current = recent
    comparable = latest is shown
    if comparable:
        per_gb, scale, unit = shown.per_gb, shown.scale, shown.unit
        before = shown.before(cost)
    else:
        # No saving is shown: each side is what a run of it cost, as it ran. Not per GB on the earlier
        # segment's scale: the changed workload's runs need not know their input (the agent sent
        # nothing for the new code's runs), and dividing by their unknown sizes failed the whole report.
        per_gb, scale = False, _per_run

        def unit(cost: Callable[[Run], float], rs: Sequence[Run]) -> float:
            return statistics.fmean(cost(r) for r in rs)
        before = _Before(0.0, unit(cost, baseline))
    typical = statistics.fmean(scale(r) for r in recent)  # today's input
    baseline_now = before.at(typical)  # a run of today's input on the cluster as found
    if source == USER_EDIT:
        # Per run as they ran: the owner's runs are in no basis (their input need not be known).
        current_unit, current_now = 0.0, statistics.fmean(cost(r) for r in current) if current else 0.0
    else:
        current_unit = unit(cost, current)
        current_now = current_unit * typical
    # Per GB, today's input far from every input the cluster as found ran: the baseline is extrapolated.
    nearest = min((scale(r) for r in baseline), key=lambda g: _ratio(g, typical)) if per_gb else None
    extrapolated = nearest if nearest is not None and _ratio(nearest, typical) > EXTRAPOLATION_LIMIT else None
    per_year = cadence(project, runs)
    assert project.id is not None
    return ProjectSavings(
        project_id=project.id, project_name=project.name,
        baseline_cost_per_run=baseline_now, current_cost_per_run=current_now,
        saved_to_date=saved,
        projected_annual=(baseline_now - current_now) * per_year.runs_per_year
        if comparable and source != USER_EDIT else 0.0,
        basis=("per_input_gb" if per_gb else "per_run") if comparable else NOT_COMPARABLE, runs=len(costed),
        baseline_runs=len(baseline), trimtab_runs=len(trimtab_all),
        baseline_cost_per_gb=baseline_now / typical if per_gb and typical > 0 else None,
        current_cost_per_gb=current_unit if per_gb and source != USER_EDIT else None,
        runs_per_year=per_year.runs_per_year,
        cadence_basis=per_year.basis, cadence_note=per_year.note,
        current_source=source,
        current_recommendation_id=applied_id if source in ("applied", "applied_over_sla") else None,
        current_runs=len(current), cost_basis=cost_basis, billed_runs=billed_runs,
        user_edited_runs=len(by_user), other_config_runs=len(others),
        user_config_since_run_id=edited_since[0].id if edited_since else None,
        repriced_runs=repriced_runs,
        dbu_plan=dbu_rate.plan if isinstance(dbu_rate, PlanRate) else "",
        has_sla=project.settings.sla_seconds is not None,
        not_comparable_since_run_id=None if comparable else latest.since.run_id if latest.since else None,
        workload_change="" if comparable else latest.since.kind if latest.since else "",
        not_comparable_runs=not_comparable_runs,
        input_shift_run_id=shown.shift.run_id if shown.shift is not None and comparable else None,
        per_gb_unproven=shown.per_gb_unproven and comparable,
        baseline_fixed_cost=before.fixed if per_gb else 0.0,
        setup_known=setup is not None or not per_gb,
        extrapolated_from_gb=extrapolated, input_gb_now=typical if per_gb else None,
    )


def _per_run(_r: Run) -> float:
    return 1.0


def _ratio(a: float, b: float) -> float:
    """How many times one of two sizes is the other (>= 1; infinite when one is 0)."""
    lo, hi = min(a, b), max(a, b)
    return hi / lo if lo > 0 else float("inf")


def _typical_setup(runs: Sequence[Run]) -> float | None:
    """The mean cluster setup (s) of the succeeded runs that report one, whatever their configuration
    (setup hardly depends on it: models/setup.py); None when no run reports one. A failed run's figure
    is left out: its cluster may never have come up."""
    seen = [r.setup_s for r in runs if r.outcome == "succeeded" and r.setup_s is not None and r.runtime_s > 0]
    return statistics.fmean(seen) if seen else None


@dataclass(frozen=True)
class _Before:
    """What a run cost on the cluster as found: ``fixed`` (its setup's share, $ a run) + ``per_unit`` x
    the run's scale (its input GB per GB, 1 per run, where ``fixed`` is 0)."""

    fixed: float
    per_unit: float

    def at(self, scale: float) -> float:
        return self.fixed + self.per_unit * scale


@dataclass(frozen=True)
class _Segment:
    """The runs between two change points that per GB cannot bridge (a code change, a runtime
    regression, or an input shift without input sizes): baseline and Trimtab runs of one workload."""

    since: ChangePoint | None  # the change point it starts at (None: the first)
    baseline: list[Run]
    trimtab: list[Run]
    per_gb: bool
    shift: ChangePoint | None  # an input shift after the baseline's first run, bridged per GB
    per_gb_unproven: bool  # per GB for the shift alone, without the baseline's evidence (preliminary)
    setup_s: float | None = None  # the project's mean reported setup, for baseline runs without a figure

    def scale(self, r: Run) -> float:
        return (r.input_bytes or 0) / 1e9 if self.per_gb else 1.0

    def unit(self, cost: Callable[[Run], float], runs: Sequence[Run]) -> float:
        # Ratio of sums (not mean of ratios) so a tiny run cannot dominate the unit cost.
        return sum(cost(r) for r in runs) / sum(self.scale(r) for r in runs)

    def setup_share(self, r: Run) -> float:
        """The part of a baseline run's runtime (so of its cost: one cluster throughout) its setup took;
        its own figure, else the project's mean, else 0 (no setup known: all of it scales)."""
        setup = r.setup_s if r.setup_s is not None else self.setup_s
        if setup is None or r.runtime_s <= 0:
            return 0.0
        return min(max(setup, 0.0) / r.runtime_s, 1.0 - MIN_EXECUTION_SHARE)

    def before(self, cost: Callable[[Run], float]) -> _Before:
        """The baseline's cost model. Per run: the mean baseline cost. Per GB: the setup does not grow
        with the data, so only the execution's cost is per GB (a ratio of sums, so that a small run cannot
        dominate); the setup's is the mean over the baseline runs."""
        if not self.per_gb:
            return _Before(0.0, self.unit(cost, self.baseline))
        fixed = [cost(r) * self.setup_share(r) for r in self.baseline]
        execution = sum(cost(r) - f for r, f in zip(self.baseline, fixed, strict=True))
        return _Before(statistics.fmean(fixed), execution / sum(self.scale(r) for r in self.baseline))

    def saved(self, cost: Callable[[Run], float]) -> float:
        before = self.before(cost)
        # A failed run delivered nothing the baseline would have had to pay for: all of it is lost.
        return sum((before.at(self.scale(r)) if r.outcome == "succeeded" else 0.0) - cost(r) for r in self.trimtab)


def _segments(runs: Sequence[Run], clean: Sequence[Run], changes: Sequence[ChangePoint],
              signatures: Mapping[int, str | None], setup_s: float | None = None) -> list[_Segment]:
    """``clean`` (the costed runs compared) cut at the change points no basis bridges, oldest first.

    A segment with no baseline run of its own borrows the latest earlier one's whose code it runs
    (the same stage signature, ``signatures`` by run id): a run that failed part way reads as a code
    change and the next normal run as another, back to the code the cluster as found ran."""
    position = {r.id: i for i, r in enumerate(runs) if r.id is not None}
    at = {id(r): i for i, r in enumerate(runs)}
    known = sorted(((position[c.run_id], c) for c in changes if c.run_id in position), key=lambda x: x[0])
    succeeded = [r for r in clean if r.outcome == "succeeded"]
    # Per GB bridges an input shift only when every run compared knows its input.
    sized = bool(succeeded) and all((r.input_bytes or 0) > 0 for r in succeeded)
    cuts = [(i, c) for i, c in known if c.kind != INPUT_SHIFT or not sized]
    bounds = [0] + [i for i, _ in cuts] + [len(runs)]
    starts: list[ChangePoint | None] = [None] + [c for _, c in cuts]
    raw: list[tuple[ChangePoint | None, int, int, list[Run], list[Run], str | None]] = []
    for k, since in enumerate(starts):
        lo, hi = bounds[k], bounds[k + 1]
        inside = [r for r in clean if lo <= at[id(r)] < hi]
        if not inside and raw:
            continue
        baseline = [r for r in inside if r.recommendation_id is None and r.outcome == "succeeded"]
        if since is None:
            code = next((signatures.get(r.id) for r in baseline if r.id is not None and signatures.get(r.id)), None)
        else:
            code = signatures.get(since.run_id) if since.kind == CODE_CHANGE else None
        if not baseline and code is not None:
            baseline = next((b for _, _, _, _, b, c in reversed(raw) if b and c == code), [])
        raw.append((since, lo, hi, inside, baseline, code))
    out: list[_Segment] = []
    for since, lo, hi, inside, baseline, _code in raw:
        trimtab = [r for r in inside if r.recommendation_id is not None]
        first = min((at[id(r)] for r in baseline), default=hi)
        shift = next((c for i, c in known if c.kind == INPUT_SHIFT and first < i and lo <= i < hi), None)
        # Failed runs read part of their input at best: only succeeded runs say how input drives runtime.
        proven = input_drives_runtime([r for r in inside if r.outcome == "succeeded"], baseline)
        out.append(_Segment(since, baseline, trimtab, per_gb=proven or shift is not None, shift=shift,
                            per_gb_unproven=shift is not None and not proven, setup_s=setup_s))
    return out


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


def workspace_dbu_rate(store: Store, project: Project, catalog: PriceCatalog | None = None) -> PlanRate | None:
    """$/DBU by SKU under the plan the project's workspace has now (None: no such workspace)."""
    try:
        workspace = store.workspaces.get(project.workspace)
    except NotFound:
        return None
    if catalog is None:
        from server.services.workspaces import pricing_catalog  # the catalog the server prices runs with

        catalog = pricing_catalog()
    rates: dict[str, float | None] = {}

    def rate(sku: str) -> float | None:
        if sku not in rates:
            try:
                rates[sku] = catalog.dbu_rate(workspace.cloud, workspace.plan, sku)
            except TrimtabCostError as exc:  # a plan or SKU the catalog lacks: the stored price stands
                log.warning("savings: %s; DBUs compared as stored", exc)
                rates[sku] = None
        return rates[sku]

    return PlanRate(workspace.plan, rate, workspace.cloud)


def stored_changes(store: Store, project: Project) -> list[ChangePoint]:
    """The project's change points, oldest first, as the planner stored them on its recommendations
    (a kind this code does not know, from a newer server, is left out rather than mislabelled)."""
    return [ChangePoint(run_id, kind) for run_id, kind in store.recommendations.change_points(int(project.id or 0))
            if kind in REBASE_LABELS]


def stored_signatures(store: Store, runs: Sequence[Run], changes: Sequence[ChangePoint]) -> dict[int, str | None]:
    """The stage signature of the runs `project_savings` compares code by: the code changes' runs and
    the runs on the cluster as found (none read without a code change)."""
    wanted = {c.run_id for c in changes if c.kind == CODE_CHANGE}
    if not wanted:
        return {}
    wanted |= {int(r.id) for r in runs if r.id is not None and r.recommendation_id is None}
    return run_signatures(store, [int(r.id) for r in runs if r.id is not None and int(r.id) in wanted])


def run_signatures(store: Store, run_ids: Sequence[int]) -> dict[int, str | None]:
    """The stage signature of each of these stored runs (the planner's fingerprint of a job's code, over
    its Spark applications' stages), in a few queries however many runs: one read per run's
    application (`ApplicationRepository.stages`) made the projects page 1,221 queries for one
    project of 2,000 runs. What `stored_signatures` and `trimtab savings` (`savings_kept`) both read."""
    from server.plan.observe import stage_signature  # the planner's fingerprint of a job's code

    apps = store.runs.application_ids_by_run(run_ids)
    stages = store.applications.stage_outlines(a for ids in apps.values() for a in ids)
    return {i: stage_signature([s for app in apps.get(i, ()) for s in stages.get(app, ())]) for i in run_ids}


def stored_project_savings(store: Store, project: Project, runs: Sequence[Run] | None = None) -> ProjectSavings | None:
    """`project_savings` of a stored project, its runs' DBUs at its workspace's plan now."""
    history = store.runs.history(int(project.id or 0)) if runs is None else runs
    changes = stored_changes(store, project)
    return project_savings(project, history, workspace_dbu_rate(store, project), changes,
                           stored_signatures(store, history, changes))


def no_savings_yet(project: Project, runs: Sequence[Run], dbu_rate: DbuRate | None = None,
                   currency: str = "USD") -> NoSavingsYet | None:
    """Why a project with Trimtab runs has no savings (`NoSavingsYet`): none of them succeeded. None
    when one did (`project_savings` has its figures, or another reason) or it has none."""
    runs, _ = _at_todays_plan(runs, dbu_rate)
    costed = [r for r in runs if r.cost is not None]
    user_ids = {id(r) for r in user_configured(runs, project.pending_apply)}
    user_ids |= {id(r) for r in other_config(project, costed, rate_cloud(dbu_rate))}
    clean = [r for r in costed if id(r) not in user_ids]
    trimtab = [r for r in clean if r.recommendation_id is not None]
    if not trimtab or any(r.outcome == "succeeded" for r in trimtab):
        return None
    baseline = [r for r in clean if r.recommendation_id is None and r.outcome == "succeeded"]
    billed = all(r.cost is not None and r.cost.source == "billed" for r in baseline + trimtab)
    lost = sum((r.cost.total if billed else estimate_total(r.cost)) for r in trimtab if r.cost is not None)
    assert project.id is not None
    return NoSavingsYet(project.id, project.name, len(trimtab), lost, len(baseline), currency)


def savings_report(items: Sequence[tuple[Project, Sequence[Run]]],
                   dbu_rates: Sequence[DbuRate | None] | None = None,
                   changes: Sequence[Sequence[ChangePoint]] | None = None,
                   signatures: Sequence[Mapping[int, str | None]] | None = None) -> SavingsReport:
    """Pure: every project that has savings to show, and the totals over them. ``dbu_rates``: one
    per item, its workspace's $/DBU now; ``changes``: one per item, its change points (see
    `project_savings`)."""
    found: list[ProjectSavings] = []
    waiting: list[NoSavingsYet] = []
    currency = "USD"
    rates = list(dbu_rates) if dbu_rates is not None else [None] * len(items)
    points = list(changes) if changes is not None else [()] * len(items)
    codes = list(signatures) if signatures is not None else [{}] * len(items)
    for (project, runs), rate, cuts, code in zip(items, rates, points, codes, strict=True):
        currency = next((r.cost.currency for r in runs if r.cost), currency)
        item = project_savings(project, runs, rate, cuts, code)
        if item is not None:
            found.append(item)
        elif (why := no_savings_yet(project, runs, rate, currency)) is not None:
            waiting.append(why)
    return SavingsReport(projects=tuple(found), total_saved_to_date=sum(p.saved_to_date for p in found),
                         total_projected_annual=sum(p.projected_annual for p in found), currency=currency,
                         waiting=tuple(waiting))


def savings_from_history(store: Store, project_ref: str = "") -> SavingsReport:
    """`get_savings` the slow, plain way: every run of every project read whole (`RunRepository.history`)
    and priced, one project at a time. The reference the fast path is tested and benchmarked against."""
    projects = [store.projects.find(project_ref)] if project_ref else store.projects.list()
    histories = [store.runs.history(int(p.id or 0)) for p in projects]
    changes = [stored_changes(store, p) for p in projects]
    return savings_report(list(zip(projects, histories, strict=True)), [workspace_dbu_rate(store, p) for p in projects],
                          changes, [stored_signatures(store, h, c) for h, c in zip(histories, changes, strict=True)])


def get_savings(store: Store, project_ref: str = "", stop: threading.Event | None = None) -> SavingsReport:
    """Every project's savings (or one's, by reference), as `savings_from_history` gives them: read in
    one pass and kept per project while nothing they are made of changes (`server.services.savings_kept`).
    ``stop``: set when the caller's call ends; the computing stops (`server.errors.Cancelled`)."""
    from server.services import savings_kept  # it builds on this module

    return savings_kept.get_savings(store, project_ref, stop)
