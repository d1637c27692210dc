"""A configuration error exits 2 (argparse's usage status) with one line on stderr and no traceback;
a failure while running stays 1. Scripts that start `trimtab server start` tell "fix the settings"
from "try again" by the status alone: before, both exited 1."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ConfigError, load_config
from tests.cli_process_env import cli_process_env

REPO = Path(__file__).resolve().parents[2]
# A valid key, made once by `Fernet.generate_key()`.
FERNET_KEY = "3ZGWlTMEVowOyJH2sygM5Vnzvu1PoBsvbL-xx6QpRSE="


def _trimtab(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli.main", *args], capture_output=True, text=True,
                          env={**cli_process_env(tmp_path), **env}, cwd=REPO, timeout=60)


def _start(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _trimtab(tmp_path, "server", "start", "--listen", "127.0.0.1:0", "--state-dir",
                    str(tmp_path / "state"), *args, **env)


def _server_toml(tmp_path: Path, content: bytes | None) -> None:
    state = tmp_path / "state"
    state.mkdir(parents=True, exist_ok=True)
    if content is None:
        (state / "server.toml").mkdir()  # e.g. a volume mounted where the file was meant to be
    else:
        (state / "server.toml").write_bytes(content)


def _assert_config_error(out: subprocess.CompletedProcess[str], line: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr and "listening on" not in out.stdout
    assert out.stderr.strip().splitlines() == [line], out.stderr


def test_a_bad_variable_exits_2_in_one_line(tmp_path: Path) -> None:
    out = _start(tmp_path, TRIMTAB_GRACE_SECONDS="soon")
    _assert_config_error(out, "error: setting grace_seconds (TRIMTAB_GRACE_SECONDS): 'soon' is not a valid float")


def test_a_bad_flag_value_checked_by_the_configuration_exits_2(tmp_path: Path) -> None:
    out = _start(tmp_path, "--log-level", "loud")
    _assert_config_error(out, "error: setting log_level (--log-level): 'loud' is not one of debug, info, "
                              "warning, error")
    out = _trimtab(tmp_path, "token", "list", "--db", "mysql://u:hunter2@h/d")
    _assert_config_error(out, "error: setting db_url (--db): a mysql URL: only sqlite:/// and postgresql:// "
                              "URLs are supported")


def test_a_missing_configuration_file_exits_2(tmp_path: Path) -> None:
    out = _start(tmp_path, TRIMTAB_CONFIG=str(tmp_path / "absent.toml"))
    _assert_config_error(out, f"error: TRIMTAB_CONFIG: configuration file {tmp_path / 'absent.toml'} does not exist")


def test_a_configuration_file_that_is_not_toml_exits_2(tmp_path: Path) -> None:
    _server_toml(tmp_path, b"[unclosed\n")
    out = _start(tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'state' / 'server.toml'}: not valid "
                                                          "TOML: "), out.stderr


def test_a_configuration_file_not_in_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    """Before: exit 1 with the decoder's words alone ("'utf-8' codec can't decode byte 0xff..."), no file named."""
    _server_toml(tmp_path, b"grace_seconds = 5\n# caf\xe9\n")
    out = _start(tmp_path)
    _assert_config_error(out, f"error: {tmp_path / 'state' / 'server.toml'}: not valid TOML: not UTF-8 text (at line 2)")


def test_an_unreadable_configuration_file_exits_2(tmp_path: Path) -> None:
    """A directory where server.toml should be: before, it was skipped and the server ran on defaults."""
    _server_toml(tmp_path, None)
    out = _start(tmp_path)
    _assert_config_error(out, f"error: {tmp_path / 'state' / 'server.toml'}: cannot read the configuration "
                              "file: Is a directory")


def test_a_bad_secret_key_exits_2_before_the_database_is_made(tmp_path: Path) -> None:
    """Before: the schema was migrated first, then the server stopped with exit 1."""
    out = _start(tmp_path, TRIMTAB_SECRET_KEY="not-a-key")
    _assert_config_error(out, "error: setting secret_key (TRIMTAB_SECRET_KEY): not a valid Fernet key (32 "
                              "url-safe base64 bytes)")
    assert "not-a-key" not in out.stderr
    assert not list((tmp_path / "state").glob("*.db"))


def test_tls_files_named_in_the_configuration_file_must_exist(tmp_path: Path) -> None:
    """Before: the schema was migrated, then `[Errno 2] No such file or directory` with exit 1."""
    _server_toml(tmp_path, b'tls_cert = "/nonexistent/cert.pem"\ntls_key = "/nonexistent/key.pem"\n')
    out = _start(tmp_path)
    _assert_config_error(out, f"error: setting tls_cert ({tmp_path / 'state' / 'server.toml'}): "
                              "'/nonexistent/cert.pem' is not a file")
    assert not list((tmp_path / "state").glob("*.db"))


def test_an_unreadable_tls_ca_for_the_cli_exits_2(tmp_path: Path) -> None:
    out = _trimtab(tmp_path, "--token", "tt_x_y", "project", "list", TRIMTAB_TLS_CA=str(tmp_path / "absent.pem"))
    _assert_config_error(out, f"error: TRIMTAB_TLS_CA {str(tmp_path / 'absent.pem')!r}: cannot read the CA "
                              "certificate (No such file or directory); set it to the PEM file of the CA that "
                              "signed the server's certificate, or unset it for a server without TLS")


def test_debug_shows_the_traceback_and_still_exits_2(tmp_path: Path) -> None:
    out = _trimtab(tmp_path, "--debug", "server", "start", "--listen", "127.0.0.1:0", "--state-dir",
                   str(tmp_path / "state"), TRIMTAB_WORKERS="many")
    assert out.returncode == 2 and "Traceback" in out.stderr and "ConfigError" in out.stderr


def test_a_failure_while_running_stays_1(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = _trimtab(tmp_path, "server", "start", "--listen", f"127.0.0.1:{port}", "--state-dir",
                       str(tmp_path / "state"), TRIMTAB_SECRET_KEY=FERNET_KEY)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("content", [b"\xff\xfe", None])
def test_load_config_raises_config_error_for_a_file_it_cannot_read(tmp_path: Path, content: bytes | None) -> None:
    _server_toml(tmp_path, content)
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'state' / 'server.toml'}: "):
        load_config({}, env={"TRIMTAB_STATE_DIR": str(tmp_path / "state")})
