"""Commands that open the store themselves: db upgrade, token create/list/revoke."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.cli.context import format_duration, parse_duration
from server.errors import Unauthenticated
from server.store import migrate, open_store
from tests.inprocess_cli import run_cli as _run


def test_db_upgrade_then_token_create(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIMTAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TRIMTAB_DB", raising=False)
    code, out, _ = _run(capsys, "db", "upgrade")
    assert code == 0 and migrate.head_revision() in out and str(tmp_path / "state" / "trimtab.db") in out
    code, out, err = _run(capsys, "token", "create", "--name", "agents", "--scope", "agent")
    assert code == 0 and "shown only now" in err
    token = out.strip().splitlines()[-1]
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'trimtab.db'}", upgrade=False)
    try:
        assert store.tokens.verify(token).scope == "agent"
    finally:
        store.close()
    code, out, _ = _run(capsys, "--json", "token", "list")
    assert code == 0 and [t["name"] for t in json.loads(out)] == ["agents"] and token not in out


def test_token_create_on_a_given_database(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--json", "token", "create", "--name", "ops", "--scope", "admin", "--db", db_url,
                        "--create-database")
    assert code == 0
    created = json.loads(out)
    store = open_store(db_url)
    try:
        assert store.tokens.verify(created["token"]).token_id == created["token_id"]
    finally:
        store.close()
    code, _, err = _run(capsys, "token", "create", "--name", "x", "--scope", "root", "--db", db_url)
    assert code == 2 and "root" in err


@pytest.mark.parametrize(("text", "seconds"), [("45m", 2700), ("1h30m", 5400), ("900s", 900), ("2h", 7200),
                                               ("1d", 86400), ("1.5h", 5400), ("1.1h", 3960)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


# A bare number ("900") was taken as seconds; it now needs a unit (see test_cli_review_fixes.py).
@pytest.mark.parametrize("text", ["", "m", "45x", "1h 30m", "-5m", "0s", "30m1h2", "900", "5m5m", "0.5s", "8d"])
def test_parse_duration_rejects(text: str) -> None:
    import click

    with pytest.raises(click.BadParameter):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (None, 5, 2700, 5400, 5405)] == ["-", "5s", "45m00s", "1h30m", "1h30m05s"]
    # days past 24 h, not "120h00m"; and the CLI reads its own output back as the same SLA
    days = (86400, 90061, 5 * 86400 + 5 * 3600, 2 * 86400 + 60)
    assert [format_duration(s) for s in days] == ["1d00h", "1d01h01m01s", "5d05h", "2d00h01m"]
    assert [parse_duration(format_duration(s), "--sla", max_seconds=10 * 86400) for s in days] == list(days)


def test_token_revoke_shows_in_list_and_refuses_the_token(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = {}
    for name in ("old-agent", "new-agent"):
        code, out, _ = _run(capsys, "--json", "token", "create", "--name", name, "--scope", "agent", "--db", db_url,
                            "--create-database")
        assert code == 0
        tokens[name] = json.loads(out)
    code, out, _ = _run(capsys, "token", "revoke", tokens["old-agent"]["token_id"], "--db", db_url)
    assert code == 0 and tokens["old-agent"]["token_id"] in out
    code, out, _ = _run(capsys, "--json", "token", "list", "--db", db_url)
    assert {t["name"]: t["revoked"] for t in json.loads(out)} == {"old-agent": True, "new-agent": False}
    code, out, _ = _run(capsys, "token", "list", "--db", db_url)
    [old_line] = [line for line in out.splitlines() if "old-agent" in line]
    [new_line] = [line for line in out.splitlines() if "new-agent" in line]
    assert old_line.split()[-1] == "revoked" and new_line.split()[-1] == "active"  # never a blank STATE
    store = open_store(db_url)
    try:
        with pytest.raises(Unauthenticated):
            store.tokens.verify(tokens["old-agent"]["token"])
        assert store.tokens.verify(tokens["new-agent"]["token"]).name == "new-agent"
    finally:
        store.close()
    code, _, err = _run(capsys, "token", "revoke", "nosuchtoken", "--db", db_url)
    assert code != 0 and "nosuchtoken" in err


def test_compact_events_drops_only_old_copies(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from server.clock import FakeClock, SystemClock
    from server.domain import AgentInfo, IngestBatch, IngestEvent, Job

    def batch(batch_id: str, key: str) -> IngestBatch:
        job = Job(application_id="app-1", job_id=int(key.split("/")[1]), stage_ids=(), submission_time_ms=0)
        return IngestBatch(batch_id=batch_id, agent=AgentInfo(agent_id="a-1"),
                           events=(IngestEvent("app-1", key, "Job", job, payload=key.encode() * 100),))

    now = SystemClock().now_ms()
    for when, key in ((now - 100 * 86_400_000, "job/1"), (now, "job/2")):
        store = open_store(db_url, clock=FakeClock(when))
        try:
            store.ingest.write([batch(key, key)])
        finally:
            store.close()
    code, out, _ = _run(capsys, "--json", "db", "compact-events", "--older-than", "30d", "--db", db_url)
    assert code == 0 and json.loads(out)["events"] == 1 and json.loads(out)["bytes"] == len(b"job/1") * 100
    store = open_store(db_url)
    try:
        assert [(k, len(p)) for k, _, p in store.ingest.events("app-1")] == [("job/1", 0), ("job/2", 500)]
        assert [j.job_id for j in store.applications.jobs("app-1")] == [1, 2]
    finally:
        store.close()
    code, _, err = _run(capsys, "db", "compact-events", "--older-than", "soon", "--db", db_url)
    assert code == 2 and "--older-than" in err and "not a duration" in err


def test_token_commands_never_migrate_an_existing_database(db_url: str, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Review: `token list` from a newer CLI moved production's schema under the running older server
    # (even with TRIMTAB_MIGRATE=0), which then could not restart ("Can't locate revision").
    from server.store import engine as db

    engine = db.make_engine(db_url)
    try:
        migrate.upgrade(engine, "0005")
    finally:
        engine.dispose()
    for migrate_env in ("1", "0"):
        monkeypatch.setenv("TRIMTAB_MIGRATE", migrate_env)
        for args in (("token", "list"), ("token", "create", "--name", "ops", "--scope", "admin"),
                     ("token", "revoke", "tok_x")):
            code, _, err = _run(capsys, *args, "--db", db_url)
            assert code == 1 and "run `trimtab db upgrade`" in err, (args, err)
    engine = db.make_engine(db_url)
    try:
        assert migrate.current_revision(engine) == "0005"  # untouched
    finally:
        engine.dispose()
    code, _, _ = _run(capsys, "db", "upgrade", "--db", db_url)
    assert code == 0
    code, out, err = _run(capsys, "--json", "token", "create", "--name", "ops", "--scope", "admin", "--db", db_url)
    assert code == 0, err
