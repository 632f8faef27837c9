"""``advcluster reproduce``, full and ``--quick``, as a user runs it: wall seconds of the whole
command (interpreter start, imports, experiments, figures, report), one process per data set
(the default) against one process for everything (``--jobs 1``, the baseline), in the same run.

    python benchmarks/reproduce.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header

COMMANDS = {
    "reproduce": [],
    "reproduce --quick": ["--quick"],
}


def wall(args, jobs):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "advcluster", "reproduce", "--out", str(Path(tmp) / "r"), "--jobs", str(jobs), *args]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each command, best kept (default 2)")
    args = parser.parse_args()
    header()
    print("| command | --jobs 1 s | default s | ratio |")
    print("|---|---|---|---|")
    for name, extra in COMMANDS.items():
        serial = min(wall(extra, 1) for _ in range(args.repeat))
        parallel = min(wall(extra, -1) for _ in range(args.repeat))
        print(f"| `advcluster {name}` | {serial:.1f} | {parallel:.1f} | {serial / parallel:.2f} |", flush=True)


if __name__ == "__main__":
    main()
