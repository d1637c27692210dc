"""The admin services: parse the request, call one service function, build the reply.

Errors are `server.errors` exceptions, mapped to status codes by
`server.api.errors.ErrorInterceptor`; nothing here deals with status codes.
Workspace and recommendation calls go through `server.services.workspaces`
and `server.services.recommendations` looked up at call time, so the
Databricks-integration versions of those modules are used when present.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc

from agent.build import BUILD as AGENT_BUILD
from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.agent_refusals import SHARED, AgentRefusals
from server.api import messages
from server.costing.catalog import PriceCatalog
from server.domain import Workspace
from server.errors import InvalidArgument
from server.services import (
    agents,
    application_list,
    billing_credentials,
    projects,
    recommendations,
    runs,
    savings,
    timeline,
    workspace_lifecycle,
    workspaces,
)
from server.services.job_import import MAX_NAMED_JOBS
from server.services.secrets import SecretBox
from server.store import Store

Ctx = grpc.ServicerContext


def _project(ref: str) -> str:
    """A request's project reference: a blank one refused naming the field, an impossible numeric id
    refused as not found."""
    return messages.requested_id(projects.required(ref, "project"), "project")


def _ended(context: Ctx) -> threading.Event:
    """Set once the call ends: its deadline passed, the client went away, or it was answered. Work that
    takes seconds looks at it to stop what nobody will read."""
    ended = threading.Event()
    if not context.add_callback(ended.set):  # already over
        ended.set()
    return ended


def _optional(ref: str, field: str) -> str:
    """A reference where "" means "all": "" as it is, a blank one refused like a missing one."""
    return ref and projects.required(ref, field)


class WorkspaceServicer(admin_pb2_grpc.WorkspaceServiceServicer):
    def __init__(self, store: Store, secrets: SecretBox) -> None:
        self._store, self._secrets = store, secrets

    def _reply(self, workspace: Workspace, note: str = "", *, credentials_tried: bool = False) -> admin_pb2.Workspace:
        """``credentials_tried``: the call stored cloud credentials after trying them (the reply warns
        when that try failed)."""
        return messages.workspace(workspace, watched=workspace_lifecycle.watched(self._store, workspace), note=note,
                                  billing_warning=billing_credentials.billing_warning(workspace) if credentials_tried else "")

    def AddWorkspace(self, request: admin_pb2.AddWorkspaceRequest, context: Ctx) -> admin_pb2.Workspace:
        # The PAT, or the service principal's OAuth client secret (`workspaces.add_workspace`).
        secret = workspaces.secret_given(request.token, request.client_id, request.client_secret)
        # Read before the add replaces the stored token.
        note = (workspace_lifecycle.replace_note(self._store, self._secrets, request.name, secret, request.client_id)
                if request.replace and request.name and secret else "")
        return self._reply(workspaces.add_workspace(
            self._store, self._secrets, request.name, request.host, secret, request.cloud,
            request.plan, request.region, request.cloud_credentials_json, replace=request.replace,
            auto_import=request.auto_import if request.HasField("auto_import") else None,
            skip_billing_check=request.skip_billing_check, client_id=request.client_id), note,
            credentials_tried=bool(request.cloud_credentials_json) and not request.skip_billing_check)

    def ListWorkspaces(self, request: admin_pb2.ListWorkspacesRequest,
                       context: Ctx) -> admin_pb2.ListWorkspacesResponse:
        return admin_pb2.ListWorkspacesResponse(
            workspaces=[self._reply(w) for w in workspaces.list_workspaces(self._store)])

    def GetWorkspace(self, request: admin_pb2.GetWorkspaceRequest, context: Ctx) -> admin_pb2.Workspace:
        return self._reply(workspaces.get_workspace(self._store, projects.required(request.name, "name")))

    def UpdateWorkspace(self, request: admin_pb2.UpdateWorkspaceRequest, context: Ctx) -> admin_pb2.Workspace:
        credentials = request.cloud_credentials_json if request.HasField("cloud_credentials_json") else None
        return self._reply(*workspace_lifecycle.update(
            self._store, self._secrets, projects.required(request.name, "name"),
            host=request.host if request.HasField("host") else None,
            token=workspaces.secret_given(request.token, request.client_id, request.client_secret),
            client_id=request.client_id,
            auto_import=request.auto_import if request.HasField("auto_import") else None,
            plan=request.plan if request.HasField("plan") else None,
            region=request.region if request.HasField("region") else None,
            cloud_credentials_json=credentials, skip_billing_check=request.skip_billing_check),
            credentials_tried=credentials is not None and not request.skip_billing_check)

    def RemoveWorkspace(self, request: admin_pb2.RemoveWorkspaceRequest,
                        context: Ctx) -> admin_pb2.RemoveWorkspaceResponse:
        kept, revoked = workspace_lifecycle.remove_workspace(self._store, projects.required(request.name, "name"))
        return admin_pb2.RemoveWorkspaceResponse(kept_projects=kept, revoked_agent_tokens=revoked)

    def ImportJobs(self, request: admin_pb2.ImportJobsRequest, context: Ctx) -> admin_pb2.ImportJobsResponse:
        # A person naming a job asks for it, detached or not: that is how a detached project is
        # re-attached (auto-import calls the service itself and never re-attaches). Paged: one part of
        # the import per call (`server.services.import_pages`).
        if bad := [j for j in request.job_ids if j <= 0]:
            # As the CLI refuses `--job -1`: read as "not found in the workspace", it was an OK reply.
            raise InvalidArgument(f"job_ids: {bad[0]} is not a Databricks job id (a positive whole number)")
        if len(request.job_ids) > MAX_NAMED_JOBS:
            raise InvalidArgument(f"job_ids: {len(request.job_ids):,} ids; at most {MAX_NAMED_JOBS:,} a call (name "
                                  "none to import every job)")
        # Stopped between jobs once the call ends: nobody reads what the rest would say.
        page = workspaces.import_page(self._store, self._secrets, projects.required(request.workspace, "workspace"),
                                      list(request.job_ids), request.dry_run, take_over=request.take_over,
                                      paged=request.paged, page_token=request.page_token, stop=_ended(context))
        summaries = [projects.summarize(self._store, i.project) if i.project.id is not None
                     else projects.ProjectSummary(project=i.project) for i in page.result.projects]
        return messages.import_result(page.result, summaries, next_page_token=page.next_page_token,
                                      total=page.total, remaining=page.remaining)


class ProjectServicer(admin_pb2_grpc.ProjectServiceServicer):
    def __init__(self, store: Store, secrets: SecretBox, catalog: PriceCatalog,
                 replan: Callable[[int], object] | None = None) -> None:
        # `catalog` is the one the server's planner prices with, so a driver type or family
        # accepted here is one the planner knows. `replan` plans a project again after its
        # settings change (the server's planner; None when nothing plans, e.g. collection off).
        self._store, self._secrets, self._catalog = store, secrets, catalog
        self._replan = replan

    def ListProjects(self, request: admin_pb2.ListProjectsRequest, context: Ctx) -> admin_pb2.ListProjectsResponse:
        return admin_pb2.ListProjectsResponse(
            projects=[messages.project(p) for p in projects.list_projects(self._store, _optional(request.workspace, "workspace"))])

    def GetProject(self, request: admin_pb2.GetProjectRequest, context: Ctx) -> admin_pb2.Project:
        return messages.project(projects.get_project(self._store, _project(request.project)))

    def UpdateProjectSettings(self, request: admin_pb2.UpdateProjectSettingsRequest,
                              context: Ctx) -> admin_pb2.Project:
        summary, changed = projects.change_settings(self._store, _project(request.project),
                                                    messages.settings_changes(request.settings), self._catalog)
        if changed and self._replan is not None and summary.project.id is not None:
            # The recommendation shown was planned under the old SLA or bounds: plan again now
            # (never raises; a failure is kept as the project's plan problem). Settings sent again
            # as they are leave the pending recommendation (the one a script reviewed) in place.
            self._replan(int(summary.project.id))
            summary = projects.get_project(self._store, str(summary.project.id))
        return messages.project(summary)

    def DetachProject(self, request: admin_pb2.DetachProjectRequest, context: Ctx) -> admin_pb2.Project:
        # Put the job's original cluster back through the Jobs API first; only then
        # mark the project detached, so a failed restore leaves it managed.
        recommendations.detach_project(self._store, self._secrets, _project(request.project))
        return messages.project(projects.detach_project(self._store, _project(request.project)))

    def GetTimeline(self, request: admin_pb2.GetTimelineRequest, context: Ctx) -> admin_pb2.Timeline:
        return messages.timeline(timeline.get_timeline(self._store, _project(request.project)))

    def GetSavings(self, request: admin_pb2.GetSavingsRequest, context: Ctx) -> admin_pb2.SavingsReport:
        ref = _optional(messages.requested_id(request.project, "project"), "project")
        return messages.savings(savings.get_savings(self._store, ref, stop=_ended(context)))


class RunServicer(admin_pb2_grpc.RunServiceServicer):
    def __init__(self, store: Store, refusals: AgentRefusals | None = None) -> None:
        self._store = store
        self._refusals = SHARED if refusals is None else refusals

    def ListRuns(self, request: admin_pb2.ListRunsRequest, context: Ctx) -> admin_pb2.ListRunsResponse:
        page = runs.list_runs(self._store, _project(request.project), request.page_size,
                              messages.requested_page_token(request.page_token))
        found = [self._refused(messages.run(r, sla=page.sla_of(r))) for r in page.runs]
        return admin_pb2.ListRunsResponse(runs=found, next_page_token=page.next_page_token)

    def GetRun(self, request: admin_pb2.GetRunRequest, context: Ctx) -> admin_pb2.Run:
        detail = runs.get_run(self._store, messages.requested_id(projects.required(request.run_id, "run_id"), "run"))
        return self._refused(messages.run(detail.run, detail))

    def _refused(self, msg: admin_pb2.Run) -> admin_pb2.Run:
        """``msg`` with its cluster's agent refusal, when this server process saw one (`AgentRefusals`)."""
        refusal = self._refusals.get(msg.cluster_id)
        if refusal is not None:
            workspace = self._store.projects.get(int(msg.project_id)).workspace
            msg.agent_refusal.CopyFrom(admin_pb2.AgentRefusal(reason=refusal.reason, at_ms=refusal.at_ms,
                                                              fix=refusal.fix(workspace), calls=refusal.calls))
        return msg

    def ListApplications(self, request: admin_pb2.ListApplicationsRequest,
                         context: Ctx) -> admin_pb2.ListApplicationsResponse:
        found, token = application_list.list_applications(
            self._store, request.limit, request.page_token,
            application_list.AppFilter(run_id=request.run_id, cluster_id=request.cluster_id,
                                       unassigned=request.unassigned))
        return admin_pb2.ListApplicationsResponse(applications=[messages.application(a) for a in found],
                                                  next_page_token=token)

    def GetApplication(self, request: admin_pb2.GetApplicationRequest, context: Ctx) -> admin_pb2.Application:
        return messages.application(runs.get_application(self._store, projects.required(request.application_id, "application_id")))

    def ListAgents(self, request: admin_pb2.ListAgentsRequest, context: Ctx) -> admin_pb2.ListAgentsResponse:
        found = agents.list_agents(self._store, _optional(request.workspace, "workspace"),
                                   _optional(request.cluster_id, "cluster_id"), request.limit)
        return admin_pb2.ListAgentsResponse(agents=[messages.agent(a) for a in found], agent_build=AGENT_BUILD)


