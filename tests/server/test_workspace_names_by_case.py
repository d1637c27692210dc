"""Two workspace names differing only by case in a store an older Trimtab wrote (`SB` beside `sb`):
both keep working, and the server names the pair in a warning at each start, as it does for one host
under two names. A real server on 127.0.0.1:0, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.config import ServerConfig
from server.serve import start_server
from server.store import Store


def test_names_differing_by_case_are_warned_at_start(any_store: Store, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with any_store.engine.begin() as conn:  # as an older Trimtab let them in: add now refuses the second
        for name, host in (("sb", "http://127.0.0.1:9"), ("SB", "http://127.0.0.1:10"), ("prod", "http://127.0.0.1:11")):
            conn.execute(sa.text("INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, "
                                 "token_masked, status, last_error, created_at_ms, auto_import) VALUES "
                                 "(:n, :h, 'aws', 'premium', '', 'enc', 'dapi…1', 'ok', '', 0, false)"),
                         {"n": name, "h": host})
    caplog.set_level(logging.WARNING, logger="server.serve")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", collect=0), any_store)
    try:
        said = [r.getMessage() for r in caplog.records if r.name == "server.serve" and "differ only by case" in r.getMessage()]
        assert len(said) == 1, said
        assert "'SB' and 'sb'" in said[0] or "'sb' and 'SB'" in said[0]
        assert any_store.workspaces.get("SB").host == "http://127.0.0.1:10"  # each still itself
        assert any_store.workspaces.get("sb").host == "http://127.0.0.1:9"
    finally:
        running.stop(0)
