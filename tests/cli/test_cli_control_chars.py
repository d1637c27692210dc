"""Names from agents and workspaces reach the admin's terminal with their control characters shown,
not obeyed: `agent list`, `app list`, `app show`, `project list|show` through the real CLI against a
real server (review, finding 3: an OSC 52 clipboard write in an app name reached the terminal)."""

from __future__ import annotations

import json
import os
import pty
import sys
from pathlib import Path

import grpc

from protos.trimtab.v1 import ingest_pb2, ingest_pb2_grpc
from server.domain import Project, Run
from server.serve import RunningServer
from server.store import Store
from tests.cli.conftest import NIGHTLY_SPEC, Trimtab

REPO = Path(__file__).resolve().parents[2]

ESC, BEL = "\x1b", "\x07"
# Clear screen, red "FAKE", window title, clipboard write, a carriage return and a C1 CSI (0x9b).
EVIL = f"{ESC}[2J{ESC}[31mFAKE: all OK{ESC}]0;pwned-title{BEL}{ESC}]52;c;ZWNobyBwd25lZA=={BEL}\rover\x9b2J"
# How it reads once shown, off a terminal: click drops the CSI sequences (colours) there, as it always
# did; the rest, which click leaves, is written as escapes. On a terminal (`test_on_a_terminal`), and
# in a table's cells (escaped before click sees them), the CSI sequences are shown too.
SHOWN = r"FAKE: all OK\x1b]0;pwned-title\x07\x1b]52;c;ZWNobyBwd25lZA==\x07\rover\x9b2J"
# A key/value page's values are escaped before click sees them too (`server.cli.context.one_line`).
SHOWN_ALL = r"\x1b[2J\x1b[31m" + SHOWN


def _send(server: RunningServer, token: str, app: str, app_name: str = "name" + EVIL) -> None:
    """What any agent token can send: its agent's version and hostname, the application's Spark id,
    name, user and cluster name, each carrying `EVIL`."""
    batch = ingest_pb2.EventBatch(
        batch_id=f"b-{app}",
        agent=ingest_pb2.AgentInfo(agent_id="ag-term", version="1.0" + EVIL, hostname="h" + EVIL,
                                   cluster_id="c-term"),
        events=[ingest_pb2.Event(key="start", application_id=app, application_start=ingest_pb2.ApplicationStart(
            application_id=app, spark_app_id="app-" + EVIL, app_name=app_name, user="u" + EVIL,
            cluster_id="c-term", cluster_name="cn" + EVIL, start_time_ms=1))])
    with grpc.insecure_channel(server.address) as channel:
        ack = ingest_pb2_grpc.IngestServiceStub(channel).SendBatch(
            batch, metadata=(("authorization", f"Bearer {token}"),), timeout=10)
    assert ack.batch_id == batch.batch_id


def _inert(text: str) -> None:
    for char in (ESC, BEL, "\r", "\x9b"):
        assert char not in text, f"{char!r} reached the terminal: {text!r}"


def test_agent_and_app_names_are_shown_not_obeyed(trimtab: Trimtab, cli_server: RunningServer,
                                                   cli_store: Store) -> None:
    _, agent_token = cli_store.tokens.create("agent", "agent")
    _send(cli_server, agent_token, "app-term")
    for args in (("agent", "list"), ("app", "list"), ("app", "show", "app-term")):
        code, out, err = trimtab(*args)
        assert code == 0, err
        _inert(out + err)
        # Still recognisable: the text around the sequences and the sequences themselves, as escapes.
        assert "FAKE: all OK" in out and r"\x1b]52;c;ZWNobyBwd25lZA==\x07" in out, out
    code, out, _ = trimtab("app", "show", "app-term")
    assert f"name          name{SHOWN_ALL}" in out.splitlines()
    assert f"spark app id  app-{SHOWN_ALL}" in out.splitlines()
    assert any(line.startswith("started       ") and line.endswith(" UTC") for line in out.splitlines()), out
    # A table's cells are escaped before click sees them: its colour sequences are shown too.
    code, out, _ = trimtab("agent", "list")
    assert rf"1.0\x1b[2J\x1b[31m{SHOWN}" in out


