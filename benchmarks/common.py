"""What every benchmark prints first, and how it times: shared by the scripts in this folder."""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np


def header():
    """Machine, versions and the command, so a table can be reproduced."""
    import scipy
    import sklearn

    import advcluster

    try:
        import cvxpy

        cv = f", cvxpy {cvxpy.__version__}"
    except ImportError:
        cv = ""
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} cpus")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}{cv}, advcluster {advcluster.__version__}"
    )
    print("command: python " + " ".join(sys.argv))


def timings(fn, repeat):
    """Wall times of ``repeat`` calls of ``fn()``, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return np.array(times), out


def best_of(fn, repeat):
    """Smallest wall time of ``repeat`` calls of ``fn()``, and the last result."""
    times, out = timings(fn, repeat)
    return float(times.min()), out
