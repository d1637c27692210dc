"""The optional Spark REST poller against a real local HTTP server standing in for the Spark UI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from agent.rest import RestPoller

ROUTES: dict[str, object] = {
    "/api/v1/applications?status=running": [{"id": "app-7", "attempts": [{}]}, {"id": "not-followed"}],
    "/api/v1/applications/app-7/executors": [
        {"id": "driver", "memoryUsed": 10, "maxMemory": 100, "activeTasks": 0, "totalGCTime": 5, "diskUsed": 0},
        {"id": "1", "memoryUsed": 20, "maxMemory": 200, "activeTasks": 3, "totalGCTime": 7, "diskUsed": 9}],
    "/metrics/json": {"counters": {
        "app-7.driver.LiveListenerBus.queue.eventLog.numDroppedEvents": {"count": 12},
        "app-7.driver.LiveListenerBus.queue.appStatus.numDroppedEvents": {"count": 0},
        "app-7.driver.LiveListenerBus.numEventsPosted": {"count": 999}}},
}


class _Handler(BaseHTTPRequestHandler):
    starting = False

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.starting:
            body, ctype = b"<html>Spark is starting up. Please wait a while until it's ready.</html>", "text/html"
        elif self.path in ROUTES:
            body, ctype = orjson.dumps(ROUTES[self.path]), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def spark_ui() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    _Handler.starting = False


def test_gauges_and_dropped_counters(spark_ui: str):
    events, dropped = RestPoller(spark_ui).poll(1234, {"app-7": "ctx-1"}.get)
    assert [(e.key, e.application_id) for e in events] == [("gauges/driver/1234", "ctx-1"),
                                                           ("gauges/1/1234", "ctx-1")]
    assert events[1].body.active_tasks == 3 and events[1].body.max_memory_bytes == 200
    assert dropped == {"eventLog": 12, "appStatus": 0}


def test_starting_page_and_absent_ui_are_no_data(spark_ui: str):
    _Handler.starting = True
    poller = RestPoller(spark_ui)
    assert poller.poll(1, {"app-7": "x"}.get) == ([], {})
    gone = RestPoller("http://127.0.0.1:9", timeout_s=0.5)  # discard port: nothing listens
    assert gone.poll(1, {"app-7": "x"}.get) == ([], {}) and gone.failures == 1


def test_driver_env_file_gives_the_ui_once_it_appears(tmp_path, spark_ui: str):
    from agent.driver_env import parse_env_file, spark_ui_url

    env_file = tmp_path / "driver-env.sh"
    assert spark_ui_url(str(env_file)) == ""  # not written yet: the driver is still starting
    port = spark_ui.rsplit(":", 1)[1]
    env_file.write_text(f'export CONF_PUBLIC_DNS="ip-10-0-0-1"\nCONF_UI_PORT={port}\nsome other line\n')
    assert parse_env_file(env_file.read_text())["CONF_UI_PORT"] == port
    url = spark_ui_url(str(env_file), driver_ip="127.0.0.1")
    assert url == spark_ui
    events, _ = RestPoller(url).poll(5, {"app-7": "ctx-1"}.get)
    assert len(events) == 2
