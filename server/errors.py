"""One error base for the whole server.

Service and store code raise these; `server/api/errors.py` maps ``code`` to a
``grpc.StatusCode`` in one place, so no servicer deals with status codes. The
codes are the gRPC names, which keeps the mapping a lookup and lets the CLI
print them as users see them elsewhere.
"""

from __future__ import annotations


class TrimtabError(Exception):
    """Base of every error the server reports to a caller.

    ``retry_after_ms`` (only for retryable errors) is a hint sent to the
    client in trailing metadata as ``retry-after-ms``. ``reason`` (one of `REASONS`) is the
    machine-readable why, sent as ``trimtab-reason`` with ``recommendation_id`` as
    ``trimtab-recommendation-id``: a client whose reply was lost tells its own write, done, from a
    conflict by it rather than by the message's words (docs/team-contracts.md).
    """

    code: str = "INTERNAL"

    def __init__(self, message: str, *, retry_after_ms: int | None = None, reason: str = "",
                 recommendation_id: int | None = None) -> None:
        super().__init__(message)
        assert not reason or reason in REASONS, reason
        self.message = message
        self.retry_after_ms = retry_after_ms
        self.reason = reason
        self.recommendation_id = recommendation_id


# The write asked for is already done: the recommendation is in the state the call would have put it
# in (a repeat after a lost reply), unlike a conflict, which has no reason.
ALREADY_APPLIED = "ALREADY_APPLIED"
ALREADY_REJECTED = "ALREADY_REJECTED"
ALREADY_REVERTED = "ALREADY_REVERTED"
REASONS = frozenset({ALREADY_APPLIED, ALREADY_REJECTED, ALREADY_REVERTED})


class NotFound(TrimtabError):
    code = "NOT_FOUND"


class InvalidArgument(TrimtabError):
    code = "INVALID_ARGUMENT"


class AlreadyExists(TrimtabError):
    code = "ALREADY_EXISTS"


class PermissionDenied(TrimtabError):
    code = "PERMISSION_DENIED"


class Unauthenticated(TrimtabError):
    code = "UNAUTHENTICATED"


class FailedPrecondition(TrimtabError):
    code = "FAILED_PRECONDITION"


class ResourceExhausted(TrimtabError):
    code = "RESOURCE_EXHAUSTED"


class Unavailable(TrimtabError):
    """The database (or another dependency) is down or busy: retry later."""

    code = "UNAVAILABLE"


class Cancelled(TrimtabError):
    """The caller's call ended (its deadline passed, or it went away) before the work was done: the
    work stopped, as nobody will read its answer."""

    code = "CANCELLED"


# How much of a value a message repeats: enough to spot a typo, while a 100k-character value sent
# by mistake does not make a 100k-character message (the API caps messages too: server.api.errors).
SHOWN_CHARS = 80


def shown(value: str, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)``, cut to its first `limit` characters with its length when longer."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} chars)"
