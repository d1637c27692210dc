"""`trimtab sandbox up --clouds` without the `sandbox` extra (moto's server), as after
`pip install 'trimtab[server]'`, which no longer pulls moto and its ~60 packages: one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# A module set to None in sys.modules is one Python's import system reports missing
# (ModuleNotFoundError), as in an environment without moto; the rest runs as installed.
WITHOUT_MOTO = """
import sys
sys.modules["moto"] = None
from server.cli.entry import main
sys.argv = ["trimtab", "sandbox", "up", "--clouds", "--no-schedules", "--state-dir", sys.argv[1]]
sys.exit(main())
"""


def test_clouds_without_moto_names_the_extra_to_install(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_MOTO, str(tmp_path / "sandbox")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --clouds needs the cloud stand-ins' packages (moto's server for AWS), and moto is not installed: "
        "pip install 'trimtab[sandbox]'"]
    assert "Traceback" not in done.stderr and done.stdout == ""
