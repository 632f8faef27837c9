"""Test-wide setup: the UCI Seeds file (tests/data, CC BY 4.0) is read through ADVCLUSTER_DATA;
tests that start real ``advcluster`` processes (the ``processes`` fixture) are marked slow."""

import os
from pathlib import Path

import pytest

TEST_DATA = Path(__file__).resolve().parent / "data"

if "ADVCLUSTER_DATA" not in os.environ:
    os.environ["ADVCLUSTER_DATA"] = str(TEST_DATA)


def pytest_collection_modifyitems(items):
    for item in items:
        if "processes" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
