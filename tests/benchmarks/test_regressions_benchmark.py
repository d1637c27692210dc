"""`python -m benchmarks.regressions` runs its closed loops on `decide` and prints its table: a stable
job per seed and one per slow-down factor, each counted (small: two seeds, one noise, one factor)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_regressions_benchmark_prints_its_table_and_raw_loops(tmp_path: Path) -> None:
    raw = tmp_path / "raw.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.regressions", "--seeds", "2", "--noise", "0.15",
                           "--factors", "1.5", "--workers", "1", "--raw", str(raw)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("0.15")]
    assert [row[1] for row in rows] == ["stable", "x1.5"], done.stdout
    loops = json.loads(raw.read_text())
    assert len(loops) == 4  # two seeds, stable and x1.5
