"""Scaling benchmark: seconds and peak memory of one solve as n grows, up to what fits in a time limit.

Data as in ``solver.py``: two half-moons in 2-D (noise 0.1, gamma 10) and five Gaussian
blobs in 10-D (gamma 200); kNN weights k = 10, phi = 0.5; tol 1e-6; ``method="auto"``
(ssnal here).  Each size runs in a fresh process, so its peak resident memory is its own:
the data, the kNN graph (its build timed apart), then the solve, without the proof
(``certify=False``) and, in a second process, as a user gets it (``certify=True``, the
default).  A size whose process passes ``--limit`` seconds is reported as such, and the data
set's larger sizes are skipped.  The baseline is the series itself: "growth" is the exponent
``log(t2 / t1) / log(n2 / n1)`` of the plain solve's time between consecutive sizes (1: linear).

    python benchmarks/scale.py                                  # the run recorded in BENCHMARKS.md
    python benchmarks/scale.py --sizes 1000 10000 --limit 60    # a short check
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import time

from common import child_json, header

SIZES = [1000, 10000, 50000, 200000, 1000000]


def one(name, n, certify):
    """Run in the child: build, solve, print one JSON line."""
    from solver import DATA

    from advcluster import knn_graph, solve

    make, gamma = DATA[name]
    A = make(n)
    t = time.perf_counter()
    graph = knn_graph(A, 10, 0.5)
    t_graph = time.perf_counter() - t
    t = time.perf_counter()
    res = solve(A, graph, gamma, certify=certify)
    t_solve = time.perf_counter() - t
    last = res.history[-1] if res.history else {}
    print(json.dumps(dict(
        edges=graph.n_edges, graph_s=t_graph, solve_s=t_solve, clusters=res.n_clusters, success=res.success,
        certified=res.labels_certified, kkt=res.kkt_residual, newton=last.get("newton"), cg=last.get("cg"),
        rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, method=res.method,
    )))


def child(name, n, certify, limit):
    """The child's JSON record; None when it passed ``limit`` seconds; its error's last line
    (a string) when it failed."""
    try:
        return child_json(__file__, ["--one", name, n, int(certify)], timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as err:
        return "failed: " + (err.stderr.strip().splitlines() or ["no message"])[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    ap.add_argument("--data", nargs="+", default=["moons-2d", "blobs-10d"])
    ap.add_argument("--limit", type=float, default=300.0, help="seconds allowed to each process (default 300)")
    ap.add_argument("--no-certify", action="store_true", help="skip the certified solves")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        name, n, certify = args.one
        one(name, int(n), certify == "1")
        return
    header()
    print(f"time limit per process: {args.limit:.0f} s\n")
    print("| data | n | edges | graph s | solve s (certify=False) | growth | Newton / CG | clusters | KKT "
          "| peak MiB | solve s (certify=True) | certified | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.data:
        previous = None
        for n in args.sizes:
            plain = child(name, n, False, args.limit)
            if not isinstance(plain, dict):
                print(f"| {name} | {n} | | | {plain or f'over {args.limit:.0f} s'} | | | | | | | | |", flush=True)
                break
            growth = ""
            if previous is not None:
                growth = f"{math.log(plain['solve_s'] / previous[1]) / math.log(n / previous[0]):.2f}"
            previous = (n, plain["solve_s"])
            cert = None if args.no_certify else child(name, n, True, args.limit)
            if args.no_certify:
                cert_cells = "- | - | -"
            elif not isinstance(cert, dict):
                cert_cells = f"{cert or f'over {args.limit:.0f} s'} | | "
            else:
                cert_cells = f"{cert['solve_s']:.2f} | {cert['certified']} | {cert['rss_mib']:.0f}"
            print(f"| {name} | {n} | {plain['edges']} | {plain['graph_s']:.2f} | {plain['solve_s']:.2f} | {growth} "
                  f"| {plain['newton']} / {plain['cg']} | {plain['clusters']} | {plain['kkt']:.1e} "
                  f"| {plain['rss_mib']:.0f} | {cert_cells} |", flush=True)


if __name__ == "__main__":
    main()
