"""What one import keeps across its jobs and its calls: the READ it gave run-as principals on the agent
token's scope (`_SecretReads`), taken back for those whose jobs it left as found (`_release_refused`), and
what a call of an import split into calls hands the next (`ImportCarry`).

Split from `server.services.job_import`, which re-exports `ImportCarry`.
"""

from __future__ import annotations

import dataclasses
import logging

from server.databricks import DatabricksCallError, DatabricksGateway
from server.domain import Workspace
from server.onboard import AgentWiring
from server.services.agent_install import release_secret_reads
from server.store import Store

log = logging.getLogger("server.services.workspaces")  # split from it: its log lines keep their name


@dataclasses.dataclass
class ImportCarry:
    """What one call of an import split into calls hands the next (`import_jobs`' ``carry``): kept by the
    client between calls in the page token (`server.services.import_pages`), updated by each call."""

    # The person named the jobs (`--job`): a job not found is their typo, and detached projects are
    # re-attached. Whether the later calls' ids were named is only known from here.
    named: bool
    # How many jobs the whole import covers: set by its first call (the jobs named, or listed).
    total: int = 0
    # The run-as principals this import put READ for on the agent token's scope (`_SecretReads.granted`).
    granted: set[str] = dataclasses.field(default_factory=set)
    # This import wrote the token secret whatever it held (--take-over, or a job taken back): it holds this
    # database's token now, so a later call writes none over it again.
    rewritten: bool = False


@dataclasses.dataclass
class _SecretReads:
    """What one import did about READ on the agent token's scope, kept across its pass over the jobs."""

    # Run-as principal -> None (it can read: granted now or found holding a permission) or why not.
    answers: dict[str, str | None] = dataclasses.field(default_factory=dict)
    # Those this import put the READ for: the only ones it may take back.
    granted: set[str] = dataclasses.field(default_factory=set)
    # Job id -> (its run-as, whether its clusters may reference the secret: onboarded, written and not put
    # back as found, or the outcome unknown).
    jobs: dict[int, tuple[str, bool]] = dataclasses.field(default_factory=dict)
    # The jobs whose jobs/update was written and not written back as found (`_onboard_job`).
    written: set[int] = dataclasses.field(default_factory=set)

    def refused(self) -> set[str]:
        """The principals this import granted whose every job it tried was left as found."""
        needed = {p for p, kept in self.jobs.values() if kept}
        return {p for p, kept in self.jobs.values() if not kept and p in self.granted} - needed


def _release_refused(store: Store, gateway: DatabricksGateway, ws: Workspace, wiring: AgentWiring,
                     reads: _SecretReads) -> None:
    """Take back the READ ``reads`` gave to principals whose jobs the import then left as found, unless a
    project of the workspace needs it (`release_secret_reads`); logged, never raised: the import's own
    outcome, or the error that stopped it, is what the caller gets."""
    refused = reads.refused()
    if not refused:
        return
    try:
        release_secret_reads(store, gateway, ws, wiring.secret_scope, refused, made=reads.granted)
    except DatabricksCallError as err:
        log.warning("workspace %s: READ on secret scope %s given to %s for jobs not imported was not taken "
                    "back (%s): a manager of the scope can run `databricks secrets delete-acl %s PRINCIPAL`",
                    ws.name, wiring.secret_scope, ", ".join(sorted(refused)), err, wiring.secret_scope)
