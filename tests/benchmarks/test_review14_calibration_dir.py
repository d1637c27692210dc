"""`python -m benchmarks.calibration` without its datasets says so before printing anything (review 14).

With ../shared/datasets/tuning absent (a fresh clone) it printed the table's header and "per
dataset (medians ...)" on stdout above its "not found" error, which reads like the start of a result.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import calibration

HEADER = "dataset,workload,config_id,instance_type,vcpus,memory_gib,nodes,price_per_hour,runtime_s,ok"


def test_a_missing_datasets_dir_is_one_error_line_and_no_table(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "shared" / "datasets" / "tuning"
    assert calibration.main(["--datasets-dir", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"no dataset found in {missing} (no such directory): give --datasets-dir, a directory "
                            "holding cherrypick.csv, c3o.csv, bell.csv, dataproc.csv, lumos.csv in the tuning "
                            "dataset format v1 (benchmarks/dataset_format.py); the measurements are not part of "
                            "this repository\n")


def test_an_empty_datasets_dir_prints_no_table_either(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert calibration.main(["--datasets-dir", str(tmp_path), "--only", "c3o"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"no dataset found in {tmp_path}: give --datasets-dir, a directory holding c3o.csv ")


def test_a_dataset_without_a_successful_run_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c3o.csv").write_text(f"{HEADER}\nc3o,w,a,m5.large,2,8,2,0.2,100,0\n", encoding="utf-8")
    assert calibration.main(["--datasets-dir", str(tmp_path), "--only", "c3o"]) == 2
    assert capsys.readouterr().err == f"no successful run in the datasets of {tmp_path}: nothing to fit\n"
