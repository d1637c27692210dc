"""A run the job's timeout stopped is stored ``timed_out`` (Databricks' TIMEDOUT) and shown "timed out" in
`run list`'s outcome column (and `run show`, the dashboard: `server.render.fmt.outcome_text`)."""

from __future__ import annotations

from server.cli.run import outcome_cell


def test_a_timed_out_run_reads_timed_out_with_databricks_words() -> None:
    assert outcome_cell("timed_out", "Run timed out") == "timed out: Run timed out"
    assert outcome_cell("timed_out", "") == "timed out"
    assert outcome_cell("failed", "boom") == "failed: boom"
