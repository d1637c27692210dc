"""A workspace URL copied from the browser (review 13): Azure's address bar carries ``?o=<id>`` and
the UI's pages a ``#...`` fragment; the SDK kept them in every request's URL and `workspace add`
said the host "did not answer as a Databricks workspace (404 ...)". ``HTTPS://`` was refused as not
an http(s) URL. The URL is now taken as the workspace's."""

from __future__ import annotations

import pytest

from server.errors import InvalidArgument
from server.services.workspaces import check_host


@pytest.mark.parametrize("given", [
    "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456",
    "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456#job/42",
    "https://adb-1234567890123456.7.azuredatabricks.net#workspace",
    "HTTPS://adb-1234567890123456.7.azuredatabricks.net/",
    "Https://adb-1234567890123456.7.azuredatabricks.net",
    # A UI page's address: the API is at the workspace's root, so the page's path goes too.
    "https://adb-1234567890123456.7.azuredatabricks.net/jobs/42/runs?o=1234567890123456",
    "https://adb-1234567890123456.7.azuredatabricks.net/browse/folders/123",
])
def test_a_browser_url_is_the_workspaces(given: str) -> None:
    assert check_host(given) == "https://adb-1234567890123456.7.azuredatabricks.net"


def test_what_is_refused_stays_refused() -> None:
    with pytest.raises(InvalidArgument, match="user name or password"):
        check_host("https://me:secret@dbc-1.cloud.databricks.com/?o=1")
    with pytest.raises(InvalidArgument, match="clear text"):
        check_host("HTTP://dbc-1.cloud.databricks.com/?o=1")
    with pytest.raises(InvalidArgument, match="not an http"):
        check_host("ftp://dbc-1.cloud.databricks.com")


def test_a_page_path_on_an_aws_workspace_is_dropped_but_kept_behind_a_proxy() -> None:
    assert check_host("https://dbc-a1b2c3d4-e5f6.cloud.databricks.com/jobs/42?o=7") == \
        "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com"
    assert check_host("https://dbc-a1b2c3d4-e5f6.cloud.databricks.com:443/sql/editor") == \
        "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com"  # :443 is https's own port (normal_host)
    # Not a Databricks domain: a proxy may serve the API under a path, which is kept.
    assert check_host("https://gateway.example.com/databricks/") == "https://gateway.example.com/databricks"
