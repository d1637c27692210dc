"""Cloud billing credentials given to `workspace add`/`set`: tried with one bill read before they are
stored, and the outcome recorded as the workspace's last bill read (`workspace show` says it).

Refused by the cloud (definite: wrong keys, a scope without a role, no Cost Explorer permission),
nothing is stored and the call fails naming ``--skip-billing-check``; not answered (it may pass),
they are stored and the reply warns (`billing_warning`). See server/costing/README.md.
"""

from __future__ import annotations

import logging

from server.clock import Clock
from server.clouds.factory import BillingCheck, check_billing_credentials
from server.domain import Workspace
from server.errors import FailedPrecondition
from server.store import Store

log = logging.getLogger(__name__)

SKIP_FLAG = "--skip-billing-check"


def try_billing_credentials(name: str, cloud: str, cloud_credentials_json: str, clock: Clock,
                            verb: str) -> BillingCheck:
    """One bill read with the credentials given, within `BILLING_CHECK_TIMEOUT_S`: `FailedPrecondition`
    ("workspace NAME not VERB: ...") when the cloud refuses them (wrong keys, a subscription or scope
    they have no role on, no Cost Explorer permission): definite, and stored they would only fail every
    re-costing pass, said in a log line and each run's note. Not answered (a timeout, the network, a
    5xx) may pass: the check is returned for the caller to store them and record it."""
    check = check_billing_credentials(cloud, cloud_credentials_json, now_ms=clock.now_ms())
    if check.refused:
        raise FailedPrecondition(f"workspace {name!r} not {verb}: the {cloud} billing API refused the cloud "
                                 f"credentials: {check.why}. Correct them, or store them anyway with {SKIP_FLAG} "
                                 "(runs keep catalog estimates until a bill read works)")
    if not check.ok:
        log.warning("workspace %s: billing credentials not confirmed (stored anyway): %s", name, check.why)
    return check


def record_check(store: Store, workspace: Workspace, credentials: str | None, check: BillingCheck | None,
                 clock: Clock) -> Workspace:
    """``workspace`` with the check of the ``credentials`` just stored recorded as its last bill read."""
    if credentials is None or check is None:
        return workspace
    now = clock.now_ms()
    store.workspaces.record_bill_read(workspace.name, credentials, ok_at_ms=now if check.ok else None,
                                      failed_at_ms=None if check.ok else now, error=check.why)
    return store.workspaces.get(workspace.name)


def billing_warning(workspace: Workspace) -> str:
    """What to warn of after credentials were stored and tried: the read failed and none worked since."""
    if workspace.bill_read_failed_at_ms is None or workspace.bills_read_at_ms is not None:
        return ""
    return (f"the billing credentials were stored but not confirmed: {workspace.bill_read_error}. Re-costing "
            "tries them again; `trimtab workspace show` says when a bill read works")
