"""The checkpoint stays small however many stages an application runs, and keeps its guarantee.

The parser's record of what it already emitted (stages, jobs, SQL executions, executors) is kept
as runs of ids, not as every id: state.json was ~190 KB at 20 000 stages and grew with each one.
Checked here: the id-run sets themselves, a parser restarted from its snapshot at many points of a
20 000-stage application (concurrent jobs, skipped and retried stages, late TaskEnds) emits every
key exactly once, an older agent's full-list checkpoint still loads, and a real agent process
killed with SIGKILL mid-log delivers every stage key once with a state.json of a few hundred bytes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.idset import IdRanges, StrIdSet
from agent.parse import AppParser
from tests.agent import many_stages
from tests.agent.conftest import REPO, TOKEN, AgentThread, IngestServer, agent_config

STAGES = 20_000
MAX_SNAPSHOT = 2048  # bytes of one application's parser state; the full lists took ~190 KB here


# -- the id-run sets --------------------------------------------------------------------------------
def test_id_ranges_are_the_same_set_in_any_insertion_order():
    rng = random.Random(7)
    ids = rng.sample(range(5000), 3000) + [-3, -1]  # Spark ids are >= 0, but a -1 must not break it
    r = IdRanges()
    for i in ids:
        r.add(i)
        r.add(i)  # twice: a set
    assert set(r) == set(ids) and len(r) == len(set(ids))
    assert all((x in r) == (x in set(ids)) for x in range(-5, 5005))
    assert "3" not in r and 3.0 not in r  # only ints are members
    back = IdRanges.from_json(orjson.loads(orjson.dumps(r.to_json())))
    assert back == r and len(back) == len(r)
    full = IdRanges(range(400_000))
    assert full.to_json() == [[0, 399_999]] and len(full) == 400_000


@pytest.mark.parametrize("bad", [{"a": 1}, [[3, 1]], [[1, 2], [2, 5]], [[1, "2"]], [[1, 2, 3]]])
def test_id_ranges_reject_damaged_runs(bad: Any):
    with pytest.raises(ValueError, match="id run"):
        IdRanges.from_json(bad)


def test_string_id_set_keeps_decimal_ids_as_runs_and_others_as_is():
    s = StrIdSet(["driver", "0", "1", "2", "007", "10"])
    assert all(x in s for x in ["driver", "0", "1", "2", "007", "10"])
    assert "7" not in s and "3" not in s and 1 not in s and len(s) == 6
    assert s.to_json() == {"runs": [[0, 2], [10, 10]], "other": ["007", "driver"]}
    assert StrIdSet.from_json(orjson.loads(orjson.dumps(s.to_json()))).to_json() == s.to_json()


# -- the parser: bounded state, exactly-once over restarts ------------------------------------------
def _feed(p: AppParser, lines: list[dict[str, Any]], start: int, stop: int) -> list[str]:
    return [e.key for i in range(start, stop) for e in p.feed(lines[i], (0, i))]


def _restored(snap: dict[str, Any]) -> AppParser:
    p = AppParser()
    p.restore(orjson.loads(orjson.dumps(snap)))  # as state.json stores it
    return p


def test_parser_state_stays_small_and_restarts_emit_every_key_once():
    lines = list(many_stages.events(STAGES))
    want = many_stages.expected_keys(STAGES)
    straight = AppParser()
    keys = _feed(straight, lines, 0, len(lines))
    assert sorted(keys) == sorted(want)  # the generator's expectations hold for a run without restarts
    end = straight.snapshot()
    assert len(orjson.dumps(end)) < MAX_SNAPSHOT, end

    # Restart (snapshot, new parser, replay from the low-water mark) at many points, including
    # right after late TaskEnds, mid-retry and between interleaved jobs.
    rng = random.Random(11)
    cuts = sorted(rng.sample(range(1, len(lines)), 60))
    p, emitted, pos, sizes = AppParser(), [], 0, []
    for cut in [*cuts, len(lines)]:
        emitted += _feed(p, lines, pos, cut)
        snap, low = p.snapshot(), p.low_water()
        sizes.append(len(orjson.dumps(snap)))
        p = _restored(snap)
        pos = low[1] if low is not None else cut
    emitted += _feed(p, lines, pos, len(lines))
    dupes = sorted({k for k in emitted if emitted.count(k) > 1}) if len(emitted) != len(set(emitted)) else []
    assert not dupes, dupes[:10]
    assert set(emitted) == want
    assert max(sizes) < MAX_SNAPSHOT, max(sizes)
    assert straight.feed({"Event": "SparkListenerApplicationEnd"}, (0, 0)) == []  # already ended: once


def test_app_end_counts_completed_attempts_not_ids():
    lines = list(many_stages.events(200))
    p = AppParser()
    out = [e for i, ev in enumerate(lines) for e in p.feed(ev, (0, i))]
    stages = [e.key for e in out if e.key.startswith("stage/")]
    end = next(e.body for e in out if e.key == "app-end")
    # Skipped stage ids are recorded as done, but counted stages are the completed attempts only.
    assert (end.stages_completed, end.jobs_completed, end.executors_added) == (len(stages), 100, 1)


def _old_format(snap: dict[str, Any], emitted: list[str]) -> dict[str, Any]:
    """The snapshot an agent before the id runs wrote: every emitted id listed (what it had)."""
    old = {k: v for k, v in snap.items()
           if k not in ("stages_done", "jobs_done", "sql_done", "executors_added", "executors_removed")}
    old["done_stages"] = sorted(k.removeprefix("stage/") for k in emitted if k.startswith("stage/"))
    old["done_jobs"] = sorted(int(k.removeprefix("job/")) for k in emitted if k.startswith("job/"))
    old["done_sql"] = sorted(int(k.removeprefix("sql/")) for k in emitted if k.startswith("sql/"))
    old["exec_added"] = sorted(k.removeprefix("executor-added/") for k in emitted if k.startswith("executor-added/"))
    old["exec_removed"] = sorted(k.removeprefix("executor-removed/") for k in emitted
                                 if k.startswith("executor-removed/"))
    return old


def test_an_older_agents_full_list_checkpoint_still_loads_and_replays_once():
    lines = list(many_stages.events(STAGES))
    for cut in (len(lines) // 3, len(lines) // 2 + 7):
        p = AppParser()
        emitted = _feed(p, lines, 0, cut)
        snap, low = p.snapshot(), p.low_water()
        old = _old_format(snap, emitted)
        old_size = len(orjson.dumps(old))
        assert old_size > 50_000  # the size this change is about
        q = _restored(old)
        upgraded = len(orjson.dumps(q.snapshot()))
        emitted += _feed(q, lines, low[1] if low is not None else cut, len(lines))
        assert len(emitted) == len(set(emitted)) and set(emitted) == many_stages.expected_keys(STAGES)
        # The old lists do not say which stage ids their ended jobs skipped, so those stay gaps
        # (closing them could drop a stage of a log whose JobStart Spark dropped); from the upgrade
        # on the record no longer grows: the last 2/3 or 1/2 of the application add nothing.
        final = len(orjson.dumps(q.snapshot()))
        assert upgraded < old_size * 0.6 and final <= upgraded + 200, (old_size, upgraded, final)


def test_a_damaged_record_is_started_afresh_with_a_warning(caplog: pytest.LogCaptureFixture):
    p = AppParser()
    p.restore({"app_id": "a", "stages_done": {"att0": [[5, 1]]}, "jobs_done": "x"})
    assert len(p.stages0) == 0 and len(p.done_jobs) == 0 and p.app_id == "a"
    assert "unreadable" in caplog.text and "starting it afresh" in caplog.text


# -- the real agent: state.json size, SIGKILL and restart, an upgrade from full lists ---------------
def _agent_process(root: Path, state: Path, address: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), TRIMTAB_TOKEN=TOKEN, TRIMTAB_AGENT_POLL_S="0.02",
               TRIMTAB_AGENT_BATCH_AGE_S="0.02", TRIMTAB_AGENT_BATCH_EVENTS="200",
               TRIMTAB_AGENT_CHECKPOINT_S="0.02", TRIMTAB_AGENT_READ_BUDGET="200000",
               TRIMTAB_AGENT_BACKOFF_BASE_S="0.05", TRIMTAB_AGENT_BACKOFF_MAX_S="0.3")
    return subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(root),
                             "--server", address, "--token-env", "TRIMTAB_TOKEN", "--state-dir", str(state)],
                            cwd=REPO, env=env, stderr=subprocess.DEVNULL)


class _SizeWatch:
    """Samples state.json's size while an agent runs (the largest one seen is what matters)."""

    def __init__(self, path: Path) -> None:
        self.path, self.max, self.samples = path, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            try:
                self.max = max(self.max, self.path.stat().st_size)
                self.samples += 1
            except FileNotFoundError:
                pass

    def __enter__(self) -> _SizeWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _stage_keys(srv: IngestServer) -> set[str]:
    return {k for _, k in srv.servicer.keys("stage_completed")}


