"""The record of whose READ on the agent token's scope Trimtab gave: a job handed over between two
imports keeps the earlier owner's grant recorded, so detach can still take it back (pure functions)."""

from __future__ import annotations

from server.services.agent_install import granted_readers, reader_record

BOB, EVE = "bob@corp.example", "eve@corp.example"


def test_a_hand_over_keeps_the_earlier_grant_recorded() -> None:
    first = reader_record(None, "trimtab", BOB, True)
    assert first == {"scope": "trimtab", "principal": BOB, "granted": True}
    handed = reader_record(first, "trimtab", EVE, True)
    assert handed == {"scope": "trimtab", "principal": EVE, "granted": True, "earlier": [BOB]}
    assert granted_readers(handed, "trimtab") == {BOB, EVE}


def test_a_job_handed_back_finds_its_owner_s_read_trimtab_s_own() -> None:
    handed = reader_record(reader_record(None, "trimtab", BOB, True), "trimtab", EVE, False)
    back = reader_record(handed, "trimtab", BOB, False)  # bob holds the READ: this import put none
    assert back == {"scope": "trimtab", "principal": BOB, "granted": True}


def test_a_read_someone_else_gave_is_never_recorded_as_trimtab_s() -> None:
    handed = reader_record(reader_record(None, "trimtab", BOB, False), "trimtab", EVE, False)
    assert granted_readers(handed, "trimtab") == set()
    assert granted_readers(reader_record(None, "trimtab", BOB, True), "other-scope") == set()
