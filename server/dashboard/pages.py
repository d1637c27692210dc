"""The dashboard's HTML: plain server-rendered pages, inline CSS and SVG, no scripts or remote assets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape

from server.dashboard.views import ProjectPage, ProjectRow, RunPage, WorkspaceState
from server.domain import CostBreakdown, Project, Run
from server.orphan_cause import recorded_cause
from server.render.fmt import (
    NOT_PRICED,
    auto_apply_text,
    breakdown_amounts,
    cost_text,
    cut,
    duration,
    money,
    outcome_text,
    p_meet_text,
    percent,
    phase_marks,
    phase_text,
    problem_mark,
    utc_minute,
)
from server.render.fmt import driver_use as fmt_driver_use
from server.render.html import STYLE
from server.render.reason import reason_as_of
from server.render.savings_text import project_notes, runs_a_year
from server.render.svg import legend_html, timeline_svg
from server.render.workspace_text import UNWATCHED, status_hint, status_text
from server.services.savings import USER_EDIT, ProjectSavings
from server.timeline import run_met_sla, sla_in_force, verdict_words

EXTRA_STYLE = """
.bar{fill:#2563eb}.stage-chart{background:white;border:1px solid #e5e7eb}
.login{max-width:360px;background:white;border:1px solid #e5e7eb;padding:18px}
.login input{width:100%;padding:6px;margin:8px 0;box-sizing:border-box}.error{color:#dc2626}
.phase{padding:1px 6px;border-radius:8px;font-size:12px}
.phase-learning{background:#fde68a}.phase-optimizing{background:#bbf7d0}.phase-monitoring{background:#bfdbfe}
.phase.inactive{background:#e5e7eb;color:#374151}.pager a,.pager b{margin-right:10px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px}
dl.facts dt{color:#6b7280}.banner{border:1px solid #fca5a5;background:#fef2f2;padding:8px 12px}
"""


def layout(title: str, body: str, *, signed_in: bool = True) -> str:
    nav = ('<nav><a href="/">Projects</a><form method=post action="/logout" style="display:inline">'
           '<button type=submit>Sign out</button></form></nav>') if signed_in else ""
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)} · Trimtab</title>"
            f"<style>{STYLE}{EXTRA_STYLE}</style></head><body>{nav}<h1>{escape(title)}</h1>{body}</body></html>")


def _phase(phase: str) -> str:
    return f'<span class="phase phase-{escape(phase)}">{escape(phase)}</span>'


def _project_phase(p: Project, *, failing: bool = False) -> str:
    """The project's phase and, as `trimtab project show` writes them, why Trimtab no longer acts on it
    ("learning — detached"): the phase alone read as a project still being tuned. ``failing``: also
    "(planning failed)" when planning or auto-apply is failing, as `trimtab project list` marks it (its
    phase is as of the last success); the project page says so in its own "problem" line instead."""
    marks = phase_marks(p.detached, p.orphaned)
    if not marks:
        html = _phase(p.phase)
    else:
        html = (f'<span class="phase phase-{escape(p.phase)} inactive" data-marks="{escape(" ".join(marks))}">'
                f"{escape(phase_text(p.phase, p.detached, p.orphaned))}</span>")
    if failing and p.problem is not None:
        html += (f' <span class="bad problem-mark" data-step="{escape(p.problem.step)}" '
                 f'title="{escape(p.problem.message)}">({escape(problem_mark(p.problem.step))})</span>')
    return html


def _inactive_note(p: Project) -> str:
    """Above the recommendation of a detached or orphaned project: a pending one looked applicable."""
    if p.detached:
        why = ("is detached: Trimtab was taken off its job and nothing is applied to it (`trimtab apply` "
               "refuses it, auto-apply and planning skip it); importing its job again manages it again")
    elif p.orphaned:
        why = (f"is orphaned ({recorded_cause(p)}): nothing is "
               "applied to it (`trimtab apply` refuses it, auto-apply and planning skip it)")
    else:
        return ""
    return f'<p class="bad" id="inactive-note">This project {escape(why)}.</p>'


def _sla_status(row: ProjectRow) -> str:
    sla = row.project.settings.sla_seconds
    if sla is None:
        return '<span class="muted">no SLA (min cost)</span>'
    if not row.runs:
        return f'{escape(duration(sla))} <span class="muted">(no runs yet)</span>'
    latest = row.latest
    last = ""
    if latest is not None:
        ok = run_met_sla(latest, sla)
        # None: the latest run's runtime has no setup in it and is within the SLA (a backfilled run).
        css = "good" if ok else "bad" if ok is False else "muted"
        last = f'<span class="{css}">latest {escape(verdict_words(ok))}</span>'
    # The share is of the runs judged (`met_fraction`): none is when every run is a runtime without setup.
    # Against today's SLA, the one shown: runs held to an earlier SLA are counted apart, not as misses
    # or hits of this one (`server.timeline.SlaShare`).
    shares = row.sla_met
    share = f"{percent(shares.now)} met" if shares.now is not None else "no run judged"
    if shares.earlier_judged:
        since = "1 run" if shares.now_judged == 1 else f"{shares.now_judged} runs"
        every = f"{percent(shares.every)} of all against the SLA of their day" if shares.every is not None else ""
        share += f' <span class="muted">({escape(since)} since it was set; {escape(every)})</span>'
    return f"{escape(duration(sla))}: {share} · {last}"


def _workspace_words(state: WorkspaceState) -> str:
    """Why no new runs may be coming from a workspace, in words (escaped): its status and last error."""
    ws = state.workspace
    parts = []
    if not state.collecting:
        parts.append(f"not collecting: {escape(ws.status)}")
        if ws.last_error:
            parts.append(f"last error: {escape(cut(ws.last_error, 300))}")
        if hint := status_hint(ws.status, ws.last_error, ws.name, ws.client_id):
            parts.append(escape(hint))
    if not state.watched:
        parts.append(escape(UNWATCHED))
    return "; ".join(parts)


def _workspaces_banner(troubled: list[WorkspaceState]) -> str:
    """On `/`: the workspaces whose projects' figures may be stale (`views.troubled_workspaces`)."""
    if not troubled:
        return ""
    items = "".join(f'<li data-workspace="{escape(s.workspace.name)}" data-status="{escape(s.workspace.status)}">'
                    f"<b>{escape(s.workspace.name)}</b>: {_workspace_words(s)}</li>" for s in troubled)
    return (f'<div class="banner" id="workspaces-banner"><p class="bad">Runs may be missing: the figures below are '
            f"as of the last run collected from these workspaces (<code>trimtab workspace list</code>).</p>"
            f"<ul>{items}</ul></div>")


def projects_page(rows: list[ProjectRow], troubled: list[WorkspaceState] | None = None) -> str:
    currency = next((r.latest.cost.currency for r in rows if r.latest and r.latest.cost), "USD")
    body = [_workspaces_banner(troubled or [])]
    total = sum(r.savings.saved_to_date for r in rows if r.savings)
    annual = sum(r.savings.projected_annual for r in rows if r.savings)
    body.append(f'<p>Saved to date <b id="total-saved">{money(total, currency)}</b> · projected annual '
                f'<b id="total-annual">{money(annual, currency)}</b> '
                '<span class="muted">(see docs/savings.md)</span></p>')
    body.append("<table id=projects><tr><th>project</th><th>job</th><th>phase</th><th>SLA</th><th>runs</th>"
                "<th>latest run (UTC)</th><th>latest cost</th><th>latest runtime</th><th>saved to date</th>"
                "<th>saving</th></tr>")
    for r in rows:
        p = r.project
        latest_cost = r.latest.cost.total if r.latest and r.latest.cost else None
        body.append(
            f'<tr class="project-row" data-project-id="{p.id}"><td><a href="/projects/{p.id}">{escape(p.name)}</a>'
            f"</td><td>{escape(p.job_name)}</td><td>{_project_phase(p, failing=True)}{_hold_mark(r)}</td>"
            f"<td>{_sla_status(r)}</td>"
            f"<td class=num>{r.runs}</td><td class=latest-start>{utc_minute(r.latest.start_ms if r.latest else 0)}</td>"
            f"<td class=num>{money(latest_cost, currency)}</td>"
            f"<td class=num>{duration(r.latest.runtime_s if r.latest else None)}</td>"
            f"<td class=num>{_saved_cell(r.savings, currency)}</td>"
            f"<td class=num>{_saving_cell(r.savings)}</td></tr>")
    body.append("</table>")
    if not rows:
        body.append('<p class="muted">No projects yet: connect a workspace and import its jobs.</p>')
    return layout("Projects", "".join(body))


def _recommendation(page: ProjectPage) -> str:
    rec = page.recommendation
    if rec is None:
        return '<p class="muted">No recommendation yet.</p>'
    c = rec.config
    size = f"{c.autoscale_min}-{c.autoscale_max} workers (autoscale)" if c.autoscale_max else f"{c.num_workers} workers"
    currency = page.timeline.currency
    spot = c.availability.upper().startswith("SPOT") if c.availability else False
    cluster = f"{c.node_type_id} × {size}, {'spot' if spot else 'on demand'}" + \
        (f", driver {c.driver_node_type_id}" if c.driver_node_type_id else "")
    facts = [("state", rec.state), ("phase", rec.phase), ("cluster", cluster),
             ("predicted runtime", f"{duration(rec.predicted_runtime_s)} ({duration(rec.runtime_interval_s[0])}"
                                   f" – {duration(rec.runtime_interval_s[1])})"),
             ("predicted cost", f"{money(rec.predicted_cost, currency)} ({money(rec.cost_interval[0], currency)}"
                                f" – {money(rec.cost_interval[1], currency)})"),
             ("P(meet SLA)", p_meet_text(rec.p_meet_sla)), ("reason", reason_as_of(rec.reason, rec.state))]
    if rec.storage_advice:
        facts.append(("storage", rec.storage_advice))
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return (f'<dl class="facts" id="recommendation" data-state="{escape(rec.state)}">{dl}</dl>'
            f'<p class=muted>Against the live spec:</p><pre class="diff" id="recommendation-diff">'
            f"{escape(page.diff)}</pre>")


def _problem(p: Project) -> list[tuple[str, str]]:
    """The project's planning or auto-apply failure, right under its phase (which it freezes)."""
    problem = p.problem
    if problem is None:
        return []
    step = "planning" if problem.step == "plan" else "auto-apply"
    when = datetime.fromtimestamp(problem.at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [("problem", f'<span class="bad" id="problem" data-step="{escape(problem.step)}">'
                        f"{escape(step)} after run {problem.run_id} failed {when}: {escape(problem.message)}</span>")]


# The run row shows this much of a failed run's message; the whole message is its tooltip.
_ROW_MESSAGE_CHARS = 60


def _hold_mark(row: ProjectRow) -> str:
    """"(auto-apply paused)" beside the phase of a project whose owner edited its cluster outside
    Trimtab: its phase still reads as tuned, but nothing Trimtab chooses is applied (the why on hover)."""
    if not row.project.settings.auto_apply or not row.auto_apply_hold:
        return ""
    return f' <span class="muted hold-mark" title="{escape(row.auto_apply_hold)}">(auto-apply paused)</span>'


def _auto_apply(row: ProjectRow) -> str:
    """As `trimtab project show`: "on (paused: you edited the cluster ... before run N of ...)", the
    whole reason (how to resume) on hover."""
    text = escape(auto_apply_text(row.project.settings.auto_apply, row.auto_apply_hold))
    if not row.project.settings.auto_apply or not row.auto_apply_hold:
        return text
    return f'<span id="auto-apply-hold" title="{escape(row.auto_apply_hold)}">{text}</span>'


def _outcome_cell(r: Run) -> str:
    """The outcome, and for a run that did not succeed Databricks' reason: the message is text
    from the workspace (a job's exception can carry anything), so it is escaped everywhere."""
    if not r.message:
        return f"<td>{escape(outcome_text(r.outcome))}</td>"
    short = cut(r.message, _ROW_MESSAGE_CHARS)
    return (f'<td class="outcome" title="{escape(r.message)}">{escape(outcome_text(r.outcome))}: '
            f'<span class="why">{escape(short)}</span></td>')


def _runs(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def _now_from(savings: ProjectSavings) -> str:
    """Which runs the savings' current cost is (docs/savings.md): the applied recommendation's, the
    cluster as found's after a revert, or the fallback. "Within the SLA" only where there is one."""
    within = " within the SLA" if savings.has_sla else ""
    if savings.current_source == "applied":
        # Its runs over the SLA are in the cost now too: "within the SLA" would not be true of them all.
        over = f", {savings.current_over_sla_runs} over the SLA" if savings.current_over_sla_runs else within
        return f"recommendation {savings.current_recommendation_id} ({_runs(savings.current_runs)}{over})"
    if savings.current_source == "applied_over_sla":
        return (f"recommendation {savings.current_recommendation_id} ({_runs(savings.current_runs)}, every one over "
                "the SLA: a plan made while the SLA is out of reach aims at a working SLA above it, or runs the "
                "fastest measured when the project's working SLA is off)")
    if savings.current_source == "original":
        return (f"the cluster as found ({_runs(savings.current_runs)}): reverted, so no saving now; "
                "saved to date keeps what Trimtab's runs saved")
    if savings.current_source == USER_EDIT:
        return (f"your cluster, set outside Trimtab ({_runs(savings.current_runs)}): what it costs, not a saving; "
                "no saving now")
    return (f"last {savings.current_runs} Trimtab runs, learning trials included (the applied recommendation "
            f"has no succeeded run{within} yet)")


def _runs_behind(savings: ProjectSavings) -> str:
    """The runs before and now the saving rests on, preliminary under `FIRM_RUNS` a side (as the CLI)."""
    tail = ", preliminary" if savings.preliminary else ""
    return f"{savings.baseline_runs} vs {savings.current_runs} runs{tail}"


def _saved_cell(savings: ProjectSavings | None, currency: str) -> str:
    """Saved to date, marked when the baseline behind it is preliminary (too few runs as found, or
    extrapolated to an input they never ran)."""
    if savings is None:
        return money(None, currency)
    mark = ' <span class="muted preliminary">(preliminary)</span>' if savings.saved_to_date_preliminary else ""
    return money(savings.saved_to_date, currency) + mark


def _saving_cell(savings: ProjectSavings | None) -> str:
    """The saving now, marked while it rests on too few runs to be more than one run's noise."""
    if savings is None:
        return percent(None)
    if not savings.comparable:
        return f'<span class="muted" title="{escape(savings.not_comparable_note)}">not comparable</span>'
    mark = ' <span class="muted preliminary">(preliminary)</span>' if savings.preliminary else ""
    return percent(savings.saving_fraction) + mark


def _savings_figures(savings: ProjectSavings | None, currency: str) -> list[tuple[str, str]]:
    """The figures `trimtab savings` puts beside a saving: the cost before and now per run (per GB too
    when that is the basis) and the runs a year the projection multiplies, with where that count is from."""
    if savings is None:
        return []
    figures = [("before / now per run", f'<span id="savings-per-run">{money(savings.baseline_cost_per_run, currency)}'
                                        f" / {money(savings.current_cost_per_run, currency)}</span>")]
    if savings.basis == "per_input_gb" and savings.baseline_cost_per_gb is not None \
            and savings.current_cost_per_gb is not None:
        figures.append(("before / now per GB", f"{money(savings.baseline_cost_per_gb, currency, decimals=4)} / "
                                               f"{money(savings.current_cost_per_gb, currency, decimals=4)}"))
    figures.append(("runs a year", f'<span id="savings-runs-a-year">{escape(runs_a_year(savings.runs_per_year))} '
                                   f"({escape(savings.cadence_basis)})</span>"))
    return figures


def _savings_notes(savings: ProjectSavings | None) -> str:
    """What a reader needs to weigh the saving (a fallback, a revert, mixed bills, runs left out, runs
    re-priced at today's plan, an extrapolated baseline...): `trimtab savings`' own notes."""
    notes = project_notes(savings, savings.has_sla) if savings is not None else []
    if not notes:
        return ""
    return ('<ul class="muted" id="savings-notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes)
            + "</ul>")


def _timeline_note(page: ProjectPage) -> str:
    """Says so when the chart leaves older runs out (`views.TIMELINE_RUNS`)."""
    drawn, total = len(page.timeline.points), page.row.runs
    if drawn >= total:
        return ""
    return (f'<p class="muted" id="timeline-note">The newest {drawn:,} of {total:,} runs; '
            f"<code>trimtab timeline {page.row.project.id} --out FILE.svg</code> draws every run.</p>")


def _pager(page: ProjectPage) -> str:
    """Which runs the table shows, and links to the newer and older pages (`RUNS_PER_PAGE` a page)."""
    total = page.row.runs
    if page.pages <= 1:
        return ""
    base = f"/projects/{page.row.project.id}"
    first = page.first_run_number
    last = first + len(page.runs) - 1

    def link(number: int, text: str) -> str:
        return f'<a href="{base}?page={number}" data-page="{number}">{escape(text)}</a>'

    parts = [f"<b>runs {first:,}–{last:,} of {total:,}, newest first (page {page.page} of {page.pages})</b>"]
    if page.page > 1:
        parts += [link(1, "« newest"), link(page.page - 1, "‹ newer")]
    if page.page < page.pages:
        parts += [link(page.page + 1, "older ›"), link(page.pages, "oldest »")]
    return f'<p class="pager muted" data-page="{page.page}" data-pages="{page.pages}">{"".join(parts)}</p>'


def _cluster_size(r: Run) -> str:
    """``r5d.2xlarge × 4-16`` for an autoscaling run, as `trimtab run list` writes it: the maximum alone
    read as a fixed cluster of that size."""
    cfg = r.config
    if cfg is None:
        return ""
    size = f"{cfg.autoscale_min}-{cfg.autoscale_max}" if cfg.autoscale_max else str(cfg.num_workers)
    return f"{cfg.node_type_id} × {size}"


def _workspace_facts(p: Project, state: WorkspaceState | None) -> list[tuple[str, str]]:
    """The project's workspace and whether runs are being collected from it: a page whose newest run
    is weeks old looked current while the collector could not reach the workspace."""
    if state is None:
        return [("workspace", f'{escape(p.workspace)} <span class="bad" id="workspace-status" data-status="gone">'
                              "(not connected: no runs are collected)</span>")]
    words = _workspace_words(state)
    status = status_text(state.workspace.status, state.watched)
    note = f'<span class="{"muted" if state.collecting else "bad"}" id="workspace-note">: {words}</span>' if words else ""
    return [("workspace", f'{escape(p.workspace)} · <span id="workspace-status" data-status="{escape(state.workspace.status)}">'
                          f"{escape(status)}</span>{note}")]


def project_page(page: ProjectPage) -> str:
    p = page.row.project
    tl = page.timeline
    s = p.settings
    savings = page.row.savings
    facts = [*_workspace_facts(p, page.workspace), ("phase", _project_phase(p)), *_problem(p),
             ("SLA", _sla_status(page.row)),
             ("auto-apply", _auto_apply(page.row)),
             ("saved to date", _saved_cell(savings, tl.currency)),
             ("saving now", ("-" if savings is None else escape(savings.not_comparable_note) if not savings.comparable
                             else f'{percent(savings.saving_fraction)} <span class="muted" id="savings-runs">'
                             f"({escape(_runs_behind(savings))})</span>")),
             ("projected annual", money(savings.projected_annual if savings and savings.comparable else None,
                                        tl.currency)),
             ("savings basis", escape(savings.basis.replace("_", " ")) if savings else "-"),
             ("savings costs", escape(savings.cost_basis) if savings else "-"),
             ("savings now from", escape(_now_from(savings)) if savings else "-"),
             *_savings_figures(savings, tl.currency)]
    rows = []
    for r in page.runs:
        # Against the SLA in force when the run was collected, named when it has changed since.
        own = sla_in_force(r.sla_s, s.sla_seconds)
        then = f" ({duration(own)} then)" if own is not None and own != s.sla_seconds else ""
        met = "" if own is None else escape(verdict_words(run_met_sla(r, s.sla_seconds)) + then)
        rows.append(
            f'<tr class="run-row" data-run-id="{r.id}"><td><a href="/runs/{r.id}">{r.id}</a></td>'
            f"<td>{r.databricks_run_id}</td><td class=started>{utc_minute(r.start_ms)}</td>"
            f"<td>{_phase(r.phase)}</td><td>{escape(_cluster_size(r))}</td>"
            f"<td class=num>{duration(r.runtime_s)}</td><td class=num>{duration(r.setup_s)}</td>"
            f"<td class=num>{cost_text(r.cost.total if r.cost else None, tl.currency)}</td><td>{met}</td>"
            f"{_outcome_cell(r)}<td>{escape(', '.join(r.anomalies))}</td></tr>")
    body = (
        '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
        f"{_savings_notes(savings)}<h2>Timeline</h2>{_timeline_note(page)}{legend_html()}<div class=chart>{timeline_svg(tl)}</div>"
        f"<h2>Current recommendation</h2>{_inactive_note(p)}{_recommendation(page)}"
        f"<h2>Runs</h2>{_pager(page)}<table id=runs><tr><th>run</th><th>Databricks run</th><th>started (UTC)</th>"
        "<th>phase</th><th>cluster</th><th>runtime</th><th>setup</th><th>cost</th><th>SLA</th><th>outcome</th>"
        "<th>anomalies</th></tr>"
        + "".join(rows) + f"</table>{_pager(page) if len(page.runs) > 20 else ''}")
    return layout(tl.title, body)


def _cost_table(cost: CostBreakdown | None) -> str:
    if cost is None:
        return f'<p class="muted">{NOT_PRICED.capitalize()}: no cost was computed for this run (its message may say why).</p>'
    c = cost.currency
    # The parts with as many decimals as they need to add up to the total shown (`trimtab run show` too).
    dbu, compute, storage, bill = cost.dbu_cost, cost.compute_cost, cost.storage_cost, cost.billed_cloud_cost
    if cost.source == "billed" and bill is not None:
        d, (dbu, bill) = breakdown_amounts(cost.total, [dbu, bill])
    else:
        d, (dbu, compute, storage) = breakdown_amounts(cost.total, [dbu, compute, storage])
    rows = [("DBU", money(dbu, c, d), f"{cost.dbus:.2f} DBU"), ("compute", money(compute, c, d), ""),
            ("storage", money(storage, c, d), ""), ("total", money(cost.total, c, d), cost.source)]
    if bill is not None:
        rows.append(("billed cloud cost", money(bill, c, d), "from the cloud bill"))
    if cost.cost_per_input_gb is not None:
        rows.append(("per input GB", money(cost.cost_per_input_gb, c, decimals=4), ""))
    html = "".join(f'<tr class="cost-row"><td>{escape(k)}</td><td class=num>{v}</td><td class=muted>{escape(n)}</td>'
                   "</tr>" for k, v, n in rows)
    note = f'<p class="muted">{escape(cost.note)}</p>' if cost.note else ""
    return f"<table id=cost>{html}</table>{note}"


def _stage_chart(page: RunPage) -> str:
    stages = [s for s in page.stages if s.submission_time_ms and s.completion_time_ms]
    if not stages:
        return ""
    t0 = min(s.submission_time_ms for s in stages)
    t1 = max(s.completion_time_ms for s in stages)
    span = max(1, t1 - t0)
    width, row_h, left = 800, 18, 160
    bars = []
    for i, s in enumerate(stages):
        x = left + (width - left - 10) * (s.submission_time_ms - t0) / span
        w = max(1.0, (width - left - 10) * (s.completion_time_ms - s.submission_time_ms) / span)
        y = 6 + i * row_h
        bars.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" font-size="11">'
                    f"{escape(f'{s.stage_id}: {s.name}'[:24])}</text>"
                    f'<rect class="bar stage-bar" data-stage-id="{s.stage_id}" x="{x:.1f}" y="{y}" '
                    f'width="{w:.1f}" height="{row_h - 4}"><title>{escape(duration(s.duration_s))}</title></rect>')
    height = 12 + len(stages) * row_h
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="stage-chart" width="{width}" height="{height}" '
            f'font-family="sans-serif">{"".join(bars)}</svg>')


def run_page(page: RunPage) -> str:
    run = page.run
    gb = (lambda b: f"{b / 1e9:.2f} GB")  # noqa: E731 - a tiny local formatter
    facts = [("project", f'<a href="/projects/{page.project.id}">{escape(page.project.name)}</a>'),
             ("Databricks run", str(run.databricks_run_id)), ("cluster", escape(run.cluster_id)),
             ("started (UTC)", utc_minute(run.start_ms)), ("ended (UTC)", utc_minute(run.end_ms)),
             ("phase", _phase(run.phase)), ("outcome", escape(outcome_text(run.outcome))),
             *([("why", escape(run.message))] if run.message else []),  # Databricks' words: escaped
             ("runtime", duration(run.runtime_s)),
             # A run from its event log alone: its setup is unknown and not in the runtime, not 0.
             ("cluster setup", "unknown, not in the runtime (known from its event log alone)" if run.execution_only
              else duration(run.setup_s)),
             ("input", gb(run.input_bytes) if run.input_bytes is not None else "-"),
             ("anomalies", escape(", ".join(run.anomalies)) or "none"),
             ("applications", escape(", ".join(a.application_id for a in page.applications)) or "none"),
             ("executors", str(len(page.executors))),
             ("driver", escape(fmt_driver_use(d.peak_heap_bytes, d.gc_ms, d.peak_outside_heap_bytes, run.execution_s))
              if (d := page.driver) is not None else "-")]
    stage_rows = "".join(
        f'<tr class="stage-row" data-stage-id="{s.stage_id}"><td>{s.stage_id}</td><td>{escape(s.name)}</td>'
        f"<td class=num>{s.num_tasks}</td><td class=num>{duration(s.duration_s)}</td>"
        f"<td class=num>{gb(s.metrics.get('input_bytes', 0))}</td>"
        f"<td class=num>{gb(s.metrics.get('shuffle_bytes_written', 0))}</td>"
        f"<td class=num>{gb(s.metrics.get('disk_bytes_spilled', 0))}</td>"
        f"<td>{escape(s.failure_reason)}</td></tr>" for s in page.stages)
    config = json.dumps(run.config.spec if run.config else {}, indent=2, sort_keys=True)
    body = ('<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
            f"<h2>Cost breakdown</h2>{_cost_table(run.cost)}"
            f"<h2>Stages</h2>{_stage_chart(page)}"
            "<table id=stages><tr><th>stage</th><th>name</th><th>tasks</th><th>duration</th><th>input</th>"
            f"<th>shuffle write</th><th>spill</th><th>failure</th></tr>{stage_rows}</table>"
            f'<h2>Cluster configuration</h2><pre class="diff">{escape(config)}</pre>')
    return layout(f"Run {run.id}", body)


def login_page(error: str = "", next_path: str = "/") -> str:
    err = f'<p class="error">{escape(error)}</p>' if error else ""
    body = (f'<form class="login" method="post" action="/login">{err}<label>Admin token'
            f'<input type="password" name="token" autocomplete="off" autofocus></label>'
            f'<input type="hidden" name="next" value="{escape(next_path)}">'
            '<button type="submit">Sign in</button></form>')
    return layout("Sign in", body, signed_in=False)


def error_page(status: int, message: str, *, signed_in: bool = True) -> str:
    """``signed_in`` False: the request was not checked (an unknown path), so no "Sign out"."""
    return layout(f"{status}", f'<p class="error">{escape(message)}</p>', signed_in=signed_in)
