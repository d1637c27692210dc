"""The groups tests/conftest.py gives the tests reach pytest-xdist's ``--dist loadgroup``.

xdist reads a test's group when its own ``pytest_collection_modifyitems`` runs on the worker (it
appends ``@group`` to the node id, which is all the scheduler looks at). A group marked after that
is never seen: every test was scheduled on its own, so a file's module fixtures (the demo's two
invocations) were made on both workers and both started a Spark JVM.
"""

from __future__ import annotations

import pytest


def test_every_test_is_scheduled_with_its_group(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("the groups are for pytest-xdist's --dist loadgroup (the suite's addopts)")
    items = request.session.items
    missing = [item.nodeid for item in items
               if not item.nodeid.endswith("@" + item.get_closest_marker("xdist_group").args[0])]
    assert not missing, f"{len(missing)} of {len(items)} tests reach xdist without their group: {missing[:3]}"
    assert request.node.nodeid.endswith("@tests/test_xdist_groups.py")
