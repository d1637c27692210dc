"""The figures of a saving from a project's runs (`project_savings`), why a project has none yet
(`no_savings_yet`) and the report over projects (`savings_report`): pure, no store read, so the fast
path (`server.services.savings_kept`) can keep what they return.

Split from `server.services.savings` (whose docstring defines the figures), which re-exports every name here.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from server.cadence import cadence
from server.domain import BACK_TO_USER_EDIT, Project, Run
from server.services.savings_runs import (
    USER_EDIT,
    DbuRate,
    PlanRate,
    _at_todays_plan,
    applied_recommendation,
    estimate_total,
    input_drives_runtime,
    input_moved,
    met_sla,
    of_applied,
    on_user_config,
    other_config,
    rate_cloud,
    user_configured,
)
from server.services.savings_types import NOT_COMPARABLE, NoSavingsYet, ProjectSavings, SavingsReport
from server.timeline import CODE_CHANGE, INPUT_SHIFT, ChangePoint

RECENT_RUNS = 3
# Per GB, today's input this many times from every baseline run's (either way): the baseline cost is an
# extrapolation, preliminary. The model's own input-shift threshold (models/changes.py).
EXTRAPOLATION_LIMIT = 1.5
# A setup figure never leaves less than this share of a baseline run to its execution (models/setup.py).
MIN_EXECUTION_SHARE = 0.05


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
    over_sla = 0  # runs behind the cost now that missed the SLA: only the applied configuration's are counted
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
        # The configuration applied now, every succeeded run of it: learning trials of other clusters
        # say what Trimtab tried, not what the job costs from now on. Its runs over the SLA are what
        # the job pays on it too: slower runs cost more, so keeping only those within the SLA kept
        # the cheap ones (review: 24.6 % saved from 2 of 6 runs, 16.8 % from all six), while the cost
        # as found keeps every run. How many missed is said beside the figure instead.
        applied_now = of_applied(project, applied_id, trimtab_all, rate_cloud(dbu_rate))
        current = [r for r in trimtab if applied_now(r) and r.outcome == "succeeded"]
        over_sla = sum(1 for r in current if not met_sla(project, r))
        if not current:
            source = "recent"
        elif over_sla == len(current):
            # Every one missed: one planned against a working SLA (the owner's out of reach,
            # `models.decide._working_sla`) does by design; said apart, with its reason.
            source = "applied_over_sla"
        else:
            source = "applied"
    if not current and source != USER_EDIT:
        current = recent
    comparable = latest is shown

    def model(rs: Sequence[Run]) -> _Before:
        if comparable:
            return shown.model(cost, rs)
        # No saving is shown: each side is what a run of it cost, as it ran. Not per GB on the earlier
        # segment's scale: the changed workload's runs need not know their input (the agent sent
        # nothing for the new code's runs), and dividing by their unknown sizes failed the whole report.
        return _Before(0.0, statistics.fmean(cost(r) for r in rs))

    per_gb, scale = (shown.per_gb, shown.scale) if comparable else (False, _per_run)
    before = model(baseline)
    typical = statistics.fmean(scale(r) for r in recent)  # today's input
    baseline_now = before.at(typical)  # a run of today's input on the cluster as found
    if source == USER_EDIT:
        # Per run as they ran: the owner's runs are in no basis (their input need not be known).
        current_unit, current_now = 0.0, statistics.fmean(cost(r) for r in current) if current else 0.0
    else:
        current_now = model(current).at(typical)  # a run of today's input on the cluster now
        current_unit = current_now / typical if typical > 0 else 0.0
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
        current_runs=len(current),
        current_over_sla_runs=over_sla,
        cost_basis=cost_basis, billed_runs=billed_runs,
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
        input_moved_from_gb=statistics.fmean(scale(r) for r in baseline)
        if comparable and shown.moved and shown.per_gb_unproven else None,
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
    per_gb_unproven: bool  # per GB for a shift or a moved input alone, without the baseline's evidence (preliminary)
    setup_s: float | None = None  # the project's mean reported setup, for baseline runs without a figure
    moved: bool = False  # the Trimtab runs' input differs from the baseline's beyond the noise (`input_moved`)

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
        """The baseline's cost model (`model` of the baseline runs)."""
        return self.model(cost, self.baseline)

    def model(self, cost: Callable[[Run], float], runs: Sequence[Run]) -> _Before:
        """What a run of one cluster costs by scale, from ``runs`` of it. Per run: their mean cost. Per GB:
        the setup does not grow with the data, so only the execution's cost is per GB (a ratio of sums, so
        that a small run cannot dominate); the setup's is the mean over the runs. Both sides alike: the
        cost now scaled whole read its runs' setup as data work when their input was not today's."""
        if not self.per_gb:
            return _Before(0.0, self.unit(cost, runs))
        fixed = [cost(r) * self.setup_share(r) for r in runs]
        execution = sum(cost(r) - f for r, f in zip(runs, fixed, strict=True))
        return _Before(statistics.fmean(fixed), execution / sum(self.scale(r) for r in runs))

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
        # The input moved since the cluster as found ran, by less than the model's shift (one run as
        # found at 100 GB, Trimtab's at 72 GB): per run counted the data's shrink as a 27.5 % saving.
        # Per GB is the comparison left, unproven by the baseline: preliminary, and said.
        done = [r for r in trimtab if r.outcome == "succeeded"]
        # Every run compared must know its input: an older run without one would be compared at 0 GB.
        sized_here = all((r.input_bytes or 0) > 0 for r in [*baseline, *done])
        moved = sized_here and (input_moved(baseline, done) or input_moved(baseline, done[-RECENT_RUNS:]))
        per_gb = proven or shift is not None or moved
        out.append(_Segment(since, baseline, trimtab, per_gb=per_gb, shift=shift,
                            per_gb_unproven=per_gb and not proven, setup_s=setup_s, moved=moved))
    return out


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
