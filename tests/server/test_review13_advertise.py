"""The server must not advertise an address the agent refuses: ``--advertise`` is written into every
onboarded job's TRIMTAB_SERVER, and an agent refusing it exits 2 at each cluster start (not restarted).
The rule lives in both places (agent/ imports no server code): these cases run through both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from server.config import ServerConfig
from server.errors import InvalidArgument
from tests.cli_process_env import cli_process_env

REPO = Path(__file__).resolve().parents[2]

# (address, both take it): every address the server takes must be one the agent takes.
CASES: list[tuple[str, bool]] = [
    ("trimtab.example.com:50051", True),
    ("10.0.0.5:50051", True),
    ("[2001:db8::5]:50051", True),
    ("trimtab_internal-1:1", True),
    ("trimtab:65535", True),
    ("[fe80::1%eth0]:50051", False),  # reviewer's r6: the server took these three
    ("trimtab.bücher.example:50051", False),
    ("trimtab:050051", False),
    ("trimtab:٥٠٠٥١", False),  # Arabic-Indic digits: both took them (\d, str.isdigit)
    ("host/path:50051", False),  # the server took it too
    ("trimtab:0", False),
    ("trimtab:65536", False),
    (":50051", False),
    ("trimtab", False),
    ("http://trimtab:50051", False),
    ("trim tab:50051", False),
]


def _agent_takes(address: str) -> bool:
    try:
        load_config({"server": address}, env={"TRIMTAB_TOKEN": "t"})
    except ConfigError:
        return False
    return True


def _server_takes(address: str) -> bool:
    try:
        ServerConfig(advertise=address)
    except InvalidArgument:
        return False
    return True


@pytest.mark.parametrize(("address", "taken"), CASES)
def test_the_server_advertises_only_what_the_agent_takes(address: str, taken: bool) -> None:
    assert (_agent_takes(address), _server_takes(address)) == (taken, taken)


def test_surrounding_spaces_are_dropped_by_the_agent_and_refused_by_the_server() -> None:
    """The one difference, in the safe direction: the server is stricter."""
    assert _agent_takes("  trimtab:50051 ") and not _server_takes("  trimtab:50051 ")


@pytest.mark.parametrize(("address", "why"), [
    ("[fe80::1%eth0]:50051", "an IPv6 zone (%...) names an interface of this machine"),
    ("trimtab.bücher.example:50051", "give an internationalised name in its xn-- form "
                                     "(here trimtab.xn--bcher-kva.example:50051)"),
    ("trimtab:050051", "the port '050051' is not 1 to 5 ASCII digits (write it without leading zeros)"),
])
def test_server_start_refuses_an_advertise_address_the_agent_would_refuse(address: str, why: str,
                                                                          tmp_path: Path) -> None:
    """A subprocess with a bound: a server that took the address would run on (it did before)."""
    env = cli_process_env(tmp_path)
    try:
        out = subprocess.run([sys.executable, "-m", "server.cli.main", "server", "start", "--listen", "127.0.0.1:0",
                              "--http", "", "--advertise", address, "--state-dir", str(tmp_path / "state")],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"server start took --advertise {address!r} and ran on")
    assert out.returncode != 0 and "listening on" not in out.stdout
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: setting advertise (") and f"): {address!r}: " in last, last
    assert why in last and "agent" in last, last
    assert not list((tmp_path / "state").glob("*.db*"))
