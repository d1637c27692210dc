"""docs/architecture.md names every anomaly a run can carry.

It listed 5 of 12: anyone scripting on `--json` anomalies met `launch_failed` or `unpriced` unexplained.
"""

from __future__ import annotations

from pathlib import Path

from server.timeline import ANOMALY_LABELS

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_architecture_md_names_every_anomaly_label() -> None:
    doc = DOC.read_text()
    missing = [kind for kind in ANOMALY_LABELS if f"`{kind}`" not in doc]
    assert not missing, f"docs/architecture.md (Run's anomalies) does not name {missing}"
