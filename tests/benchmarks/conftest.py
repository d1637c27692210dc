"""Shared fixtures of the benchmark tests."""

from __future__ import annotations

from pathlib import Path

import pytest

HEADER = "dataset,workload,config_id,instance_type,vcpus,memory_gib,nodes,price_per_hour,runtime_s,ok,data_size_gb,rep"
ROWS = [
    "d,w,2xa,a,4,16,2,1.0,100.0,1,5,1",
    "d,w,2xa,a,4,16,2,1.0,104.0,1,5,2",
    "d,w,4xa,a,4,16,4,2.0,60.0,1,5,1",
    "d,w,8xa,a,4,16,8,4.0,35.0,1,5,1",
]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "d.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path
