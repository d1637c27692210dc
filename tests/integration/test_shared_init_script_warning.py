"""An init script or agent wheel under /Shared is said at server start and at every import.

Review finding: every user of a Databricks workspace has Can Manage on /Workspace/Shared (inherited,
not lowered on a subfolder), so any of them could replace the init script that runs as root on the
driver of every onboarded job cluster. The default stays (jobs already reference it), and the
server says so, naming the setting to change. Real server on 127.0.0.1:0, the emulator over HTTP.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.config import ServerConfig, shared_location_warning
from server.domain import Workspace
from server.serve import start_server
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING


def test_which_locations_are_under_shared() -> None:
    said = shared_location_warning("/Shared/trimtab/trimtab-init.sh")
    assert "/Shared/trimtab/trimtab-init.sh and the agent wheel beside it" in said
    assert "TRIMTAB_INIT_SCRIPT" in said and "WRITE VOLUME" in said and "/Users" in said and "root" in said
    assert "agent wheel /Workspace/Shared/w.whl" in shared_location_warning(
        "/Volumes/main/trimtab/scripts/init.sh", "/Workspace/Shared/w.whl")
    assert shared_location_warning("/Volumes/main/trimtab/scripts/init.sh") == ""
    # Both under /Shared, the wheel where the operator put it: named there (it read "beside it").
    said = shared_location_warning("/Shared/trimtab/trimtab-init.sh", "/Workspace/Shared/agents/w.whl")
    assert "/Shared/trimtab/trimtab-init.sh and the agent wheel /Workspace/Shared/agents/w.whl are" in said
    assert "beside it" not in said
    assert shared_location_warning("/Users/trimtab@corp.example/trimtab/init.sh",
                                   "/Workspace/Users/trimtab@corp.example/trimtab/w.whl") == ""
    assert shared_location_warning("/SharedScripts/init.sh", "https://example.com/w.whl") == ""
    assert shared_location_warning("dbfs:/Shared/init.sh", "https://example.com/w.whl") == ""


@pytest.mark.parametrize(("script", "warned"), [("/Shared/trimtab/trimtab-init.sh", True),
                                                ("/Users/trimtab@corp.example/trimtab/trimtab-init.sh", False)])
def test_import_warns_of_an_init_script_under_shared(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, connected: Workspace, job_ids: list[int],
        caplog: pytest.LogCaptureFixture, script: str, warned: bool) -> None:
    wheel = "/Workspace" + script.rsplit("/", 1)[0] + "/trimtab-0.1.0-py3-none-any.whl"
    wiring = dataclasses.replace(WIRING, init_script={"workspace": {"destination": script}}, agent_wheel=wheel)
    with caplog.at_level(logging.WARNING, logger="server.services.workspaces"):
        workspaces.import_jobs(store, secrets, "sbx", job_ids[:1], wiring=wiring, dry_run=True)
    said = [r.getMessage() for r in caplog.records if "Can Manage" in r.getMessage()]
    assert bool(said) is warned, said
    if warned:
        assert said[0].startswith("workspace sbx: Trimtab's init script /Shared/trimtab/trimtab-init.sh")


@pytest.mark.parametrize(("script", "warned"), [(None, True), ("/Volumes/main/trimtab/scripts/init.sh", False)])
def test_the_server_warns_at_start(store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                   script: str | None, warned: bool) -> None:
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server",
                          secret_key=Fernet.generate_key().decode(), collect=0,
                          **({"init_script": script} if script else {}))
    with caplog.at_level(logging.WARNING):
        running = start_server(config, store=store)
        running.stop(grace=1)
    said = [r.getMessage() for r in caplog.records if "Can Manage" in r.getMessage()]
    assert bool(said) is warned, said
