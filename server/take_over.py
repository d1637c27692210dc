"""Whether another Trimtab server took a project's job over (pure).

Onboarding writes this server's address into each cluster's ``spark_env_vars``
(`server.onboard.onboard_spec`); another server's `workspace import --take-over` writes its own.
`taken_over` reads the job as it is now against what this server wrote, so that the collector,
apply, revert and detach leave a job another server now tunes, and `was_taken_over` tells a project
orphaned so from one orphaned for another reason.
"""

from __future__ import annotations

from typing import Any

from server.agent_wiring import SERVER_ENV
from server.domain import Project
from server.orphan_cause import REASON_KEY
from server.write_intent import INTENT_KEY


def wired_server(spec: dict[str, Any]) -> str | None:
    """The server address Trimtab's onboarding set on the cluster ``spec`` (its agent streams there), or None."""
    env = spec.get("spark_env_vars")
    value = env.get(SERVER_ENV) if isinstance(env, dict) else None
    if value is None:
        return None
    return str(value).strip() or None


# How an orphaned project's reason starts when another server took its job (`taken_over`).
TAKEN_OVER = "taken over by another Trimtab server"


def was_taken_over(project: Project | None) -> bool:
    return bool(project and project.orphaned and str(project.state.get(REASON_KEY, "")).startswith(TAKEN_OVER))


def taken_over(project: Project, live: dict[str, Any]) -> str | None:
    """Why ``project``'s cluster (``live``, as the job holds it now) is another Trimtab server's, or None.

    Another server's `workspace import --take-over` re-wires the cluster to itself: this server must
    stop planning and applying for the job (both would write it), not rebase on it as on a person's
    edit. The address is the sign; the ``trimtab:project-id`` tag is not (another database numbers
    its projects from 1 too). Its agents now report there, and the workspace's token secret is the
    other server's: taking the job back is an import with ``--take-over``, which writes both again."""
    applied = (project.pending_apply or {}).get("applied_spec") or {}
    ours = wired_server(applied or project.current_spec or {})
    now = wired_server(live)
    # A write this server announced and has not recorded yet (`server.write_intent`): a re-import
    # after its address changed, killed before its record, wired the cluster to the new address.
    announced = project.state.get(INTENT_KEY)
    sent = wired_server(announced.get("expected") or {}) if isinstance(announced, dict) else None
    if ours is None or now is None or now in (ours, wired_server(project.current_spec or {}), sent):
        return None
    return (f"{TAKEN_OVER} at {now} (the cluster's {SERVER_ENV} was {ours}, which this "
            f"server wrote); `trimtab workspace import {project.workspace} --job {project.job_id} --take-over` "
            f"takes it back (to send agents through a proxy, give this server --advertise instead)")
