"""An auto-apply that failed for a passing reason, and when it is tried again.

Auto-apply writes a recommendation after a run (`server.plan.planner.Planner`). When ``jobs/update``
fails past the gateway's own retries, the job stays on its old cluster. Before, nothing tried again
until the next run ended, so that run (the next night's, for a daily job) ran unchanged. Now a
failure that passes by itself (`transient`: a 5xx, a 429 or 503, a timeout or no connection, the
database or a lock busy; not a refusal such as 400 or 403, which fails the same way every time) is
kept on the project with its next try (`ApplyRetry`, in ``Project.state`` under `APPLY_RETRY_KEY`):
the collector's first poll after `APPLY_RETRY_FIRST_S`, then twice as long each time (at most
`APPLY_RETRY_CAP_S`), `APPLY_RETRIES` times at most, as databricks-sdk backs off within one call.
Tries stop once one succeeds, once a run of the job has started since the failure (it runs the old
cluster; the plan after it applies again), or once the recommendation is no longer the one to write
(applied by hand, superseded, auto-apply turned off or paused). The project's problem says when the
next try is and names ``trimtab recommendation apply PROJECT`` for one now.

Kept in the store, so a restart loses no try; the times are the planner's clock's wall time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from server.clock import Clock
from server.costing.catalog import PriceCatalog
from server.databricks import DatabricksGateway, DatabricksUnavailable
from server.domain import Project, Recommendation, Workspace
from server.errors import FailedPrecondition, NotFound, TrimtabError, Unavailable
from server.plan.problems import PROBLEM_MESSAGE_CHARS, problem_message
from server.render.fmt import cut
from server.store import Store

log = logging.getLogger("server.plan.planner")  # the planner's: its lines, its name

APPLY_RETRY_KEY = "auto_apply_retry"  # the project's ``state`` key of its `ApplyRetry`
APPLY_RETRY_FIRST_S = 60.0  # the first try again comes at the first poll this long after the failure
APPLY_RETRY_CAP_S = 1800.0  # the longest wait between two tries
APPLY_RETRIES = 8  # tries again at most (1+2+4+8+16+30+30+30 minutes: about two hours)


def transient(err: BaseException) -> bool:
    """Whether a failed apply may go through if tried again unchanged: Databricks busy or failing on
    its side, no connection, or the database or a lock busy (`Unavailable`). A refusal (a bad spec,
    no permission, a refused token, the job gone) fails the same way every time."""
    return isinstance(err, DatabricksUnavailable | Unavailable)


@dataclasses.dataclass(frozen=True)
class ApplyRetry:
    """The next try of a failed auto-apply of recommendation ``recommendation_id``."""

    recommendation_id: int
    tries: int  # tries again so far, the coming one included (1: the first retry is next)
    next_at_ms: int  # wall clock: tried at the first collection poll from then on
    after_run_id: int  # the job's newest Databricks run when it failed: a newer one ends the tries
    since_ms: int  # when the first of these failures happened
    error: str  # the latest failure, as the problem says it (`problem_message`)
    over_unconfirmed: bool = False  # written over an apply no run has used (after a settings change)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, state: dict[str, Any]) -> ApplyRetry | None:
        """The retry kept in a project's ``state``; None for none (or anything unreadable: state is free JSON)."""
        data = state.get(APPLY_RETRY_KEY)
        if not isinstance(data, dict):
            return None
        try:
            return cls(recommendation_id=int(data["recommendation_id"]), tries=int(data["tries"]),
                       next_at_ms=int(data["next_at_ms"]), after_run_id=int(data.get("after_run_id") or 0),
                       since_ms=int(data.get("since_ms") or 0), error=str(data.get("error") or ""),
                       over_unconfirmed=bool(data.get("over_unconfirmed", False)))
        except (KeyError, TypeError, ValueError):
            return None

    def message(self, project: str, limit: int) -> str:
        """The problem's message while the retry waits, the error first, cut to leave room for the rest."""
        then = dt.datetime.fromtimestamp(self.next_at_ms / 1000, tz=dt.UTC).strftime("%H:%M")
        rest = (f"a transient failure: tried again at the first collection poll after {then} UTC (retry "
                f"{self.tries} of {APPLY_RETRIES}, until the job's next run starts), or now with "
                f"`trimtab recommendation apply {project}`")
        return f"{cut(self.error, max(80, limit - len(rest) - 2))}; {rest}"


