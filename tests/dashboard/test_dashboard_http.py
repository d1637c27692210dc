"""The dashboard over plain HTTP: token checks, content types, read-only."""

from __future__ import annotations

import dataclasses
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from server.dashboard import serve_dashboard
from server.errors import FailedPrecondition
from server.render.fmt import duration
from tests.dashboard.conftest import Site


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def _get(site: Site, path: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(site.url.rstrip("/") + path, headers=headers or {}, data=data)
    try:
        with OPENER.open(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _sign_in(site: Site, token: str = "") -> dict[str, str]:
    """Sign in through the form; the session cookie as a request header."""
    status, headers, _ = _get(site, "/login", data=f"token={token or site.admin_token}&next=/".encode())
    assert status == 303, status
    return {"Cookie": headers["Set-Cookie"].split(";", 1)[0]}


def test_bearer_token_and_session_cookie_open_the_pages(site: Site) -> None:
    status, headers, body = _get(site, "/", {"Authorization": f"Bearer {site.admin_token}"})
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"ws/42/main" in body
    status, _, body = _get(site, f"/runs/{site.run_ids[0]}", _sign_in(site))
    assert status == 200 and b"Cost breakdown" in body


def test_the_cookie_holds_a_session_id_never_the_token(site: Site) -> None:
    # Review: the cookie held the admin token itself, which the gRPC API accepts as it is.
    cookie = _sign_in(site)["Cookie"]
    assert site.admin_token not in cookie and cookie.startswith("trimtab_session=")
    # The token itself in a cookie opens nothing (only a session the server started does).
    assert _get(site, "/", {"Cookie": f"trimtab_session={site.admin_token}", "Accept": "text/plain"})[0] == 401
    assert _get(site, "/", {"Cookie": "trimtab_session=made-up", "Accept": "text/plain"})[0] == 401


def test_sign_out_ends_the_session_even_for_a_kept_copy_of_the_cookie(site: Site) -> None:
    cookie = _sign_in(site)
    assert _get(site, "/", cookie)[0] == 200
    status, headers, _ = _get(site, "/logout", cookie, data=b"")
    assert status == 303 and "Max-Age=0" in headers["Set-Cookie"]
    assert _get(site, "/", {**cookie, "Accept": "text/plain"})[0] == 401


def test_a_session_expires_and_its_cookie_says_when() -> None:
    from server.dashboard.auth import Sessions, session_cookie

    now = [1000.0]
    sessions = Sessions(ttl_s=60, clock=lambda: now[0], max_sessions=2)
    first = sessions.start("tt_a")
    assert sessions.token(first) == "tt_a"
    now[0] += 59.9
    assert sessions.token(first) == "tt_a"
    now[0] += 0.1
    assert sessions.token(first) == ""  # expired at sign-in + ttl, not extended by use
    assert "Max-Age=60" in session_cookie(first, sessions.ttl_s)
    # Bounded: past max_sessions the oldest sign-in goes first.
    a, b = sessions.start("tt_a"), sessions.start("tt_b")
    c = sessions.start("tt_c")
    assert (sessions.token(a), sessions.token(b), sessions.token(c)) == ("", "tt_b", "tt_c")


def test_missing_wrong_and_agent_tokens_are_refused(site: Site) -> None:
    status, headers, _ = _get(site, "/", {"Accept": "text/html"})
    assert status == 303 and headers["Location"] == "/login?next=%2F"
    assert _get(site, "/", {"Accept": "application/json"})[0] == 401
    assert _get(site, "/", {"Authorization": "Bearer tt_x_y"})[0] == 401
    assert _get(site, "/", {"Authorization": f"Bearer {site.agent_token}"})[0] == 403
    store_token_revoked = site.store.tokens.create("soon-revoked", "admin")
    site.store.tokens.revoke(store_token_revoked[0].token_id)
    assert _get(site, "/", {"Authorization": f"Bearer {store_token_revoked[1]}"})[0] == 401


def test_revoking_the_token_ends_its_signed_in_sessions(site: Site) -> None:
    created, token = site.store.tokens.create("to-revoke", "admin")
    cookie = _sign_in(site, token)
    assert _get(site, "/", cookie)[0] == 200
    site.store.tokens.revoke(created.token_id)
    site.store.tokens.verify(site.admin_token)  # the others still work
    assert _get(site, "/", {**cookie, "Accept": "text/plain"})[0] == 401


def test_login_sets_an_httponly_cookie_and_only_redirects_locally(site: Site) -> None:
    form = f"token={site.admin_token}&next=//evil.example/".encode()
    status, headers, _ = _get(site, "/login", data=form)
    assert status == 303 and headers["Location"] == "/"
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    assert "Max-Age=43200" in headers["Set-Cookie"]  # 12 hours, not "until the browser closes"
    status, headers, _ = _get(site, "/logout", data=b"")
    assert status == 303 and "Max-Age=0" in headers["Set-Cookie"]


def test_charts_unknown_pages_and_writes(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.admin_token}"}
    status, headers, body = _get(site, f"/projects/{site.project.id}/timeline.png", auth)
    assert status == 200 and headers["Content-Type"] == "image/png" and body[:4] == b"\x89PNG"
    status, headers, body = _get(site, f"/projects/{site.project.id}/timeline.svg", auth)
    assert status == 200 and body.count(b'class="point runtime"') == 9
    assert _get(site, "/projects/999", auth)[0] == 404
    assert _get(site, "/nothing", auth)[0] == 404
    assert _get(site, f"/projects/{site.project.id}", auth, data=b"x=1")[0] == 405
    assert _get(site, "/healthz")[0] == 200


def test_bad_addresses_are_one_clear_error(site: Site) -> None:
    with pytest.raises(FailedPrecondition, match="not host:port"):
        serve_dashboard(site.store, "nowhere")
    with pytest.raises(FailedPrecondition, match="cannot serve the dashboard"):
        serve_dashboard(site.store, site.dashboard.address)  # already taken


def test_server_start_with_http_serves_the_dashboard(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The hook in `server.serve`: `--http` starts the dashboard, stopping the server stops it."""
    import logging
    import re

    from server.config import ServerConfig
    from server.serve import start_server
    from server.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    _, token = store.tokens.create("admin", "admin")
    with caplog.at_level(logging.INFO, logger="server.dashboard"):
        running = start_server(ServerConfig(listen="127.0.0.1:0", http="127.0.0.1:0", state_dir=tmp_path), store)
    try:
        match = re.search(r"trimtab dashboard on (http://\S+)", caplog.text)
        assert match is not None, caplog.text
        url = match[1]
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200 and b"No projects yet" in reply.read()
    finally:
        running.stop(grace=0)
        store.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_a_run_page_says_what_its_driver_used(site: Site) -> None:
    cookie = _sign_in(site)
    with_app = next(r for r in site.run_ids if site.store.runs.get(r).application_ids)
    status, _, body = _get(site, f"/runs/{with_app}", cookie)
    assert status == 200 and b"heap peak 3.0 GiB, GC 12.0 s" in body and b"Python and other processes 0.5 GiB" in body
    without = next(r for r in site.run_ids if not site.store.runs.get(r).application_ids)
    assert b"heap peak" not in _get(site, f"/runs/{without}", cookie)[2]


def test_a_run_page_shows_the_cluster_setup_and_the_driver_gc_after_it(site: Site) -> None:
    cookie = _sign_in(site)
    run = site.store.runs.get(next(r for r in site.run_ids if site.store.runs.get(r).application_ids))
    body = _get(site, f"/runs/{run.id}", cookie)[2]
    assert b"<dt>cluster setup</dt><dd>-</dd>" in body  # not reported: unknown, not zero
    before = re.search(rb"GC 12.0 s \((\d+\.\d)% of the run\)", body)
    site.store.runs.update(dataclasses.replace(run, setup_s=run.runtime_s / 2))
    try:
        body = _get(site, f"/runs/{run.id}", cookie)[2]
        assert f"<dt>cluster setup</dt><dd>{duration(run.runtime_s / 2)}</dd>".encode() in body
        after = re.search(rb"GC 12.0 s \((\d+\.\d)% of the run\)", body)
        # The driver lived for the half of the run after the setup: its GC share doubles.
        assert before and after and float(after[1]) == pytest.approx(2 * float(before[1]), abs=0.1)
    finally:
        site.store.runs.update(run)


def test_a_page_whose_view_fails_unexpectedly_answers_500_and_logs_it(
        site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Seen in review: an exception other than Trimtab's own (there an OverflowError from a huge id)
    dropped the connection, which a browser shows as a network error with nothing to report."""
    from server.dashboard import app

    def broken(store: object, run_id: int) -> object:
        raise RuntimeError("view bug")

    with monkeypatch.context() as m:
        m.setattr(app.views, "run_page", broken)
        status, headers, body = _get(site, f"/runs/{site.run_ids[0]}", {"Authorization": f"Bearer {site.admin_token}"})
    assert status == 500 and headers["Content-Type"].startswith("text/html")
    assert b"internal error (see the server log)" in body and b"view bug" not in body
    assert any("view bug" in (r.exc_text or "") for r in caplog.records)
    # The same page answers again once the view works (the control).
    assert _get(site, f"/runs/{site.run_ids[0]}", {"Authorization": f"Bearer {site.admin_token}"})[0] == 200


@pytest.mark.parametrize("next_path", ["/%5Cevil.example", "/%09/evil.example", "https://evil.example/",
                                       "/x%0D%0ASet-Cookie:%20injected=1%0D%0AX-Evil:%201"])
def test_login_never_sends_a_browser_elsewhere_nor_writes_headers_from_next(site: Site, next_path: str) -> None:
    # Review: "/\evil.example" and "/<TAB>/evil.example" passed as local (browsers read them as another
    # site), and CR/LF in `next` wrote headers of its own into the redirect.
    status, headers, _ = _get(site, "/login", data=f"token={site.admin_token}&next={next_path}".encode())
    assert status == 303 and headers["Location"] == "/"
    assert "X-Evil" not in headers and "injected" not in str(headers)
    status, _, body = _get(site, f"/login?next={next_path}")
    assert status == 200 and b"evil" not in body and b"injected" not in body
    status, headers, _ = _get(site, "/login", data=f"token={site.admin_token}&next=/projects/1%3Fx%3D1".encode())
    assert headers["Location"] == "/projects/1?x=1"


def test_pages_refuse_framing_and_hide_the_python_version(site: Site) -> None:
    status, headers, _ = _get(site, "/healthz")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert "Python" not in headers["Server"]


def test_an_id_of_thousands_of_digits_is_a_404_and_unknown_pages_offer_no_sign_out(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.admin_token}"}
    status, _, body = _get(site, "/projects/" + "9" * 5000, auth)
    assert status == 404 and len(body) < 2000
    assert _get(site, f"/projects/0{site.project.id}", auth)[0] == 200
    status, _, body = _get(site, "/nope")
    assert status == 404 and b"Sign out" not in body


def test_the_cookie_is_secure_behind_a_tls_proxy(site: Site) -> None:
    form = f"token={site.admin_token}&next=/".encode()
    _, plain, _ = _get(site, "/login", data=form)
    _, proxied, _ = _get(site, "/login", {"X-Forwarded-Proto": "https"}, data=form)
    assert "Secure" not in plain["Set-Cookie"] and proxied["Set-Cookie"].endswith("; Secure")


def test_an_unpriced_run_reads_not_priced_everywhere_and_small_unit_prices_keep_their_digits(site: Site) -> None:
    # Review: the chart said "not priced", the runs table "-" and the run page "Not costed yet.";
    # a cost per input GB of $0.003 showed as $0.00.
    auth = {"Authorization": f"Bearer {site.admin_token}"}
    first, second = site.run_ids[0], site.run_ids[1]
    run = site.store.runs.get(first)
    site.store.runs.update(dataclasses.replace(run, cost=None))
    priced = site.store.runs.get(second)
    assert priced.cost is not None
    site.store.runs.update(dataclasses.replace(priced, cost=dataclasses.replace(priced.cost, cost_per_input_gb=0.00312)))
    _, _, body = _get(site, f"/projects/{site.project.id}", auth)
    row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*>{first}<(?:(?!</tr>).)*</tr>", body.decode(), re.S)
    assert row is not None and "not priced" in row.group(0), body.decode()[:3000]
    _, _, body = _get(site, f"/runs/{first}", auth)
    assert b"Not priced: no cost was computed for this run" in body
    _, _, body = _get(site, f"/runs/{second}", auth)
    assert b"$0.0031" in body
