"""A person's import of a workspace's jobs, split into calls that each fit a deadline.

One `import_jobs` over 1,500 jobs makes some 7,500 Databricks calls: minutes on loopback, far past the
CLI's 10-minute deadline against a real workspace (100-300 ms a call), and the person saw only
DEADLINE_EXCEEDED with the import half done. A paged import (`ImportJobsRequest.paged`) starts jobs for
`Integration.import_page_s` per call (the first job of a call always goes, so every call gets
somewhere), answers what it did and a page token holding the rest; the client calls again with it.

The token carries the jobs not reached and what the import did for the whole workspace (`ImportCarry`):
whether the person named the jobs (only then are detached projects re-attached and a job not found a
failure: a later call's ids are the first call's, named or listed), the principals it granted READ on the
agent token's scope, and whether it wrote the token secret over whatever it held (--take-over). What
each call does again is idempotent: the token secret is checked and not rewritten, the init script and
the agent wheel are uploaded again (a few calls), the allowlist is read again when a job needs it.
The token is encrypted with the server's secret key: opaque, and not made up or altered by a client
(the principals it names are ones whose READ Trimtab may take back later).

A call without ``paged`` (every client before paging) imports everything in that one call, as before: a
script that does not continue never gets a partial import.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import zlib

from server.domain import ImportLimits, ImportResult
from server.errors import InvalidArgument
from server.services.job_import import ImportCarry, import_jobs
from server.services.secrets import SecretBox
from server.services.workspace_access import _integration
from server.store import Store

# The token's layout; a token of another layout (a server of another version) is refused, not misread.
_TOKEN_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ImportPage:
    """One call's part of an import: what it did, and how to go on."""

    result: ImportResult
    # "" once every job was reached.
    next_page_token: str
    total: int
    remaining: int


def import_page(store: Store, secrets: SecretBox, workspace: str, job_ids: list[int], dry_run: bool, *,
                take_over: bool, paged: bool, page_token: str, stop: threading.Event | None = None) -> ImportPage:
    """The next part of a person's import of ``workspace``: all of it unless ``paged`` or ``page_token``;
    ``stop``: the caller's call ended (`import_jobs`)."""
    # As stored, whatever the case typed (`SB` for `sb`): a page token names the workspace it continues.
    workspace = store.workspaces.stored_name(workspace) or workspace
    if page_token:
        if not paged:
            # Continued all the same, the call imported one page only and left the rest to a caller
            # that, not asking for pages, does not read next_page_token: a partial import it never sees.
            raise InvalidArgument("page_token continues a paged import: send paged=true with it (or neither, "
                                  "for the whole import in one call)")
        if job_ids:
            raise InvalidArgument("job_ids must be empty with a page_token: the token holds the jobs left to import")
        ids, carry = _read_token(secrets, page_token, workspace, dry_run, take_over)
    else:
        # Dropped twice named jobs would count twice in the total: import_jobs imports a job once too.
        ids, carry = list(dict.fromkeys(job_ids)), ImportCarry(named=bool(job_ids))
    limits = None
    if paged or page_token:
        clock = _integration.clock
        limits = ImportLimits(clock.monotonic, clock.monotonic() + _integration.import_page_s, keep_going=False)
    result = import_jobs(store, secrets, workspace, ids, dry_run, reattach=carry.named, take_over=take_over,
                         limits=limits, carry=carry, stop=stop)
    remaining = list(result.deferred)
    token = _write_token(secrets, workspace, dry_run, take_over, remaining, carry) if remaining else ""
    return ImportPage(result, token, carry.total, len(remaining))


def _write_token(secrets: SecretBox, workspace: str, dry_run: bool, take_over: bool, ids: list[int],
                 carry: ImportCarry) -> str:
    state = {"v": _TOKEN_VERSION, "workspace": workspace, "dry_run": dry_run, "take_over": take_over, "ids": ids,
             "named": carry.named, "total": carry.total, "granted": sorted(carry.granted),
             "rewritten": carry.rewritten}
    # Compressed first: 1,500 job ids of 15 digits are ~25 KB of JSON, under half that compressed.
    packed = base64.urlsafe_b64encode(zlib.compress(json.dumps(state, separators=(",", ":")).encode()))
    return secrets.encrypt(packed.decode())


def _read_token(secrets: SecretBox, token: str, workspace: str, dry_run: bool,
                take_over: bool) -> tuple[list[int], ImportCarry]:
    if not secrets.can_decrypt(token):
        raise InvalidArgument("page_token is not one this server issued (another server's, or altered): "
                              "start the import again without it")
    try:
        state = json.loads(zlib.decompress(base64.urlsafe_b64decode(secrets.decrypt(token))))
        if state.get("v") != _TOKEN_VERSION:
            raise ValueError(f"layout {state.get('v')!r}")
        ids = [int(i) for i in state["ids"]]
        carry = ImportCarry(named=bool(state["named"]), total=int(state["total"]),
                            granted={str(p) for p in state["granted"]}, rewritten=bool(state["rewritten"]))
        first = (str(state["workspace"]), bool(state["dry_run"]), bool(state["take_over"]))
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise InvalidArgument(f"page_token cannot be read ({exc}): start the import again without it") from exc
    # The first call's choices hold for the whole import: a dry run continued for real would write the
    # jobs the person only looked at, and a --take-over continued without it would skip half of them.
    for field, given, was in (("workspace", workspace, first[0]), ("dry_run", dry_run, first[1]),
                              ("take_over", take_over, first[2])):
        if given != was:
            raise InvalidArgument(f"{field} must be sent as in the call that began the import ({was!r}, not "
                                  f"{given!r}): a page_token continues that import")
    if not ids:
        raise InvalidArgument("page_token holds no job left to import: the import is done")
    return ids, carry
