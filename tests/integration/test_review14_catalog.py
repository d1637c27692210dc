"""Review 14 (rev14a) through the real server, CLI, workspace emulator and collector, on SQLite and
PostgreSQL: a refreshed price catalog with a typo (a spot discount typed as a percent, hours_per_month
0, a node type's ``family`` misspelt) is refused where the server reads it, naming the file and the
field, instead of storing negative costs or stopping every poll; and a plan the catalog has no DBU
rate for on the workspace's cloud (Azure has no Enterprise tier) is refused at `workspace add/set`
instead of leaving every run unpriced."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.config import ServerConfig
from server.costing.catalog import SHIPPED_DIR, load_active_catalog
from server.costing.errors import InvalidCatalog
from server.databricks import DatabricksGateway
from server.serve import start_server
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

Cli = Callable[..., tuple[int, str, str]]


def _spot_as_percent(d: Path) -> tuple[str, str]:
    p = d / "spot_discounts.json"
    data = json.loads(p.read_text())
    for e in data["discounts"]:
        e["discount"] = round(e["discount"] * 100)  # Spot Advisor's "62%" typed as 62
    p.write_text(json.dumps(data))
    return "spot_discounts.json", "'discount' must be a fraction"


def _hours_per_month_0(d: Path) -> tuple[str, str]:
    p = d / "manifest.json"
    manifest = json.loads(p.read_text())
    manifest["hours_per_month"] = 0
    p.write_text(json.dumps(manifest))
    return "manifest.json", "'hours_per_month' must be a number > 0"


def _family_typo(d: Path) -> tuple[str, str]:
    p = d / "node_types.json"
    data = json.loads(p.read_text())
    for e in data["node_types"]:
        e["familly"] = e.pop("family")  # a find-and-replace slip over the whole file
    p.write_text(json.dumps(data))
    return "node_types.json", "'family' must be a non-empty string, not missing"


TYPOS: dict[str, Callable[[Path], tuple[str, str]]] = {
    "spot_discount_as_percent": _spot_as_percent,
    "hours_per_month_0": _hours_per_month_0,
    "family_typo": _family_typo,
}


@pytest.mark.parametrize("typo", sorted(TYPOS))
def test_a_catalog_typo_is_refused_where_the_server_reads_it_and_the_fixed_one_prices_runs(
        typo: str, store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        job_ids: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    prices = state / "prices"  # where `trimtab prices update` writes, and a person edits
    shutil.copytree(SHIPPED_DIR, prices)
    fname, says = TYPOS[typo](prices)

    with pytest.raises(InvalidCatalog) as err:
        load_active_catalog(state)
    assert err.value.message.startswith(f"{prices / fname}") and says in err.value.message, err.value.message
    # The server reads it at start: it refuses to start, naming the same file and field, instead of
    # storing negative costs or failing every poll of every workspace.
    config = ServerConfig(listen="127.0.0.1:0", state_dir=state, secret_key=Fernet.generate_key().decode(),
                          collect=0)
    with pytest.raises(InvalidCatalog, match=says):
        start_server(config, store=store)

    # Put right, the catalog prices the emulator's spot run: positive, spot cheaper than on demand.
    shutil.rmtree(prices)
    shutil.copytree(SHIPPED_DIR, prices)
    catalog = load_active_catalog(state)
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    gateway.run_now(imported.project.job_id)
    assert emulator.wait_idle(60)
    collector = Collector(store, lambda w: workspaces.gateway_for(store, secrets, w), clock=SystemClock(),
                          catalog=catalog)
    (run,) = collector.poll_once()
    spec: dict[str, Any] = run.config.spec
    assert spec["aws_attributes"]["availability"] == "SPOT_WITH_FALLBACK"  # the workers the typo priced < 0
    assert run.cost is not None
    assert run.cost.total > 0 and run.cost.compute_cost > 0 and run.cost.storage_cost > 0
    assert run.cost.currency == "USD"


def test_a_plan_the_catalog_has_no_rate_for_on_the_cloud_is_refused_at_add_and_set(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, cli_workspace: str) -> None:
    # Azure Databricks sells Standard and Premium only: the shipped catalog has no Azure Enterprise rate.
    # (Another name of the emulator's host: `workspace add` refuses sbx's host under a second name.)
    other_host = emulator.host.replace("127.0.0.1", "localhost")
    code, _, err = trimtab("workspace", "add", "az", "--host", other_host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "azure", "--region", "eastus", "--plan", "enterprise")
    assert code != 0 and "INVALID_ARGUMENT" in err, err
    assert "no azure DBU rate for the 'enterprise' plan (its azure plans: premium, standard)" in err
    assert [w.name for w in store.workspaces.list()] == ["sbx"]  # nothing stored

    code, _, err = trimtab("workspace", "add", "az", "--host", other_host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "azure", "--region", "eastus")
    assert code == 0, err
    assert store.workspaces.get("az").plan == "premium"
    code, _, err = trimtab("workspace", "set", "az", "--plan", "enterprise")
    assert code == 2 and "INVALID_ARGUMENT" in err and "its azure plans: premium, standard" in err, err
    assert store.workspaces.get("az").plan == "premium"  # unchanged
    code, _, err = trimtab("workspace", "set", "az", "--plan", "standard")
    assert code == 0, err
    assert store.workspaces.get("az").plan == "standard"

    # AWS has Enterprise; moving that workspace to Azure keeps its plan, which Azure does not price.
    code, _, err = trimtab("workspace", "set", "sbx", "--plan", "enterprise")
    assert code == 0, err
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "azure", "--replace")
    assert code != 0 and "no azure DBU rate for the 'enterprise' plan" in err, err
    assert (store.workspaces.get("sbx").cloud, store.workspaces.get("sbx").plan) == ("aws", "enterprise")
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "azure", "--plan", "premium", "--replace")
    assert code == 0, err
    assert (store.workspaces.get("sbx").cloud, store.workspaces.get("sbx").plan) == ("azure", "premium")
    # A token rotation with the plan already stored is not judged again.
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "azure", "--replace")
    assert code == 0, err
