"""Real PySpark event logs followed by the agent into a real gRPC server: what is stored
equals, one for one, what the logs hold."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.agent.conftest import AgentThread, IngestServer, agent_config
from tests.agent.expected import events_of, expected_summary, stored_summary

pytestmark = pytest.mark.spark


def _apps(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if not p.name.startswith("."))


def test_every_layout_and_codec_is_stored_one_for_one(spark_logs: Path, ingest: IngestServer, tmp_path: Path):
    apps = _apps(spark_logs)
    names = {p.name.rsplit(".", 1)[-1] if p.is_file() else "rolling" for p in apps}
    assert {"lz4", "snappy", "lzf", "rolling"} <= names and len(apps) == 5
    expected: dict[tuple[str, str], tuple] = {}
    app_ids = []
    for p in apps:
        evs = events_of(p)
        app_id = next(e["App ID"] for e in evs if e["Event"] == "SparkListenerApplicationStart")
        app_ids.append(app_id)
        expected.update({(app_id, k): v for k, v in expected_summary(evs).items()})
    kinds = {k.split("/")[0] for _, k in expected}
    assert kinds == {"stage", "executor-added", "job", "sql", "driver"}  # every app logs the driver's last beat
    # Process-tree metrics on: the Python workers the JVM started are measured (local mode runs them
    # under the driver's JVM), so the driver's Python memory reaches the server.
    assert any(v[2] > 0 for (_, k), v in expected.items() if k == "driver")
    assert any(v[2] >= 1 for (_, k), v in expected.items() if k.startswith("stage/")), "a failed task"

    srv = ingest.servicer
    with AgentThread(agent_config(spark_logs, tmp_path / "state", ingest.address)) as run:
        assert srv.wait_for(lambda: len(srv.keys("application_end")) == len(apps), 60)
        assert run.stop() == 0
    assert stored_summary(list(srv.stored.values())) == expected
    assert {a for a, _ in srv.keys("application_start")} == set(app_ids)
    starts = [e.application_start for (a, k), e in srv.stored.items() if k == "app-start"]
    assert all(s.spark_version.startswith("4.") and s.conf["spark.eventLog.enabled"] == "true" for s in starts)
    assert srv.duplicates == 0
    c = srv.last_counters
    assert c.lines_corrupt == 0 and c.events_dropped_spool_full == 0 and c.events_read == len(srv.stored)


@pytest.mark.parametrize("rotation", ["rename-then-gzip", "gzip-copy-then-unlink", "gzip-copy-then-reuse-inode"])
def test_databricks_layout_with_rotation_and_gzip(spark_logs: Path, ingest: IngestServer, tmp_path: Path,
                                                  rotation: str):
    """The plain log, rewritten as Databricks writes it: eventlogs/<ctx>/eventlog + rotated segments.

    Two rotation styles: rename the live file then gzip it; or gzip a copy, delete the live file and
    start a new one (the new live file often reuses the old inode: identity must not rely on it).
    """
    plain = next(p for p in _apps(spark_logs) if p.is_file() and "." not in p.name)
    lines = plain.read_bytes().splitlines(keepends=True)
    ctx = "4127316491827352013"
    root = tmp_path / "eventlogs"
    d = root / ctx
    d.mkdir(parents=True)
    thirds = [lines[: len(lines) // 3], lines[len(lines) // 3 : 2 * len(lines) // 3], lines[2 * len(lines) // 3 :]]

    def meta(n: int) -> bytes:
        return (b'{"Event":"DBCEventLoggingListenerMetadata","Spark Version":"4.3.0","Timestamp":1,'
                b'"Rollover Number":%d,"SparkContext Id":%s}\n' % (n, ctx.encode()))

    import gzip

    (d / "eventlog-2026-11-24--05-00.gz").write_bytes(gzip.compress(meta(0) + b"".join(thirds[0])))
    live = d / "eventlog"
    live.write_bytes(meta(1) + b"".join(thirds[1][: len(thirds[1]) // 2]))
    srv = ingest.servicer
    with AgentThread(agent_config(root, tmp_path / "state", ingest.address)) as run:
        assert srv.wait_for(lambda: srv.keys("executor_added"), 30)
        # Spark keeps writing, then Databricks rotates: rename, gzip, start a new live file.
        with live.open("ab") as f:
            f.write(b"".join(thirds[1][len(thirds[1]) // 2 :]))
        rotated = d / "eventlog-2026-11-24--05-15"
        if rotation == "rename-then-gzip":
            live.rename(rotated)
            (d / "eventlog").write_bytes(meta(2) + b"".join(thirds[2][:5]))
            rotated.with_name(rotated.name + ".gz").write_bytes(gzip.compress(rotated.read_bytes()))
            rotated.unlink()
        else:
            tmp = d / ".eventlog-2026-11-24--05-15.gz.tmp"
            tmp.write_bytes(gzip.compress(live.read_bytes()))
            tmp.rename(rotated.with_name(rotated.name + ".gz"))
            if rotation == "gzip-copy-then-unlink":
                live.unlink()
            # else: the new live file gets the old one's inode (as a file system may hand it out again)
            (d / "eventlog").write_bytes(meta(2) + b"".join(thirds[2][:5]))
        assert run.agent.wait_ticks(3, 10)
        with (d / "eventlog").open("ab") as f:
            f.write(b"".join(thirds[2][5:]))
        assert srv.wait_for(lambda: srv.keys("application_end"), 30)
        run.stop()
    expected = expected_summary(events_of(plain))
    stored = stored_summary(list(srv.stored.values()), ctx)
    assert {a for a, _ in srv.stored} == {ctx}
    assert stored == expected
    start = next(e.application_start for (_, k), e in srv.stored.items() if k == "app-start")
    assert start.spark_context_id == ctx and start.application_id == ctx
    assert srv.duplicates == 0 and srv.last_counters.lines_corrupt == 0


def test_incomplete_app_is_followed_as_it_grows(spark_logs: Path, ingest: IngestServer, tmp_path: Path):
    """A single .inprogress file written in arbitrary pieces (partial lines), then renamed."""
    plain = next(p for p in _apps(spark_logs) if p.is_file() and "." not in p.name)
    data = plain.read_bytes()
    root = tmp_path / "logs"
    root.mkdir()
    target = root / (plain.name + ".inprogress")
    srv = ingest.servicer
    with AgentThread(agent_config(root, tmp_path / "state", ingest.address)) as run:
        cut = [0, 1000, 1001, len(data) // 2 + 17, len(data) - 5, len(data)]
        with target.open("wb") as f:
            for a, b in zip(cut, cut[1:], strict=False):
                f.write(data[a:b])
                f.flush()
                assert run.agent.wait_ticks(2, 10)
        shutil.move(target, root / plain.name)
        assert srv.wait_for(lambda: srv.keys("application_end"), 30)
        run.stop()
    app = next(a for a, _ in srv.stored)
    assert stored_summary(list(srv.stored.values()), app) == expected_summary(events_of(plain))
    assert srv.duplicates == 0 and srv.last_counters.lines_corrupt == 0
