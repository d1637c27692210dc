"""A compact timeline for the terminal: one column per run, a few rows.

    runtime  ▇▆▅▃▂▂▂▂  21m40s .. 48m10s (mean setup 4m05s)  SLA 45m00s: 6/7 met, 1 unknown (runtime without setup)
    cost     ▇▆▅▃▂▂▂▂  $1.20 .. $4.00
    phase    BLLLOOOO
    applied      ^ ^v
    events    s  d  F
    rebase      C            (only when the model learned again after a change)

Only the last `width` runs fit; the header says how many were left out. The
runtime row names the mean cluster setup the model adds to its predictions (`setup_mean_s`).
A run Trimtab could not price is a gap (`GAP`) in the cost row, whose range is
the priced runs' and says how many were not priced: an unknown cost is not $0.
"N/M met" counts the runs judged: a run whose runtime has no setup in it (`w`) and is
within the SLA is neither met nor missed (`server.timeline.met_sla`), and is counted apart.
Each run is judged against the SLA in force when it was collected: runs of an SLA since changed
are counted apart, after the SLA now ("; earlier runs 9/9 met 10m00s, the SLA then").
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from models.setup import RECENT
from server.render.fmt import NOT_PRICED, counted, duration, money, sla_text
from server.timeline import REVERTED, WITHOUT_SETUP, ProjectTimeline, TimelinePoint

BLOCKS = "▁▂▃▄▅▆▇█"
PHASE_LETTERS = {"baseline": "B", "learning": "L", "optimizing": "O", "monitoring": "M"}
ANOMALY_LETTERS = {"spot_loss": "s", "data_growth": "d", "failure": "F", "launch_failed": "c", "user_edit": "e",
                   "driver_lost": "D", "out_of_memory": "o", "retried": "r", "repaired": "R", "repaired_elsewhere": "R", "unpriced": "u", "timeout": "t",
                   "execution_only": "w"}
# The letter of a rebase (the model learns again from that run), by its kind (`server.timeline.REBASE_LABELS`).
REBASE_LETTERS = {"code_change": "C", "input_shift": "I", "runtime_regression": "S"}
# The column of a value not known (an unpriced run's cost): not a space, so the row keeps one
# character per run, and not a block, which would read as a cost.
GAP = "·"


def spark(values: Sequence[float | None], top: float) -> str:
    """Block characters scaled to ``top`` (so runtime bars and the SLA share a scale); `GAP` for None."""
    def block(v: float) -> str:
        if top <= 0:
            return BLOCKS[0]
        return BLOCKS[min(len(BLOCKS) - 1, max(0, round(v / top * (len(BLOCKS) - 1))))]
    return "".join(GAP if v is None else block(v) for v in values)


# Short lines, not one of ~330 characters that a terminal wraps mid-word.
LEGEND = ("         phase: B baseline (as found)  L learning  O optimizing  M monitoring\n"
          "         ^ recommendation applied  v reverted\n"
          "         rebase (learning again from that run): C code change  I input size shift  "
          "S runtime regression\n"
          "         run: s spot loss  d data growth  F failure  c launch failure  o out of memory\n"
          f"              e user edit  D driver lost  r task retried  R repaired  w {WITHOUT_SETUP}  u not priced  ? other")


def setup_mean_s(points: Sequence[TimelinePoint]) -> float | None:
    """The cluster setup the model adds to every prediction, as its reasons say it ("~219s cluster
    setup"): the mean over the latest `models.setup.RECENT` succeeded runs that report one inside
    their runtime (`models.setup.estimate`, whose waits for other clusters' tasks the reasons name
    apart). A median here read "setup ~3m36s" beside a reason's 219s. A failed run's figure is left
    out, as the model leaves it: its cluster may never have come up (a launch failure reports 0 s)."""
    seen = [p.setup_s for p in points if p.outcome == "succeeded" and not p.execution_only
            and p.setup_s is not None and 0.0 <= p.setup_s < p.runtime_s][-RECENT:]
    return fmean(seen) if seen else None


def sla_summary(timeline: ProjectTimeline) -> str:
    """The runtime row's SLA note: the runs judged against the SLA now, then apart the runs judged
    against an earlier one, in force when they were collected ("SLA 7m30s: 17/18 met; earlier runs
    9/9 met 10m00s, the SLA then"); "" when no run had an SLA."""
    before = timeline.judged_before
    if timeline.sla_seconds is None and not before:
        return ""
    under = [p for p in timeline.points if timeline.sla_of(p) is not None]
    unknown = sum(1 for p in under if timeline.sla_met(p) is None)
    if timeline.sla_seconds is None:
        note = "  no SLA now"
    else:
        now = [v for v in (timeline.sla_met(p) for p in under if timeline.sla_of(p) == timeline.sla_seconds)
               if v is not None]
        note = f"  SLA {sla_text(timeline.sla_seconds, timeline.working_sla_seconds)}: {sum(now)}/{len(now)} met"
    if before:
        counts = ", ".join(f"{met}/{judged} met {duration(sla)}" for sla, (met, judged) in before.items())
        note += f"; earlier runs {counts}, the SLA{'s' if len(before) > 1 else ''} then"
    if unknown:
        note += f", {unknown} unknown ({WITHOUT_SETUP})"
    return note


def render_terminal(timeline: ProjectTimeline, width: int = 72, legend: bool = True) -> str:
    points = timeline.points
    title = timeline.title or "timeline"
    if not points:
        return f"{title}: no runs yet"
    offset = max(0, len(points) - width)
    shown = points[offset:]
    header = f"{title}  ({counted(len(points), 'run')}"
    header += f", last {len(shown)} shown)" if offset else ")"
    runtimes = [p.runtime_s for p in shown]
    costs = [p.known_cost for p in shown]
    priced = [c for c in costs if c is not None]
    lines = [header]
    sla_note = sla_summary(timeline)
    setup = setup_mean_s(points)
    setup_note = f" (mean setup {duration(setup)})" if setup is not None else ""
    # The range leaves out runs that never started (0 s), unless no run did.
    ran = [r for r in runtimes if r > 0] or runtimes
    lines.append(f"runtime  {spark(runtimes, timeline.max_runtime_s)}  "
                 f"{duration(min(ran))} .. {duration(max(ran))}{setup_note}{sla_note}")
    # The range is the priced runs' alone: an unpriced run's placeholder 0 would pass for the cheapest.
    if priced:
        unpriced = len(costs) - len(priced)
        cost_note = f"{money(min(priced), timeline.currency)} .. {money(max(priced), timeline.currency)}"
        cost_note += f" ({unpriced} {NOT_PRICED})" if unpriced else ""
    else:
        cost_note = NOT_PRICED
    lines.append(f"cost     {spark(costs, max(priced, default=0.0))}  {cost_note}")
    lines.append("phase    " + "".join(PHASE_LETTERS.get(p.phase, "?") for p in shown))
    marked = {m.index - offset for m in timeline.markers if m.index >= offset}
    # A revert on the apply row, where the job went back (`server.timeline.REVERTED`), not among the events.
    back = {i for i, p in enumerate(shown) if REVERTED in p.anomalies}
    lines.append(("applied  " + "".join("^" if i in marked else "v" if i in back else " "
                                        for i in range(len(shown)))).rstrip())
    events = [" "] * len(shown)
    for note in timeline.annotations:
        if note.index >= offset and note.kind != REVERTED:
            # One letter per column: the most serious anomaly wins (failure over the rest). "Not
            # priced" yields to every other: the cost row's gap already shows it.
            letter = ANOMALY_LETTERS.get(note.kind, "?")
            column = note.index - offset
            if events[column] != "F" and (letter != "u" or events[column] == " "):
                events[column] = letter
    lines.append(("events   " + "".join(events)).rstrip())
    shown_rebases = [m for m in timeline.rebases if m.index >= offset]
    if shown_rebases:
        # A row of its own: a change of the workload is no anomaly of one run, and a learning band
        # after an optimizing one reads as the model's whim without it.
        marks = [" "] * len(shown)
        for m in shown_rebases:
            marks[m.index - offset] = REBASE_LETTERS.get(m.kind, "?")
        lines.append(("rebase   " + "".join(marks)).rstrip())
    if legend:
        lines.append(LEGEND)
    return "\n".join(lines)
