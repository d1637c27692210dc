"""docs/operations.md, "Metrics", lists every metric the server exposes, and no other: a metric added
without its line there (or a line left for one removed) fails here."""

from __future__ import annotations

import re
from pathlib import Path

from grpc_health.v1 import health

from server.clock import FakeClock
from server.metrics import ServerMetrics
from server.readiness import Readiness
from server.serve import SERVICE_NAMES
from server.store import Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _metrics_section() -> str:
    text = DOC.read_text()
    start = text.index("\n## Metrics\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _exposed(store: Store) -> set[str]:
    """Every metric's name as a query names it (a counter's with ``_total``)."""
    metrics = ServerMetrics(store, FakeClock(), Readiness(health.HealthServicer(), SERVICE_NAMES), collecting=True)
    return {family.name + ("_total" if family.type == "counter" else "") for family in metrics.registry.collect()}


def test_every_metric_has_its_row_in_the_docs_and_every_row_a_metric(sqlite_store: Store) -> None:
    rows = set(re.findall(r"^\| `(trimtab_[a-z_]+)` \|", _metrics_section(), flags=re.MULTILINE))
    exposed = _exposed(sqlite_store)
    assert len(exposed) >= 17
    assert exposed - rows == set(), "docs/operations.md, Metrics: add a row for each"
    assert rows - exposed == set(), "docs/operations.md, Metrics: rows for metrics the server does not have"


def test_the_docs_show_an_alert_on_a_documented_metric() -> None:
    section = _metrics_section()
    assert "alert: " in section
    for expr in re.findall(r"expr: (.+)", section):
        for name in re.findall(r"trimtab_[a-z_]+", expr):
            assert f"| `{name}` |" in section, name
