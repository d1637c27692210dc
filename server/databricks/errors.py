"""What can go wrong talking to a workspace, in Trimtab's words.

The gateway turns every databricks-sdk error into one of these, so nothing
outside ``server/databricks`` needs to know the SDK's exception tree.
"""

from __future__ import annotations

from server.errors import TrimtabError


class DatabricksCallError(TrimtabError):
    """A Databricks call failed; ``code`` is the gRPC-style status name the servicers map."""

    code = "INTERNAL"


class WorkspaceAuthError(DatabricksCallError):
    """The workspace refused the token (revoked, expired or lacking permission).

    Retrying cannot help: every call on the workspace stops with this one error
    until a new token is set.
    """

    code = "FAILED_PRECONDITION"


class DatabricksNotFound(DatabricksCallError):
    """The job, run or cluster does not exist (deleted, or purged after 30 days)."""

    code = "NOT_FOUND"


class DatabricksRejected(DatabricksCallError):
    """The workspace rejected the request itself (a bad spec, an invalid parameter)."""

    code = "INVALID_ARGUMENT"


class DatabricksUnavailable(DatabricksCallError):
    """Rate limited or failing with 5xx past the retry deadline, or not reachable."""

    code = "UNAVAILABLE"


class DatabricksServerError(DatabricksUnavailable):
    """The workspace answered, but with a 5xx (500, 502, 504) past the retries. Unlike a connection
    that fails, or a 429/503 (the workspace's own load), it may be one resource's trouble: a job
    whose ``jobs/get`` keeps failing while every other call works. Still a `DatabricksUnavailable`,
    so a caller that does not tell them apart treats it as before."""


class WorkspaceUnreachable(DatabricksUnavailable):
    """A workspace the collector already found unreachable still does not answer a short probe: a
    person's call is refused at once (FAILED_PRECONDITION) rather than spending its retry budget.
    Still a `DatabricksUnavailable`, so auto-import rests the workspace as for any outage instead of
    taking it for one job's failure (which would not be tried again until the job changed)."""

    code = "FAILED_PRECONDITION"


class DatabricksRequestInvalid(DatabricksCallError):
    """The request could not even be sent: the HTTP stack refused the host or a header (a host name
    label too long, a token with characters a header cannot carry). Sending it again fails the same
    way, so it is never retried; it is about the workspace's settings, not the server."""

    code = "FAILED_PRECONDITION"
