"""ssnal's stall rule: small problems with one edge of weight 1e10 among ordinary ones.

Each instance is solved with the rule on (the default) and off (``STALL_ITERS`` set beyond
``max_iter``), interleaved in the same run, at tol 1e-6, 1e-9 and 1e-12: seconds, outer
iterations, success, whether the partition is proven, and the gap between the two answers'
objectives (relative to the data's spread). Rows where the two runs differ are listed; the
totals cover every instance.

    python benchmarks/stall.py [--instances 24]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

import advcluster.solvers.ssnal as ssnal
from advcluster import Graph, complete_graph, knn_graph, solve
from common import header

TOLS = (1e-6, 1e-9, 1e-12)


def instance(seed):
    """Clustered data (n 8-29, d 1-5) on a kNN or complete Gaussian graph, one edge of weight 1e10."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 30))
    d = int(rng.choice([1, 2, 3, 5]))
    centres = rng.normal(size=(int(rng.integers(2, 5)), d)) * 3
    A = centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, d))
    base = knn_graph(A, k=4, phi=0.5) if seed % 4 == 1 else complete_graph(A, phi=0.2)
    w = base.weights.copy()
    w[int(rng.integers(0, w.size))] = 1e10
    i, j = base.edges.T
    G = Graph.from_matrix(sp.csr_array((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(n, n)))
    return A, G, float(10 ** rng.uniform(-1.5, 0.5))


def objective(A, G, gamma, X):
    diff = X[G.edges[:, 0]] - X[G.edges[:, 1]]
    return 0.5 * np.sum((X - A) ** 2) + gamma * float(G.weights @ np.linalg.norm(diff, axis=1))


def run(A, G, gamma, tol, stall):
    ssnal.STALL_ITERS = stall
    t = time.perf_counter()
    res = solve(A, G, gamma, "ssnal", tol=tol)
    return time.perf_counter() - t, res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=24)
    args = ap.parse_args()
    header()
    default = ssnal.STALL_ITERS
    print("\n| seed | n | d | tol | rule on: s, outer, success, proven | rule off: s, outer, success, proven "
          "| objective on - off (relative) |")
    print("|---|---|---|---|---|---|---|")
    total = {"on": 0.0, "off": 0.0}
    same = 0
    count = 0
    for seed in range(1, 2 * args.instances, 2):
        A, G, gamma = instance(seed)
        s2 = float(np.sum((A - A.mean(0)) ** 2))
        for tol in TOLS:
            t_on, on = run(A, G, gamma, tol, default)
            t_off, off = run(A, G, gamma, tol, 10**9)
            total["on"] += t_on
            total["off"] += t_off
            count += 1
            key = lambda r: (r.n_iter, bool(r.success), bool(r.labels_certified))  # noqa: E731
            if key(on) == key(off):
                same += 1
                continue
            gap = (objective(A, G, gamma, on.centers) - objective(A, G, gamma, off.centers)) / (s2 + 1)
            print(f"| {seed} | {A.shape[0]} | {A.shape[1]} | {tol:.0e} | {t_on:.3f}, {on.n_iter}, {on.success}, "
                  f"{on.labels_certified} | {t_off:.3f}, {off.n_iter}, {off.success}, {off.labels_certified} "
                  f"| {gap:+.1e} |")
    ssnal.STALL_ITERS = default
    print(f"\n{count} solves; {same} identical with the rule on and off (outer iterations, success, proof).")
    print(f"total seconds: rule on {total['on']:.2f}, rule off {total['off']:.2f} "
          f"(ratio {total['on'] / total['off']:.2f})")


if __name__ == "__main__":
    main()