def first_retry(err: BaseException, error: str, *, recommendation_id: int, now_ms: int, after_run_id: int,
                over_unconfirmed: bool) -> ApplyRetry | None:
    """The retry of an auto-apply that has just failed with ``err`` (said ``error``); None when it is
    not `transient`."""
    if not transient(err):
        return None
    return ApplyRetry(recommendation_id, 1, now_ms + _wait_ms(1), after_run_id, now_ms, error, over_unconfirmed)


def next_retry(retry: ApplyRetry, err: BaseException, error: str, now_ms: int) -> ApplyRetry | None:
    """``retry`` after its try failed again with ``err``; None when that was the last try, or a
    refusal that trying again cannot help."""
    if not transient(err) or retry.tries >= APPLY_RETRIES:
        return None
    tries = retry.tries + 1
    return dataclasses.replace(retry, tries=tries, next_at_ms=now_ms + _wait_ms(tries), error=error)


def gave_up(retry: ApplyRetry, error: str, project: str, limit: int) -> str:
    """The problem's message once the last try failed too."""
    since = dt.datetime.fromtimestamp(retry.since_ms / 1000, tz=dt.UTC).strftime("%H:%M")
    rest = (f"still failing after {retry.tries} retries since {since} UTC: `trimtab recommendation apply "
            f"{project}` tries again, or the plan after the job's next run does")
    return f"{cut(error, max(80, limit - len(rest) - 2))}; {rest}"


def stopped(retry: ApplyRetry, why: str, limit: int) -> str:
    """The problem's message once the tries stopped for ``why`` (no longer worth trying)."""
    rest = f"not tried again: {why}"
    return cut(f"{cut(retry.error, max(80, limit - len(rest) - 2))}; {rest}", limit + len(rest))


def _wait_ms(tries: int) -> int:
    return round(min(APPLY_RETRY_CAP_S, APPLY_RETRY_FIRST_S * 2 ** (tries - 1)) * 1000)