def test_kill_9_mid_log_then_restart_delivers_every_stage_once_with_a_small_state(ingest: IngestServer,
                                                                                    tmp_path: Path):
    data = many_stages.lines(STAGES)
    root, state = tmp_path / "logs", tmp_path / "state"
    root.mkdir()
    f = root / f"{many_stages.APP_ID}.inprogress"
    f.write_bytes(b"".join(data[: len(data) * 2 // 3]))
    s = ingest.servicer
    want = {k for k in many_stages.expected_keys(STAGES) if k.startswith("stage/")}
    with _SizeWatch(state / "state.json") as watch:
        first = _agent_process(root, state, ingest.address)
        try:
            assert s.wait_for(lambda: len(_stage_keys(ingest)) >= 4000, 120)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        got_before = len(_stage_keys(ingest))
        assert got_before < len(want)  # killed mid-log
        with f.open("ab") as out:
            out.write(b"".join(data[len(data) * 2 // 3 :]))
        f.rename(root / many_stages.APP_ID)
        second = _agent_process(root, state, ingest.address)
        try:
            assert s.wait_for(lambda: s.keys("application_end"), 180)
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
        finally:
            if second.poll() is None:
                second.kill()
    assert _stage_keys(ingest) == want  # every stage key, each stored once (the server keys by it)
    assert {k for _, k in s.stored} == many_stages.expected_keys(STAGES)
    # Resent after the kill: at most what was spooled or read but not yet acknowledged/checkpointed
    # (one read budget's events), never the application again.
    assert s.duplicates < 3000, s.duplicates
    assert watch.samples > 10 and 0 < watch.max < MAX_SNAPSHOT, (watch.samples, watch.max)


def test_upgrade_from_a_full_list_checkpoint_on_a_running_cluster(ingest: IngestServer, tmp_path: Path):
    data = many_stages.lines(STAGES)
    root, state = tmp_path / "logs", tmp_path / "state"
    root.mkdir()
    f = root / f"{many_stages.APP_ID}.inprogress"
    f.write_bytes(b"".join(data[: len(data) // 2]))
    s = ingest.servicer
    cfg = agent_config(root, state, ingest.address)
    with AgentThread(cfg) as run:
        assert s.wait_for(lambda: len(_stage_keys(ingest)) >= 9000, 120)
        assert run.agent.wait_ticks(20, 30)
        run.stop()
    # Rewrite the checkpoint as the previous agent version wrote it: every emitted id listed.
    path = state / "state.json"
    ckpt = orjson.loads(path.read_bytes())
    (app,) = ckpt["apps"].values()
    emitted = [k for _, k in s.stored]
    app["parser"] = _old_format(app["parser"], emitted)
    path.write_bytes(orjson.dumps(ckpt))
    assert path.stat().st_size > 50_000
    sent_before = len(s.stored)
    with f.open("ab") as out:
        out.write(b"".join(data[len(data) // 2 :]))
    f.rename(root / many_stages.APP_ID)
    with AgentThread(cfg) as run:
        assert s.wait_for(lambda: s.keys("application_end"), 120)
        run.stop()
    assert {k for _, k in s.stored} == many_stages.expected_keys(STAGES)
    assert s.duplicates == 0 and len(s.stored) > sent_before  # nothing re-sent across the upgrade
    assert path.stat().st_size < MAX_SNAPSHOT
