"""The API reads ids as the store does (review owndiff 4): `messages.requested_id` and
`requested_page_token` read their digits with `server.ids.parse_id`, and keep only the API's own
sign handling ("+42" is 42, "-0" is 0, any other negative is no id). Pure functions: no fixtures."""

from __future__ import annotations

import pytest

from server.api import messages
from server.domain import MAX_ROW_ID
from server.errors import InvalidArgument, NotFound
from server.ids import parse_id


@pytest.mark.parametrize(("text", "read"), [
    ("42", "42"), ("0042", "42"), ("+42", "42"), (" 42\n", "42"), ("-0", "0"), ("0", "0"),
    (str(MAX_ROW_ID), str(MAX_ROW_ID)), ("0" * 5000 + "7", "7"), ("ws/3/main", "ws/3/main"), ("nightly", "nightly"),
])
def test_an_id_is_read_in_its_plain_form_and_a_name_passes_unchanged(text: str, read: str) -> None:
    assert messages.requested_id(text, "project") == read


@pytest.mark.parametrize(("text", "said"), [
    ("-5", "run -5 not found"), (str(MAX_ROW_ID + 1), f"run {MAX_ROW_ID + 1} not found"),
    ("９", "run '９' not found"), ("²", "run '²' not found"),
])
def test_a_number_no_row_can_have_is_not_found(text: str, said: str) -> None:
    with pytest.raises(NotFound, match=f"^{said}$"):
        messages.requested_id(text, "run")


def test_thousands_of_digits_are_not_found_without_reading_them() -> None:
    with pytest.raises(NotFound):
        messages.requested_id("9" * 5000, "run")


@pytest.mark.parametrize("text", ["0", "00", "1", "+1", "-1", "0012", "2147483647", "2147483648", "12a"])
def test_the_api_and_the_store_agree_on_a_plain_or_signed_number(text: str) -> None:
    unsigned = parse_id(text.lstrip("+"), MAX_ROW_ID) if not text.startswith("-") else None
    try:
        read: int | None = int(messages.requested_id(text, "run"))
    except (NotFound, ValueError):
        read = None
    assert read == unsigned


@pytest.mark.parametrize(("token", "read"), [("", ""), ("7", "7"), ("+007", "7"), (" 7 ", "7")])
def test_a_page_token_is_read_in_its_plain_form(token: str, read: str) -> None:
    assert messages.requested_page_token(token) == read


@pytest.mark.parametrize("token", ["0", "-0", "-7", str(MAX_ROW_ID + 1), "x", " ", "７"])
def test_a_page_token_never_issued_is_invalid(token: str) -> None:
    with pytest.raises(InvalidArgument, match="^page_token: not a token this server issued$"):
        messages.requested_page_token(token)
