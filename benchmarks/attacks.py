"""Time the paper's Iris attack: the 321-point grid ("direct method") and the exact staircase.

Run:  python benchmarks/attacks.py [--repeat 3] [--knn-gamma 1.0] [--knn-n 321]

Setting: the Iris setting of ``advcluster reproduce`` (``experiments.SETUPS["iris"]``): the
first 100 rows (setosa, versicolor), feature 4 (petal width) standardised, uniform weights,
gamma = 0.018 (the two species), additive perturbation eps on the even rows (50 points), eps
on the paper's grid of 321 values in [-8, 8] (BL1 with an l_inf budget of 8). The MATLAB grid
took 12.9 s in the paper.

Rows, each the best of ``--repeat`` runs with a fresh model (empty cache):

* ``grid``: ``attack(BL1, "grid")`` with ConvexClusteringModel (the exact 1-D path);
* ``staircase``: ``attack(BL1, "staircase")``, every breakpoint located to 1e-8 relative;
* cold baselines on the same 321 points, each a separate call of the public ``solve`` with no
  warm start and no cache: ``exact1d`` with its dual certificate, and ``ssnal``;
* ``grid, kNN + ssnal``: the same grid with kNN weights (k = 10, phi = 0.5, rebuilt on the
  perturbed data), where warm starts matter, against cold ``solve(..., "ssnal")`` calls.

``ratio`` = cold seconds / attack seconds, in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import best_of, header

from advcluster.attacks import BL1, attack
from advcluster.experiments import SETUPS, load_setup
from advcluster.graph import knn_graph, uniform_graph
from advcluster.models import ConvexClusteringModel
from advcluster.perturbation import Additive
from advcluster.solvers import solve


def cold_loop(A, pert, eps, graph_of, gamma, method, **options):
    """Solve every grid point from scratch through the public front door."""
    ok = 0
    for e in eps:
        B = A + pert.matrix(e)
        ok += solve(B, graph_of(B), gamma, method, **options).success
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--knn-gamma", type=float, default=1.0, help="gamma for the kNN + ssnal rows")
    ap.add_argument("--knn-n", type=int, default=321, help="grid points for the kNN + ssnal rows")
    args = ap.parse_args()
    header()
    setup = SETUPS["iris"]
    A, _, index, _ = load_setup(setup)
    eps = np.linspace(setup.eps_low, setup.eps_high, setup.num)
    pert = Additive(index, [0], ord="inf")
    bound = pert.bind(A)
    g = setup.gamma
    uniform = uniform_graph(100)

    def run(optimizer, **kw):
        return attack(BL1(ConvexClusteringModel(g, weights=kw.pop("weights", "uniform")), A, pert, 8.0), optimizer, **kw)

    t_grid, r_grid = best_of(lambda: run("grid"), args.repeat)
    t_stair, r_stair = best_of(lambda: run("staircase"), args.repeat)
    t_cold_exact, _ = best_of(lambda: cold_loop(A, bound, eps, lambda B: uniform, g, "exact1d"), 1)
    t_cold_ssnal, ok_ssnal = best_of(lambda: cold_loop(A, bound, eps, lambda B: uniform, g, "ssnal"), 1)

    print(f"\n## Iris BL1, n = 100, feature 4, gamma = {g:g}, eps in [-8, 8] (best of {args.repeat})\n")
    print("| run | evaluations | lower-level solves | seconds | ratio (cold / this) | answer |")
    print("|---|---|---|---|---|---|")
    ans = lambda r: f"eps* = {r.theta[0]:.6g}, delta = {r.deviation:g}, N_c = {r.n_changed}"  # noqa: E731
    print(f"| grid, 321 points | {r_grid.n_evals} | {r_grid.n_solves} | {t_grid:.3f} | "
          f"{t_cold_exact / t_grid:.1f} (exact1d) / {t_cold_ssnal / t_grid:.0f} (ssnal) | {ans(r_grid)} |")
    print(f"| staircase, rtol 1e-8 | {r_stair.n_evals} | {r_stair.n_solves} | {t_stair:.3f} | - | "
          f"{ans(r_stair)}; {len(r_stair.extra['plateaus'])} plateaus |")
    print(f"| cold solve(exact1d), certificate, 321 points | 321 | 321 | {t_cold_exact:.3f} | 1 | - |")
    print(f"| cold solve(ssnal), uniform graph, 321 points | 321 | 321 | {t_cold_ssnal:.3f} | 1 | "
          f"{ok_ssnal}/321 converged |")

    knn_eps = np.linspace(-8, 8, args.knn_n)
    t0 = time.perf_counter()
    gk = args.knn_gamma
    r_knn = attack(BL1(ConvexClusteringModel(gk, weights="knn"), A, pert, 8.0), "grid", points=knn_eps)
    t_knn = time.perf_counter() - t0
    t_knn_cold, ok = best_of(lambda: cold_loop(A, bound, knn_eps, lambda B: knn_graph(B, 10, 0.5), gk, "ssnal"), 1)
    print(f"| grid, kNN + ssnal (gamma = {gk:g}), warm-started | {r_knn.n_evals} | {r_knn.n_solves} | "
          f"{t_knn:.3f} | {t_knn_cold / t_knn:.2f} | {ans(r_knn)} |")
    print(f"| cold solve(ssnal), kNN rebuilt, {len(knn_eps)} points | {len(knn_eps)} | {len(knn_eps)} | "
          f"{t_knn_cold:.3f} | 1 | {ok}/{len(knn_eps)} converged |")
    print("\nPaper (MATLAB R2023a, Apple M3): grid of 321 points on Iris 12.90 s.")


if __name__ == "__main__":
    main()
