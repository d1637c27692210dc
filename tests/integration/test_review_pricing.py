"""The operations review's workspace pricing findings, through the real CLI, gRPC server, the workspace
emulator, the collector and the planner, on SQLite and PostgreSQL: a region the price catalog does not
price is refused at `workspace add/set` naming close ones; billing credentials the server could not use
are refused at add; a run a catalog could no longer price says so in `run show`, and the project's
problem names the unknown region instead of the bounds."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.costing.catalog import PriceCatalog, load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

Cli = Callable[..., tuple[int, str, str]]
START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC


def test_a_region_the_catalog_does_not_price_is_refused_naming_close_ones(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, cli_workspace: str) -> None:
    code, _, err = trimtab("workspace", "set", "sbx", "--region", "us-wst-2")
    assert code == 2 and "INVALID_ARGUMENT" in err and "'us-wst-2' is not an aws region" in err
    assert "close: us-west-2" in err
    assert store.workspaces.get("sbx").region == ""  # nothing saved

    # Another name of the emulator's host: `workspace add` refuses sbx's host under a second name.
    code, _, err = trimtab("workspace", "add", "zz", "--host", emulator.host.replace("127.0.0.1", "localhost"),
                           "--token-env", "TT_DBX_TOKEN", "--cloud", "aws", "--region", "mars-1")
    assert code == 2 and "'mars-1' is not an aws region" in err
    assert [w.name for w in store.workspaces.list()] == ["sbx"]

    # --replace checks the region against the cloud given: an AWS region is no Azure one.
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "azure", "--region", "us-west-2", "--replace")
    assert code == 2 and "'us-west-2' is not an azure region" in err and "eastus" in err
    assert store.workspaces.get("sbx").cloud == "aws"

    code, out, err = trimtab("workspace", "set", "sbx", "--region", "us-west-2")
    assert code == 0, err
    assert store.workspaces.get("sbx").region == "us-west-2"


def test_billing_credentials_the_server_cannot_use_are_refused_at_add(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, cli_workspace: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert code == 0 and "no cloud billing credentials" in out

    monkeypatch.setenv("BAD", json.dumps({"access_key": "x", "secret": "y"}))
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "aws", "--replace", "--cloud-credentials-env", "BAD")
    assert code == 2 and "INVALID_ARGUMENT" in err
    assert "unknown keys access_key, secret" in err and "\"y\"" not in err
    assert not store.workspaces.get("sbx").has_cloud_credentials

    monkeypatch.setenv("GOOD", json.dumps({"access_key_id": "AKIA1", "secret_access_key": "s3cr3t"}))
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "aws", "--replace", "--cloud-credentials-env", "GOOD", "--skip-billing-check")
    assert code == 0, err
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert code == 0 and "cloud billing credentials set" in out and "s3cr3t" not in out


def _without_region(catalog: PriceCatalog, cloud: str, region: str) -> PriceCatalog:
    """The catalog as a refresh that dropped ``region`` would leave it."""
    entries = {kind: tuple(e for e in items if (e.get("cloud"), e.get("region")) != (cloud, region))
               for kind, items in catalog.entries.items()}
    return PriceCatalog(f"{catalog.version}-no-{region}", catalog.currency, catalog.hours_per_month, entries,
                        catalog.note)


def test_a_run_a_catalog_cannot_price_says_why_and_the_problem_names_the_region(
        trimtab: Cli, store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    ws: Workspace = workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws",
                                             region="eu-west-1")
    (imported,) = workspaces.import_jobs(store, secrets, ws.name, [job_ids[0]], wiring=WIRING).projects
    project = imported.project
    pid = int(project.id or 0)
    # The catalog has since lost the region the workspace was added with.
    catalog = _without_region(load_catalog(), "aws", "eu-west-1")
    collector = Collector(store, lambda w: workspaces.gateway_for(store, secrets, w), clock=SystemClock(),
                          catalog=catalog)
    planner = Planner(store, catalog, lambda w: workspaces.gateway_for(store, secrets, w),
                      clock=FakeClock(START_MS))
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    (run,) = collector.poll_once()
    assert run.cost is None
    planner(run)  # the collector's callback: a failure is kept on the project
    problem = store.projects.get(pid).problem
    assert problem is not None and "nothing could be priced: unknown region 'eu-west-1' on aws" in problem.message
    assert "us-east-1" in problem.message and "widen the bounds" not in problem.message

    code, out, err = trimtab("run", "show", str(run.id))
    assert code == 0, err
    assert "not priced" in out and "workspace sbx: aws, region eu-west-1" in out
    assert "unknown region 'eu-west-1'" in out
