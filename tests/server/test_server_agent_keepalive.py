"""The server lets agents keep their connection alive the way they do (agent/send.py CHANNEL_OPTIONS)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.send import CHANNEL_OPTIONS
from server.config import ServerConfig
from server.serve import start_server
from server.store import open_store

# gRPC core's own minimum interval between pings without data when the server sets none: 5 minutes.
GRPC_DEFAULT_PING_MIN_MS = 300_000


def test_the_server_start_server_builds_accepts_the_agents_pings_between_calls(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Review: agents ping every 30 s between calls; the server kept gRPC's default (one ping without
    # data per 5 minutes) and answered with GOAWAY "too_many_pings" after ~2.5 idle minutes, so every
    # agent logged an error and reconnected. Measured with the agent's channel against a server with
    # these options for 170 s: no GOAWAY, the channel stays READY (with the default: IDLE at 150 s).
    # That takes minutes of real pings (three strikes, each at least the allowed interval apart), so
    # this reads the options start_server really builds its server with: comparing server_options()
    # alone passed whatever start_server handed grpc.server.
    built: list[tuple[grpc.Server, dict[str, Any]]] = []
    real_server = grpc.server

    def recording_server(*args: Any, **kwargs: Any) -> grpc.Server:
        made = real_server(*args, **kwargs)
        options = inspect.signature(real_server).bind(*args, **kwargs).arguments.get("options") or ()
        built.append((made, dict(options)))
        return made

    monkeypatch.setattr(grpc, "server", recording_server)
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", collect=0), store)
    try:
        [(made, server)] = built
        assert made is running._server  # noqa: SLF001 - the server that answers below
        agent = dict(CHANNEL_OPTIONS)
        assert agent["grpc.keepalive_permit_without_calls"] == 1
        assert server.get("grpc.keepalive_permit_without_calls") == 1
        allowed_ms = server.get("grpc.http2.min_recv_ping_interval_without_data_ms", GRPC_DEFAULT_PING_MIN_MS)
        assert agent["grpc.keepalive_time_ms"] >= allowed_ms, (agent["grpc.keepalive_time_ms"], allowed_ms)
        # The agent's channel, options and all, is served by it.
        with grpc.insecure_channel(running.address, options=CHANNEL_OPTIONS) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        running.stop(grace=0)
        store.close()
