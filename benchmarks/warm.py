"""Warm re-solves after small perturbations, against cold solves in the same run.

Two kinds of perturbation, on two half-moons standardised to unit variance (kNN k = 10,
phi = 0.5, gamma 1 as in the engine issue, tol 1e-6):

* *random*: 1 %, 2 % and 5 % of the rows moved by N(0, scale^2) noise in every feature;
  each re-solve warm-started from the clean solution, with the kNN graph rebuilt on the
  perturbed data (by :class:`advcluster.KnnGraphs`: only the lists that can change) or kept;
* *grid*: the paper's attack pattern, one feature of the first 1 % of the rows shifted by
  each eps of a grid in turn, each solve warm-started from the previous grid point (what
  the grid and staircase attacks do), the graph rebuilt.

"cold" is a fresh ``knn_graph`` plus a cold ``solve``; "warm" is the graph update plus the
warm solve.  Both are certified; the table says how many warm solves were proven without an
iteration (the warm start's partition holds for the new data), whether the labels agree with
the cold solve's and the largest relative objective difference.

    python benchmarks/warm.py                 # n = 1000 and 10000, as in BENCHMARKS.md
    python benchmarks/warm.py --sizes 1000    # a short run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import header
from sklearn.datasets import make_moons

from advcluster import KnnGraphs, knn_graph, solve
from advcluster.graph import carry_edges


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


class Tally:
    """Cold and warm times of one table row, and how their answers compare."""

    def __init__(self):
        self.cold_s, self.warm_s, self.proven, self.same, self.diff, self.certified = [], [], 0, [], [], 0

    def add(self, tc, cold, tw, warm):
        self.cold_s.append(tc)
        self.warm_s.append(tw)
        self.proven += warm.n_iter == 0
        self.same.append(np.array_equal(cold.labels, warm.labels))
        self.diff.append(abs(cold.primal_objective - warm.primal_objective) / max(1.0, abs(cold.primal_objective)))
        self.certified += cold.labels_certified + warm.labels_certified

    def print(self, label, n):
        cold_s, warm_s = np.array(self.cold_s), np.array(self.warm_s)
        ratio = cold_s / warm_s
        print(f"| {label} | {n} | {len(cold_s)} | {np.median(cold_s):.4f} | {np.median(warm_s):.4f} "
              f"| {cold_s.sum() / warm_s.sum():.1f} | {np.median(ratio):.1f} | {ratio.min():.1f}-{ratio.max():.1f} | {self.proven}/{len(warm_s)} "
              f"| {all(self.same)} | {max(self.diff):.1e} | {self.certified}/{2 * len(warm_s)} |")


def random_moves(n, gamma, fractions, repeat, scale, rng):
    A = _moons(n)
    graphs = KnnGraphs(A, 10, 0.5)
    clean = solve(A, graphs.graph, gamma)
    for frac in fractions:
        for keep in (False, True):
            tally = Tally()
            for _ in range(repeat):
                B = A.copy()
                rows = rng.choice(n, max(1, int(frac * n)), replace=False)
                B[rows] += rng.normal(0.0, scale, (rows.size, A.shape[1]))
                if keep:
                    graph = graphs.graph
                    tc, cold = timed(lambda: solve(B, graph, gamma))
                    tw, warm = timed(lambda: solve(B, graph, gamma, x0=clean.centers, z0=clean.dual))
                else:
                    tc, cold = timed(lambda: solve(B, knn_graph(B, 10, 0.5), gamma))

                    def update():
                        graph = graphs.graph_for(B)
                        z0 = carry_edges(clean.dual, graphs.graph.edges, graph)
                        return solve(B, graph, gamma, x0=clean.centers, z0=z0)

                    tw, warm = timed(update)
                tally.add(tc, cold, tw, warm)
            tally.print(f"random {frac:.0%}, graph {'kept' if keep else 'rebuilt'}", n)


def grid_sweep(n, gamma, eps):
    A = _moons(n)
    graphs = KnnGraphs(A, 10, 0.5)
    rows = np.arange(max(1, n // 100))
    previous, prev_graph = solve(A, graphs.graph, gamma), graphs.graph
    tally = Tally()
    for e in eps:
        B = A.copy()
        B[rows, 0] += e
        tc, cold = timed(lambda: solve(B, knn_graph(B, 10, 0.5), gamma))

        def update():
            graph = graphs.graph_for(B)
            z0 = carry_edges(previous.dual, prev_graph.edges, graph)
            return graph, solve(B, graph, gamma, x0=previous.centers, z0=z0)

        tw, (prev_graph, previous) = timed(update)
        tally.add(tc, cold, tw, previous)
    tally.print(f"grid of {len(eps)} eps, first 1 % of rows, feature 1", n)


def _moons(n):
    A = make_moons(n, noise=0.1, random_state=0)[0]
    return (A - A.mean(axis=0)) / A.std(axis=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=5, help="perturbations per fraction (random moves)")
    ap.add_argument("--scale", type=float, default=0.05, help="noise of a moved row, in standard deviations")
    ap.add_argument("--grid", type=int, default=41, help="eps values of the grid sweep, in [-0.5, 0.5]")
    args = ap.parse_args()
    header()
    print(f"\nmoons standardised, kNN k = 10, phi = 0.5, gamma {args.gamma:g}, tol 1e-6; "
          f"random moves N(0, {args.scale:g}^2)\n")
    print("| perturbation | n | solves | cold s (median) | warm s (median) | cold/warm (totals) | cold/warm (median) | range "
          "| proven without iterations | labels agree | rel. objective diff | certified (cold + warm) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n in args.sizes:
        random_moves(n, args.gamma, (0.01, 0.02, 0.05), args.repeat if n <= 1000 else max(2, args.repeat // 2),
                     args.scale, rng)
        grid_sweep(n, args.gamma, np.linspace(-0.5, 0.5, args.grid if n <= 1000 else max(11, args.grid // 4)))


if __name__ == "__main__":
    main()
