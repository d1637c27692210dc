"""The ingest benchmark runs end to end on a small load and prints its table (so it cannot rot)."""

from __future__ import annotations

import pytest

from benchmarks import ingest


def test_small_run_prints_one_row_per_engine_and_agent_count(capsys: pytest.CaptureFixture[str],
                                                              postgres_url: str) -> None:
    assert ingest.main(["--agents", "1,3", "--events", "1200", "--pg-events", "1200", "--batch", "100",
                        "--repeat", "1", "--postgres", postgres_url]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split(" | ")
    assert header[0] == "engine" and header[-1] == "% of raw"
    rows = [line.split(" | ") for line in out[2:] if " | " in line]
    assert [(r[0], r[1]) for r in rows] == [("sqlite", "1"), ("sqlite", "3"), ("postgresql", "1"),
                                            ("postgresql", "3")]
    for r in rows:
        # Every event was acknowledged and stored (the benchmark exits otherwise) at a positive rate.
        assert int(r[2]) > 0 and float(r[4].replace(",", "")) > 0
        assert float(r[8].replace(",", "")) > 0 and r[9].endswith("%")
