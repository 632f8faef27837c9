"""Test-wide setup: tests that start real ``advcluster`` processes (the ``processes`` fixture)
are marked slow. The UCI Seeds file is the copy shipped with the package."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "processes" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
