"""The server lets agents keep their connection alive the way they do (agent/send.py CHANNEL_OPTIONS)."""

from __future__ import annotations

from agent.send import CHANNEL_OPTIONS
from server.serve import server_options


def test_the_server_accepts_the_agents_pings_between_calls() -> None:
    # Review: agents ping every 30 s between calls; the server kept gRPC's default (one ping without
    # data per 5 minutes) and answered with GOAWAY "too_many_pings" after ~2.5 idle minutes, so every
    # agent logged an error and reconnected. Measured with the agent's channel against a server with
    # these options for 170 s: no GOAWAY, the channel stays READY (with the default: IDLE at 150 s).
    agent = dict(CHANNEL_OPTIONS)
    server = dict(server_options(8 * 1024 * 1024))
    assert agent["grpc.keepalive_permit_without_calls"] == 1
    assert server["grpc.keepalive_permit_without_calls"] == 1
    assert agent["grpc.keepalive_time_ms"] >= server["grpc.http2.min_recv_ping_interval_without_data_ms"]
