"""Ctrl-C after a round's runs ended (the demo drawing its summary, or between two rounds) says what
Ctrl-C mid-round says: an "interrupted:" line with the rounds so far, then the CLI's interrupted line and
exit status 130. It printed only "Aborted." (exit 1), and nobody could tell whether the round counted.
The real `trimtab demo` in its own session, sent SIGINT as a terminal sends it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from server.cli.main import INTERRUPTED_LINE
from server.demo import DEMO_JOBS, STATE_FILE
from tests.e2e.terminal import as_a_terminal_starts_it

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_after_the_last_round_says_the_rounds_so_far_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from server.cli.main import main; sys.exit(main(sys.argv[1:]))",
         "demo", "--runs", "1", "--speed", "200", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True, cwd=ROOT, preexec_fn=as_a_terminal_starts_it)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(proc.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    last = f"round 1: {DEMO_JOBS[-1].name}"  # the round's last job collected: the summary comes next
    try:
        deadline = time.monotonic() + 180
        while not any(last in line for line in lines) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "".join(lines)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
        code = proc.wait(120)
        reader.join(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = "".join(lines)
    assert code == 130, out
    # "no run in flight" from the summary; should the signal have come before the round returned,
    # mid-round's words, with nothing to cancel. Either way the round counts: its runs were kept.
    said = re.search(r"^interrupted: (no run in flight|0 run\(s\) cancelled and removed); (\d+) rounds so far$",
                     out, re.MULTILINE)
    assert said is not None and said[2] == "1", out
    assert json.loads((tmp_path / STATE_FILE).read_text())["rounds"] == 1
    assert out.rstrip().endswith(INTERRUPTED_LINE) and "Aborted." not in out, out
    assert "START COST" not in out  # no summary: the person stopped it