def test_a_newline_in_a_name_stays_in_its_table_row(trimtab: Trimtab, cli_server: RunningServer,
                                                     cli_store: Store) -> None:
    # The layout's own newlines pass the output stream: a table's cells escape theirs themselves.
    _, agent_token = cli_store.tokens.create("agent", "agent")
    forged = "x\napp-forged  everything-fine  c-1  1970-01-01 00:00  ended"
    _send(cli_server, agent_token, "app-nl", app_name=forged)
    code, out, err = trimtab("app", "list")
    assert code == 0, err
    header, rule, row = out.splitlines()
    assert row.split(None, 1)[1].startswith(r"x\napp-forged  everything-fine  c-1  1970-01-01 00:00  ended  c-term")
    # Aligned on the escaped text: the rule is as wide as the name as shown.
    assert rule.split()[1] == "-" * (len(forged) + 1)


def test_json_output_is_left_as_it_is(trimtab: Trimtab, cli_server: RunningServer, cli_store: Store) -> None:
    # json.dumps escapes control characters itself: a script reads back the name as sent.
    _, agent_token = cli_store.tokens.create("agent", "agent")
    _send(cli_server, agent_token, "app-json")
    code, out, err = trimtab("--json", "app", "show", "app-json")
    assert (code, err) == (0, "")
    assert json.loads(out)["app_name"] == "name" + EVIL
    code, out, _ = trimtab("agent", "list", "--json")
    assert json.loads(out)[0]["version"] == "1.0" + EVIL


def test_job_names_are_shown_not_obeyed(trimtab: Trimtab, cli_store: Store) -> None:
    # A job's name is whatever anyone who may edit the job typed (and auto-import takes it as is).
    cli_store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main", job_name="etl" + EVIL,
                                   current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))
    code, out, err = trimtab("project", "show", "prod/7/main")
    assert code == 0, err
    _inert(out + err)
    assert f"etl{SHOWN_ALL}" in out, out
    # The layout's own line breaks and columns are kept.
    (line,) = [line for line in out.splitlines() if "etl" in line]
    assert line.split("  ", 1)[1].strip() == f"7 etl{SHOWN_ALL}"


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """`trimtab *args` run as its own process under a pseudo-terminal, as an operator runs it: click
    strips nothing there. Its exit status and every byte it wrote."""
    out = bytearray()
    pid, fd = pty.fork()
    if pid == 0:  # the child: only exec (or leave at once, never back into pytest)
        try:
            os.chdir(REPO)
            os.execve(sys.executable, [sys.executable, "-m", "server.cli.entry", *args], env)
        finally:
            os._exit(127)
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out.extend(data)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), bytes(out)


def test_on_a_terminal(cli_server: RunningServer, cli_store: Store) -> None:
    _, agent_token = cli_store.tokens.create("agent", "agent")
    _, admin_token = cli_store.tokens.create("admin", "admin")
    _send(cli_server, agent_token, "app-tty")
    env = {**os.environ, "TRIMTAB_SERVER": cli_server.address, "TRIMTAB_TOKEN": admin_token,
           "PYTHONPATH": str(REPO), "TERM": "xterm"}
    for args in (["agent", "list"], ["app", "list"], ["app", "show", "app-tty"]):
        code, out = _on_a_terminal(args, env)
        assert code == 0, out
        # The terminal turns the child's \n into \r\n (onlcr): the only CR is the layout's own.
        assert b"\x1b" not in out and b"\x07" not in out and b"\xc2\x9b" not in out, out
        assert out.replace(b"\r\n", b"\n").count(b"\r") == 0, out
        # All of it shown, the clear screen and colour too.
        assert rb"\x1b[2J\x1b[31mFAKE: all OK\x1b]0;pwned-title\x07\x1b]52;c;" in out, out


