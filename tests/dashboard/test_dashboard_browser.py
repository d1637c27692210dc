"""The dashboard in headless Chromium: sign-in, pages, charts, nothing fetched from elsewhere."""

from __future__ import annotations

import json

from tests.dashboard.cdp import Browser
from tests.dashboard.conftest import ARTIFACTS, Site


def _count(browser: Browser, selector: str) -> int:
    return int(browser.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length"))


def _sign_in(browser: Browser, token: str) -> None:
    browser.evaluate(f"document.querySelector('input[name=token]').value = {json.dumps(token)}")
    browser.submit_form("form.login")


def test_sign_in_then_every_page_renders(site: Site, browser: Browser) -> None:
    project_path = f"/projects/{site.project.id}"
    browser.goto(site.url.rstrip("/") + project_path)
    # Not signed in: sent to the login form, which remembers where we were going.
    assert browser.evaluate("location.pathname") == "/login"
    assert browser.evaluate("document.querySelector('input[name=next]').value") == project_path

    _sign_in(browser, site.agent_token)
    assert "needs 'admin'" in browser.evaluate("document.querySelector('.error').textContent")

    _sign_in(browser, "tt_nope_nope")
    assert browser.evaluate("document.querySelector('.error').textContent")

    browser.evaluate(f"document.querySelector('input[name=next]').value = {json.dumps(project_path)}")
    _sign_in(browser, site.admin_token)
    assert browser.evaluate("location.pathname") == project_path

    # Project page: one point per run in each panel, bands, markers, anomalies, the SLA line.
    assert browser.evaluate("document.querySelector('svg.timeline').dataset.points") == "9"
    assert _count(browser, "svg.timeline circle.point.runtime") == 9
    assert _count(browser, "svg.timeline circle.point.cost") == 9
    assert _count(browser, "svg.timeline line.apply-marker") == 4
    assert _count(browser, "svg.timeline circle.anomaly") == 4
    assert _count(browser, "svg.timeline line.sla") == 1
    assert _count(browser, "svg.timeline rect.band") == 8  # the baseline and three phases, two panels
    # The chart really laid out: points spread across the width, drawn by the browser.
    xs = browser.evaluate("[...document.querySelectorAll('circle.point.runtime')]"
                          ".map(c => c.getBoundingClientRect().x)")
    assert xs == sorted(xs) and xs[-1] - xs[0] > 500
    assert _count(browser, "table#runs tr.run-row") == 9
    diff = browser.evaluate("document.getElementById('recommendation-diff').textContent")
    assert '+  "node_type_id": "m5.2xlarge"' in diff and '-  "node_type_id": "m5.xlarge"' in diff
    shot = browser.screenshot(ARTIFACTS / "project.png")
    assert shot.stat().st_size > 20_000

    browser.goto(site.url)
    assert _count(browser, "table#projects tr.project-row") == 1
    row = browser.evaluate("document.querySelector('tr.project-row').innerText")
    assert "monitoring" in row and "67% met" in row and "$5.00" in row  # 6 of 9: the failed run did not meet it
    assert browser.evaluate("document.getElementById('total-saved').textContent").startswith("$")
    browser.screenshot(ARTIFACTS / "projects.png")

    browser.evaluate("document.querySelector('tr.project-row a').click()")
    browser.wait_event("Page.loadEventFired")
    assert browser.evaluate("location.pathname") == project_path
    browser.evaluate(f"document.querySelector('tr.run-row[data-run-id=\"{site.run_ids[-1]}\"] a').click()")
    browser.wait_event("Page.loadEventFired")
    assert browser.evaluate("location.pathname") == f"/runs/{site.run_ids[-1]}"
    assert _count(browser, "table#stages tr.stage-row") == 3
    assert _count(browser, "svg.stage-chart rect.stage-bar") == 3
    assert _count(browser, "table#cost tr.cost-row") == 4
    assert "$5.00" in browser.evaluate("document.getElementById('cost').innerText")
    browser.screenshot(ARTIFACTS / "run.png")

    # Offline: every request went to the dashboard itself.
    origin = site.url.rstrip("/")
    assert browser.requested_urls
    assert [u for u in browser.requested_urls
            if not (u.startswith(origin) or u.startswith("data:") or u == "about:blank")] == []
