"""ListApplications: the Spark applications received from agents, newest start first, in pages, by
run, by cluster, or only those not tied to a run.

A page token names the page's last application and the filters it was listed with, so the next
page starts right after it (applications received meanwhile neither repeat nor shift a page), and a
token of another filter's listing is refused rather than continued from wherever it falls.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from server.domain import Application
from server.errors import InvalidArgument, NotFound
from server.services.runs import DEFAULT_PAGE, MAX_PAGE, run_id_of
from server.store import Store


@dataclass(frozen=True)
class AppFilter:
    """What a listing keeps: applications of one run (its Trimtab id), of one Databricks cluster, or
    none tied to a run ("" and False: any)."""

    run_id: str = ""
    cluster_id: str = ""
    unassigned: bool = False

    def key(self) -> list[str | bool]:
        return [self.run_id, self.cluster_id, self.unassigned]


def list_applications(store: Store, limit: int = 0, page_token: str = "",
                      wanted: AppFilter = AppFilter()) -> tuple[list[Application], str]:
    """A page of applications, newest start first, and the next page's token ("" on the last page)."""
    if limit < 0:
        raise InvalidArgument("limit: must not be negative")
    if wanted.run_id and wanted.unassigned:
        raise InvalidArgument("run_id and unassigned: give one, not both (unassigned lists the applications "
                              "tied to no run)")
    run_id = _run(store, wanted.run_id) if wanted.run_id else None
    size = min(limit or DEFAULT_PAGE, MAX_PAGE)
    after = _after(store, page_token, wanted) if page_token else None
    apps = store.applications.list(limit=size + 1, cluster_id=wanted.cluster_id or None,
                                   unassigned=wanted.unassigned, run_id=run_id, after=after)
    if len(apps) <= size:
        return apps, ""
    apps = apps[:size]
    return apps, _token(apps[-1].application_id, wanted)


def _run(store: Store, run_id: str) -> int:
    """The run ``run_id`` names (NotFound for none, as GetRun says it)."""
    found = run_id_of(run_id, "run_id")
    return int(store.runs.get(found).id or found)


def _token(application_id: str, wanted: AppFilter) -> str:
    text = json.dumps({"a": application_id, "f": wanted.key()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(store: Store, page_token: str, wanted: AppFilter) -> tuple[int, str]:
    """Where the page after ``page_token`` starts: its application's (start, id). A token that does
    not read, names no application, or came from another filter's listing is refused."""
    never = InvalidArgument("page_token: not a token this server issued")
    try:
        raw = base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error):
        raise never from None
    if not isinstance(data, dict) or not isinstance(data.get("a"), str):
        raise never
    if data.get("f") != wanted.key():
        raise InvalidArgument("page_token: not a token of this listing (a token continues the listing with the "
                              "same run_id, cluster_id and unassigned it came from; start again without page_token)")
    try:
        app = store.applications.get(data["a"])
    except NotFound:
        raise never from None
    return app.start_time_ms, app.application_id
