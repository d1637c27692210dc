"""The projects page benchmark runs end to end on tiny sizes and prints its table (so it cannot rot)."""

from __future__ import annotations

import pytest

from benchmarks import projects_page


def test_tiny_sizes_print_one_row_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert projects_page.main(["--sizes", "3x12,2x20"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["projects", "runs", "each", "w/", "savings", "first", "s", "first", "MB", "again",
                              "s", "again", "MB", "page", "s", "page", "MB", "new", "run", "s", "warm-up", "s",
                              "warmed", "s"]
    assert [r.split()[:3] for r in rows] == [["3", "12", "3"], ["2", "20", "2"]]  # every project has savings
    for r in rows:
        assert all(float(x) >= 0 for x in r.split()[3:])


def test_one_size_from_projects_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert projects_page.main(["--projects", "1", "--runs", "10"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["1", "10", "1"]


@pytest.mark.parametrize("argv, said", [(["--projects", "3"], "go together"),
                                        (["--sizes", "3by4"], "PROJECTSxRUNS"),
                                        (["--sizes", "0x4"], "at least one project")])
def test_bad_sizes_are_refused_with_a_reason(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        projects_page.main(argv)
    assert exc.value.code == 2 and said in capsys.readouterr().err
