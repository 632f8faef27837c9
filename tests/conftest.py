"""Test-wide setup: the UCI Seeds file (tests/data, CC BY 4.0) is read through ADVCLUSTER_DATA."""

import os
from pathlib import Path

TEST_DATA = Path(__file__).resolve().parent / "data"

if "ADVCLUSTER_DATA" not in os.environ:
    os.environ["ADVCLUSTER_DATA"] = str(TEST_DATA)
