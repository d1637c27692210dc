"""A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (stdlib only).

Chromium reads commands from fd 3 and writes replies and events to fd 4, each
a JSON message ending in a NUL byte. No websocket library or port is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1200,1000"]


def _as_fds_3_and_4(commands: int, replies: int) -> None:
    # Move both ends above 4 first: either may itself be fd 3 or 4 in this process.
    high_commands = fcntl.fcntl(commands, fcntl.F_DUPFD, 10)
    high_replies = fcntl.fcntl(replies, fcntl.F_DUPFD, 10)
    os.dup2(high_commands, 3)
    os.dup2(high_replies, 4)


class CdpError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page target attached (flattened session)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="trimtab-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # The child must see our pipe ends as its fds 3 (commands) and 4 (replies).
        self._proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=lambda: _as_fds_3_and_4(to_child_r, from_child_w))  # noqa: PLW1509
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.requested_urls: list[str] = []  # every URL the page asked for (Network.requestWillBeSent)
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)
        self.call("Network.enable", session=True)

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_child, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message:
                        with self._lock:
                            box = self._replies.get(message["id"])
                        if box is not None:
                            box.put(message)
                    else:
                        if message.get("method") == "Network.requestWillBeSent":
                            self.requested_urls.append(message["params"]["request"]["url"])
                        self._events.put(message)

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            call_id = self._next_id
            box: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[call_id] = box
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        reply = box.get(timeout=self.timeout)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            event = self._events.get(timeout=self.timeout)
            if event.get("method") == method:
                return event.get("params", {})

    def _drain(self) -> None:
        while not self._events.empty():
            self._events.get_nowait()

    def goto(self, url: str) -> None:
        self._drain()
        result = self.call("Page.navigate", session=True, url=url)
        if result.get("errorText"):
            raise CdpError(f"navigate {url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def submit_form(self, selector: str) -> None:
        """Submit a form and wait for the page it leads to."""
        self._drain()
        self.evaluate(f"document.querySelector({json.dumps(selector)}).submit()")
        self.wait_event("Page.loadEventFired")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (CdpError, queue.Empty, OSError):
            self._proc.kill()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_child)
        shutil.rmtree(self._profile, ignore_errors=True)
