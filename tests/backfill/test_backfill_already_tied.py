"""A backfill reports the applications it found that runs already hold, in the report, `--json` and the text.

A second backfill of the same logs used to say `applications_found: 3, runs_created: 0` and nothing about
why: the three were counted (`RunsOutcome.already_tied`) but never reported."""

from __future__ import annotations

import json

import pytest

from server.backfill import backfill
from server.store import Store, open_store
from tests.backfill.conftest import Delivered, add_project
from tests.inprocess_cli import run_cli


def test_the_report_counts_applications_already_tied_to_runs(tagged: Delivered, sqlite_store: Store) -> None:
    project = add_project(sqlite_store)
    first = backfill(sqlite_store, project.name, str(tagged.root), workers=1)
    assert (first.runs_created, first.already_tied_to_runs) == (3, 0)
    second = backfill(sqlite_store, project.name, str(tagged.root), workers=1)
    assert (second.applications_found, second.runs_created, second.already_tied_to_runs) == (3, 0, 3)


def test_json_and_text_say_how_many_were_already_tied(tagged: Delivered, sqlite_url: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(sqlite_url)
    try:
        add_project(store)
    finally:
        store.close()
    args = ("project", "backfill", "sbx/7/main", "--eventlogs", str(tagged.root), "--db", sqlite_url)
    code, _, err = run_cli(capsys, *args)
    assert code == 0 and "already tied" not in err, err
    code, out, _ = run_cli(capsys, "--json", *args)
    report = json.loads(out)
    assert code == 0 and (report["runs_created"], report["already_tied_to_runs"]) == (0, 3)
    code, _, err = run_cli(capsys, *args)
    assert code == 0
    assert "3 application(s) already tied to runs: no new run made for them" in err.splitlines()
