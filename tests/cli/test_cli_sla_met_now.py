"""`project list`, `project show` and the dashboard say the SLA-met share against the SLA they show
beside it (long-history review, 2026-12-07): a project at SLA 50m whose runs met 1h and 40m had "SLA 50m00s,
SLA MET 37%" while none of its runs since 50m was set met it. The share against each run's own SLA is kept
(and named) where runs were held to an earlier SLA."""

from __future__ import annotations

import json

from server.dashboard.pages import projects_page
from server.dashboard.views import project_rows
from server.store import Store
from server.timeline import SlaShare, sla_share
from tests.cli.conftest import Trimtab
from tests.cli.test_cli_run_sla_then import _add, _story


def test_the_share_now_counts_only_runs_judged_against_todays_sla() -> None:
    runs = [("succeeded", 480.0, 600.0, False), ("succeeded", 660.0, 600.0, False), ("succeeded", 500.0, 600.0, False),
            ("succeeded", 240.0, 300.0, False), ("failed", 100.0, 300.0, False), ("succeeded", 360.0, None, False)]
    share = sla_share(runs, 300.0)
    assert share == SlaShare(every=3 / 6, now=1 / 3, now_judged=3, earlier_judged=3)
    # Every run under today's SLA: the two shares are one.
    assert sla_share(runs[3:], 300.0) == SlaShare(every=1 / 3, now=1 / 3, now_judged=3, earlier_judged=0)
    # SLA cleared: runs keep their day's verdict; none is judged against "no SLA".
    assert sla_share(runs, None) == SlaShare(every=3 / 5, now=None, now_judged=0, earlier_judged=5)


def test_project_list_and_show_give_the_share_against_todays_sla(trimtab: Trimtab, cli_store: Store) -> None:
    project, _runs = _story(cli_store, trimtab)  # 10m: met, missed; then 5m: met, missed
    _add(cli_store, project, 5, 200.0, 300.0)  # 5m: met -> 2 of 3 now, 3 of 5 in all
    code, out, err = trimtab("project", "list")
    assert code == 0, err
    (row,) = [line for line in out.splitlines() if line.split() and line.split()[0] == str(project.id)]
    assert " 67%* " in row, out
    assert "* SLA MET counts the runs since the SLA became what the SLA column shows" in out
    code, out, err = trimtab("project", "show", str(project.id))
    assert code == 0, err
    assert "67% of 3 runs under today's SLA; 60% of all 5 against the SLA of their day" in out, out
    code, out, _ = trimtab("--json", "project", "show", str(project.id))
    shown = json.loads(out)
    assert (shown["sla_met_fraction"], shown["sla_met_fraction_now"]) == (0.6, 2 / 3)
    assert (shown["sla_now_judged"], shown["sla_earlier_judged"]) == (3, 2)
    (row_page,) = project_rows(cli_store)
    assert row_page.sla_met == SlaShare(every=0.6, now=2 / 3, now_judged=3, earlier_judged=2)
    page = projects_page([row_page])
    assert "5m00s: 67% met" in page and "(3 runs since it was set; 60% of all against the SLA of their day)" in page


def test_back_to_an_earlier_sla_its_runs_count_again(trimtab: Trimtab, cli_store: Store) -> None:
    project, _ = _story(cli_store, trimtab)
    code, out, _ = trimtab("project", "set", str(project.id), "--sla", "10m")
    assert code == 0
    code, out, _ = trimtab("project", "show", str(project.id))
    # Runs 1-2 were held to 10m (1 met), runs 3-4 to 5m (1 met).
    assert "50% of 2 runs under today's SLA; 50% of all 4 against the SLA of their day" in out, out
