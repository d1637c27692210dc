"""The agent's log is in the driver's log directory, which Databricks delivers to cluster_log_conf
(<dest>/<cluster-id>/driver/): why an agent could not deliver (token refused, TLS handshake failed,
server unreachable) was only in $AGENT_HOME/agent.log on the driver's disk, gone with the cluster, and
the delivered logs held just the init script's "agent started ... sending to ...". The init script run
for real in a temporary root; a stand-in agent writes as the real one does (stderr is agent.log)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.agent.conftest import TOKEN
from tests.agent.test_agent_init_script import _fake_agent, _kill_all, _run, _wait_exit


def test_agent_log_is_in_the_driver_log_directory_as_the_same_file(tmp_path: Path) -> None:
    fake = _fake_agent(tmp_path, 'echo "WARNING trimtab.agent.send: server x refused the agent token" >&2\n'
                                 'exec sleep 30\n')
    proc, _ = _run(tmp_path, DB_IS_DRIVER="TRUE", TRIMTAB_SERVER="127.0.0.1:1", TRIMTAB_TOKEN=TOKEN,
                   TRIMTAB_AGENT_BIN=str(fake))
    home = tmp_path / "databricks" / "trimtab"
    pid = int((home / "agent.pid").read_text())
    try:
        assert proc.returncode == 0
        delivered = tmp_path / "databricks" / "driver" / "logs" / "trimtab-agent.log"
        assert "refused the agent token" in delivered.read_text()
        # One file under two names (a hard link here): what the agent writes later is there too, and the
        # agent's size cap, which cuts agent.log in place, keeps both small.
        assert os.path.samefile(delivered, home / "agent.log")
        with open(home / "agent.log", "a") as log:
            log.write("later line\n")
        assert delivered.read_text().endswith("later line\n")
    finally:
        _kill_all(home, pid)
        _wait_exit(pid, 10)
