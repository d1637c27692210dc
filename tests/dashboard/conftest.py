from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.dashboard import Dashboard, serve_dashboard
from server.domain import Project
from server.store import Store, open_store
from tests.dashboard.cdp import CHROMIUM, Browser
from tests.timeline.seed import seed

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"


@dataclass
class Site:
    store: Store
    dashboard: Dashboard
    project: Project
    run_ids: list[int]
    admin_token: str
    agent_token: str

    @property
    def url(self) -> str:
        return self.dashboard.url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'trimtab.db'}")
    project, run_ids = seed(store)
    _, admin = store.tokens.create("dashboard-admin", "admin")
    _, agent = store.tokens.create("some-agent", "agent")
    dashboard = serve_dashboard(store, "127.0.0.1:0")
    try:
        yield Site(store, dashboard, project, run_ids, admin, agent)
    finally:
        dashboard.stop()
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which("chromium") and not Path(CHROMIUM).exists():
        pytest.fail("headless Chromium is required (Debian package `chromium`)")
    b = Browser()
    try:
        yield b
    finally:
        b.close()
