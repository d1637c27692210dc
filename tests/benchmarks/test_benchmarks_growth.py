"""The data-growth benchmark on a small slice: one scenario, one seed, a few runs."""

from __future__ import annotations

import importlib
import re

import pytest

from benchmarks.growth import MODE_LABELS, MODES, main

_DECIDE = importlib.import_module("models.decide")


def test_table_has_both_modes_for_the_scenario_and_restores_the_switch(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--scenarios", "x3-week", "--seeds", "1", "--runs", "3", "--jobs", "1"])
    assert code == 0
    out = capsys.readouterr().out
    head = re.search(r"== data growth: forecast on vs off \(1 seeds x 3 runs per scenario; means per search\)\n(.*)\n",
                     out)
    assert head is not None, out
    assert head.group(1).split() == ["scenario", "mode", "opt", "misses", "misses", "changes", "cost", "cost/off"]
    rows = [line for line in out.splitlines() if line.startswith("x3-week")]
    assert [line[17:31].strip() for line in rows] == [MODE_LABELS[m] for m in MODES]
    for line in rows:
        opt_misses, misses, changes, cost, ratio = (float(c) for c in line[31:].split())
        assert 0 <= opt_misses <= misses <= 2  # the first run is the user's, never counted
        assert 0 <= changes <= 2
        assert cost > 0
    assert float(rows[-1].split()[-1]) == 1.0  # the off mode is the reference
    assert _DECIDE.FORECAST_INPUT is True  # the product default is back on


def test_bad_arguments_are_refused_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scenarios", "weekly", "--seeds", "1", "--runs", "3"]) == 2
    assert "unknown scenarios ['weekly']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--sla-quantile", "1.5"])
