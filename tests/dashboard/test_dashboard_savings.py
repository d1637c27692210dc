"""The project page says where its savings' figures come from (docs/savings.md)."""

from __future__ import annotations

import urllib.request

from tests.dashboard.conftest import Site


def test_the_project_page_shows_the_cost_basis_the_current_runs_and_user_edited_runs(site: Site) -> None:
    request = urllib.request.Request(f"{site.url.rstrip('/')}/projects/{site.project.id}",
                                     headers={"Authorization": f"Bearer {site.admin_token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        page = reply.read().decode()
    # The seed's story: recommendation 3 has two runs within the SLA; runs 8 and 9 are on the user's edit.
    assert "<dt>savings costs</dt><dd>estimate</dd>" in page
    assert "<dt>savings now from</dt><dd>recommendation 3 (2 runs within the SLA)</dd>" in page
    # In `trimtab savings`' words, among its notes (the page had a fact of its own saying less).
    assert "<li>2 run(s) on a cluster edited outside Trimtab are left out of before, now and saved to date</li>" in page
