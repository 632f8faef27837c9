"""Audit benchmark: ``advcluster audit`` with its default settings on a 5,000 x 10 file
(five Gaussian blobs), the issue's bound being two minutes on two cores.

    python benchmarks/audit.py              # 5,000 x 10
    python benchmarks/audit.py --rows 1000  # quicker
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import header
from sklearn.datasets import make_blobs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--features", type=int, default=10)
    args = ap.parse_args()
    header()
    X, _ = make_blobs(args.rows, n_features=args.features, centers=5, cluster_std=1.5, random_state=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        np.savetxt(path, X, delimiter=",", header=",".join(f"f{j}" for j in range(args.features)), comments="")
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "advcluster", "audit", str(path), "--out", f"{tmp}/audit",
                               "--quiet"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        summary = json.loads((Path(tmp) / "audit" / "summary.json").read_text())
    print(f"\n{args.rows} x {args.features}: {wall:.1f} s wall (the audit itself {summary['seconds']:.1f} s)")
    print(done.stdout)


if __name__ == "__main__":
    main()
