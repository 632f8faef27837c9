"""Test-wide setup: the UCI Seeds file is read from ../shared/data through ADVCLUSTER_DATA."""

import os
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

if "ADVCLUSTER_DATA" not in os.environ and (SHARED_DATA / "seeds_dataset.txt").is_file():
    os.environ["ADVCLUSTER_DATA"] = str(SHARED_DATA)
