"""A port already taken: the server says "address already in use", not gRPC's "set GRPC_VERBOSITY=debug"."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.cli.main import main
from server.config import ServerConfig
from server.errors import FailedPrecondition
from server.serve import _bind_refusal, start_server


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another socket listens on (127.0.0.1, picked by the system)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_start_server_on_a_taken_port_says_address_already_in_use(taken_port: int, tmp_path: Path) -> None:
    config = ServerConfig(listen=f"127.0.0.1:{taken_port}", http="", collect=0, state_dir=tmp_path)
    with pytest.raises(FailedPrecondition) as raised:
        start_server(config)
    message = str(raised.value)
    assert message == (f"cannot listen on 127.0.0.1:{taken_port}: address already in use: 127.0.0.1:{taken_port} "
                       "(another process listens there: stop it or pick another --listen port)")
    assert "GRPC_VERBOSITY" not in message
    # Refused before the store was opened: no database was created (or would have been migrated).
    assert not (tmp_path / "trimtab.db").exists()


def test_server_start_command_on_a_taken_port_is_one_clear_line(taken_port: int, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRIMTAB_DB", "TRIMTAB_CONFIG", "TRIMTAB_HTTP", "TRIMTAB_LISTEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIMTAB_COLLECT", "0")
    code = main(["server", "start", "--listen", f"127.0.0.1:{taken_port}", "--state-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1 and "listening on" not in out
    assert err.splitlines()[-1] == (f"error: cannot listen on 127.0.0.1:{taken_port}: address already in use: "
                                    f"127.0.0.1:{taken_port} (another process listens there: stop it or pick "
                                    "another --listen port)")
    assert list(tmp_path.glob("*.db*")) == []


def test_the_port_is_free_again_after_the_refusal_and_a_server_starts_on_it(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert _bind_refusal("127.0.0.1", port) is not None
        with pytest.raises(FailedPrecondition, match="address already in use"):
            start_server(ServerConfig(listen=f"127.0.0.1:{port}", http="", collect=0, state_dir=tmp_path))
    assert _bind_refusal("127.0.0.1", port) is None
    running = start_server(ServerConfig(listen=f"127.0.0.1:{port}", http="", collect=0, state_dir=tmp_path))
    try:
        assert running.port == port
    finally:
        running.stop(0)


def test_an_address_not_of_this_machine_is_named(tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never assigned to an interface.
    with pytest.raises(FailedPrecondition) as raised:
        start_server(ServerConfig(listen="192.0.2.1:0", http="", collect=0, state_dir=tmp_path))
    assert str(raised.value) == ("cannot listen on 192.0.2.1:0: address not available: 192.0.2.1:0 "
                                 "(not an address of this machine)")
