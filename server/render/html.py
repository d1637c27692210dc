"""A self-contained HTML page of one timeline: inline CSS and SVG, nothing fetched."""

from __future__ import annotations

from html import escape

from server.render.fmt import NOT_PRICED, cost_text, counted, duration, percent
from server.render.svg import legend_html, timeline_svg
from server.timeline import WITHOUT_SETUP, ProjectTimeline, met_fraction, verdict_words

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#111827;background:#f9fafb}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;background:white;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:left}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.legend{font-size:12px;margin:6px 0 12px}.key{margin-right:14px;white-space:nowrap}
.key i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.chart{background:white;border:1px solid #e5e7eb;display:inline-block}
.muted{color:#6b7280}.bad{color:#dc2626}.good{color:#059669}
pre.diff{background:white;border:1px solid #e5e7eb;padding:8px;font-size:12px;overflow:auto}
nav a{margin-right:12px}
"""


def points_table(tl: ProjectTimeline) -> str:
    reverted = {m.recommendation_id for m in tl.markers if m.reverted}
    rows = []
    for i, p in enumerate(tl.points):
        met = tl.sla_met(p)
        css = "good" if met else "bad" if met is False else "muted"
        own = tl.sla_of(p)
        # A run of an SLA since changed says which it was judged against (the one in force then).
        then = f" ({duration(own)} then)" if own is not None and own != tl.sla_seconds else ""
        sla = "" if own is None else f'<span class="{css}">{escape(verdict_words(met) + then)}</span>'
        applied = f"rec {p.applied_recommendation_id}" if p.applied_recommendation_id is not None else ""
        if p.applied_recommendation_id is not None and p.applied_recommendation_id in reverted:
            applied += " (reverted)"
        rows.append(
            f'<tr class="run-row" data-run-id="{p.run_id}"><td class="num">{i + 1}</td><td>{p.run_id}</td>'
            f"<td>{escape(p.phase)}</td><td class=num>{duration(p.runtime_s)}</td>"
            f"<td class=num>{cost_text(p.known_cost, tl.currency)}</td><td>{sla}</td><td>{escape(p.outcome)}</td>"
            f"<td>{escape(', '.join(p.anomalies))}</td><td>{applied}</td></tr>")
    return ("<table class=runs><tr><th>#</th><th>run</th><th>phase</th><th>runtime</th><th>cost</th>"
            "<th>SLA</th><th>outcome</th><th>anomalies</th><th>applied</th></tr>" + "".join(rows) + "</table>")


def summary_line(tl: ProjectTimeline) -> str:
    if not tl.points:
        return "no runs yet"
    first, last = tl.points[0], tl.points[-1]
    parts = [counted(len(tl.points), "run"), f"first {duration(first.runtime_s)} / {cost_text(first.known_cost, tl.currency)}",
             f"latest {duration(last.runtime_s)} / {cost_text(last.known_cost, tl.currency)}"]
    # Said once for the page: a reader comparing costs must know some runs are missing from them.
    unpriced = sum(1 for p in tl.points if not p.priced)
    if unpriced:
        parts.append(f"{unpriced} {NOT_PRICED}")
    if tl.sla_seconds is not None or tl.judged_before:
        # Each run against the SLA in force when it was collected; the earlier SLAs are named.
        met = [tl.sla_met(p) for p in tl.points if tl.sla_of(p) is not None]
        now = f"SLA {duration(tl.sla_seconds)}" if tl.sla_seconds is not None else "no SLA now; runs"
        before = ", ".join(duration(s) for s in tl.judged_before)
        parts.append(f"{now} met {percent(met_fraction(met))}"
                     + (f" (earlier runs against {before}, the SLA then)" if before else ""))
        unknown = met.count(None)
        if unknown:  # not in the share: a runtime without setup within the SLA met it or not
            parts.append(f"{unknown} unknown ({WITHOUT_SETUP})")
    return " · ".join(parts)


def timeline_page(tl: ProjectTimeline) -> str:
    title = escape(tl.title or "timeline")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{title} · Trimtab</title>"
            f"<style>{STYLE}</style></head><body><h1>{title}</h1><p class=muted>{escape(summary_line(tl))}</p>"
            f"{legend_html()}<div class=chart>{timeline_svg(tl)}</div><h2>Runs</h2>{points_table(tl)}"
            "</body></html>")
