"""databricks-sdk's ``WorkspaceClient`` as the gateway builds it.

Apart from `server.databricks.gateway` so that importing the gateway (the server and the CLI do
at start) does not import databricks-sdk: that costs ~0.8-1.4 s, and a process that never talks
to a workspace (`trimtab server start` with none connected, most CLI commands) never needs it. The
gateway imports this module when it builds its first client.
"""

from __future__ import annotations

from collections.abc import Iterable

from databricks.sdk import WorkspaceClient
from databricks.sdk.clock import Clock as SdkClock
from databricks.sdk.config import ConfigAttribute
from databricks.sdk.core import Config

from server.clock import Clock


class _SdkClockAdapter(SdkClock):
    """Lets the SDK's own 429/503 retry loop wait on our injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.monotonic()

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)


class _PatConfig(Config):
    """The SDK's Config without its host-metadata probe.

    Newer SDKs' ``Config.__init__`` asks ``{host}/.well-known/databricks-config`` for the
    account id, OIDC discovery URL and token audience, retrying for the whole
    ``retry_timeout_seconds`` with real sleeps (not our clock) and then going on without them.
    Trimtab authenticates with a PAT against the workspace host and uses none of those
    fields, so the probe only costs time: a workspace that cannot be reached blocked
    building the client for over a minute, stalling every other workspace's collection.
    The SDK has no option to turn it off; this private hook is the narrowest place to do
    it. tests/integration/test_dbx_collect_unreachable.py fails if an SDK upgrade renames the
    hook and the probe comes back (building a gateway on a refusing host must return at once).
    """

    def _resolve_host_metadata(self) -> None:
        return

    @classmethod
    def attributes(cls) -> Iterable[ConfigAttribute]:
        # Config finds its settings in its own class ``__dict__`` (and caches them on the
        # class asked first): a subclass asked first would have none, and PAT auth would fail.
        return Config.attributes()


def workspace_client(*, host: str, token: str, retry_timeout_s: int, http_timeout_s: float,
                     clock: Clock) -> WorkspaceClient:
    """A PAT-authenticated client whose retries wait on ``clock`` (building it makes no call)."""
    sdk_config = _PatConfig(
        host=host,
        token=token,
        auth_type="pat",
        retry_timeout_seconds=retry_timeout_s,
        http_timeout_seconds=http_timeout_s,
        clock=_SdkClockAdapter(clock),
    )
    return WorkspaceClient(config=sdk_config)
