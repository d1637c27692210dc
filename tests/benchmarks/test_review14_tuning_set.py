"""`python -m benchmarks.tuning --set FIELD=VALUE` checks its fields and values (review 14).

`--set p_explor=0.3` (a typo) and `--set p_explore=high` ended in a raw TypeError / ValueError
traceback from deep inside the harness; now they are usage errors (exit 2) naming the valid fields,
the closest one first, or the form the value takes. Valid overrides reach Trimtab's Settings with
their field's type.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import tuning


def _bench(dataset: Path, *sets: str) -> list[str]:
    args = ["--dataset", str(dataset), "--seeds", "1", "--budget", "3", "--sla-quantiles", "0.5",
            "--tuners", "trimtab"]
    for item in sets:
        args += ["--set", item]
    return args


@pytest.mark.parametrize(("item", "message"), [
    ("p_explor=0.3", "--set 'p_explor=0.3': p_explor is not a Settings field --set can change; "
                     "did you mean p_explore? valid: auto_apply, explore_horizon, learning_budget, min_saving, "
                     "miss_badly, miss_penalty, p_explore, p_learn, p_target, sla_per_run, working_sla"),
    ("p_explore=high", "--set 'p_explore=high': p_explore is a number, not 'high'"),
    ("p_explore=nan", "--set 'p_explore=nan': p_explore must be a finite number >= 0"),
    ("p_target=1.5", "--set 'p_target=1.5': p_target is a probability, between 0 and 1"),
    ("learning_budget=2.5", "--set 'learning_budget=2.5': learning_budget is a whole number, not '2.5'"),
    ("sla_per_run=maybe", "--set 'sla_per_run=maybe': sla_per_run is true or false (1/0, yes/no)"),
    ("sla_s=100", "--set 'sla_s=100': sla_s is not a Settings field --set can change (each SLA quantile sets it)"),
    ("p_explore", "--set 'p_explore': expected FIELD=VALUE, e.g. p_explore=0.3"),
])
def test_a_bad_set_is_a_usage_error_not_a_traceback(dataset: Path, capsys: pytest.CaptureFixture[str],
                                                     item: str, message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        tuning.main(_bench(dataset, item))
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"error: {message}" in captured.err.splitlines()[-1]


def test_valid_overrides_run_with_their_fields_types(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tuning.parse_overrides(["p_explore=0.3", "learning_budget=2", "sla_per_run=true", "working_sla=0"]) == {
        "p_explore": 0.3, "learning_budget": 2, "sla_per_run": True, "working_sla": False}
    assert tuning.main(_bench(dataset, "p_explore=0.3", "learning_budget=2", "sla_per_run=true")) == 0
    assert "== d.csv (1 workloads, 1 seeds" in capsys.readouterr().out
