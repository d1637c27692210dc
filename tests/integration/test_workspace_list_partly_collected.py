"""``trimtab workspace list`` points to a workspace whose status is ``ok`` while some of its jobs are
not collected (a job failing on its own, a project locked by another server or session: review F4):
the collector keeps the status ``ok`` (the workspace answers) and names those jobs in ``last_error``,
which only ``workspace show`` printed, so the list said ``ok`` and nothing else. On SQLite and
PostgreSQL, through the real gRPC server."""

from __future__ import annotations

from collections.abc import Callable

from server.domain import Workspace
from server.store import Store

NOTE = ("project sbx/7/main (job 7) not collected: locked by another Trimtab server or database session since "
        "2026-12-07 08:15 UTC (3 polls): pg_advisory_lock(1414819946, 1); its runs are collected once it is released")


def test_workspace_list_points_to_an_ok_workspace_with_jobs_not_collected(
        store: Store, trimtab: Callable[..., tuple[int, str, str]]) -> None:
    store.workspaces.add(Workspace(name="sbx", host="http://127.0.0.1:9", cloud="aws"), "enc")
    store.workspaces.add(Workspace(name="quiet", host="http://127.0.0.1:8", cloud="aws"), "enc")
    store.workspaces.set_status("sbx", "ok", NOTE)
    code, out, err = trimtab("workspace", "list")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert code == 0 and "ok" in rows["sbx"]  # the table keeps its shape
    (said,) = [line for line in err.splitlines() if "some jobs" in line]
    assert said == ("workspace(s) sbx: some jobs are not collected or cannot start: `trimtab workspace show <name>` "
                    "says which and why")
    assert "not collecting from" not in err
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert code == 0 and f"error:       {NOTE}" in out.splitlines()

    store.workspaces.set_status("sbx", "ok", "")  # collected again: the note went
    code, _, err = trimtab("workspace", "list")
    assert code == 0 and "some jobs" not in err