class RetriedApplies:
    """`Planner`'s tries again of its failed auto-applies, mixed into it: it reads the planner's store,
    clock, gateways and catalog, keeps problems through its ``_record_problem`` and ``_clear_problem``,
    and asks its ``_held`` why auto-apply may not write a project now. The collector calls
    `retry_applies` each poll, after the workspace's runs are collected (`server.collect.collector`)."""

    _store: Store
    _clock: Clock
    _catalog: PriceCatalog
    _gateway_for: Callable[[Workspace], DatabricksGateway]
    # Told the workspace of each auto-apply that failed, first try or try again (the server's metrics:
    # `ServerMetrics.auto_apply_failed`, which never raises); set before the collector starts.
    on_apply_failed: Callable[[str], None] | None = None

    def _apply_failed(self, project: Project, run_id: int, err: TrimtabError, rec: Recommendation | None, *,
                      after_run_id: int, over_unconfirmed: bool = False) -> None:
        """Keep an auto-apply's failure (after run ``run_id``) on the project, with its next try when
        it may pass (`first_retry`); ``after_run_id``: the job's newest Databricks run then."""
        if self.on_apply_failed is not None:
            self.on_apply_failed(project.workspace)
        error = problem_message(err)
        retry = first_retry(err, error, recommendation_id=int(rec.id or 0), now_ms=self._clock.now_ms(),
                            after_run_id=after_run_id, over_unconfirmed=over_unconfirmed) \
            if rec is not None and rec.id is not None else None
        self._record_problem(int(project.id or 0), run_id, "apply", err, retry=retry,
                             message=retry.message(project.name, PROBLEM_MESSAGE_CHARS) if retry else error)

    def retry_applies(self, projects: Sequence[Project]) -> None:
        """Try again each of ``projects``' failed auto-applies that is due (as read: each is read again
        under its lock before it is tried). Never raises: a project's trouble is kept on it, or logged."""
        now = self._clock.now_ms()
        for project in projects:
            retry = ApplyRetry.of(project.state)
            if retry is None:
                continue
            # One read before its try is due: a recommendation applied by hand meanwhile ends the tries
            # (and the problem) now, not only when the next try would have come.
            if retry.next_at_ms > now and self._is_pending(project, retry):
                continue
            try:
                self._retry_apply(int(project.id or 0))
            except Unavailable as err:  # its lock held elsewhere, or the database busy: the next poll tries
                log.info("project %s: its auto-apply is tried again at a later poll: %s", project.name, err)
            except Exception:  # one project's trouble must not cost the others their try
                log.exception("project %s: trying its auto-apply again failed", project.name)

    def _retry_apply(self, project_id: int) -> None:
        from server import apply  # imports databricks-sdk; see Planner.after_run

        with apply.project_lock(project_id, self._store):  # as every apply: rows are written whole
            project = self._store.projects.get(project_id)
            retry = ApplyRetry.of(project.state)
            if retry is None:
                return  # tried, or planned after a run, since the poll read it
            problem = project.problem
            run_id = problem.run_id if problem is not None else 0
            why = self._moot(project, retry)
            if why is not None:
                if why:
                    self._stop(project, run_id, retry, why)
                return
            if retry.next_at_ms > self._clock.now_ms():
                return
            gateway = self._gateway_for(self._store.workspaces.get(project.workspace))
            try:
                newest = gateway.latest_run_id(project.job_id) or 0
                if newest > retry.after_run_id:
                    self._stop(project, run_id, retry, f"run {newest} started on the cluster as it was, and the "
                                                       "plan after it applies again")
                    return
                apply.apply_recommendation(self._store, gateway, project_id, catalog=self._catalog,
                                           over_unconfirmed=retry.over_unconfirmed)
            except FailedPrecondition as err:  # no longer to be written as it was (an edit adopted, ...)
                log.info("project %s: auto-apply not tried again: %s", project.name, err)
                self._stop(project, run_id, retry, str(err))
                return
            except TrimtabError as err:
                self._failed_again(project, run_id, retry, err)
                return
        log.info("project %s: auto-apply of recommendation %s went through on its retry %d (first failed at "
                 "%s UTC)", project.name, retry.recommendation_id, retry.tries, _hhmm(retry.since_ms))
        self._clear_problem(project_id, self._store.projects.get(project_id), ("apply",))

    def _is_pending(self, project: Project, retry: ApplyRetry) -> bool:
        pending = self._store.recommendations.pending(int(project.id or 0))
        return pending is not None and pending.id == retry.recommendation_id

    def _moot(self, project: Project, retry: ApplyRetry) -> str | None:
        """Why the retry is no longer worth a try (None: it is; "": and its problem is gone too)."""
        if project.detached or project.orphaned:
            return "the project is detached" if project.detached else "the project is orphaned"
        if not project.settings.auto_apply:
            return "auto-apply was turned off"
        if not self._is_pending(project, retry):
            try:
                state = self._store.recommendations.get(retry.recommendation_id).state
            except NotFound:
                return f"recommendation {retry.recommendation_id} is gone"
            if state == "applied":  # by hand (`trimtab recommendation apply`): what the tries were for
                log.info("project %s: recommendation %s was applied meanwhile; its auto-apply is not tried again",
                         project.name, retry.recommendation_id)
                self._clear_problem(int(project.id or 0), project, ("apply",))
                return ""
            return f"recommendation {retry.recommendation_id} is {state} now"
        held = self._held(project)
        return held or None

    def _failed_again(self, project: Project, run_id: int, retry: ApplyRetry, err: TrimtabError) -> None:
        if self.on_apply_failed is not None:
            self.on_apply_failed(project.workspace)
        error = problem_message(err)
        again = next_retry(retry, err, error, self._clock.now_ms())
        if again is not None:
            log.warning("project %s: auto-apply failed again (retry %d of %d), tried again at the first poll "
                        "after %s UTC: %s", project.name, retry.tries, APPLY_RETRIES, _hhmm(again.next_at_ms), err)
            message = again.message(project.name, PROBLEM_MESSAGE_CHARS)
        elif transient(err):
            log.warning("project %s: auto-apply failed again on its last retry (%d), not tried again: %s",
                        project.name, retry.tries, err)
            message = gave_up(retry, error, project.name, PROBLEM_MESSAGE_CHARS)
        else:  # refused outright: kept as any refusal is
            log.warning("project %s: auto-apply refused on its retry: %s", project.name, err)
            message = error
        self._record_problem(int(project.id or 0), run_id, "apply", err, message=message, retry=again)

    def _stop(self, project: Project, run_id: int, retry: ApplyRetry, why: str) -> None:
        """End the tries: the problem stays (the recommendation is not on the job), saying why."""
        log.info("project %s: its failed auto-apply is not tried again: %s", project.name, why)
        problem = project.problem
        self._record_problem(int(project.id or 0), run_id, "apply", RuntimeError(retry.error),
                             message=stopped(retry, why, PROBLEM_MESSAGE_CHARS), retry=None,
                             at_ms=problem.at_ms if problem is not None else None)


def _hhmm(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%H:%M")
