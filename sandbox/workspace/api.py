"""Start and stop an emulated workspace from Python (tests, `trimtab demo`, `sandbox up`)."""

from __future__ import annotations

from pathlib import Path

from sandbox.workspace import allowlists, jobs
from sandbox.workspace.backend import SimBackend
from sandbox.workspace.clock import Clock
from sandbox.workspace.faults import Fault
from sandbox.workspace.job_scheduler import JobScheduler
from sandbox.workspace.seed import seed_jobs
from sandbox.workspace.server import WorkspaceHTTPServer
from sandbox.workspace.state_lock import StateLock, claim
from sandbox.workspace.workspace import RunObserver, Workspace


class RunningWorkspace:
    """A workspace serving HTTP on 127.0.0.1 (port chosen by the OS)."""

    def __init__(self, workspace: Workspace, server: WorkspaceHTTPServer, lock: StateLock | None = None) -> None:
        self.workspace = workspace
        self.server = server
        self._lock = lock
        self._stopped = False

    @property
    def host(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return self.workspace.token

    def add_token(self) -> str:
        return self.workspace.add_token()

    def revoke_token(self, token: str) -> None:
        self.workspace.revoke_token(token)

    def add_service_principal(self, client_id: str | None = None) -> tuple[str, str]:
        """A service principal for OAuth M2M: (client id, client secret) (`sandbox.workspace.oauth`)."""
        return self.workspace.oauth.add_service_principal(client_id)

    def set_oauth_token_lifetime(self, seconds: float) -> None:
        """How long the OAuth access tokens issued from now on last (Databricks': an hour)."""
        self.workspace.oauth.lifetime_s = seconds

    def set_refused_token_status(self, status: int | None) -> None:
        """How a token the workspace does not take (revoked, unknown, an expired OAuth token) is answered:
        403 ``{"error_code": 403, "message": "Invalid access token."}``, 401 ``UNAUTHENTICATED``, or None
        (the default: 403, and 401 for an expired OAuth token). Real workspaces differ."""
        if status not in (None, 401, 403):
            raise ValueError(f"a refused token is answered 401 or 403, not {status}")
        self.workspace.refused_token_status = status

    def set_manage_allowlist(self, granted: bool) -> None:
        """Give the tokens metastore admin / MANAGE ALLOWLIST (the default) or take it: without
        it the artifact allowlists answer 403 PERMISSION_DENIED."""
        with self.workspace.store.lock:
            allowlists.set_manage_allowlist(self.workspace.store.data, granted)
            self.workspace.store.save()

    def set_job_manage(self, job_id: int, granted: bool) -> None:
        """Give the tokens CAN_MANAGE on one job (the default) or take it, leaving CAN_VIEW: without
        it jobs/update, reset and delete of that job answer 403 PERMISSION_DENIED."""
        with self.workspace.store.lock:
            jobs.set_manage(self.workspace.store.data, job_id, granted)
            self.workspace.store.save()

    def inject_fault(self, method: str, endpoint: str, *, status: int = 500, error_code: str = "INTERNAL_ERROR",
                     **params: object) -> Fault:
        """Answer every ``method endpoint`` request whose parameters include ``params`` (compared as
        strings) with ``status``/``error_code`` until `clear_fault` (faults.py): e.g.
        ``inject_fault("GET", "jobs/get", job_id=12)`` for one job's settings failing with 500."""
        return self.server.faults.add(Fault(method, endpoint, {k: str(v) for k, v in params.items()},
                                            status, error_code))

    def clear_fault(self, fault: Fault | None = None) -> None:
        """Clear one injected fault, or all of them (None)."""
        self.server.faults.clear(fault)

    @property
    def fault_hits(self) -> int:
        """How many requests were answered with an injected fault."""
        return self.server.faults.hits

    def seed_jobs(self, profiles: list[str] | None = None) -> list[int]:
        return seed_jobs(self.workspace, profiles)

    def wait_idle(self, timeout: float) -> bool:
        return self.workspace.wait_idle(timeout)

    @property
    def scheduler(self) -> JobScheduler | None:
        """The job scheduler when started with schedules=True."""
        return self.workspace.scheduler

    def add_run_observer(self, fn: RunObserver) -> None:
        self.workspace.add_run_observer(fn)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self.server.shutdown()
            self.server.server_close()
            self.workspace.stop()
        finally:
            # Last: the state is saved, so the next emulator on this directory reads it whole.
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> RunningWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_workspace(state_dir: Path, *, speed: float = 600.0, rate_limit: int | None = None,
                    clock: Clock | None = None, backend: SimBackend | None = None,
                    port: int = 0, schedules: bool = False) -> RunningWorkspace:
    """Serve a workspace kept in `state_dir` on 127.0.0.1:`port` (0: any free port).

    `schedules=True` fires jobs' unpaused schedules and periodic triggers (job_scheduler.py).
    It is off by default: the demo and most tests start runs themselves, and a FakeClock,
    which jumps ahead on every wait, would make the scheduler run through time unchecked.
    One emulator serves a state directory at a time: a second is refused with `WorkspaceInUse`
    until the first is stopped (or its process ends).
    """
    # Claimed before the state is read: a second emulator would otherwise fail this one's live
    # runs as interrupted (state_lock.py). `WorkspaceInUse` if another process serves it.
    lock = claim(Path(state_dir).expanduser().absolute())
    try:
        workspace = Workspace(Path(state_dir), speed=speed, rate_limit=rate_limit, clock=clock,
                              backend=backend)
        try:
            server = WorkspaceHTTPServer(workspace, port=port)
        except BaseException:
            workspace.stop()
            raise
    except BaseException:
        lock.release()
        raise
    server.thread.start()
    if schedules:
        workspace.scheduler = JobScheduler(workspace)
        workspace.scheduler.start()
    return RunningWorkspace(workspace, server, lock)
