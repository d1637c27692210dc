"""Files in the tuning dataset format v1: what is accepted, and bad files refused with where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import tuning
from benchmarks.dataset_format import DatasetError, load_dataset

HEADER = "dataset,workload,config_id,instance_type,vcpus,memory_gib,nodes,price_per_hour,runtime_s,ok,data_size_gb,rep"
GOOD = [
    "d,w,2xa,a,4,16,2,1.0,100.0,1,5,1",
    "d,w,2xa,a,4,16,2,1.0,104.0,1,5,2",
    "d,w,4xa,a,4,16,4,2.0,60.0,1,5,1",
    "d,w,8xa,a,4,16,8,4.0,300.0,0,5,1",
]


def _file(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_good_file_is_read_with_failed_runs_and_blank_optional_columns(tmp_path: Path) -> None:
    rows = [*GOOD, "d,w,2xb,b,,,2,1.5,90.0,1,,1"]  # a source that hides vCPUs and memory
    (wl,) = load_dataset(_file(tmp_path, rows))
    assert [c.config_id for c in wl.candidates] == ["2xa", "4xa", "8xa", "2xb"]
    assert wl.mean_runtime("2xa") == pytest.approx(102.0)
    assert wl.mean_runtime("8xa") is None  # only a failed run: infeasible
    hidden = wl.candidates[3]
    assert (hidden.vcpus, hidden.memory_gib) == (1.0, 4.0)
    assert wl.input_gb == 5.0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("d,w,2xa,a,4,16,2,1.0,abc,1,5,3", ":6: runtime_s 'abc' is not a number"),
        ("d,w,2xa,a,4,16,2,1.0,-5,1,5,3", ":6: runtime_s must be positive, got -5"),
        ("d,w,2xa,a,4,16,2,1.0,nan,1,5,3", ":6: runtime_s 'nan' is not a finite number"),
        ("d,w,2xa,a,4,16,2,1.0,100,yes,5,3", ":6: ok must be 0 or 1, got 'yes'"),
        ("d,w,2xa,a,4,16,2.5,1.0,100,1,5,3", ":6: nodes '2.5' is not a whole number"),
        ("d,w,2xa,a,4,16,2,1.0,100,1,5,2", ":6: (workload, config_id, rep) = (w, 2xa, 2) appears twice"),
        ("d,w,2xa,a,4,16,2,9.0,100,1,5,3", ":6: configuration '2xa' of workload 'w' changes price_per_hour"),
        ("e,w,2xa,a,4,16,2,1.0,100,1,5,3", ":6: dataset 'e' differs from 'd'"),
        ("d,,2xa,a,4,16,2,1.0,100,1,5,3", ":6: workload is blank"),
        ("d,w,2xa,a,4,16,2,1.0,100,1,5,3,7", ":6: more fields than the header has columns"),
        ("d,w,2xa,a,4,16,2,1.0,100,1,5,3", None),  # the control: a good sixth row is accepted
    ],
)
def test_a_bad_row_is_refused_with_its_line_and_what_is_wrong(tmp_path: Path, row: str, message: str | None) -> None:
    path = _file(tmp_path, [*GOOD, row])
    if message is None:
        assert len(load_dataset(path)[0].reps["2xa"]) == 3
        return
    with pytest.raises(DatasetError) as err:
        load_dataset(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_missing_columns_an_empty_file_and_no_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing column.*price_per_hour, runtime_s, ok"):
        load_dataset(_file(tmp_path, ["d,w,2xa,a,4,16,2"], header="dataset,workload,config_id,instance_type,vcpus,"
                                                                   "memory_gib,nodes"))
    with pytest.raises(DatasetError, match="no runs"):
        load_dataset(_file(tmp_path, []))
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "absent.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "\nd,w,2xa,caf\xe9,4,16,2,1.0,100,1,5,1\n").encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_dataset(latin)


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8" with CRLF line ends: it was refused as "missing column(s) dataset".
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([HEADER, *GOOD, "d,w,2xb,caf\u00e9,4,16,2,1.5,90.0,1,5,1"]).encode("utf-8") + b"\r\n")
    (wl,) = load_dataset(path)
    assert wl.dataset == "d"
    assert [c.config_id for c in wl.candidates] == ["2xa", "4xa", "8xa", "2xb"]
    assert wl.candidates[-1].instance_type == "caf\u00e9"


def test_a_workload_that_cannot_be_scored_is_left_out_with_a_note(tmp_path: Path) -> None:
    rows = [*GOOD, "d,lonely,2xa,a,4,16,2,1.0,50,1,5,1", "d,lonely,4xa,a,4,16,4,2.0,50,0,5,1"]
    notes: list[str] = []
    workloads = load_dataset(_file(tmp_path, rows), notes.append)
    assert [w.name for w in workloads] == ["w"]
    assert len(notes) == 1 and "workload 'lonely' left out: 1 configuration(s) with a successful run" in notes[0]
    with pytest.raises(DatasetError, match="no workload has 2 configurations"):
        load_dataset(_file(tmp_path, rows[4:], name="only_lonely.csv"))


def test_the_benchmark_refuses_a_bad_file_with_one_line_and_skips_a_bad_neighbour(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _file(tmp_path, [*GOOD, "d,w,2xa,a,4,16,2,1.0,abc,1,5,3"], name="bad.csv")
    assert tuning.main(["--dataset", str(bad), "--seeds", "1", "--budget", "3", "--tuners", "keep"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}:6: runtime_s 'abc' is not a number\n"

    assert tuning.main(["--dataset", str(tmp_path / "nowhere.csv"), "--seeds", "1"]) == 2
    assert "no such file or directory" in capsys.readouterr().err

    # A good file beside an unrelated CSV: the neighbour is left out of the prior, with a note.
    good = _file(tmp_path, GOOD, name="good.csv")
    (tmp_path / "notes.csv").write_text("name,comment\nx,y\n", encoding="utf-8")
    assert tuning.main(["--dataset", str(good), "--seeds", "1", "--budget", "3", "--sla-quantiles", "0.5",
                        "--tuners", "keep"]) == 0
    captured = capsys.readouterr()
    assert "good.csv (1 workloads, 1 seeds, prior from 1 workloads" not in captured.out  # bad.csv is not a prior
    assert "default prior" in captured.out
    assert f"note: not used for the prior: {tmp_path / 'notes.csv'}: not in the tuning dataset format v1" in captured.err
    assert f"note: not used for the prior: {bad}:6" in captured.err
