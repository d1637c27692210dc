"""`python -m benchmarks.calibration` in a clone without ../shared (fresh-clone review, ninth
session): it printed empty tables and exited 0, which reads as a result."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import calibration


def test_no_dataset_is_an_error_naming_the_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert calibration.main(["--datasets-dir", str(tmp_path)]) == 2
    assert f"no dataset found in {tmp_path}: give --datasets-dir" in capsys.readouterr().err
