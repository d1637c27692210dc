"""Runs built by hand for the timeline, renderer and savings tests."""

from __future__ import annotations

from server.domain import CostBreakdown, Run

HOUR_MS = 3600 * 1000
START_MS = 1_750_000_000_000


def run(i: int, runtime_s: float, cost: float | None, *, phase: str = "learning", rec: int | None = None,
        outcome: str = "succeeded", anomalies: tuple[str, ...] = (), input_gb: float | None = None,
        gap_ms: int = 24 * HOUR_MS) -> Run:
    """The i-th run (id i, started i days after START_MS unless `gap_ms` says otherwise)."""
    return Run(project_id=1, databricks_run_id=1000 + i, start_ms=START_MS + i * gap_ms,
               end_ms=START_MS + i * gap_ms + int(runtime_s * 1000), runtime_s=runtime_s, outcome=outcome,
               cost=CostBreakdown(total=cost) if cost is not None else None, anomalies=anomalies,
               input_bytes=int(input_gb * 1e9) if input_gb is not None else None,
               recommendation_id=rec, phase=phase, id=i)


def story() -> list[Run]:
    """Two baseline runs, learning trials, then optimizing with a spot loss, a failure and data growth."""
    return [
        run(1, 1800, 10.0),
        run(2, 1900, 10.4),
        run(3, 2400, 6.0, rec=1),
        run(4, 1500, 8.0, rec=2, anomalies=("spot_loss",)),
        run(5, 1400, 5.5, rec=3, phase="optimizing"),
        run(6, 1450, 5.6, rec=3, phase="optimizing"),
        run(7, 300, 1.0, rec=3, phase="optimizing", outcome="failed"),
        run(8, 2100, 7.9, rec=4, phase="optimizing", anomalies=("data_growth", "user_edit")),
        run(9, 1300, 5.0, rec=4, phase="monitoring"),
    ]
