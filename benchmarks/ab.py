"""A/B: this checkout's solver against another copy of advcluster's source, same cases, one run.

Each case runs in a fresh process for each side, the sides alternating, so both meet the
same machine state; the time is the best of ``--repeat`` solves (``certify=False``, the
engine alone).  Objectives are printed so a change of answer shows.  The baseline is
another checkout's ``src`` folder, e.g. a worktree of an earlier commit::

    git worktree add /tmp/base <commit>
    python benchmarks/ab.py --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import child_json, header

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
# (data, n, gamma, repeat): kNN k = 10, phi = 0.5
CASES = [("moons", 1000, 10.0, 5), ("moons", 1000, 2.5, 5), ("moons", 10000, 10.0, 3), ("moons", 10000, 2.5, 2),
         ("circles", 5000, 1.0, 2), ("moons", 30000, 10.0, 1), ("moons", 50000, 10.0, 1), ("moons", 50000, 2.5, 1),
         ("blobs-10d", 10000, 200.0, 2), ("blobs-3d", 5000, 2.0, 2)]


def data(kind, n):
    import numpy as np
    from sklearn.datasets import make_blobs, make_circles, make_moons

    if kind == "moons":
        return make_moons(n, noise=0.1, random_state=0)[0]
    if kind == "circles":
        return make_circles(n, noise=0.05, factor=0.5, random_state=0)[0]
    d = int(kind.split("-")[1][:-1])
    return np.asarray(make_blobs(n, n_features=d, centers=5, random_state=0)[0])


def one(kind, n, gamma, repeat):
    """In the child: best time of ``repeat`` solves, one JSON line."""
    from advcluster import knn_graph, solve

    A = data(kind, n)
    graph = knn_graph(A, 10, 0.5)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        res = solve(A, graph, gamma, method="ssnal", certify=False)
        best = min(best, time.perf_counter() - t)
    last = res.history[-1]
    print(json.dumps(dict(s=best, newton=last["newton"], cg=last["cg"], clusters=res.n_clusters,
                          objective=last["primal_objective"], success=res.success)))


def side(src, case):
    return child_json(__file__, ["--one", *case], env={**os.environ, "PYTHONPATH": str(src)})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="the other copy's src folder (required)")
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        kind, n, gamma, repeat = args.one
        one(kind, int(n), float(gamma), int(repeat))
        return
    if not args.baseline:
        ap.error("--baseline is required: the src folder of the copy to compare with")
    header()
    print(f"baseline: {args.baseline}\n")
    print("| data | n | gamma | baseline s | this s | baseline/this | Newton / CG (baseline) | Newton / CG (this) "
          "| clusters | objective (baseline) | objective (this) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in CASES:
        base, this = side(args.baseline, case), side(SRC, case)
        print(f"| {case[0]} | {case[1]} | {case[2]:g} | {base['s']:.3f} | {this['s']:.3f} | {base['s'] / this['s']:.2f} "
              f"| {base['newton']} / {base['cg']} | {this['newton']} / {this['cg']} | {base['clusters']} / "
              f"{this['clusters']} | {base['objective']:.10g} | {this['objective']:.10g} |", flush=True)


if __name__ == "__main__":
    main()
