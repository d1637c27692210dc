"""Spellings of one workspace host are one host: `check_host` stores, and every comparison of hosts
uses, `normal_host`'s form. Upper case, the scheme's own port and a trailing dot were kept, and a
second name at ``HTTPS://DBC-1...:443`` was taken for another workspace (review creds, item 2)."""

from __future__ import annotations

import pytest

from server.services.workspace_checks import check_host, normal_host, same_host


@pytest.mark.parametrize("given", [
    "https://dbc-1.cloud.databricks.com",
    "HTTPS://DBC-1.CLOUD.DATABRICKS.COM/",
    "https://dbc-1.cloud.databricks.com:443",
    "https://dbc-1.cloud.databricks.com.:443/",
    "https://Dbc-1.Cloud.Databricks.Com./?o=1",
])
def test_spellings_of_a_workspace_host_are_stored_as_one(given: str) -> None:
    assert check_host(given) == "https://dbc-1.cloud.databricks.com"


def test_a_port_the_scheme_does_not_imply_and_a_proxy_path_stay() -> None:
    assert check_host("https://gateway.example.com:8443/Databricks/") == "https://gateway.example.com:8443/Databricks"
    assert check_host("http://LOCALHOST:80/") == "http://localhost"
    assert check_host("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert check_host("http://[::1]:8080/") == "http://[::1]:8080"
    # :80 is https's port no more than :443 is http's.
    assert check_host("https://dbc-1.cloud.databricks.com:80") == "https://dbc-1.cloud.databricks.com:80"


def test_hosts_stored_before_are_compared_in_the_same_form() -> None:
    # Stored by an earlier version as typed: equal to what `check_host` makes of any spelling now.
    assert same_host("http://LOCALHOST:8080", "http://localhost:8080/")
    assert same_host("https://dbc-1.cloud.databricks.com:443", check_host("https://DBC-1.cloud.databricks.com."))
    assert not same_host("http://localhost:8080", "http://localhost:8081")
    assert not same_host("https://h.example.com/a", "https://h.example.com/b")
    # What cannot be parsed is compared as it is, without its trailing '/'.
    assert normal_host("not a url/") == "not a url"