# Bidirectional overrides and isolates (U+202A-202E, U+2066-2069): a job named "etl\u202egnp.exe" reads
# "etlexe.png" on a terminal, and one can make a row read as another's (Trojan Source).
BIDI = "".join(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
BIDI_SHOWN = "".join(f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# A name and a message forging the lines of a key/value page after their own.
FORGED = "x\nphase         applied (all runs met the SLA)\tok"
FORGED_SHOWN = r"x\nphase         applied (all runs met the SLA)\tok"


def test_a_newline_in_a_value_stays_on_its_line(trimtab: Trimtab, cli_server: RunningServer,
                                                cli_store: Store) -> None:
    project = cli_store.projects.add(Project(workspace="prod", job_id=8, cluster_key="main", job_name=FORGED,
                                             current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))
    code, out, err = trimtab("project", "show", "prod/8/main")
    assert code == 0, err
    (job,) = [line for line in out.splitlines() if line.startswith("job ")]
    assert job.split("  ", 1)[1].strip() == f"8 {FORGED_SHOWN}"
    assert len([line for line in out.splitlines() if line.startswith("phase")]) == 1, out

    _, agent_token = cli_store.tokens.create("agent", "agent")
    _send(cli_server, agent_token, "app-kv", app_name=FORGED)
    code, out, err = trimtab("app", "show", "app-kv")
    assert code == 0, err
    assert f"name          {FORGED_SHOWN}" in out.splitlines(), out

    run = cli_store.runs.add(Run(project_id=project.id, databricks_run_id=901, start_ms=1_800_000_000_000,
                                 runtime_s=60.0, outcome="failed", message="boom\nwhy: nothing, all fine"))
    code, out, err = trimtab("run", "show", str(run.id))
    assert code == 0, err
    assert r"why: boom\nwhy: nothing, all fine" in out.splitlines(), out
    # --json as it was: the values as stored.
    code, out, _ = trimtab("--json", "project", "show", "prod/8/main")
    assert json.loads(out)["job_name"] == FORGED


def test_bidi_controls_are_shown(trimtab: Trimtab, cli_server: RunningServer, cli_store: Store) -> None:
    cli_store.projects.add(Project(workspace="prod", job_id=9, cluster_key="main", job_name="etl" + BIDI + "gnp.exe",
                                   current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))
    _, agent_token = cli_store.tokens.create("agent", "agent")
    _send(cli_server, agent_token, "app-bidi", app_name="app" + BIDI)
    for args, shown in ((("project", "show", "prod/9/main"), f"etl{BIDI_SHOWN}gnp.exe"),
                        (("app", "list"), f"app{BIDI_SHOWN}"), (("app", "show", "app-bidi"), f"app{BIDI_SHOWN}")):
        code, out, err = trimtab(*args)
        assert code == 0, err
        assert not set(BIDI) & set(out + err), (args, out)
        assert shown in out, (args, out)
    code, out, _ = trimtab("--json", "app", "show", "app-bidi")
    assert json.loads(out)["app_name"] == "app" + BIDI


def test_a_debug_traceback_is_shown_not_obeyed(trimtab: Trimtab, cli_store: Store) -> None:
    # The server's error names the project, whose cluster key is the job's (anyone who may edit it).
    cli_store.projects.add(Project(workspace="prod", job_id=10, cluster_key="main" + EVIL + BIDI,
                                   current_spec=NIGHTLY_SPEC, original_spec=NIGHTLY_SPEC))
    code, out, err = trimtab("--debug", "recommendation", "show", "1")
    assert code == 1
    assert "Traceback (most recent call last):" in err and "has no recommendation yet" in err, err
    _inert(out + err)
    assert not set(BIDI) & set(err)
    assert r"\x1b]52;c;ZWNobyBwd25lZA==\x07" in err and BIDI_SHOWN in err


def test_workspace_show_keeps_its_last_error_on_one_line(trimtab: Trimtab, cli_store: Store) -> None:
    """`workspace show`'s error holds job names and Databricks' messages (the collector's skipped job)."""
    from server.domain import Workspace

    cli_store.workspaces.add(Workspace(name="forge", host="http://127.0.0.1:9", cloud="aws"), "x")
    cli_store.workspaces.set_status("forge", "unreachable", last_error="job " + FORGED + EVIL)
    code, out, err = trimtab("workspace", "show", "forge")
    assert code == 0, err
    _inert(out)
    (error,) = [line for line in out.splitlines() if line.startswith("error:")]
    assert FORGED_SHOWN in error, out
    assert not [line for line in out.splitlines() if line.startswith("phase")], out
    code, out, _ = trimtab("--json", "workspace", "show", "forge")
    assert json.loads(out)["last_error"] == "job " + FORGED + EVIL
