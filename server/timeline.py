"""A project's runs as a timeline: what every chart of it draws (pure: no I/O).

The renderers (`server/render`), the dashboard and the CLI all draw the same
`ProjectTimeline`, so a point, band or marker means the same thing everywhere:

- one point per run, oldest first: runtime and cost, whether it met the SLA
  (unknown for a run whose runtime has no cluster setup in it, within the SLA);
- phase bands: maximal stretches of consecutive runs made in the same phase
  (learning / optimizing / monitoring);
- SLA steps: maximal stretches of consecutive runs judged against the same SLA, the one in force
  when they were collected, so the SLA line shows the target as it was, not today's throughout;
- apply markers: the first run made with a newly applied recommendation, marked ``reverted`` when
  the next change of cluster was a revert of it;
- reverts: the first run after a revert carries `REVERTED` among its anomalies (an annotation, so
  it survives the wire as "not priced" does) and no apply marker: the recommendation it went back
  to was not applied then;
- the baseline: a run stored in phase ``learning`` with no recommendation (the cluster as found,
  collected before Trimtab's first plan) is drawn in phase `BASELINE`, not as a learning trial. The
  stored phase is left as it is;
- annotations: what was unusual about a run (spot loss, data growth, failure,
  user edit). A run that did not succeed counts as a failure even when the
  collector did not say so, because the chart must never show it as normal. A
  run known from its event log alone is marked "runtime without setup";
- rebase markers: the run where the model found the workload changed (a code
  change, an input size shift, a runtime regression: `models.changes`) and
  started learning again, as the planner stored it on the recommendations
  (`Recommendation.change_run_id`). The point carries the kind among its anomalies (one of
  `REBASE_LABELS`), so the mark survives the wire as "not priced" does.

Points can come from stored runs (`points_from_runs`) or from the wire
(the CLI builds `TimelinePoint`s from `GetTimeline`), then `build_timeline`
derives the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from models.changes import CODE_CHANGE, RUNTIME_REGRESSION
from models.changes import INPUT_SIZE_SHIFT as INPUT_SHIFT
from server.domain import Recommendation, Run

# The word a point carries among its anomalies when its run has no cost (no catalog price, e.g. a
# node type the catalog lacks). It travels with the anomalies, so a point rebuilt from the wire
# (`GetTimeline`, whose cost is a plain number) still knows its 0 is "not priced", not "free".
UNPRICED = "unpriced"

# The kind of the annotation on a run known from its event log alone (`TimelinePoint.execution_only`):
# no anomaly the collector writes, but a chart must say why its SLA verdict is unknown.
EXECUTION_ONLY = "execution_only"
# Its mark wherever a run or its SLA verdict is shown (charts, dashboard, `trimtab run list`).
WITHOUT_SETUP = "runtime without setup"

# The word on the first run after a revert (`points_from_runs`): the job went back to the cluster
# before the reverted recommendation.
REVERTED = "reverted"
# The phase a chart draws a run of the cluster as found in, before Trimtab ran anything: the
# collector stores the project's phase then (learning), which counted it as a learning trial.
BASELINE = "baseline"


def phase_shown(phase: str, recommendation_id: object) -> str:
    """The phase a run is shown in, wherever runs are listed (charts, `trimtab run list` and `run show`):
    `BASELINE` for a run of the cluster as found (stored in phase learning, with no recommendation:
    ``recommendation_id`` None or "", as the wire sends none), else its stored phase."""
    return BASELINE if phase == "learning" and recommendation_id in (None, "") else phase


# Anomaly words the collector writes, in the order a chart lists them, with their labels.
ANOMALY_LABELS: dict[str, str] = {
    "spot_loss": "spot loss",
    "data_growth": "data growth",
    "failure": "failure",
    # The cloud or the service failed the run (server/collect/failure.py): a failure, but not the
    # configuration's, so it is shown instead of "failure" and the chart says so.
    "launch_failed": "launch failure",
    "user_edit": "user edit",
    # Explained runs the models do not learn from (models/observation.py NOT_LEARNED): named so a
    # chart says why the run stands out, not left as a raw label.
    "driver_lost": "driver lost",
    # A failure the configuration caused by too little memory (server/memory_failure.py): shown
    # instead of "failure", which it details.
    "out_of_memory": "out of memory",
    "retried": "task retried",
    "repaired": "repaired",
    # A repair that succeeded on another configuration: still a failure of the one it failed on.
    "repaired_elsewhere": "repaired on another configuration",
    # The run's runtime has no cluster setup in it (`EXECUTION_ONLY`): within the SLA, whether it met
    # it is unknown (`met_sla`).
    EXECUTION_ONLY: WITHOUT_SETUP,
    # The run has no cost (`UNPRICED`): its cost is unknown, not zero, and every chart says so.
    UNPRICED: "not priced",
    # Not the collector's: `points_from_runs` marks the first run after a revert.
    REVERTED: "reverted: back to the cluster before",
}


def met_sla(outcome: str, runtime_s: float, sla_seconds: float | None, *, execution_only: bool) -> bool | None:
    """Whether one run met its project's SLA: None when the project has none, or when it cannot be
    told. The one rule for every figure of it (the timeline's "N/M met", `project show`'s and the
    demo's "SLA met", the savings' runs "that met the SLA"): a run that failed or was canceled
    delivered nothing in time, so it did not meet it, whatever its runtime.

    ``execution_only`` (`Run.execution_only`: a run known from its event log alone) says the runtime
    is the Spark application's only, without the 3-5 minutes the job cluster took to come up: over
    the SLA it missed for certain, within it the verdict is unknown (a 20-minute run against 22
    minutes probably took 25). Required, so no caller judges such a run as a whole one by default."""
    if sla_seconds is None:
        return None
    if outcome != "succeeded" or runtime_s > sla_seconds:
        return False
    return None if execution_only else True


def sla_in_force(recorded: float | None, current: float | None) -> float | None:
    """The SLA a run is judged against: ``recorded``, the project's when the run was collected
    (`Run.sla_s`), else ``current``, the project's now (a run collected while the project had none).
    An SLA changed later is a new target for the runs after it, not a rewrite of the runs before."""
    return recorded if recorded is not None else current


def run_met_sla(run: Run, current_sla: float | None) -> bool | None:
    """`met_sla` of a stored run against the SLA in force when it was collected (`sla_in_force`)."""
    return met_sla(run.outcome, run.runtime_s, sla_in_force(run.sla_s, current_sla),
                   execution_only=run.execution_only)


def verdict_words(met: bool | None) -> str:
    """A `met_sla` verdict of a project with an SLA in words: None there is a runtime without setup
    within the SLA, so "unknown" says why."""
    return "met" if met else "missed" if met is False else f"unknown ({WITHOUT_SETUP})"


def met_fraction(verdicts: Iterable[bool | None]) -> float | None:
    """The SLA-met share of these `met_sla` verdicts: the runs that met it among the runs judged. An
    unknown verdict (None) is in neither count, so a backfilled history within the SLA does not read
    as met; None when no run was judged (no SLA, no run, or every verdict unknown)."""
    met = judged = 0
    for verdict in verdicts:
        if verdict is not None:
            judged += 1
            met += verdict
    return met / judged if judged else None


@dataclass(frozen=True)
class SlaShare:
    """A project's SLA-met shares (`sla_share`). ``every``: each run against the SLA in force when it
    was collected (`met_fraction`); ``now``: among the runs judged against today's SLA only, what a
    person reads beside it ("SLA 50m00s, 37% met" was a lifetime share of runs held to 1h and 40m,
    none of which met 50m). ``now_judged`` / ``earlier_judged``: the runs judged against today's SLA
    and against an earlier one."""

    every: float | None = None
    now: float | None = None
    now_judged: int = 0
    earlier_judged: int = 0


def sla_share(runs: Iterable[tuple[str, float, float | None, bool]], current_sla: float | None) -> SlaShare:
    """`SlaShare` of runs given as (outcome, runtime_s, recorded SLA (`Run.sla_s`), execution_only)."""
    every: list[bool | None] = []
    now: list[bool | None] = []
    for outcome, runtime_s, recorded, execution_only in runs:
        sla = sla_in_force(recorded, current_sla)
        verdict = met_sla(outcome, runtime_s, sla, execution_only=execution_only)
        every.append(verdict)
        if sla == current_sla:
            now.append(verdict)
    now_judged = sum(1 for v in now if v is not None)
    return SlaShare(every=met_fraction(every), now=met_fraction(now), now_judged=now_judged,
                    earlier_judged=sum(1 for v in every if v is not None) - now_judged)


def run_sla_share(runs: Iterable[Run], current_sla: float | None) -> SlaShare:
    """`sla_share` of stored runs."""
    return sla_share(((r.outcome, r.runtime_s, r.sla_s, r.execution_only) for r in runs), current_sla)


# The kinds of change point after which the model learns the project again (`models.changes`), as
# anomaly-like words: a point carries one on the run where the new segment starts, so a timeline
# rebuilt from the wire (`GetTimeline`) still marks the rebase.
REBASE_LABELS: dict[str, str] = {
    CODE_CHANGE: "code change: learning again",
    INPUT_SHIFT: "input size shift: learning again",
    RUNTIME_REGRESSION: "runtime regression: learning again",
}


@dataclass(frozen=True)
class ChangePoint:
    """Where the model started learning the project again: ``run_id`` (the store's id) is the first
    run of the new segment; ``kind`` one of `REBASE_LABELS`."""

    run_id: int
    kind: str

    @property
    def label(self) -> str:
        return REBASE_LABELS[self.kind]


@dataclass(frozen=True)
class TimelinePoint:
    """One run on the timeline. ``applied_recommendation_id`` is set only on the
    first run made with a newly applied recommendation. ``setup_s`` is the part of
    ``runtime_s`` the job cluster took to come up (None when the run did not say);
    ``execution_only``: none of it is, the run is known from its event log alone
    (`Run.execution_only`), so its SLA verdict may be unknown (`met_sla`)."""

    run_id: int
    start_time_ms: int
    runtime_s: float
    cost: float
    phase: str
    outcome: str
    anomalies: tuple[str, ...] = ()
    applied_recommendation_id: int | None = None
    input_gb: float | None = None
    setup_s: float | None = None
    execution_only: bool = False
    # The SLA the run was collected under (`Run.sla_s`); None: judged against the timeline's.
    sla_s: float | None = None

    @property
    def priced(self) -> bool:
        """False for a run without a cost: ``cost`` is then 0.0 as a placeholder and must be drawn
        as a gap or a mark, never as a free run."""
        return UNPRICED not in self.anomalies

    @property
    def known_cost(self) -> float | None:
        """The cost to draw: None (a gap) for an unpriced run."""
        return self.cost if self.priced else None


@dataclass(frozen=True)
class PhaseBand:
    """Runs ``first..last`` (indexes into the points, inclusive) made in one phase."""

    phase: str
    first: int
    last: int


@dataclass(frozen=True)
class SlaStep:
    """Runs ``first..last`` (indexes into the points, inclusive) judged against one SLA, ``sla_s``: the
    one in force when they were collected (`ProjectTimeline.sla_of`). The SLA line is drawn as these
    steps, so a run is drawn against the target it was judged by, not today's."""

    first: int
    last: int
    sla_s: float


@dataclass(frozen=True)
class ApplyMarker:
    index: int
    run_id: int
    recommendation_id: int
    # The next change of cluster after it was its revert (`REVERTED`): the recommendation was turned down.
    reverted: bool = False

    @property
    def label(self) -> str:
        return f"recommendation {self.recommendation_id} applied" + (", then reverted" if self.reverted else "")


@dataclass(frozen=True)
class Annotation:
    index: int
    run_id: int
    kind: str  # a key of ANOMALY_LABELS (or an unknown word, shown as is)
    label: str


@dataclass(frozen=True)
class RebaseMarker:
    """The model learns again from run ``run_id`` (the point at ``index``) on: ``kind`` is a key of
    `REBASE_LABELS`."""

    index: int
    run_id: int
    kind: str
    label: str


@dataclass(frozen=True)
class ProjectTimeline:
    title: str
    points: tuple[TimelinePoint, ...]
    sla_seconds: float | None
    bands: tuple[PhaseBand, ...]
    markers: tuple[ApplyMarker, ...]
    annotations: tuple[Annotation, ...]
    currency: str = "USD"
    rebases: tuple[RebaseMarker, ...] = ()
    # What the plan aims at while ``sla_seconds`` is out of reach (`Project.working_sla_s`), said beside
    # it; runs are still judged against ``sla_seconds``, the owner's.
    working_sla_seconds: float | None = None

    def sla_of(self, point: TimelinePoint) -> float | None:
        """The SLA ``point`` is judged against: the one in force when its run was collected (`sla_in_force`)."""
        return sla_in_force(point.sla_s, self.sla_seconds)

    def sla_met(self, point: TimelinePoint) -> bool | None:
        """Against the SLA in force when the run was collected (`sla_of`): None without one or when
        unknown (a runtime without setup within it); a run that did not succeed never met it (`met_sla`)."""
        return met_sla(point.outcome, point.runtime_s, self.sla_of(point), execution_only=point.execution_only)

    @property
    def judged_before(self) -> dict[float, tuple[int, int]]:
        """The runs judged against an SLA other than ``sla_seconds`` (in force when they were collected,
        since changed), by that SLA in the order first seen: (met, judged). Said apart from the current
        SLA's count, so "N/M met" is not read as N of M runs meeting today's SLA."""
        out: dict[float, tuple[int, int]] = {}
        for p in self.points:
            sla, met = self.sla_of(p), self.sla_met(p)
            if sla is not None and sla != self.sla_seconds and met is not None:
                hit, judged = out.get(sla, (0, 0))
                out[sla] = (hit + met, judged + 1)
        return out

    @property
    def sla_steps(self) -> tuple[SlaStep, ...]:
        """The maximal stretches of consecutive runs judged against the same SLA, oldest first; a run
        without one (no SLA then nor now) is a gap in the line."""
        steps: list[SlaStep] = []
        for i, point in enumerate(self.points):
            sla = self.sla_of(point)
            if sla is None:
                continue
            if steps and steps[-1].sla_s == sla and steps[-1].last == i - 1:
                steps[-1] = SlaStep(steps[-1].first, i, sla)
            else:
                steps.append(SlaStep(i, i, sla))
        return tuple(steps)

    @property
    def max_runtime_s(self) -> float:
        # Every SLA a run was judged against: an earlier, looser one drawn above the panel's top
        # would sit on its edge, at a height that means nothing.
        slas = [step.sla_s for step in self.sla_steps]
        return max([p.runtime_s for p in self.points] + slas + [self.sla_seconds or 0.0, 0.0])

    @property
    def max_cost(self) -> float:
        return max([p.cost for p in self.points if p.priced] + [0.0])


def points_from_runs(runs: Iterable[Run], changes: Sequence[ChangePoint] = (),
                     reverted: Collection[int] = ()) -> list[TimelinePoint]:
    """One point per run, oldest first, marking where a recommendation took over.

    A run carries the recommendation its cluster was made with; the marker goes
    on the first run whose recommendation differs from the previous run's,
    which is where the applied configuration first ran. The run of each of
    ``changes`` carries its kind among its anomalies (a rebase marker).

    A run that goes back to a recommendation an earlier run had is a revert (a plan always makes a
    new recommendation, and a revert tags the cluster with the one before): it carries `REVERTED`
    instead of an apply marker. So does a run without a recommendation after one of ``reverted``
    (the recommendations turned down after they ran: the job went back to the cluster as found).
    A run of the cluster as found stored in phase learning is drawn in phase `BASELINE`.
    """
    rebased = {c.run_id: c.kind for c in changes}
    ordered = sorted(runs, key=lambda r: (r.start_ms, r.id or 0))
    points: list[TimelinePoint] = []
    previous: int | None = None
    seen: set[int] = set()
    for run in ordered:
        rec = run.recommendation_id
        # Back to a recommendation that ran before, from another one (from none, a return to the
        # cluster as found then the recommendation again, is no revert), or to none from a reverted one.
        back = rec != previous and (rec in seen and previous is not None if rec is not None
                                    else previous in reverted)
        changed = rec is not None and rec != previous and not back
        previous = rec
        if rec is not None:
            seen.add(rec)
        points.append(TimelinePoint(
            run_id=int(run.id or 0), start_time_ms=run.start_ms, runtime_s=run.runtime_s,
            cost=run.cost.total if run.cost else 0.0,
            phase=phase_shown(run.phase, rec), outcome=run.outcome,
            anomalies=tuple(run.anomalies) + (() if run.cost else (UNPRICED,))
            + ((rebased[int(run.id)],) if run.id is not None and int(run.id) in rebased else ())
            + ((REVERTED,) if back else ()),
            applied_recommendation_id=rec if changed else None,
            input_gb=run.input_bytes / 1e9 if run.input_bytes is not None else None,
            setup_s=run.setup_s, execution_only=run.execution_only, sla_s=run.sla_s,
        ))
    return points


def phase_bands(points: Sequence[TimelinePoint]) -> list[PhaseBand]:
    bands: list[PhaseBand] = []
    for i, point in enumerate(points):
        if bands and bands[-1].phase == point.phase:
            bands[-1] = PhaseBand(point.phase, bands[-1].first, i)
        else:
            bands.append(PhaseBand(point.phase, i, i))
    return bands


def annotations_of(points: Sequence[TimelinePoint]) -> list[Annotation]:
    found: list[Annotation] = []
    for i, point in enumerate(points):
        # Rebases are marked apart; "no_capacity" only details a launch failure (which type would
        # not launch, for the planner), already marked as one, and the run's message names the code.
        kinds = [k for k in dict.fromkeys(point.anomalies) if k not in REBASE_LABELS and k != "no_capacity"]
        if point.outcome != "succeeded" and "failure" not in kinds:
            kinds.append("failure")
        if ("launch_failed" in kinds or "out_of_memory" in kinds) and "failure" in kinds:
            kinds.remove("failure")
        if point.execution_only and EXECUTION_ONLY not in kinds:
            kinds.append(EXECUTION_ONLY)
        order = list(ANOMALY_LABELS)
        kinds.sort(key=lambda k: order.index(k) if k in order else len(order))
        found.extend(Annotation(i, point.run_id, k, ANOMALY_LABELS.get(k, k.replace("_", " ")))
                     for k in kinds)
    return found


def build_timeline(points: Sequence[TimelinePoint], sla_seconds: float | None, title: str = "",
                   currency: str = "USD", working_sla_seconds: float | None = None) -> ProjectTimeline:
    pts = tuple(points)
    # An apply is reverted when the next change of cluster after it is a revert.
    changes = [(i, REVERTED in p.anomalies) for i, p in enumerate(pts)
               if p.applied_recommendation_id is not None or REVERTED in p.anomalies]
    reverted = {i for (i, _), (_, back) in zip(changes, changes[1:], strict=False) if back}
    markers = tuple(ApplyMarker(i, p.run_id, p.applied_recommendation_id, reverted=i in reverted)
                    for i, p in enumerate(pts) if p.applied_recommendation_id is not None)
    rebases = tuple(RebaseMarker(i, p.run_id, k, REBASE_LABELS[k])
                    for i, p in enumerate(pts) for k in dict.fromkeys(p.anomalies) if k in REBASE_LABELS)
    return ProjectTimeline(title=title, points=pts, sla_seconds=sla_seconds, bands=tuple(phase_bands(pts)),
                           markers=markers, annotations=tuple(annotations_of(pts)), currency=currency,
                           rebases=rebases, working_sla_seconds=working_sla_seconds)


def timeline_of_runs(runs: Iterable[Run], sla_seconds: float | None, title: str = "",
                     changes: Sequence[ChangePoint] = (), reverted: Collection[int] = ()) -> ProjectTimeline:
    """The timeline of stored runs; ``changes`` (the change points the planner stored, `stored_changes`)
    mark where the model learns again, ``reverted`` as `points_from_runs` reads it (`reverted_ids`)."""
    run_list = list(runs)
    currency = next((r.cost.currency for r in run_list if r.cost), "USD")
    return build_timeline(points_from_runs(run_list, changes, reverted), sla_seconds, title, currency)


def reverted_ids(recommendations: Iterable[Recommendation], runs: Iterable[Run]) -> set[int]:
    """The recommendations turned down after runs used them: applied, then reverted (a rejected one
    no run used was turned down before it was applied)."""
    ran = {r.recommendation_id for r in runs if r.recommendation_id is not None}
    # "reverted" since 0022; a revert before it left the recommendation "rejected".
    return {int(rec.id) for rec in recommendations if rec.state in ("rejected", "reverted") and rec.id in ran}
