"""Start-up and configuration checks from the production-operations review: the address agents
are told, TLS wiring, the secret key against the database, range-checked settings, the
configuration file, unsupported database URLs, and docs/operations.md kept in step with the code."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from server.config import ServerConfig, load_config, settings_markdown, split_host_port
from server.domain import Workspace
from server.errors import FailedPrecondition, InvalidArgument
from server.onboard import AgentWiring, onboard_spec
from server.serve import start_server
from server.services import job_import, workspaces
from server.services.secrets import SecretBox
from server.store import Store, open_store
from server.store.engine import make_engine

REPO = Path(__file__).resolve().parents[2]
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2}


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(("name", "value"), [
    ("collect_interval_seconds", 0.0), ("auto_import_interval_seconds", -1.0), ("recost_interval_seconds", 0.0),
    ("grace_seconds", -5.0), ("workers", -3), ("workers", 0), ("token_cache_seconds", -1.0),
    ("token_revocation_check_seconds", -1.0), ("db_busy_timeout_ms", -10), ("ingest_queue_batches", 0),
    ("ingest_group_batches", 0), ("max_events_per_batch", 0), ("max_receive_bytes", -1),
    ("max_receive_bytes", 2**31), ("gc_threshold", -1), ("collect", 7), ("collect_interval_seconds", float("nan")),
    # C ints: past them Python's own overflow error named no setting
    ("gc_threshold", 10**20), ("db_busy_timeout_ms", 2**31),
])
def test_an_out_of_range_setting_is_refused_naming_it_and_its_variable(name: str, value: float) -> None:
    env = next(f.metadata["env"] for f in dataclasses.fields(ServerConfig) if f.name == name)
    with pytest.raises(InvalidArgument, match=rf"^setting {name} \({env}\): "):
        ServerConfig(**{name: value})  # type: ignore[arg-type]


def test_a_setting_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    env = {"TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_COLLECT_INTERVAL_SECONDS": "0"}
    with pytest.raises(InvalidArgument, match=r"collect_interval_seconds \(TRIMTAB_COLLECT_INTERVAL_SECONDS\): "
                                              r"0.0 is not greater than 0"):
        load_config({}, env=env)
    with pytest.raises(InvalidArgument, match=r"setting workers \(TRIMTAB_WORKERS\): 'many' is not a valid int"):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_WORKERS": "many"})


def test_the_edges_of_each_range_are_accepted() -> None:
    config = ServerConfig(grace_seconds=0, token_cache_seconds=0, db_busy_timeout_ms=0, gc_threshold=0, workers=1,
                          ingest_queue_batches=1, collect=0, collect_interval_seconds=0.01,
                          max_receive_bytes=2**31 - 1, listen="127.0.0.1:65535")
    assert config.workers == 1 and config.collect == 0


@pytest.mark.parametrize(("listen", "why"), [
    ("127.0.0.1:99999", "port 99999 is not from 0 to 65535"), ("127.0.0.1:-1", "is not host:port"),
    ("foo", "is not host:port"), ("::1:50051", "in brackets"), ("[nohost]:1", "not an IPv6 address"),
])
def test_a_bad_listen_address_is_refused(listen: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=rf"setting listen \(TRIMTAB_LISTEN\): .*{re.escape(why)}"):
        ServerConfig(listen=listen)


@pytest.mark.parametrize("advertise", ["bad addr with spaces", "bad addr:1", "host", "host:0", ":50051",
                                       "host:70000"])
def test_a_bad_advertise_address_is_refused(advertise: str) -> None:
    with pytest.raises(InvalidArgument, match=r"setting advertise \(TRIMTAB_ADVERTISE\): "):
        ServerConfig(advertise=advertise)


@pytest.mark.parametrize("http", ["localhost", "127.0.0.1:99999", "dash board:80"])
def test_a_bad_dashboard_address_is_refused_before_the_database_is_touched(http: str, tmp_path: Path) -> None:
    # It was parsed only when the dashboard started, after the database had been migrated: a typo in a
    # rolling deploy moved the shared schema past the servers still running, then exited.
    with pytest.raises(InvalidArgument, match=r"^setting http \(TRIMTAB_HTTP\): .*leave it empty for no dashboard"):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_HTTP": http})
    assert ServerConfig(http="127.0.0.1:0").http == "127.0.0.1:0"


def test_host_port_forms() -> None:
    assert split_host_port("[::1]:0", allow_port_zero=True) == ("::1", 0)
    assert split_host_port(":50051", allow_port_zero=True) == ("", 50051)
    assert split_host_port("trimtab.example.com:443", allow_port_zero=False) == ("trimtab.example.com", 443)
    assert ServerConfig(advertise="[2001:db8::5]:50051").advertise == "[2001:db8::5]:50051"


def test_a_named_config_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.toml"
    with pytest.raises(InvalidArgument, match=rf"TRIMTAB_CONFIG: configuration file {re.escape(str(missing))} "
                                              "does not exist"):
        load_config({}, env={"TRIMTAB_CONFIG": str(missing), "TRIMTAB_STATE_DIR": str(tmp_path)})
    # The state directory's own server.toml stays optional.
    assert load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path)}).state_dir == tmp_path


def test_a_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "server.toml").write_text("workers = \n")
    with pytest.raises(InvalidArgument, match=rf"^{re.escape(str(tmp_path / 'server.toml'))}: not valid TOML: "
                                              r"Invalid value \(at line 1"):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path)})
    named = tmp_path / "other.toml"
    named.write_text("[unclosed\n")
    with pytest.raises(InvalidArgument, match=re.escape(str(named))):
        load_config({}, env={"TRIMTAB_CONFIG": str(named), "TRIMTAB_STATE_DIR": str(tmp_path)})


def test_an_unsupported_database_url_is_refused_without_a_driver_import() -> None:
    with pytest.raises(InvalidArgument, match=r"setting db_url \(TRIMTAB_DB\): a mysql URL: only sqlite:/// and "
                                              r"postgresql:// URLs are supported"):
        ServerConfig(db_url="mysql://x:hunter2@y/z")
    with pytest.raises(InvalidArgument, match="only sqlite:/// and postgresql:// URLs are supported") as err:
        make_engine("mysql://x:hunter2@y/z")
    assert "hunter2" not in str(err.value)


def test_db_upgrade_with_a_mysql_url_says_what_is_supported(tmp_path: Path) -> None:
    out = _cli(tmp_path, "db", "upgrade", "--db", "mysql://x:hunter2@y/z")
    assert out.returncode == 2  # a configuration error: the usage status
    assert "only sqlite:/// and postgresql:// URLs are supported" in out.stderr
    assert "MySQLdb" not in out.stderr and "hunter2" not in out.stderr


# ------------------------------------------------------------------ the address agents are told


def test_a_loopback_or_wildcard_address_is_refused_for_a_remote_workspace_only() -> None:
    for address in ("127.0.0.1:50051", "0.0.0.0:50051", "[::1]:50051", "[::]:50051", "localhost:50051"):
        wiring = AgentWiring(server_address=address)
        assert wiring.only_local
        with pytest.raises(FailedPrecondition, match=r"cannot reach this server .*--advertise HOST:PORT "
                                                     r"\(TRIMTAB_ADVERTISE\)"):
            wiring.check_reachable_from("https://adb-123.4.azuredatabricks.net")
        # The sandbox and the demo: the workspace is on this machine, so loopback reaches the server.
        wiring.check_reachable_from("http://127.0.0.1:8080")
        wiring.check_reachable_from("localhost:8080")
    routable = AgentWiring(server_address="trimtab.internal:50051")
    assert not routable.only_local
    routable.check_reachable_from("https://adb-123.4.azuredatabricks.net")


def test_import_into_a_remote_workspace_is_refused_before_any_call_when_agents_could_not_reach_us(
        tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    box = SecretBox(Fernet.generate_key().decode())
    store.workspaces.add(Workspace(name="prod", host="https://adb-123.4.azuredatabricks.net", cloud="azure"),
                         box.encrypt("dapi-x"))
    calls: list[str] = []

    def no_gateway(*args: object, **kwargs: object) -> object:
        calls.append("gateway")
        raise AssertionError("import must not reach the workspace")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(job_import, "gateway_for", no_gateway)  # where `import_jobs` reads it
        with pytest.raises(FailedPrecondition, match="--advertise HOST:PORT"):
            workspaces.import_jobs(store, box, "prod", [], wiring=AgentWiring(server_address="0.0.0.0:50051"))
        with pytest.raises(FailedPrecondition, match="--advertise HOST:PORT"):
            workspaces.import_jobs(store, box, "prod", [7], dry_run=True,
                                   wiring=AgentWiring(server_address="127.0.0.1:50051"))
        assert calls == []
        # The control: with an address clusters reach, import goes on to the workspace.
        with pytest.raises(AssertionError, match="must not reach"):
            workspaces.import_jobs(store, box, "prod", [], wiring=AgentWiring(server_address="trimtab.internal:50051"))
    assert calls == ["gateway"]
    assert store.projects.list("prod") == []


def test_tls_wiring_writes_trimtab_tls_and_stays_idempotent() -> None:
    wiring = AgentWiring(server_address="trimtab.example.com:50051", tls=True)
    once = onboard_spec(SPEC, project_id="7", wiring=wiring)
    assert once["spark_env_vars"]["TRIMTAB_TLS"] == "1"
    assert onboard_spec(once, project_id="7", wiring=wiring) == once
    plain = onboard_spec(SPEC, project_id="7", wiring=AgentWiring(server_address="h:1"))
    assert "TRIMTAB_TLS" not in plain["spark_env_vars"]


def test_a_tls_server_wires_agents_for_tls(tmp_path: Path) -> None:
    from tests.server.test_server_tls_config import _self_signed

    cert, key = _self_signed(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", tls_cert=cert, tls_key=key,
                          advertise="trimtab.example.com:50051", collect=0)
    running = start_server(config, store)
    try:
        wiring = workspaces.agent_wiring()
        assert (wiring.tls, wiring.server_address) == (True, "trimtab.example.com:50051")
        assert onboard_spec(SPEC, project_id="1", wiring=wiring)["spark_env_vars"]["TRIMTAB_TLS"] == "1"
    finally:
        running.stop(0)
        store.close()
        workspaces.configure(wiring=AgentWiring(server_address="127.0.0.1:50051"))


def test_the_agent_wheel_location_is_checked_and_written_into_onboarded_clusters(tmp_path: Path) -> None:
    # Needed for an init script in cloud storage, where import cannot put the wheel beside it.
    with pytest.raises(InvalidArgument, match=r"^setting agent_wheel \(TRIMTAB_AGENT_WHEEL_LOCATION\): .*pip"):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_AGENT_WHEEL_LOCATION": "s3://b/a.whl"})
    # A volume file is readable only by an init script in a volume (Databricks: referencing files).
    with pytest.raises(InvalidArgument, match=r"^setting agent_wheel .*readable only by an init script stored in a "
                                              r"volume, and Trimtab's init script s3://ops-bucket/trimtab-init.sh"):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path), "TRIMTAB_INIT_SCRIPT": "s3://ops-bucket/trimtab-init.sh",
                             "TRIMTAB_AGENT_WHEEL_LOCATION": "/Volumes/main/ops/trimtab/trimtab-0.1-py3-none-any.whl"})
    wheel = "https://pkgs.example.com/trimtab/trimtab_agent-0.1-py3-none-any.whl"
    config = load_config({"listen": "127.0.0.1:0", "collect": 0}, env={
        "TRIMTAB_STATE_DIR": str(tmp_path / "state"), "TRIMTAB_AGENT_WHEEL_LOCATION": wheel,
        "TRIMTAB_INIT_SCRIPT": "s3://ops-bucket/trimtab-init.sh"})
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    running = start_server(config, store)
    try:
        wiring = workspaces.agent_wiring()
        assert wiring.agent_wheel == wheel
        assert onboard_spec(SPEC, project_id="1", wiring=wiring)["spark_env_vars"]["TRIMTAB_AGENT_WHEEL"] == wheel
    finally:
        running.stop(0)
        store.close()
        workspaces.configure(wiring=AgentWiring(server_address="127.0.0.1:50051"))


def test_an_ipv6_server_gives_bracketed_addresses(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    running = start_server(ServerConfig(listen="[::1]:0", state_dir=tmp_path / "state", collect=0), store)
    try:
        assert running.address == running.bound_address == f"[::1]:{running.port}"
        assert workspaces.agent_wiring().server_address == f"[::1]:{running.port}"
    finally:
        running.stop(0)
        store.close()
        workspaces.configure(wiring=AgentWiring(server_address="127.0.0.1:50051"))


def test_listening_on_every_interface_prints_it_and_warns_without_advertise(tmp_path: Path) -> None:
    line, stderr = _start_and_stop(tmp_path, "--listen", "0.0.0.0:0")
    assert re.fullmatch(r"listening on 0\.0\.0\.0:\d+", line), line
    assert re.search(r"WARNING .*agents on Databricks clusters cannot reach this server at 127\.0\.0\.1:\d+.*"
                     r"--advertise/TRIMTAB_ADVERTISE", stderr), stderr
    line, stderr = _start_and_stop(tmp_path, "--listen", "0.0.0.0:0", "--advertise", "trimtab.internal:50051")
    assert line.startswith("listening on 0.0.0.0:") and "cannot reach" not in stderr
    # Without TLS on every interface, the tokens cross the network in clear text: said at start
    # (security review, ninth session), and of a plain-HTTP dashboard there too; not on loopback.
    assert re.search(r"WARNING .*listening on 0\.0\.0\.0:0 without TLS: agent and admin tokens", stderr), stderr
    line, stderr = _start_and_stop(tmp_path, "--listen", "0.0.0.0:0", "--advertise", "trimtab.internal:50051",
                                   "--http", "0.0.0.0:0")
    assert re.search(r"WARNING .*dashboard on 0\.0\.0\.0:0 over plain HTTP", stderr), stderr
    _, stderr = _start_and_stop(tmp_path, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
    assert "without TLS" not in stderr and "plain HTTP" not in stderr, stderr


def test_the_cli_prints_an_ipv6_address_in_brackets(tmp_path: Path) -> None:
    line, _ = _start_and_stop(tmp_path, "--listen", "[::1]:0")
    assert re.fullmatch(r"listening on \[::1\]:\d+", line), line


def test_an_out_of_range_port_stops_the_server_at_start(tmp_path: Path) -> None:
    out = _cli(tmp_path, "server", "start", "--listen", "127.0.0.1:99999", "--state-dir", str(tmp_path / "s"))
    assert out.returncode != 0 and "listening on" not in out.stdout
    # Named as given: the flag (it named TRIMTAB_LISTEN, which was not set).
    assert "setting listen (--listen): '127.0.0.1:99999': port 99999 is not from 0 to 65535" in out.stderr


# ------------------------------------------------------------------ the secret key


def _store_with_a_secret(store: Store, key: bytes) -> None:
    box = SecretBox(key)
    store.workspaces.add(Workspace(name="sb", host="https://adb-1.cloud.databricks.com", cloud="aws"),
                         box.encrypt("dapi-secret"), box.encrypt('{"aws_access_key_id": "x"}'))


def test_no_new_key_is_made_next_to_a_database_holding_secrets(
        any_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _store_with_a_secret(any_store, Fernet.generate_key())
    elsewhere = tmp_path / "another-host"
    config = ServerConfig(listen="127.0.0.1:0", state_dir=elsewhere, collect=0)
    with caplog.at_level(logging.ERROR, logger="server.serve"):
        running = start_server(config, any_store)
    try:
        assert not (elsewhere / "secret.key").exists()
        (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert re.search(r"stored secrets were encrypted with a key this server does not have \(no "
                         r"TRIMTAB_SECRET_KEY, no .*secret\.key; no new key was made\) \(workspace sb token, "
                         r"workspace sb cloud credentials\): start with the original --state-dir or set "
                         r"TRIMTAB_SECRET_KEY", record.getMessage()), record.getMessage()
        # What the collector records on the workspace (`workspace show`) says the same, not "replace the token".
        with pytest.raises(FailedPrecondition, match=r"no TRIMTAB_SECRET_KEY, no .*: start with the original "
                                                     r"--state-dir or set TRIMTAB_SECRET_KEY"):
            workspaces.gateway_for(any_store, _box(config), "sb")
        # Nor is a new token put under a key that would not outlive the process.
        with pytest.raises(FailedPrecondition, match="this server has no secret key"):
            _box(config).encrypt("dapi-new")
    finally:
        running.stop(0)


def test_a_key_that_cannot_read_the_stored_secrets_is_reported_at_start(
        any_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    original = Fernet.generate_key()
    _store_with_a_secret(any_store, original)
    other = Fernet.generate_key().decode()
    # Served (a lost key is mended by adding the tokens again, which needs a server), but said at once.
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "s1", secret_key=other, collect=0)
    with caplog.at_level(logging.ERROR, logger="server.serve"):
        running = start_server(config, any_store)
    try:
        with pytest.raises(FailedPrecondition, match=r"cannot be decrypted with this server's key: start the "
                                                     r"server with the key that encrypted it"):
            workspaces.gateway_for(any_store, _box(config), "sb")
    finally:
        running.stop(0)
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert re.search(r"stored secrets were encrypted with another key than TRIMTAB_SECRET_KEY \(workspace sb "
                     r"token, workspace sb cloud credentials\): start with the original --state-dir or set "
                     r"TRIMTAB_SECRET_KEY", record.getMessage()), record.getMessage()
    # Another state directory's key file is named.
    caplog.clear()
    (tmp_path / "s2").mkdir()
    (tmp_path / "s2" / "secret.key").write_bytes(Fernet.generate_key())
    with caplog.at_level(logging.ERROR, logger="server.serve"):
        start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "s2", collect=0), any_store).stop(0)
    assert str(tmp_path / "s2" / "secret.key") in caplog.records[-1].getMessage()
    # The original key serves without a word.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="server.serve"):
        start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "s3", secret_key=original.decode(),
                                  collect=0), any_store).stop(0)
    assert not [r for r in caplog.records if r.levelno == logging.ERROR]


def _box(config: ServerConfig) -> SecretBox:
    """The box the server made for itself (start_server calls the same with the same arguments)."""
    return SecretBox.for_store(config.secret_key, config.state_dir, holds_secrets=True)


def test_a_new_database_gets_a_new_key(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", collect=0), store)
    try:
        assert (tmp_path / "state" / "secret.key").stat().st_mode & 0o777 == 0o600
    finally:
        running.stop(0)
        store.close()


def test_the_cli_says_at_start_that_the_key_is_missing(tmp_path: Path) -> None:
    """The review's case: `--db` on a database with secrets, no state directory given."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store = open_store(url)
    _store_with_a_secret(store, Fernet.generate_key())
    store.close()
    proc = subprocess.Popen([sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
                             "--db", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(tmp_path), cwd=REPO)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("listening on 127.0.0.1:")
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert re.search(r"ERROR server\.serve: stored secrets were encrypted with a key this server does not have",
                     stderr), stderr
    assert not (tmp_path / "xdg" / "trimtab" / "secret.key").exists()


# ------------------------------------------------------------------ docs


def test_docs_operations_lists_every_setting_as_the_code_has_it() -> None:
    doc = (REPO / "docs" / "operations.md").read_text()
    assert settings_markdown() in doc, "docs/operations.md: paste server.config.settings_markdown() again"
    for f in dataclasses.fields(ServerConfig):
        assert f"`{f.name}`" in doc and f"`{f.metadata['env']}`" in doc, f.name
    for word in ("TRIMTAB_TLS_CA", "TRIMTAB_TLS", "secret.key", "TRIMTAB_CONFIG", "SIGTERM", "trimtab db upgrade",
                 "--advertise"):
        assert word in doc, word


def test_the_start_flags_are_the_ones_the_docs_name() -> None:
    from server.cli.main import common_options
    from server.cli.server_cmd import start

    # Once the CLI has loaded the command it also carries the options every command takes (the
    # README's, not the server's settings): not part of this comparison.
    common = {opt for o in common_options() for opt in o.opts}
    flags = {opt for p in start.params for opt in p.opts if opt.startswith("--")} - common
    documented = {f.metadata["flag"] for f in dataclasses.fields(ServerConfig) if f.metadata.get("flag")}
    assert flags == documented


# ------------------------------------------------------------------ helpers


def _env(tmp_path: Path) -> dict[str, str]:
    # A private per-user directory: nothing of the test runner's own state dir is read or written.
    return {**os.environ, "PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "TRIMTAB_COLLECT": "0"}


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli.main", *args], capture_output=True, text=True,
                          env=_env(tmp_path), cwd=REPO, timeout=60)


def _start_and_stop(tmp_path: Path, *args: str) -> tuple[str, str]:
    """`trimtab server start ARGS`: its "listening on" line and, after SIGTERM, what it logged."""
    proc = subprocess.Popen([sys.executable, "-m", "server.cli.main", "server", "start", *args,
                             "--state-dir", str(tmp_path / "state")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(tmp_path), cwd=REPO)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    return line, stderr


def test_migrate_0_refuses_an_older_schema_and_1_migrates_it(tmp_path: Path) -> None:
    """Review: the server migrated at every start, so `trimtab db upgrade` could not be held back as
    a separate step of a rollout. With migrate = 0 an older schema stops the server instead."""
    from server.store import migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, migrate.known_revisions()[1])  # one migration behind this code (head first)
        behind = migrate.current_revision(engine)
    finally:
        engine.dispose()
    assert behind != migrate.head_revision()
    config = dataclasses.replace(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path, collect=0), db_url=url,
                                 secret_key=Fernet.generate_key().decode(), migrate=0)
    with pytest.raises(FailedPrecondition, match="trimtab db upgrade"):
        start_server(config)
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) == behind  # untouched
    finally:
        engine.dispose()
    running = start_server(dataclasses.replace(config, migrate=1))
    try:
        engine = make_engine(url)
        try:
            assert migrate.current_revision(engine) == migrate.head_revision()
        finally:
            engine.dispose()
    finally:
        running.stop(grace=0)
    with pytest.raises(InvalidArgument, match=r"setting migrate \(TRIMTAB_MIGRATE\): 2 is not 0"):
        ServerConfig(migrate=2)
