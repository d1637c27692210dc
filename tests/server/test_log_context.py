"""What the work under way is for, on every log line (`server.log_context`): JSON lines carry the fields
set as top-level keys, from any logger; the text lines are exactly as they were; nested blocks add and
give back; a thread pool's worker does not carry one task's fields into the next."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor

from server.log_context import current, log_context, project_fields
from tests.json_logs import server_logging

LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\w+) ([\w.]+): (.*)")


def test_json_lines_carry_the_fields_set_and_only_those() -> None:
    with server_logging("json") as captured:
        logging.getLogger("server.collect.collector").info("outside")
        with log_context(workspace="prod"):
            logging.getLogger("server.collect.collector").info("polling")
            with log_context(job_id=42, run_id=7):
                # A library's logger gets them too: the filter is on the handler, not on our loggers.
                logging.getLogger("urllib3.connectionpool").debug("GET /api/2.1/jobs/get?job_id=42")
            logging.getLogger("server.collect.collector").info("between jobs")
    outside, polling, library, between = captured.records()
    assert {"workspace", "project_id", "project", "job_id", "run_id"}.isdisjoint(outside)
    assert polling["workspace"] == "prod" and "job_id" not in polling and "run_id" not in polling
    assert (library["logger"], library["workspace"], library["job_id"], library["run_id"]) == \
        ("urllib3.connectionpool", "prod", 42, 7)
    assert between["workspace"] == "prod" and "job_id" not in between  # the inner block gave them back
    assert current() == {}


def test_a_field_given_again_replaces_the_outer_one_and_a_project_gives_all_of_its() -> None:
    from server.domain import Project

    project = Project(workspace="prod", job_id=9, cluster_key="main", id=3)
    with server_logging("json") as captured, log_context(workspace="other", job_id=1), \
            log_context(**project_fields(project), run_id=77):
        logging.getLogger("server.plan.planner").info("planned")
    [record] = captured.records()
    assert {k: record[k] for k in ("workspace", "project_id", "project", "job_id", "run_id")} == \
        {"workspace": "prod", "project_id": 3, "project": "prod/9/main", "job_id": 9, "run_id": 77}


def test_a_field_the_call_gives_itself_wins() -> None:
    with server_logging("json") as captured, log_context(workspace="prod", job_id=5):
        logging.getLogger("server.collect.collector").info("job", extra={"job_id": 6})
    [record] = captured.records()
    assert (record["workspace"], record["job_id"]) == ("prod", 6)


def test_text_lines_are_exactly_as_they_were() -> None:
    """A terminal line names what it is about already: the fields add nothing to it."""
    def lines() -> list[str]:
        with server_logging("text", "info") as captured:
            logging.getLogger("server.collect.collector").warning("workspace %s job %s: %s", "prod", 5, "boom")
        return captured.lines()

    plain = lines()
    with log_context(workspace="prod", project_id=3, project="prod/5/main", job_id=5, run_id=8):
        scoped = lines()
    assert [LINE.fullmatch(line).groups() for line in plain] == [LINE.fullmatch(line).groups() for line in scoped] \
        == [("WARNING", "server.collect.collector", "workspace prod job 5: boom")]


def test_a_pool_worker_does_not_carry_one_tasks_fields_into_the_next() -> None:
    """As gRPC runs its handlers: one worker thread, one call after the other."""
    seen: list[dict[str, object]] = []

    def handler(workspace: str | None) -> None:
        if workspace is None:
            seen.append(dict(current()))
            return
        with log_context(workspace=workspace):
            seen.append(dict(current()))

    with ThreadPoolExecutor(max_workers=1) as pool:
        for workspace in ("prod", None, "dev", None):
            pool.submit(handler, workspace).result()
    assert seen == [{"workspace": "prod"}, {}, {"workspace": "dev"}, {}]


def test_the_operations_guide_lists_every_field() -> None:
    from pathlib import Path

    from server.log_context import FIELDS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    listed = re.findall(r"^\| `(\w+)` \| [^|]+ \| [^|]+ \|$", doc, flags=re.MULTILINE)
    assert tuple(listed) == FIELDS, "docs/operations.md: the JSON log fields table and server.log_context.FIELDS"
