"""Backfill of damaged event logs: what can be read is imported, the report names every damaged log,
a log cut short before the application's end makes no run, and one that ends cleanly without it (the
driver died) is a failed run (SQLite and PostgreSQL, real files and CLI)."""

from __future__ import annotations

import gzip
import json
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.backfill import backfill
from server.store import Store, open_store
from tests.backfill.conftest import Delivered, add_project
from tests.inprocess_cli import run_cli as _run

pytestmark = pytest.mark.postgres

ROTATED = "eventlog-2026-12-05--09-00.gz"
GARBAGE = (b"this is not json\n", b'{"Event": "SparkListenerStageCompleted", "Stage Info": {\n')


@dataclass(frozen=True)
class Damaged:
    root: Path
    good: Path  # the delivered log as it is (rotated gzip segments and a plain live one)
    cut: Path  # the whole log in one gzip segment, cut at 60 % of its bytes
    garbage: Path  # the whole log in one plain file, two garbage lines inside and a cut-off line at the end
    full_log: bytes  # what ``cut`` held before it was cut
    garbage_log: bytes  # what ``garbage`` held before the damage


def _log_bytes(app_dir: Path) -> bytes:
    """The application's whole log, segments in order (rotated ones by name, the live one last)."""
    rotated = sorted(p for p in app_dir.iterdir() if p.name.startswith("eventlog-"))
    parts = [*rotated, app_dir / "eventlog"]
    return b"".join(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes() for p in parts)


def _app_dir(root: Path, like: Path, context_id: str) -> Path:
    # The delivered layout: <cluster-id>/eventlog/<cluster-id>_<driver-ip>/<spark-context-id>/
    target = root / like.parent.parent.parent.name / "eventlog" / like.parent.name / context_id
    target.mkdir(parents=True)
    return target


