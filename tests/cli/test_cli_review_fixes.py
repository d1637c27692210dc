"""Fixes from the CLI review (/tmp/s6/ux_report.md findings 6, 7, 8, 12, 13, 14), as a user runs
`trimtab` against a real server over real gRPC, on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server.domain import ClusterConfig, CostBreakdown, Project, Run
from server.serve import RunningServer
from server.store import Store, open_store
from tests.cli.conftest import Trimtab
from tests.inprocess_cli import run_cli as _run

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}
REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    """A port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def project(cli_store: Store) -> Project:
    p = cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                       current_spec=SPEC, original_spec=SPEC))
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)
    for i in range(4):
        cli_store.runs.add(Run(project_id=p.id, databricks_run_id=500 + i, start_ms=1_700_000_000_000 + i * 86_400_000,
                               runtime_s=2400.0 + i, config=config, cost=CostBreakdown(total=7.5 - i)))
    return p


@pytest.fixture
def admin_token(cli_store: Store, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("TRIMTAB_TOKEN", "TRIMTAB_SERVER"):
        monkeypatch.delenv(name, raising=False)
    return cli_store.tokens.create("cli", "admin")[1]


# ------------------------------------------------ 6: the common options after the subcommand


def test_common_options_work_after_the_subcommand(cli_server: RunningServer, admin_token: str, project: Project,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "project", "list", "--json", "--server", cli_server.address, "--token", admin_token)
    assert code == 0, err
    assert [p["name"] for p in json.loads(out)] == ["prod/42/main"]
    # Before the subcommand, as it always worked.
    code, out, _ = _run(capsys, "--json", "--server", cli_server.address, "--token", admin_token, "project", "list")
    assert code == 0 and [p["name"] for p in json.loads(out)] == ["prod/42/main"]
    # Mixed, and on a nested command's group level.
    code, out, _ = _run(capsys, "--server", cli_server.address, "project", "show", str(project.id), "--json",
                        "--token", admin_token)
    assert code == 0 and json.loads(out)["name"] == "prod/42/main"
    code, out, _ = _run(capsys, "savings", "--server", cli_server.address, "--token", admin_token, "--json")
    assert code == 0 and isinstance(json.loads(out), dict)


def test_an_option_after_the_subcommand_wins_over_the_environment(
        cli_server: RunningServer, admin_token: str, project: Project, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIMTAB_SERVER", f"127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("TRIMTAB_TOKEN", "tt_wrong_token")
    code, out, err = _run(capsys, "project", "list", "--server", cli_server.address, "--token", admin_token)
    assert code == 0 and "prod/42/main" in out, err
    # Left off after the subcommand, the environment still counts (the root option read it).
    monkeypatch.setenv("TRIMTAB_SERVER", cli_server.address)
    monkeypatch.setenv("TRIMTAB_TOKEN", admin_token)
    code, out, _ = _run(capsys, "project", "list", "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "prod/42/main"


def test_help_of_a_subcommand_lists_the_common_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "project", "list", "--help")
    assert code == 0 and all(opt in out for opt in ("--server", "--token", "--json", "--debug"))
    # `token list` opens the database itself: --server/--token would do nothing (tests/cli/test_cli_which_database.py).
    code, out, _ = _run(capsys, "token", "list", "--help")
    assert code == 0 and all(opt in out for opt in ("--json", "--debug", "--db"))
    assert "--server" not in out and "--token" not in out


def test_token_list_json_after_the_subcommand(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "token", "create", "--name", "ops", "--scope", "admin", "--db", db_url, "--json",
                          "--create-database")
    assert code == 0, err
    created = json.loads(out)
    code, out, _ = _run(capsys, "token", "list", "--json", "--db", db_url)
    assert code == 0 and [t["token_id"] for t in json.loads(out)] == [created["token_id"]]


# ----------------------------------------------------- 7: unreachable or malformed --server


def test_an_unreachable_server_is_one_clear_line(admin_token: str, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    code, out, err = _run(capsys, "project", "list", "--server", address, "--token", admin_token)
    assert (code, out) == (1, "")
    assert err == (f"error: cannot reach the Trimtab server at {address} (connection refused): is it running? "
                   "Set --server or TRIMTAB_SERVER.\n")


@pytest.mark.parametrize("address", ["", "notahost:xx", "host:0", "host:70000", "127.0.0.1", "a b:50051"])
def test_a_malformed_server_address_is_a_usage_error(address: str, admin_token: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--server", address, "--token", admin_token, "project", "list")
    assert (code, out) == (2, "")
    assert err == (f"error: --server/TRIMTAB_SERVER {address!r} is not HOST:PORT with a port from 1 to 65535 "
                   "(e.g. 127.0.0.1:50051)\n")


def test_a_server_error_that_says_unavailable_keeps_its_own_text() -> None:
    import grpc

    from server.cli.context import unreachable_reason

    class Status(grpc.RpcError):
        def __init__(self, details: str) -> None:
            self._details = details

        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAVAILABLE

        def details(self) -> str:
            return self._details

    # Sent by the server about a host it could not reach: not "cannot reach the Trimtab server".
    assert unreachable_reason(Status("cannot reach https://dbc.example: Connection refused")) is None
    assert unreachable_reason(Status("failed to connect to all addresses; last error: UNKNOWN: ipv4:1.2.3.4:5: "
                                     "Failed to connect to remote host: Connection refused")) == "connection refused"


def _cli_subprocess(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRIMTAB_", "GRPC_"))}
    return subprocess.run([sys.executable, "-m", "server.cli.main", *args], capture_output=True, text=True,
                          cwd=REPO, env={**base, **env}, timeout=60)


def test_grpc_core_logging_is_quiet_in_cli_processes() -> None:
    # An unresolvable name makes gRPC C-core log resolver errors at its default verbosity.
    args = ("--server", "nosuchhost.invalid:50051", "--token", "tt_x_y", "project", "list")
    done = _cli_subprocess(*args)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == ["error: cannot reach the Trimtab server at nosuchhost.invalid:50051 "
                                        "(name not resolved): is it running? Set --server or TRIMTAB_SERVER."]


def test_a_grpc_verbosity_the_user_set_is_kept(admin_token: str, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_VERBOSITY", "DEBUG")
    _run(capsys, "project", "list", "--help")
    assert os.environ["GRPC_VERBOSITY"] == "DEBUG"
    monkeypatch.delenv("GRPC_VERBOSITY")
    _run(capsys, "--server", "127.0.0.1:1", "server", "--help")  # a server keeps gRPC's own logging
    assert "GRPC_VERBOSITY" not in os.environ
    _run(capsys, "project", "list", "--help")
    assert os.environ["GRPC_VERBOSITY"] == "NONE"


# -------------------------------------------- 8: commands that open the database say which


def test_token_create_names_the_database_and_its_token_works_on_the_server(
        cli_server: RunningServer, cli_store: Store, tmp_path: Path, admin_token: str, project: Project,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'trimtab.db'}"  # the database the server runs on (conftest)
    code, out, err = _run(capsys, "token", "create", "--name", "me", "--scope", "admin", "--db", url)
    assert code == 0
    assert err.splitlines()[0] == f"database: {url} (--db)"
    token = out.strip().splitlines()[-1]
    code, out, err = _run(capsys, "--server", cli_server.address, "--token", token, "project", "list")
    assert code == 0 and "prod/42/main" in out, err


@pytest.mark.usefixtures("nothing_from_the_environment")
def test_the_database_line_says_where_the_url_came_from(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for where in (tmp_path / "xdg" / "trimtab", tmp_path / "srv", tmp_path / "env-srv"):
        open_store(f"sqlite:///{where / 'trimtab.db'}").close()  # a missing one is refused (test_cli_which_database)
    code, _, err = _run(capsys, "token", "list")
    assert code == 0 and err.splitlines() == [
        f"database: sqlite:///{tmp_path / 'xdg' / 'trimtab' / 'trimtab.db'} "
        "(default; pass --db or --state-dir as given to `trimtab server start`)"]
    code, _, err = _run(capsys, "token", "list", "--state-dir", str(tmp_path / "srv"))
    assert code == 0 and err.splitlines() == [f"database: sqlite:///{tmp_path / 'srv' / 'trimtab.db'} "
                                              "(SQLite in --state-dir)"]
    monkeypatch.setenv("TRIMTAB_STATE_DIR", str(tmp_path / "env-srv"))
    code, _, err = _run(capsys, "token", "list")
    assert code == 0 and err.splitlines() == [f"database: sqlite:///{tmp_path / 'env-srv' / 'trimtab.db'} "
                                              "(SQLite in TRIMTAB_STATE_DIR)"]
    # TRIMTAB_DB is what `trimtab server start` reads too (server/config.py).
    monkeypatch.setenv("TRIMTAB_DB", f"sqlite:///{tmp_path / 'env.db'}")
    code, _, err = _run(capsys, "token", "revoke", "nosuchtoken")
    assert code == 2 and err.splitlines()[0] == f"database: sqlite:///{tmp_path / 'env.db'} (TRIMTAB_DB)"


def test_the_database_line_hides_a_password(capsys: pytest.CaptureFixture[str], postgres_schema_url: str) -> None:
    import sqlalchemy as sa

    url = sa.engine.make_url(postgres_schema_url).set(password="s3cret").render_as_string(hide_password=False)
    code, _, err = _run(capsys, "token", "list", "--db", url)
    first = err.splitlines()[0]
    assert first.startswith("database: postgresql") and "s3cret" not in first and "***" in first, (code, err)


def test_backfill_names_the_database_it_looked_in(db_url: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "project", "backfill", "prod/1/main", "--eventlogs", str(tmp_path), "--db", db_url)
    lines = err.splitlines()
    assert code == 2 and lines[0].startswith("database: ") and lines[0].endswith(" (--db)")
    # An empty database is none: refused before the project is looked for (tests/cli/test_backfill_missing_database.py).
    assert "error: no Trimtab database at " in lines[-1]


# --------------------------------------------------------------------- 12: SLA parsing


def _sla(cli_store: Store, project: Project) -> float | None:
    return cli_store.projects.get(project.id).settings.sla_seconds


@pytest.mark.parametrize(("value", "message"), [
    ("45", "Invalid value for '--sla': '45': add a unit: 45s, 45m or 45h"),
    ("", "Invalid value for '--sla': '': give a duration like 45m, or 'none' to clear the SLA"),
    ("  ", "Invalid value for '--sla': '': give a duration like 45m, or 'none' to clear the SLA"),
    ("0.5s", "Invalid value for '--sla': '0.5s': a duration is whole seconds (0.5 s is not)"),
    ("5m5m", "Invalid value for '--sla': '5m5m' is not a duration like 45m, 1h30m or 900s (each unit once, "
             "largest first)"),
    ("100000h", "Invalid value for '--sla': '100000h' is longer than the 7d allowed"),
    ("99999999999999h", "Invalid value for '--sla': '99999999999999h' is longer than the 7d allowed"),
    ("-5m", "Invalid value for '--sla': '-5m' is not a duration"),
    ("0s", "Invalid value for '--sla': '0s': a duration must be positive"),
])
def test_sla_values_that_are_refused_leave_the_sla_alone(trimtab: Trimtab, cli_store: Store, project: Project,
                                                         value: str, message: str) -> None:
    assert trimtab("project", "set", str(project.id), "--sla", "45m")[0] == 0
    code, out, err = trimtab("project", "set", str(project.id), "--sla", value)
    assert (code, out) == (2, "") and err.startswith(f"error: {message}") and len(err.splitlines()) == 1
    assert _sla(cli_store, project) == 2700


@pytest.mark.parametrize(("value", "seconds", "shown"), [("45s", 45, "45s"), ("7d", 604800, "7d00h"),
                                                         ("1.5m", 90, "1m30s"), ("1h30m15s", 5415, "1h30m15s")])
def test_sla_values_that_are_taken(trimtab: Trimtab, cli_store: Store, project: Project, value: str,
                                   seconds: float, shown: str) -> None:
    code, out, err = trimtab("project", "set", str(project.id), "--sla", value)
    assert code == 0 and _sla(cli_store, project) == seconds and f"\nSLA               {shown}\n" in out, err


def test_only_none_clears_the_sla(trimtab: Trimtab, cli_store: Store, project: Project) -> None:
    assert trimtab("project", "set", str(project.id), "--sla", "45m")[0] == 0
    code, out, _ = trimtab("project", "set", str(project.id), "--sla", "None")
    assert code == 0 and _sla(cli_store, project) is None and "none (minimize cost)" in out


def test_compact_events_older_than_needs_a_unit_and_takes_months(db_url: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "db", "upgrade", "--db", db_url)[0] == 0
    code, out, err = _run(capsys, "db", "compact-events", "--older-than", "90", "--db", db_url)
    assert code == 2 and "Invalid value for '--older-than': '90': add a unit: 90s, 90m, 90h or 90d" in err
    code, out, err = _run(capsys, "--json", "db", "compact-events", "--older-than", "90d", "--db", db_url)
    assert code == 0 and json.loads(out)["events"] == 0, err
    code, _, err = _run(capsys, "db", "compact-events", "--older-than", "99999999999999h", "--db", db_url)
    assert code == 2 and "longer than the 3650d allowed" in err


# ---------------------------------------------------------- 13: errors that name the option


@pytest.mark.parametrize(("option", "value"), [("--spot", "maybe"), ("--auto-apply", "banana"),
                                               ("--keep-autoscaling", "perhaps")])
def test_a_bad_switch_names_its_option(trimtab: Trimtab, project: Project, option: str, value: str) -> None:
    code, out, err = trimtab("project", "set", str(project.id), "--sla", "1h", option, value)
    assert (code, out) == (2, "")
    assert err == f"error: Invalid value for '{option}': '{value}': use on or off\n"


def test_workspace_set_names_its_option(trimtab: Trimtab) -> None:
    # workspace.py passes no option name: parse_switch finds the option holding the value.
    code, _, err = trimtab("workspace", "set", "prod", "--auto-import", "maybe")
    assert code == 2 and err == "error: Invalid value for '--auto-import': 'maybe': use on or off\n"


def test_a_revoked_token_is_named_as_a_possible_reason(cli_server: RunningServer, cli_store: Store,
                                                       admin_token: str, capsys: pytest.CaptureFixture[str]) -> None:
    token, plaintext = cli_store.tokens.create("leaving", "admin")
    cli_store.tokens.revoke(token.token_id)
    code, _, err = _run(capsys, "--server", cli_server.address, "--token", plaintext, "project", "list")
    assert code == 1
    assert err == ("error: invalid or revoked token (see `trimtab token list`; created against another "
                   "--state-dir/--db than this server's?) (UNAUTHENTICATED)\n")
    code, _, err = _run(capsys, "--server", cli_server.address, "--token", "tt_abc_def", "project", "list")
    assert code == 1 and "invalid or revoked token" in err


def test_timeline_into_a_missing_directory_is_one_clear_line(trimtab: Trimtab, project: Project,
                                                             tmp_path: Path) -> None:
    out_path = tmp_path / "nonexistent" / "t.png"
    code, out, err = trimtab("timeline", str(project.id), "--out", str(out_path))
    assert (code, out, err) == (2, "", f"error: cannot write {out_path}: no such directory\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = trimtab("timeline", str(project.id), "--out", str(blocker / "t.png"))
    assert code == 2 and err == f"error: cannot write {blocker / 't.png'}: no such directory\n"


def test_timeline_that_cannot_be_written_says_why(trimtab: Trimtab, project: Project) -> None:
    # sysfs refuses new files even to root (CI runs as root, which writes into read-only
    # directories): the same OSError path as a permission problem or a full disk.
    target = Path("/sys/trimtab-timeline.png")
    code, _, err = trimtab("timeline", str(project.id), "--out", str(target))
    assert code == 1 and err == f"error: cannot write {target}: permission denied\n"


# ------------------------------------------------------------ 14: whole runs on the PNG's axis


@pytest.mark.parametrize("runs", [1, 4, 9, 40])
def test_the_png_run_axis_has_whole_numbers(runs: int) -> None:
    from server.render.png import timeline_figure
    from server.timeline import TimelinePoint, build_timeline

    points = [TimelinePoint(run_id=i + 1, start_time_ms=i * 86_400_000, runtime_s=600.0 + i, cost=1.0 + i / 10,
                            phase="learning", outcome="succeeded") for i in range(runs)]
    fig = timeline_figure(build_timeline(points, 900.0, "t"))
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_timeline_png_is_written(trimtab: Trimtab, project: Project, tmp_path: Path) -> None:
    code, out, _ = trimtab("timeline", str(project.id), "--out", str(tmp_path / "t.png"))
    assert code == 0 and out == f"wrote {tmp_path / 't.png'} (4 runs)\n"
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
