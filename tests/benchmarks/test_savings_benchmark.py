"""The savings benchmark runs end to end on tiny sizes and prints its table (so it cannot rot)."""

from __future__ import annotations

import pytest

from benchmarks import savings


def test_tiny_sizes_print_one_row_each_with_the_same_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert savings.main(["--sizes", "3x5,2x12"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.split()[:1] in (["3"], ["2"])]
    assert [r[:2] for r in rows] == [["3", "5"], ["2", "12"]]
    assert all(r[-1] == "yes" for r in rows), lines  # the fast path's report equals the plain one


@pytest.mark.parametrize("size, said", [("3by4", "PROJECTSxRUNS"), ("0x10", "at least one project"),
                                        ("3x4", "5 runs")])  # review rev15g: 3x4 was an IndexError
def test_bad_sizes_are_refused_with_a_reason(size: str, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        savings.main(["--sizes", size])
    assert exc.value.code == 2 and said in capsys.readouterr().err