def write_damaged(delivered: Delivered, root: Path) -> Damaged:
    # Three different simulated runs, so each names its own Databricks run id (one run each).
    good_src, cut_src, garbage_src = delivered.app_dirs
    good = _app_dir(root, good_src, "1001")
    shutil.copytree(good_src, good, dirs_exist_ok=True)

    cut = _app_dir(root, cut_src, "1003")
    full = _log_bytes(cut_src)
    packed = gzip.compress(full)
    (cut / ROTATED).write_bytes(packed[: len(packed) * 6 // 10])  # like `gzip: unexpected end of file`

    garbage = _app_dir(root, garbage_src, "1004")
    garbage_log = _log_bytes(garbage_src)
    lines = garbage_log.splitlines(keepends=True)
    middle = len(lines) // 2
    body = b"".join(lines[:middle]) + GARBAGE[0] + b"".join(lines[middle:-1]) + GARBAGE[1] + lines[-1]
    (garbage / "eventlog").write_bytes(body + lines[middle][: len(lines[middle]) // 2])  # no newline: cut off
    return Damaged(root, good, cut, garbage, full, garbage_log)


@pytest.fixture
def damaged(tagged: Delivered, tmp_path: Path) -> Damaged:
    # Logs of the project's onboarded cluster (its tag in them): runs are made from the logs alone.
    return write_damaged(tagged, tmp_path / "logs")


def _stages_in(text: bytes) -> int:
    """Completed stages in the complete lines of ``text`` (json only, nothing of Trimtab's)."""
    done = set()
    for line in text.split(b"\n")[:-1]:
        ev = json.loads(line)
        if ev["Event"] == "SparkListenerStageCompleted":
            done.add((ev["Stage Info"]["Stage ID"], ev["Stage Info"].get("Stage Attempt ID", 0)))
    return len(done)


def test_damaged_logs_are_listed_and_what_can_be_read_is_kept(damaged: Damaged, store: Store) -> None:
    project = add_project(store)
    report = backfill(store, project.name, str(damaged.root))
    assert (report.applications_found, report.imported, report.already_present) == (3, 3, 0)
    assert report.usable and report.unusable_logs == 0
    by_app = {d.application_id: d for d in report.damaged_logs}
    assert sorted(by_app) == ["1003", "1004"]  # the intact log is not listed

    # The gzip cut at 60 %: an incomplete log with its truncated segment named; no run, events stored.
    cut = by_app["1003"]
    assert cut.incomplete and not cut.run_made and cut.events > 0 and cut.path == str(damaged.cut)
    (segment,) = cut.unreadable_segments
    assert segment.path == str(damaged.cut / ROTATED) and "truncated" in segment.reason
    assert cut.lines_corrupt == 1 and cut.lines_oversized == 0  # the line the cut went through
    assert report.incomplete_logs == 1 and report.runs_created == 2
    assert store.runs.for_application("1003") is None
    app = store.applications.get("1003")
    assert not app.ended and app.start_time_ms > 0
    readable = zlib.decompressobj(wbits=31).decompress((damaged.cut / ROTATED).read_bytes())
    assert 0 < len(store.applications.stages("1003")) == _stages_in(readable) < _stages_in(damaged.full_log)

    # Garbage lines and a cut-off last line: counted and skipped, the rest is a whole run.
    garbage = by_app["1004"]
    assert (garbage.lines_corrupt, garbage.lines_oversized, garbage.incomplete) == (3, 0, False)
    assert garbage.unreadable_segments == () and garbage.run_made
    run = store.runs.for_application("1004")
    assert run is not None and store.applications.get("1004").ended
    assert len(store.applications.stages("1004")) == _stages_in(damaged.garbage_log)
    assert store.runs.for_application("1001") is not None

    # Again: nothing new, and the report still says what is wrong with the logs.
    again = backfill(store, project.name, str(damaged.root))
    assert (again.imported, again.already_present, again.runs_created) == (0, 3, 0)
    assert [d.application_id for d in again.damaged_logs] == ["1003", "1004"]

    # The complete log delivered later makes the run the incomplete one could not.
    (damaged.cut / ROTATED).write_bytes(gzip.compress(damaged.full_log))
    later = backfill(store, project.name, str(damaged.root))
    assert (later.runs_created, later.incomplete_logs) == (1, 0)
    assert [d.application_id for d in later.damaged_logs] == ["1004"]
    run = store.runs.for_application("1003")
    assert run is not None and store.applications.get("1003").ended
    assert store.runs.count(int(project.id or 0)) == 3


def test_a_log_nothing_can_be_read_from(damaged: Damaged, store: Store, tmp_path: Path) -> None:
    project = add_project(store)
    root = tmp_path / "unreadable"
    app_dir = _app_dir(root, damaged.good.parent / "1001", "1005")
    (app_dir / ROTATED).write_bytes(b"\x1f\x8b this was never gzip" * 10)
    report = backfill(store, project.name, str(root))
    assert (report.applications_found, report.imported, report.runs_created) == (1, 0, 0)
    assert not report.usable and report.unusable_logs == 1
    (d,) = report.damaged_logs
    assert d.incomplete and d.events == 0 and d.unreadable_segments[0].path == str(app_dir / ROTATED)
    assert "cannot be decoded" in d.unreadable_segments[0].reason
    assert "nothing in it could be read" in d.lines()[0]


def test_a_log_ending_cleanly_without_its_end_is_a_failed_run_a_cut_one_no_run(
        tagged: Delivered, store: Store, tmp_path: Path) -> None:
    """A driver that dies (OOM, JVM crash, node lost) leaves a whole log without ApplicationEnd:
    that is the failed run it was, or the planner would never see the configuration fail. A copy
    cut inside a line is not known to have failed: no run until the complete log comes."""
    root = tmp_path / "logs"
    died_src, cut_src, _ = tagged.app_dirs  # two different Databricks runs
    died, cut = _app_dir(root, died_src, "2001"), _app_dir(root, cut_src, "2002")
    lines = _log_bytes(died_src).splitlines(keepends=True)
    last_stage = max(i for i, line in enumerate(lines) if b'"SparkListenerStageCompleted"' in line)
    (died / "eventlog").write_bytes(b"".join(lines[:last_stage]))  # ends at a line's end: the driver died
    cut_lines = _log_bytes(cut_src).splitlines(keepends=True)
    k = max(i for i, line in enumerate(cut_lines) if b'"SparkListenerStageCompleted"' in line)
    (cut / "eventlog").write_bytes(b"".join(cut_lines[:k]) + cut_lines[k][: len(cut_lines[k]) // 2])

    project = add_project(store)
    report = backfill(store, project.name, str(root))
    assert (report.imported, report.runs_created, report.incomplete_logs) == (2, 1, 2)
    by_app = {d.application_id: d for d in report.damaged_logs}
    assert by_app["2001"].incomplete and not by_app["2001"].cut and by_app["2001"].run_made
    assert by_app["2001"].lines() == [
        f"2001: log ends without the application's end ({died}): the log is intact, so the driver died "
        "before the application ended; its events are stored; it is a failed run"]
    run = store.runs.for_application("2001")
    assert run is not None and run.outcome == "failed"
    assert "the event log ends without the application's end" in run.message
    stages = store.applications.stages("2001")
    assert run.end_ms == max(s.completion_time_ms for s in stages)  # the last thing the log saw

    assert by_app["2002"].incomplete and by_app["2002"].cut and not by_app["2002"].run_made
    assert by_app["2002"].lines_corrupt == 1  # the line the cut went through
    assert "it is cut short" in by_app["2002"].lines()[0]
    assert store.runs.for_application("2002") is None and not store.applications.get("2002").ended


def test_cli_lists_the_damage_and_exits_by_what_was_usable(damaged: Damaged, migrated_db_url: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(migrated_db_url)
    try:
        add_project(store)
    finally:
        store.close()
    code, out, err = _run(capsys, "project", "backfill", "sbx/7/main", "--eventlogs", str(damaged.root),
                          "--db", migrated_db_url)
    assert code == 0, err
    assert out.strip().splitlines()[-1].split() == ["sbx/7/main", "3", "3", "0", "2"]  # the table alone
    assert "damaged event logs (2): what could be read was imported" in err
    assert f"1003: incomplete log ({damaged.cut}): it is cut short and ends without the application's end; " \
           "its events are stored; no run made" in err
    assert f"1003: unreadable segment {damaged.cut / ROTATED}: ends inside a gzip frame (truncated)" in err
    assert f"1004: skipped 3 corrupt and 0 oversized line(s) in {damaged.garbage}" in err
    assert "1001" not in err

    code, out, _ = _run(capsys, "--json", "project", "backfill", "1", "--eventlogs", str(damaged.root),
                        "--db", migrated_db_url)
    report = json.loads(out)
    assert code == 0 and report["usable"] and report["incomplete_logs"] == 1
    assert {d["application_id"]: (d["lines_corrupt"], d["incomplete"], len(d["unreadable_segments"]))
            for d in report["damaged_logs"]} == {"1003": (1, True, 1), "1004": (3, False, 0)}
    assert report["damaged_logs"][0]["unreadable_segments"][0]["path"] == str(damaged.cut / ROTATED)

    # Nothing usable at all: the damage is listed, and the command fails.
    root = tmp_path / "unreadable"
    app_dir = _app_dir(root, damaged.good.parent / "1001", "1005")
    (app_dir / ROTATED).write_bytes(b"not an event log\n" * 4)
    code, out, err = _run(capsys, "project", "backfill", "1", "--eventlogs", str(root), "--db", migrated_db_url)
    assert code == 1
    assert f"1005: unreadable segment {app_dir / ROTATED}: gzip data cannot be decoded" in err
    assert err.strip().splitlines()[-1] == (f"error: {root}: no usable event log: not one of the 1 "
                                            "application(s) could be read")
    code, out, err = _run(capsys, "--json", "project", "backfill", "1", "--eventlogs", str(root), "--db", migrated_db_url)
    assert code == 1 and json.loads(out)["unusable_logs"] == 1 and "no usable event log" in err
