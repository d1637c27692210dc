"""What a run repaired on its configuration keeps of its first attempt (pure): its out-of-memory
failure, with the driver's label when the driver's, and the most workers any attempt had up."""

from __future__ import annotations

from models.observation import OUT_OF_MEMORY
from server.collect.repairs import kept_from_first_attempt, memory_note, peak_over_attempts


def test_an_executors_out_of_memory_failure_stays_and_the_failure_itself_does_not() -> None:
    first = ("failure", OUT_OF_MEMORY, "spot_loss", "data_growth", "user_edit", "retried")
    assert kept_from_first_attempt(first) == ["spot_loss", "data_growth", "user_edit", OUT_OF_MEMORY]


def test_a_drivers_out_of_memory_failure_keeps_driver_lost_so_the_workers_are_not_blamed() -> None:
    assert kept_from_first_attempt(("failure", "driver_lost", OUT_OF_MEMORY)) == [OUT_OF_MEMORY, "driver_lost"]


def test_a_driver_lost_for_another_reason_is_the_repairs_to_say() -> None:
    # Without running out of memory, a dead driver says nothing the repair's success does not answer.
    assert kept_from_first_attempt(("failure", "driver_lost")) == []


def test_the_message_says_where_the_first_attempt_ran_out_of_memory() -> None:
    assert memory_note([]) == ""
    assert "on the executors" in memory_note([OUT_OF_MEMORY]) and "avoided" in memory_note([OUT_OF_MEMORY])
    assert "sizes the driver up" in memory_note([OUT_OF_MEMORY, "driver_lost"])


def test_the_peak_is_the_most_any_attempt_had_up() -> None:
    assert peak_over_attempts(2, [2, 6]) == 6
    assert peak_over_attempts(6, [None, 3]) == 6  # the first cluster's events are gone: its stored peak counts
    assert peak_over_attempts(None, [None, 4]) == 4
    assert peak_over_attempts(None, [None, None]) is None  # no events said: unknown, not zero
