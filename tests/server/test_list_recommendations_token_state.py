"""ListRecommendations refuses a page token minted for another `state` (admin.proto: a token comes
from the same project and state): before, a token of every state's listing continued a `superseded`
one from wherever its id fell, skipping or repeating recommendations without a word. On a real server
over SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2
from tests.server.conftest import Harness
from tests.server.test_list_recommendations import SMALLER, _project, _rec, _stub, h  # noqa: F401


def _page(h: Harness, project: str, state: str = "", token: str = "") -> admin_pb2.ListRecommendationsResponse:  # noqa: F811
    return _stub(h).ListRecommendations(admin_pb2.ListRecommendationsRequest(
        project=project, state=state, page_size=1, page_token=token), metadata=h.admin)


def test_a_token_of_another_state_is_refused(h: Harness) -> None:  # noqa: F811
    p = _project(h)
    for minute in range(3):
        _rec(h, p, SMALLER, minute, state="superseded")
    _rec(h, p, SMALLER, 10, state="rejected")
    every = _page(h, str(p.id)).next_page_token
    superseded = _page(h, str(p.id), state="superseded").next_page_token
    assert every and superseded

    for state, token in (("superseded", every), ("", superseded), ("rejected", superseded)):
        with pytest.raises(grpc.RpcError) as refused:
            _page(h, str(p.id), state=state, token=token)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (state, token)
        assert (refused.value.details() or "").startswith("page_token: not a token of this listing")


def test_a_token_continues_its_own_state(h: Harness) -> None:  # noqa: F811
    p = _project(h)
    ids = [_rec(h, p, SMALLER, minute, state="superseded") for minute in range(3)]
    _rec(h, p, SMALLER, 10, state="rejected")
    seen, token = [], ""
    while True:
        page = _page(h, p.name, state="superseded", token=token)
        seen += [int(r.id) for r in page.recommendations]
        if not (token := page.next_page_token):
            break
    assert seen == ids[::-1]
