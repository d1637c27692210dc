"""A misspelt TRIMTAB_* variable is named at server start, not silently ignored (day-2 review)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from server.config import OTHER_VARIABLES, ServerConfig, unknown_variables

ROOT = Path(__file__).resolve().parents[2]


def test_a_misspelt_setting_is_named_with_the_one_meant() -> None:
    # The reviewer set TRIMTAB_COLLECT_INTERVAL=5; the server polled every 60 s and said nothing.
    env = {"TRIMTAB_COLLECT_INTERVAL": "5", "TRIMTAB_WORKERS": "4", "TRIMTAB_TOKEN": "x",
           "TRIMTAB_SANDBOX_SPEED": "100", "TRIMTAB_FROBNICATE": "1", "PATH": "/bin"}
    assert unknown_variables(env) == ["TRIMTAB_COLLECT_INTERVAL (did you mean TRIMTAB_COLLECT_INTERVAL_SECONDS?)",
                                      "TRIMTAB_FROBNICATE"]


def test_every_variable_the_code_reads_is_known() -> None:
    """When a part starts reading a new TRIMTAB_* variable, list it in OTHER_VARIABLES (or it is a server
    setting), or the server would warn about it."""
    server = {f.metadata["env"] for f in dataclasses.fields(ServerConfig)}
    found: set[str] = set()
    for part in ("agent", "server", "sandbox", "init_scripts", "benchmarks"):
        for path in (ROOT / part).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".sh", ""):
                found |= set(re.findall(r"\bTRIMTAB_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")))
    found -= {"TRIMTAB_SANDBOX"}  # the sandbox's prefix, in text
    assert found - server - OTHER_VARIABLES == set()
