"""Start-up time: ``import advcluster`` and ``advcluster --help`` against a bare interpreter
(``python -c pass``), each the best of ``--repeat`` fresh processes, in the same run.

    python benchmarks/imports.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import header

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import advcluster'": [sys.executable, "-c", "import advcluster"],
    "advcluster --help": [sys.executable, "-m", "advcluster", "--help"],
    "python -c 'import advcluster.estimator' (scikit-learn)": [sys.executable, "-c", "import advcluster.estimator"],
}


def best(cmd, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    header()
    base = best(COMMANDS["python -c pass"], args.repeat)
    print("| command | seconds | above a bare interpreter |")
    print("|---|---|---|")
    print(f"| `python -c pass` | {base:.3f} | (the baseline) |")
    for name, cmd in list(COMMANDS.items())[1:]:
        s = best(cmd, args.repeat)
        print(f"| `{name}` | {s:.3f} | {s - base:+.3f} |", flush=True)


if __name__ == "__main__":
    main()
