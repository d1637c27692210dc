"""Request bytes that are no message of the method's type: INVALID_ARGUMENT, not INTERNAL.

grpc-python answers a request deserializer that raises with INTERNAL "Exception deserializing
request!" (and a traceback in the server's log): a string field holding invalid UTF-8, or a message
cut short, read as the server's fault. Raw bytes sent past the stubs to a real server."""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2
from tests.server.conftest import Harness
from tests.timeline.seed import seed

GET_PROJECT = "/trimtab.v1.ProjectService/GetProject"
SETTINGS = "/trimtab.v1.ProjectService/UpdateProjectSettings"


def _raw(h: Harness, method: str, payload: bytes) -> admin_pb2.Project:
    call = h.channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=admin_pb2.Project.FromString)
    return call(payload, metadata=h.admin, timeout=30)


@pytest.mark.parametrize("method, payload", [
    (GET_PROJECT, b"\x0a\x04ws/\xff"),                      # project: invalid UTF-8
    (GET_PROJECT, b"\x0a\xff\xff\xff\xff\x0f"),             # a length past the message's end
    (SETTINGS, b"\x0a\x011" + b"\x12\x03\x3a\x01\xff"),     # settings.driver_node_type_id: b"\xff"
], ids=["utf8", "truncated", "nested utf8"])
def test_undecodable_request_is_invalid_argument(harness: Harness, method: str, payload: bytes,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        _raw(harness, method, payload)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert (refused.value.details() or "").startswith(f"{method}: the request is not a valid message (")
    assert "Exception deserializing" not in caplog.text


def test_readable_bytes_are_answered_as_before(harness: Harness) -> None:
    project, _ = seed(harness.store)
    # An unknown field (100) beside the project is skipped, as protobuf does.
    reply = _raw(harness, GET_PROJECT, b"\x0a" + bytes([len(str(project.id))]) + str(project.id).encode()
                 + b"\xa2\x06\x03abc")
    assert reply.id == str(project.id)
