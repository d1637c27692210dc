"""The one place gRPC calls are counted: `MetricsInterceptor`, the server's outermost interceptor, so
it sees every unary call's final status, a refused token's UNAUTHENTICATED and the error
interceptor's codes included (`server.api.auth`, `server.api.errors`). Streaming calls (health's
Watch, reflection) are left uncounted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc

from server.metrics import ServerMetrics

log = logging.getLogger("server.metrics")


class MetricsInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = continuation(handler_call_details)
        if handler is None:
            # No service has the method: gRPC answers UNIMPLEMENTED without a handler, so it is
            # counted here (a client calling a wrong name shows as method="other").
            self._count(handler_call_details.method, grpc.StatusCode.UNIMPLEMENTED)
            return handler
        if handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._counted(handler.unary_unary, handler_call_details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _counted(self, behavior: Callable[[Any, grpc.ServicerContext], Any],
                 method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                response = behavior(request, context)
            except BaseException:
                # An abort has set the code; anything else reaches the client as UNKNOWN.
                self._count(method, context.code() or grpc.StatusCode.UNKNOWN)
                raise
            self._count(method, context.code() or grpc.StatusCode.OK, response)
            return response

        return handle

    def _count(self, method: str, code: grpc.StatusCode, response: Any = None) -> None:
        try:
            self._metrics.call_ended(method, code, response)
        except Exception:  # counting must never cost a call its answer
            log.exception("metrics: counting a call to %s failed", method)
