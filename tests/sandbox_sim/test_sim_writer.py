"""The Databricks event-log layout: live ``eventlog`` plus rolled ``eventlog-YYYY-MM-DD--HH-MM.gz``."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from sandbox.sim.eventlog_writer import DatabricksEventLogWriter
from sandbox.sim.run import simulate_run


def _segments(directory: Path) -> list[list[str]]:
    rolled = sorted(p for p in directory.iterdir() if p.name.startswith("eventlog-"))
    out = [gzip.decompress(p.read_bytes()).decode().splitlines() if p.suffix == ".gz" else p.read_text().splitlines()
           for p in rolled]
    return [*out, (directory / "eventlog").read_text().splitlines()]


def test_simulated_log_written_with_rotation(tmp_path: Path) -> None:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2}
    run = simulate_run(spec, "iterative_ml", seed=2, day=0, cluster_id="c1", spark_context_id="99887766",
                       start_time_ms=1_790_000_000_000, job_id=1, run_id=2, app_name="app", spot_loss_prob=0)
    writer = DatabricksEventLogWriter(tmp_path / "eventlogs", "99887766", rotate_every_ms=120_000)
    for t, line in run.eventlog:  # the emulator appends as simulated time passes
        writer.append(t, [line])
    writer.close()
    directory = tmp_path / "eventlogs" / "99887766"
    names = sorted(p.name for p in directory.iterdir())
    assert "eventlog" in names and all(n == "eventlog" or n.endswith(".gz") for n in names)
    assert not [n for n in names if n.startswith(".")]  # no temporary files left
    segments = _segments(directory)
    span_ms = run.eventlog[-1][0] - run.eventlog[0][0]
    assert len(segments) - 1 == pytest.approx(span_ms / 120_000, abs=1.5)
    headers = [json.loads(seg[0]) for seg in segments]
    assert all(h["Event"] == "DBCEventLoggingListenerMetadata" for h in headers)
    assert [h["Rollover Number"] for h in headers] == list(range(len(segments)))
    assert {h["SparkContext Id"] for h in headers} == {99887766}
    body = [line for seg in segments for line in seg[1:]]
    assert body == [line for _, line in run.eventlog[1:]]
    rolled = [n for n in names if n != "eventlog"]
    assert rolled and all(re.fullmatch(r"eventlog-\d{4}-\d\d-\d\d--\d\d-\d\d\.gz", n) for n in rolled)


def test_without_rotation_everything_stays_in_eventlog(tmp_path: Path) -> None:
    writer = DatabricksEventLogWriter(tmp_path, "1", rotate_every_ms=None, gzip_rotated=False)
    writer.append(0, ['{"Event":"DBCEventLoggingListenerMetadata","Rollover Number":0}', '{"Event":"A"}'])
    # Flushed at once: a follower sees the lines before close.
    assert (tmp_path / "1" / "eventlog").read_text().count("\n") == 2
    writer.append(10**9, ['{"Event":"B"}'])
    writer.close()
    assert [p.name for p in (tmp_path / "1").iterdir()] == ["eventlog"]
    with pytest.raises(ValueError):
        writer.append(10**9 + 1, ["{}"])


def test_uncompressed_rotation_and_minimum_interval(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        DatabricksEventLogWriter(tmp_path, "x", rotate_every_ms=1000)
    writer = DatabricksEventLogWriter(tmp_path, "2", rotate_every_ms=60_000, gzip_rotated=False)
    writer.append(1_790_000_000_000, ['{"Event":"DBCEventLoggingListenerMetadata","Rollover Number":0}'])
    writer.append(1_790_000_061_000, ['{"Event":"A"}'])
    writer.close()
    names = sorted(p.name for p in (tmp_path / "2").iterdir())
    assert names == ["eventlog", "eventlog-2026-09-21--14-14"]


def test_reopened_stream_continues_rollover_numbers(tmp_path: Path) -> None:
    header = '{"Event":"DBCEventLoggingListenerMetadata","SparkContext Id":5,"Rollover Number":0}'
    first = DatabricksEventLogWriter(tmp_path, "5", rotate_every_ms=60_000)
    first.append(1_790_000_000_000, [header, '{"Event":"A"}'])
    first.append(1_790_000_070_000, ['{"Event":"B"}'])
    first.close()
    second = DatabricksEventLogWriter(tmp_path, "5", rotate_every_ms=60_000)  # e.g. after an emulator restart
    second.append(1_790_000_080_000, ['{"Event":"C"}'])
    second.append(1_790_000_150_000, ['{"Event":"D"}'])
    second.close()
    segments = _segments(tmp_path / "5")
    assert [json.loads(seg[0])["Rollover Number"] for seg in segments] == [0, 1, 2]
    assert [json.loads(line)["Event"] for seg in segments for line in seg[1:]] == ["A", "B", "C", "D"]
