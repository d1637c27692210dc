"""A gateway's config never shows its secret: its repr (a log line, a traceback's locals) left the
PAT or the service principal's client secret in plain text."""

from __future__ import annotations

from server.databricks.gateway import GatewayConfig


def test_the_config_repr_leaves_out_the_token_and_the_client_secret() -> None:
    pat = GatewayConfig("https://dbc-1.cloud.databricks.com", "dapi0123456789abcdef")
    m2m = GatewayConfig("https://dbc-1.cloud.databricks.com", "dose-secret-value", client_id="sp-1")
    assert "dapi0123456789abcdef" not in repr(pat) and "dbc-1.cloud.databricks.com" in repr(pat)
    assert "dose-secret-value" not in repr(m2m) and "sp-1" in repr(m2m)
    assert pat.token == "dapi0123456789abcdef"  # still there to use
