"""What every benchmark prints first, and how it times: shared by the scripts in this folder."""

from __future__ import annotations

import json
import os
import platform
import subprocess
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


def child_json(script, args, env=None, timeout=None):
    """Run ``python script args`` in a fresh process and return the JSON of its last output line
    (a fresh process: its own peak memory, no state shared with the caller).  Raises
    ``subprocess.TimeoutExpired`` or ``subprocess.CalledProcessError`` as ``subprocess.run`` does."""
    out = subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True,
                         env=env, timeout=timeout, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
