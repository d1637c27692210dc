"""The words that go with a project's savings, shared by `trimtab savings` (a `GetSavings` reply's
project) and the dashboard (`server.services.savings.ProjectSavings`): both carry the fields read here
under the same names. No server imports: the CLI needs no server code."""

from __future__ import annotations

from typing import Any

CADENCE_DOC = "docs/savings.md"
FIRM_RUNS = 3  # server.services.savings.FIRM_RUNS (not imported: the CLI needs no server code)
NOT_COMPARABLE = "not_comparable"  # server.services.savings.NOT_COMPARABLE: the basis when the workload changed
USER_EDIT = "user_edit"  # server.services.savings.USER_EDIT: current_source while the job runs the owner's cluster


def saving_now(p: Any) -> float | None:
    """The saving now as a fraction of the cost before Trimtab (None without one): 0 while the job runs
    a cluster its owner set outside Trimtab, whatever that costs (`ProjectSavings.saving_fraction`).
    The server's figure where it sends one, so the table and `--json` agree; computed for an older server."""
    if p.HasField("saving_fraction"):
        return p.saving_fraction
    if p.baseline_cost_per_run <= 0:
        return None
    if p.current_source == USER_EDIT:
        return 0.0
    return 1 - p.current_cost_per_run / p.baseline_cost_per_run


def now_from(p: Any) -> str:
    """Which runs NOW/RUN is the cost of: the applied recommendation's, the cluster as found's, or the fallback."""
    if p.current_source == "applied":
        over = getattr(p, "current_over_sla_runs", 0)
        return f"rec {p.current_recommendation_id} ({p.current_runs}{f', {over} over SLA' if over else ''})"
    if p.current_source == "applied_over_sla":
        return f"rec {p.current_recommendation_id} ({p.current_runs}, over SLA)"
    if p.current_source == "original":
        return f"as found ({p.current_runs})"
    if p.current_source == USER_EDIT:
        return f"your edit ({p.current_runs})"
    return f"last {p.current_runs}" if p.current_source else "-"


def runs_behind(p: Any) -> str:
    """How many runs the saving rests on, "preliminary" under FIRM_RUNS a side (docs/savings.md).

    The reply names the runs behind now/run (``current_runs``) and before/run (``baseline_runs``).
    A reply always has a baseline run, so 0 there is a server that predates the field (proto3 reads
    an unsent int32 as 0): now's side alone then; and 0 on now's side too is a server older still,
    which says nothing of either (read as "0 runs now, preliminary" beside a cost now: review revU 3)."""
    baseline = getattr(p, "baseline_runs", 0)
    if not baseline:
        if p.current_runs >= FIRM_RUNS or p.current_runs == 0:
            return ""
        return f" ({p.current_runs} run{'' if p.current_runs == 1 else 's'} now, preliminary)"
    if hasattr(p, "HasField") and p.HasField("preliminary"):  # the server's verdict: it also knows an
        # extrapolated baseline
        preliminary = p.preliminary
    else:
        preliminary = min(baseline, p.current_runs) < FIRM_RUNS or getattr(p, "per_gb_unproven", False)
    tail = ", preliminary" if preliminary else ""
    return f" ({baseline} vs {p.current_runs} runs{tail})"


def project_notes(p: Any, has_sla: bool | None = True) -> list[str]:
    """What a reader needs to weigh a row: the fallback (``has_sla``: whether the project has an SLA,
    None: unknown), a revert to the cluster as found, mixed bills, runs left out."""
    notes = []
    if p.basis == NOT_COMPARABLE:
        # The server's own words name the run and the kind of change (an older server sends none).
        notes.append((getattr(p, "not_comparable_note", "") or
                      "not comparable: the workload changed (a code change or a runtime regression, marked on "
                      "`trimtab timeline`) and the cluster as found never ran it, so its cost then is no measure of "
                      "a saving; no saving now nor projection is shown")
                     + "; saved to date counts the runs before the change")
    if p.current_source == "recent":
        within = {True: " within the SLA", False: "", None: " (within the SLA, when the project has one)"}[has_sla]
        notes.append(f"the recommendation applied now has no succeeded run{within} yet: "
                     f"now/run is the last {p.current_runs} succeeded Trimtab runs, learning trials included")
    over = getattr(p, "current_over_sla_runs", 0)
    if p.current_source == "applied" and over:
        notes.append(f"{over} of the {p.current_runs} succeeded runs of the recommendation applied now ran over the "
                     "SLA: now/run counts them, as the job paid for them, so the saving is what this cluster costs "
                     "with its SLA misses; `trimtab timeline` shows which runs missed")
    if p.current_source == "applied_over_sla":
        notes.append(f"every succeeded run of the recommendation applied now ran over the SLA (a plan made while the "
                     f"SLA is out of reach aims at a working SLA above it, or runs the fastest measured when the "
                     f"project's working SLA is off: its reason says which): now/run is its "
                     f"{p.current_runs} succeeded run(s)")
    if p.current_source == "original":
        notes.append("reverted to the cluster as found: now/run is the cost before Trimtab, so no saving now; "
                     "saved to date keeps what Trimtab's runs saved")
    if p.current_source == USER_EDIT:
        since = getattr(p, "user_config_since_run_id", "") or ""
        notes.append(f"the job runs a cluster you set outside Trimtab{f' since run {since}' if since else ''}: "
                     "no saving now nor projection (now/run is what your cluster's runs cost, not a saving); "
                     f"saved to date keeps what Trimtab's runs saved; `trimtab recommendation apply {p.project_name}` "
                     "resumes")
    if p.cost_basis == "estimate" and p.billed_runs:
        notes.append(f"{p.billed_runs} of the runs compared have a bill; not all do, so every run is compared "
                     "on its catalog estimate")
    if p.user_edited_runs:
        now = "" if p.current_source == USER_EDIT else ", now"
        notes.append(f"{p.user_edited_runs} run(s) on a cluster edited outside Trimtab are left out of "
                     f"before{now} and saved to date")
    if getattr(p, "baseline_note", ""):
        notes.append(p.baseline_note)
    if getattr(p, "repriced_runs", 0):
        notes.append(f"{p.repriced_runs} run(s) priced under another plan when collected are compared here with "
                     f"their DBUs at the workspace's plan now ({getattr(p, 'dbu_plan', '') or 'today'}), so both "
                     "sides use one price list; `run list` and the timeline show their stored costs")
    if p.cadence_note:
        notes.append(p.cadence_note)
    return notes


def runs_a_year(count: float) -> str:
    """Whole runs, but a job that runs every four years (29 February) is 0.25, not 0."""
    return f"{count:.0f}" if count >= 10 else f"{round(count, 2):g}"
