"""The CLI against a server older than it (a rolling upgrade that upgraded the CLI first), over real
gRPC on 127.0.0.1:0 (review revU 1, 3). An older server drops request fields it does not know, so
`recommendation apply --id 1` applied whatever was pending (rc 0), and a call it lacks printed
gRPC's own "Method not found! (UNIMPLEMENTED)".

The old server is a stand-in: a servicer that answers as a server from before the pins did
(recommendation 17 pending, the pin ignored), since an older commit cannot be run from the tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.cli.main import main


class BeforePins(admin_pb2_grpc.RecommendationServiceServicer):
    """Recommendation 17 is pending; recommendation 16 is the last applied. Every change acts on
    them whatever recommendation_id says, as a server without the field does."""

    def __init__(self) -> None:
        self.changed: list[str] = []

    def GetRecommendation(self, request, context):  # type: ignore[no-untyped-def]
        return admin_pb2.Recommendation(id="17", project_id="2", state="pending", phase="optimizing")

    def ApplyRecommendation(self, request, context):  # type: ignore[no-untyped-def]
        if not request.dry_run:
            self.changed.append("apply 17")
        return admin_pb2.ApplyResult(recommendation=admin_pb2.Recommendation(id="17", state="applied"),
                                     applied=not request.dry_run)

    def RejectRecommendation(self, request, context):  # type: ignore[no-untyped-def]
        self.changed.append("reject 17")
        return admin_pb2.Recommendation(id="17", state="rejected")

    def RevertRecommendation(self, request, context):  # type: ignore[no-untyped-def]
        if not request.dry_run:
            self.changed.append("revert 16")
        return admin_pb2.ApplyResult(recommendation=admin_pb2.Recommendation(id="16", state="applied"),
                                     diff="-x\n+y\n", applied=not request.dry_run)


@pytest.fixture
def old_server() -> Iterator[tuple[str, BeforePins]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = BeforePins()
    admin_pb2_grpc.add_RecommendationServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def _cli(address: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--server", address, "--token", "tt_any", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("verb", ["apply", "reject"])
def test_a_pin_an_older_server_would_ignore_changes_nothing(
        verb: str, old_server: tuple[str, BeforePins], capsys: pytest.CaptureFixture[str]) -> None:
    address, servicer = old_server
    code, out, err = _cli(address, capsys, "recommendation", verb, "sbx/2/main", "--id", "1")
    assert code == 1 and out == ""
    assert "recommendation 1 is no longer pending (recommendation 17 is" in err
    assert servicer.changed == []  # was: "applied recommendation 17", rc 0
    # Pinned to the pending one, it goes ahead.
    code, _, err = _cli(address, capsys, "recommendation", verb, "sbx/2/main", "--id", "017")
    assert code == 0, err
    assert servicer.changed == [f"{verb} 17"]


def test_a_revert_pin_is_checked_against_the_revert_the_server_would_make(
        old_server: tuple[str, BeforePins], capsys: pytest.CaptureFixture[str]) -> None:
    address, servicer = old_server
    code, out, err = _cli(address, capsys, "recommendation", "revert", "sbx/2/main", "--id", "15")
    assert code == 1 and "recommendation 15 is not the last applied (recommendation 16 is" in err
    assert servicer.changed == []
    code, out, err = _cli(address, capsys, "recommendation", "revert", "sbx/2/main", "--id", "16")
    assert code == 0 and "reverted" in out, err
    assert servicer.changed == ["revert 16"]


def test_an_id_that_is_no_id_is_refused_by_the_cli(old_server: tuple[str, BeforePins],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    address, servicer = old_server
    code, _, err = _cli(address, capsys, "recommendation", "apply", "sbx/2/main", "--id", "x1")
    assert code == 2 and "'x1' is not a recommendation id" in err
    assert servicer.changed == []


def test_a_call_the_server_lacks_says_the_server_is_older(old_server: tuple[str, BeforePins],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    address, _ = old_server  # it serves recommendations only: ListAgents is a call it does not have
    code, _, err = _cli(address, capsys, "agent", "list")
    assert code == 1
    assert "does not have ListAgents: it is older than this CLI. Upgrade the server" in err
    assert "Method not found" not in err
