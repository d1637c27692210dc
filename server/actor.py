"""Who a change to a job is made for: the admin token a gRPC call authenticated with, for the record of an
apply or a revert (`applied_by`, `reverted_by`) and the log line that names it.

Set around the handler by `server.api.auth.AuthInterceptor` (on the handler's own thread), read where the
change is recorded: passing it down through every service and apply function would reach places that only
pass it on. Trimtab's own changes (auto-apply after a run, or after a settings change) are `AUTO`, said
by the caller that makes them, not read from here."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

AUTO = "auto"

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("trimtab_actor", default="")


def token_actor(name: str, token_id: str) -> str:
    """An admin token as a record names it: its name and its id (names are not unique; never `AUTO`)."""
    return f"{name} (token {token_id})"


def actor() -> str:
    """Who the call being handled is for; "" outside an authenticated admin call (a caller in process)."""
    return _actor.get()


@contextmanager
def acting_as(who: str) -> Iterator[None]:
    """`actor` answers ``who`` inside the block."""
    reset = _actor.set(who)
    try:
        yield
    finally:
        _actor.reset(reset)
