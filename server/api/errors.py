"""The one place that maps `server.errors` to gRPC status codes.

`ErrorInterceptor` wraps every unary handler: a `TrimtabError` becomes its
status code and message (plus trailing metadata: ``retry-after-ms`` when the
error carries a hint, ``trimtab-reason`` when it carries a reason); anything else becomes INTERNAL with a generic message,
logged with its traceback, so internals never leak to callers. Request bytes that
are no message of the method's type are INVALID_ARGUMENT.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from server.errors import TrimtabError

log = logging.getLogger(__name__)

STATUS: dict[str, grpc.StatusCode] = {
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "PERMISSION_DENIED": grpc.StatusCode.PERMISSION_DENIED,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "FAILED_PRECONDITION": grpc.StatusCode.FAILED_PRECONDITION,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "CANCELLED": grpc.StatusCode.CANCELLED,
    "INTERNAL": grpc.StatusCode.INTERNAL,
}

RETRY_AFTER_KEY = "retry-after-ms"
# Not google.rpc.ErrorInfo in the status details: that needs grpcio-status and googleapis-common-protos,
# which the server does not depend on; two plain keys read the same from any client.
REASON_KEY = "trimtab-reason"
RECOMMENDATION_ID_KEY = "trimtab-recommendation-id"

# The longest status message sent. gRPC carries it in a header, percent-encoded (up to 12 bytes per
# character: 4 bytes of UTF-8, each %XX), and a client refuses replies whose headers pass its soft
# limit of 8 KiB at random, all of them past 16 KiB: a message repeating a long request value would
# turn the refusal into RESOURCE_EXHAUSTED "Stream removed", hiding the status and the field it
# names. 512 characters (at most 6 KiB encoded) stay under the soft limit whatever they are; 1024
# did not (9 KB seen in CI, refused now and then).
MAX_MESSAGE_CHARS = 512


def capped(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message`, or its start with an ellipsis and its full length when longer than `limit`."""
    if len(message) <= limit:
        return message
    suffix = f"... ({len(message)} chars)"
    return message[:max(0, limit - len(suffix))] + suffix


def status_of(exc: TrimtabError) -> grpc.StatusCode:
    return STATUS.get(exc.code, grpc.StatusCode.INTERNAL)


def trailing_metadata(exc: TrimtabError) -> tuple[tuple[str, str], ...]:
    """What a refusal carries beside its status: the retry hint, and the machine-readable reason with
    the recommendation it is about (documented in admin.proto and docs/team-contracts.md)."""
    pairs: list[tuple[str, str]] = []
    if exc.retry_after_ms is not None:
        pairs.append((RETRY_AFTER_KEY, str(exc.retry_after_ms)))
    if exc.reason:
        pairs.append((REASON_KEY, exc.reason))
        if exc.recommendation_id is not None:
            pairs.append((RECOMMENDATION_ID_KEY, str(exc.recommendation_id)))
    return tuple(pairs)


def abort(context: grpc.ServicerContext, exc: TrimtabError) -> None:
    """End the call with the status `exc` stands for (raises, like context.abort)."""
    if pairs := trailing_metadata(exc):
        # One call: each set_trailing_metadata replaces what an earlier one set.
        context.set_trailing_metadata(pairs)
    context.abort(status_of(exc), capped(exc.message))


class _Undecodable:
    """What `_parsing` hands on for request bytes that are no message of the method's type."""

    def __init__(self, why: str) -> None:
        self.why = why


def _parsing(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` that answers bytes it cannot read (invalid UTF-8 in a string field, a message
    cut short) with an `_Undecodable` rather than raising: grpc-python turns a raise there into
    INTERNAL "Exception deserializing request!" with a traceback in the log, though the caller sent
    the wrong bytes. Handed on, the call is refused as INVALID_ARGUMENT by `_wrap`."""
    if deserializer is None:
        return None
    parse = deserializer

    def read(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError as exc:
            return _Undecodable(str(exc))

    return read


def _wrap(behavior: Callable[[Any, grpc.ServicerContext], Any], method: str) -> Callable[..., Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          capped(f"{method}: the request is not a valid message ({request.why})"))
        try:
            return behavior(request, context)
        except TrimtabError as exc:
            abort(context, exc)
        except Exception:
            # context.abort raises a plain Exception subclass; let it through untouched.
            if context.code() is not None:
                raise
            log.exception("unexpected error in %s", method)
            context.abort(grpc.StatusCode.INTERNAL, "internal error (see the server log)")

    return handle


class ErrorInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _wrap(handler.unary_unary, handler_call_details.method),
            request_deserializer=_parsing(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
