"""Time the certificates on n = 10,000 points; baseline: one ssnal solve on the same data.

Run:  python benchmarks/certify.py [--n 10000] [--repeat 3] [--no-solve]

Data: make_blobs (5 centres, random_state 0) in 2-D and 10-D, kNN weights k = 10,
phi = 0.5 (built once; its time is shown).  Two partitions per data set:

* ``blobs``: the 5 generating blobs.  A kNN graph cannot satisfy (C1) for clusters of
  2,000 points (each needs ~2 million internal edges); recovery_bounds detects this
  from edge counts and still reports gamma_max, the coarsening bound and the slacks.
* ``singletons``: every point its own cluster (K = n), the clustering at small gamma.
  (C1) holds vacuously, gamma_max is a minimum over all n (n - 1) / 2 pairs of points
  (a k-d tree prunes them), and certified_radius (fixed weights, ball) at
  gamma = gamma_max / 2 returns a positive radius.

Each certificate time is the best of ``--repeat`` runs.  ``ratio`` = ssnal seconds /
certificate seconds for the same data in the same run (above 1: the certificate is
cheaper than one solve).  The ssnal solve uses gamma = 10 (2-D) and 200 (10-D),
tol 1e-6, cold start.
"""

from __future__ import annotations

import argparse
import resource

import numpy as np
from common import best_of, header
from sklearn.datasets import make_blobs

from advcluster.certify import certified_radius, recovery_bounds
from advcluster.graph import knn_graph
from advcluster.solvers import solve

GAMMA = {2: 10.0, 10: 200.0}  # as in benchmarks/solver.py: a handful to a hundred clusters


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-solve", action="store_true", help="skip the ssnal baseline")
    args = ap.parse_args()
    header()
    n = args.n
    print(f"\n## Certificates, n = {n}, kNN graph k = 10, phi = 0.5 (best of {args.repeat})\n")
    print(
        "| data | partition | K | edges | (C1) | gamma_max | recovery_bounds s | radius | "
        "certified_radius s | ssnal s (clusters) | ratio rb | ratio cr |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    for d in (2, 10):
        A, blobs = make_blobs(n, n_features=d, centers=5, random_state=0)
        t_graph, graph = best_of(lambda: knn_graph(A, k=10, phi=0.5), 1)
        if args.no_solve:
            t_solve, solve_txt = float("nan"), "-"
        else:
            res = solve(A, graph, GAMMA[d], "ssnal")
            t_solve = res.time
            solve_txt = f"{t_solve:.2f} ({res.n_clusters}{'' if res.success else ', NOT converged'})"
        notes.append(f"blobs-{d}d: knn_graph {t_graph:.2f} s, ssnal gamma = {GAMMA[d]:g}")
        for name, labels in (("blobs", blobs), ("singletons", np.arange(n))):
            t_rb, b = best_of(lambda: recovery_bounds(A, labels, graph), args.repeat)
            gamma = 0.5 * b.gamma_max if b.certified else 1.0
            t_cr, r = best_of(lambda: certified_radius(A, labels, graph, gamma), args.repeat)
            print(
                f"| blobs-{d}d | {name} | {b.n_clusters} | {graph.n_edges} | {'holds' if b.c1 else 'fails'} | "
                f"{b.gamma_max:.3g} | {t_rb:.3f} | {r.radius:.3g} ({r.binding}) | {t_cr:.3f} | {solve_txt} | "
                f"{t_solve / t_rb:.0f} | {t_solve / t_cr:.0f} |",
                flush=True,
            )
    print()
    for line in notes:
        print(line)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the whole run: {rss:.0f} MiB (a dense n x n float array would be "
          f"{n * n * 8 / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
