"""The workspace's health note when Trimtab's own init script fails its clusters at start.

A cluster whose init script is Trimtab's and fails (replaced, removed, refused by the runtime) fails
every run of its job alike, whatever the configuration: the run is labelled ``launch_failed`` and its
message says so (`server.collect.own_script`), but only someone who opened that run saw it, and
`trimtab workspace list`/``show`` said the workspace was fine. Now, while a project's newest run
failed on Trimtab's script, the workspace's ``last_error`` (status ``ok``, as a failing job's note:
`server.collect.job_trouble`) names the script, the projects it stops, and the fix; the project's next
run that gets past the script clears it.

Kept in memory from the runs each poll collects, and read from the store (each project's newest run)
at the collector's first poll of the workspace, so a restart does not forget it; an idle poll costs
no query. Only the collector's poll thread uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from server.collect.own_script import failed_script_of, own_script_fix
from server.domain import Project, Run
from server.render.fmt import cut
from server.render.workspace_text import OWN_SCRIPT_NOTE_MARK
from server.store import Store

NOTE_CHARS = 1000
PROJECTS_NAMED = 5  # per script; the rest are counted


@dataclass(frozen=True)
class _Stopped:
    script: str
    start_ms: int  # the failed run's start: a run collected later but started before it says nothing newer


def failed_on_own_script(run: Run) -> str:
    """The destination of Trimtab's init script that failed ``run``'s cluster, "" for any other run."""
    return failed_script_of(run.message) if "launch_failed" in run.anomalies else ""


class OwnScriptFailures:
    """Per workspace, the projects whose newest run failed on Trimtab's init script."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stopped: dict[str, dict[int, _Stopped]] = {}  # workspace -> project id -> its newest run's failure

    def _of(self, workspace: str, projects: Sequence[Project]) -> dict[int, _Stopped]:
        stopped = self._stopped.get(workspace)
        if stopped is None:
            newest = self._store.runs.newest_ids([int(p.id) for p in projects if p.id is not None])
            stopped = self._stopped[workspace] = {
                run.project_id: _Stopped(script, run.start_ms)
                for run in self._store.runs.by_ids(newest.values()) if (script := failed_on_own_script(run))}
        return stopped

    def note(self, workspace: str, projects: Sequence[Project], collected: Iterable[Run]) -> str:
        """The note after this poll's ``collected`` runs ("" when no project of ``projects`` is stopped),
        e.g. ``Trimtab's init script /Shared/trimtab/trimtab-init.sh fails clusters at start: the newest run
        of sbx/12/main (job 12) failed on it; `trimtab workspace import sbx` uploads it again``."""
        stopped = self._of(workspace, projects)
        for run in sorted(collected, key=lambda r: r.start_ms):
            before = stopped.get(run.project_id)
            if before is not None and run.start_ms < before.start_ms:
                continue
            script = failed_on_own_script(run)
            if script:
                stopped[run.project_id] = _Stopped(script, run.start_ms)
            else:
                stopped.pop(run.project_id, None)
        by_id = {int(p.id): p for p in projects if p.id is not None}
        for gone in [pid for pid in stopped if pid not in by_id]:  # detached, orphaned, removed
            del stopped[gone]
        failing: dict[str, list[Project]] = {}
        for project_id, s in stopped.items():
            failing.setdefault(s.script, []).append(by_id[project_id])
        parts = []
        for script, projects_stopped in sorted(failing.items()):
            named = ", ".join(f"{p.name} (job {p.job_id})" for p in projects_stopped[:PROJECTS_NAMED])
            more = f" and {len(projects_stopped) - PROJECTS_NAMED} more" if len(projects_stopped) > PROJECTS_NAMED else ""
            parts.append(f"Trimtab's init script {script} {OWN_SCRIPT_NOTE_MARK}the newest run of {named}{more} "
                         f"failed on it; {own_script_fix(script, workspace)}")
        return cut("; ".join(parts), NOTE_CHARS, on_word=True) if parts else ""
