"""Clusterpath against CCMMPy's, at matched accuracy, in the same run (issue: engine speed, item 5).

CCMMPy (Touw, van den Burg & Groenen 2022; https://github.com/djwtouw/CCMMPy) is not on the
package index: build it from its public source into the environment that runs this script
(`pip install <checkout>/ccmmpy`), with advcluster importable (`PYTHONPATH=src`).  It is a peer
for measurement only and never a dependency.

Both solve the same problem: CCMMPy's loss with ``scale=False`` is
``1/2 ||X - M||^2 + lambda sum_{i<j} w_ij ||m_i - m_j||``, so ``lambda = gamma``, on the same
weights (CCMMPy's own kNN weights, k = 10, phi = 0.5, unscaled distances, given to advcluster
as a Graph).  For each gamma of a geometric grid the answers are compared by their objective:
the reference is advcluster's certified solution (exact where the partition is proven), and
each path's relative excess ``(P(M) - P_ref) / P_ref`` is reported.  CCMMPy runs at several
``eps_conv``; the one whose largest excess is at most 1e-6 (the accuracy of a solve at tol 1e-6)
is the matched one.

    PYTHONPATH=src python benchmarks/path.py --n 5000 --gammas 50
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import header
from sklearn.datasets import make_moons

from advcluster import Graph, clusterpath
from advcluster.solvers import problem


def objective(A, graph, gamma, M):
    D = problem.edge_diff(graph, M)
    return 0.5 * float(np.sum((M - A) ** 2)) + gamma * float(np.dot(graph.weights, problem.norms(D, 2)))


def ccmm_path(A, weights, gammas, eps_conv):
    from ccmmpy import CCMM

    model = CCMM(A, weights, center=False, scale=False, eps_conv=eps_conv, max_iter_conv=100000)
    t = time.perf_counter()
    model.convex_clusterpath(np.asarray(gammas), save_clusterpath=True)
    seconds = time.perf_counter() - t
    n = A.shape[0]
    coords = np.asarray(model.coordinates)
    paths = [coords[k * n:(k + 1) * n] for k in range(len(gammas))]
    return seconds, paths, model.info["clusters"].to_numpy()


def main():
    from ccmmpy import SparseWeights

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--gammas", type=int, default=50)
    ap.add_argument("--eps", type=float, nargs="+", default=[1e-6, 1e-7, 1e-8, 1e-9])
    args = ap.parse_args()
    header()
    A = make_moons(args.n, noise=0.1, random_state=0)[0]
    weights = SparseWeights(A, k=10, phi=0.5, connected=False, scale=False)
    pairs, values = np.asarray(weights.indices()), np.asarray(weights.values())
    upper = pairs[:, 0] < pairs[:, 1]
    graph = Graph.from_edges(args.n, pairs[upper], values[upper])
    gammas = np.geomspace(0.25, 40, args.gammas)
    print(f"\nmoons n = {args.n}, {graph.n_edges} edges (CCMMPy's kNN weights, k = 10, phi = 0.5), "
          f"{args.gammas} gammas from {gammas[0]:g} to {gammas[-1]:g}\n")

    t = time.perf_counter()
    ours = clusterpath(A, graph, gammas, tol=1e-6)
    ours_s = time.perf_counter() - t
    ref = np.array([objective(A, graph, g, r.centers) for g, r in zip(gammas, ours)])
    print("| solver | setting | seconds | worst rel. objective excess | median | gammas proven exact | clusters at "
          "gamma = first / middle / last |")
    print("|---|---|---|---|---|---|---|")
    proven = sum(r.labels_certified for r in ours)
    counts = [r.n_clusters for r in ours]
    print(f"| advcluster clusterpath | tol 1e-6 (the reference) | {ours_s:.2f} | 0 (reference) | 0 | {proven}/{len(ours)} "
          f"| {counts[0]} / {counts[len(counts) // 2]} / {counts[-1]} |")
    for eps in args.eps:
        seconds, paths, clusters = ccmm_path(A, weights, gammas, eps)
        excess = np.array([(objective(A, graph, g, M) - f) / abs(f) for g, M, f in zip(gammas, paths, ref)])
        print(f"| CCMMPy convex_clusterpath | eps_conv {eps:g} | {seconds:.2f} | {excess.max():.1e} "
              f"| {np.median(excess):.1e} | - | {clusters[0]} / {clusters[len(clusters) // 2]} / {clusters[-1]} |")


if __name__ == "__main__":
    main()