class RecommendationServicer(admin_pb2_grpc.RecommendationServiceServicer):
    def __init__(self, store: Store, secrets: SecretBox) -> None:
        self._store, self._secrets = store, secrets

    def GetRecommendation(self, request: admin_pb2.GetRecommendationRequest,
                          context: Ctx) -> admin_pb2.Recommendation:
        return messages.shown_recommendation(
            recommendations.show_recommendation(self._store, _project(request.project)))

    def ListRecommendations(self, request: admin_pb2.ListRecommendationsRequest,
                            context: Ctx) -> admin_pb2.ListRecommendationsResponse:
        found, token = recommendations.list_recommendations(
            self._store, _project(request.project), request.state, request.page_size, request.page_token)
        return admin_pb2.ListRecommendationsResponse(
            recommendations=[messages.shown_recommendation(r) for r in found], next_page_token=token)

    def ApplyRecommendation(self, request: admin_pb2.ApplyRecommendationRequest,
                            context: Ctx) -> admin_pb2.ApplyResult:
        return messages.apply_result(recommendations.apply_recommendation(
            self._store, self._secrets, _project(request.project), request.dry_run,
            recommendation_id=request.recommendation_id, replace_unconfirmed=request.replace_unconfirmed))

    def RejectRecommendation(self, request: admin_pb2.RejectRecommendationRequest,
                             context: Ctx) -> admin_pb2.Recommendation:
        return messages.recommendation(
            recommendations.reject_recommendation(self._store, _project(request.project),
                                                  recommendation_id=request.recommendation_id))

    def RevertRecommendation(self, request: admin_pb2.RevertRecommendationRequest,
                             context: Ctx) -> admin_pb2.ApplyResult:
        return messages.apply_result(recommendations.revert_recommendation(
            self._store, self._secrets, _project(request.project), request.dry_run,
            recommendation_id=request.recommendation_id))
