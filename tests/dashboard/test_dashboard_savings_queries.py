"""The projects page's queries do not grow with a project's runs: a project whose code changed compared
its runs by their Spark stages read one application at a time (`ApplicationRepository.stages`), 1,221
queries a page for one project of 2,000 runs, on every view. And no connection is held while the page
makes anything of the runs it read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks.savings import fill
from server.dashboard import views
from server.services.savings import get_savings
from server.store import Store, open_store
from server.timeline import CODE_CHANGE


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    """Every statement the store's engine sends while inside."""
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)


def _page_queries(path: Path, runs: int) -> tuple[int, int]:
    """The statements of the projects page (first view, then the next) over one code-changed project."""
    store = open_store(f"sqlite:///{path}")
    try:
        fill(store, 1, runs)  # project 0 of the benchmark: a code change, its runs' Spark stages stored
        report = get_savings(store)
        assert [p.workload_change for p in report.projects] == [CODE_CHANGE]
        with counted(store) as first:
            rows = views.project_rows(store)
        with counted(store) as again:
            assert views.project_rows(store) == rows
        assert rows[0].savings == report.projects[0]
        return len(first), len(again)
    finally:
        store.close()


def test_the_projects_pages_queries_do_not_grow_with_runs(tmp_path: Path) -> None:
    few = _page_queries(tmp_path / "few.db", 20)
    many = _page_queries(tmp_path / "many.db", 120)
    assert few == many, f"{few} queries for 20 runs, {many} for 120"
    assert many[0] < 30 and many[1] < 30


@pytest.mark.parametrize("runs", [40])
def test_no_connection_is_held_while_the_page_makes_its_rows(any_store: Store, runs: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fill(any_store, 3, runs)
    held: list[int] = []
    real = views._RunFigures.of

    def of(rows: list[tuple], sla_seconds: float | None) -> views._RunFigures:
        held.append(any_store.engine.pool.checkedout())
        return real(rows, sla_seconds)

    monkeypatch.setattr(views._RunFigures, "of", staticmethod(of))
    views.project_rows(any_store)
    assert held and set(held) == {0}, f"connections checked out while making the rows: {held}"
