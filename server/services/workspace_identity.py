"""Whether a host answers as the Databricks workspace of some projects: their jobs there carry their
own ``trimtab:project-id`` tags.

Host names cannot tell: one workspace has several (``adb-1.azuredatabricks.net`` and a private link
name; ``127.0.0.1`` and ``localhost`` for the sandbox), and another workspace may have the same job
ids. The tags this server wrote are its own, so a job at the host carrying the tag of the project that
manages it is that project's job. Used when re-pointing a workspace
(`server.services.workspace_lifecycle`) and before an import writes the agents' token secret
(`server.services.agent_install`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from server.databricks import DatabricksGateway, DatabricksNotFound
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import Project
from server.onboard import PROJECT_TAG
from server.spec import find_cluster_spec


@dataclass
class TagCheck:
    """What ``gateway``'s jobs said of the projects checked: those whose cluster carries their tag
    (``matched``), and why each other one does not (``missed``), over ``checked`` projects."""

    matched: list[Project] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    checked: int = 0


def check_tags(gateway: DatabricksGateway, projects: Iterable[Project], max_jobs: int, *,
               unreadable_is_missed: bool = False) -> TagCheck:
    """Read at most ``max_jobs`` of the projects' jobs (lowest ids first) at ``gateway`` and compare
    each project's cluster tag with its id. A job not found is a miss; a job the token may not read
    (403) is one too when ``unreadable_is_missed``, else the error is raised."""
    by_job: dict[int, list[Project]] = {}
    for project in projects:
        by_job.setdefault(project.job_id, []).append(project)
    check = TagCheck()
    for job_id in sorted(by_job)[:max_jobs]:
        check.checked += len(by_job[job_id])
        try:
            settings = gateway.get_job(job_id).get("settings") or {}
        except DatabricksNotFound:
            check.missed.append(f"job {job_id} not found")
            continue
        except DatabricksPermissionDenied as err:
            if not unreadable_is_missed:
                raise
            check.missed.append(f"job {job_id} not readable ({err.message})")
            continue
        for project in by_job[job_id]:
            spec = find_cluster_spec(settings, project.cluster_key) or {}
            tag = (spec.get("custom_tags") or {}).get(PROJECT_TAG)
            if tag == str(project.id):
                check.matched.append(project)
            else:
                check.missed.append(f"job {job_id} cluster {project.cluster_key!r} has {PROJECT_TAG}="
                                    f"{tag if tag is not None else '(none)'}, not {project.id}")
    return check
