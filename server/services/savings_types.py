"""The savings a report shows, as plain data: one project's figures (`ProjectSavings`), a project whose
Trimtab runs all failed (`NoSavingsYet`) and the report over them (`SavingsReport`), with the words their
fields are said in.

Split from `server.services.savings` (whose docstring defines the figures), which re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.render.fmt import money
from server.services.savings_runs import USER_EDIT
from server.timeline import CODE_CHANGE, INPUT_SHIFT, RUNTIME_REGRESSION

# Fewer runs than this on either side and the saving is preliminary: one run's setup time alone
# varies by minutes (5m04 against 3m12 on one demo cluster).
FIRM_RUNS = 3
NOT_COMPARABLE = "not_comparable"  # the basis when the workload changed since the baseline (no saving now)


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
    # Where current_cost_per_run comes from: "applied" (the recommendation applied now, its succeeded
    # runs, within the SLA or not: current_over_sla_runs says how many were not), "applied_over_sla"
    # (the same, every one over the SLA: a working SLA's plan), "recent" (none yet: the last three
    # succeeded Trimtab runs) or
    # "original" (reverted to the cluster as found: the baseline runs, so no saving now) or "user_edit"
    # (the job runs a cluster its owner set outside Trimtab since user_config_since_run_id: the owner's
    # runs since, for information; no saving now nor projection).
    current_source: str = "recent"
    current_recommendation_id: int | None = None  # the recommendation applied now, when known
    current_runs: int = 0  # runs behind current_cost_per_run
    # Of those, the runs of the recommendation applied now that ran over the project's SLA: in the cost
    # now (the job paid for them), said beside it, since the saving then comes with SLA misses.
    current_over_sla_runs: int = 0
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
    per_gb_unproven: bool = False  # per GB for an input shift or moved input, without the baseline's evidence
    # Per GB: the part of a baseline run that does not scale with input (its cluster setup), $ a run.
    baseline_fixed_cost: float = 0.0
    # Per GB: False when no run reports its setup (then the whole baseline cost scaled with input).
    setup_known: bool = True
    # Per GB, today's input far (> EXTRAPOLATION_LIMIT x) from every baseline run's: the baseline
    # input nearest today's (GB), and today's. None otherwise.
    extrapolated_from_gb: float | None = None
    input_gb_now: float | None = None
    # Per GB only because today's input differs from the baseline's by more than the noise, without the
    # baseline's evidence (`per_gb_unproven`): the baseline runs' mean input (GB). None otherwise.
    input_moved_from_gb: float | None = None

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
        # Extrapolated, the note above names both sizes already.
        if self.input_moved_from_gb is not None and self.input_gb_now is not None and not self.extrapolated:
            notes.append(f"the input changed since the cluster as found ran ({self.input_moved_from_gb:,.0f} GB a run "
                         f"then, {self.input_gb_now:,.0f} GB now): compared per GB of input, so the data's change is "
                         "neither a saving nor a loss; preliminary, as those runs do not show how runtime follows "
                         "input")
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
        cost = f"they cost {money(self.failed_cost, self.currency)}"
        if not self.baseline_runs:
            # Without a run as found there is no saving to count them against, a Trimtab run's
            # success alone does not make one (review rev15d).
            return (f"{said} and no run of the cluster as found succeeded; {cost}; a saving needs a succeeded run "
                    "of the cluster as found to compare with first")
        return f"{said}; {cost}, which counts against the savings once a Trimtab run succeeds"
