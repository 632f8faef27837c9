"""Solver benchmark: seconds per gamma for ssnal, against admm and cvxpy/Clarabel in the same run.

Data: two half-moons in 2-D (make_moons, noise 0.1) and five Gaussian blobs in
10-D (make_blobs); kNN weights k = 10, phi = 0.5; tol = 1e-6.  Prints one
markdown table per part, with the machine and versions, and the speed ratios
(baseline seconds / ssnal seconds: above 1 means ssnal is faster).

    python benchmarks/solver.py                 # the full run recorded in BENCHMARKS.md
    python benchmarks/solver.py --quick         # n = 1000 only, a short path
    python benchmarks/solver.py --certify-only  # what proving the partition adds (certify=True/False)
    python benchmarks/solver.py --certify-only --real   # the same on breast cancer, wine, digits
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from common import best_of, header, timings
from sklearn.datasets import make_blobs, make_moons

from advcluster import clusterpath, knn_graph, solve

DATA = {
    # name: (generator, gamma giving a handful of clusters)
    "moons-2d": (lambda n: make_moons(n, noise=0.1, random_state=0)[0], 10.0),
    "blobs-10d": (lambda n: make_blobs(n, n_features=10, centers=5, random_state=0)[0], 200.0),
}


def cvxpy_time(A, graph, gamma):
    """Seconds and objective for cvxpy + Clarabel (default tolerances), edges by index (no dense matrices)."""
    import cvxpy as cp

    i, j = graph.edges.T
    X = cp.Variable(A.shape)
    obj = 0.5 * cp.sum_squares(X - A) + gamma * (graph.weights @ cp.norm(X[i, :] - X[j, :], 2, axis=1))
    prob = cp.Problem(cp.Minimize(obj))
    t = time.perf_counter()
    prob.solve(solver=cp.CLARABEL)
    return time.perf_counter() - t, prob.value


def per_gamma(names, sizes, admm_max, cvxpy_max, repeat):
    admm_repeat = min(repeat, 3)
    print("\n## Seconds per gamma (cold start; ssnal best and median of %d, admm best of %d, n > 10000 once)\n"
          % (repeat, admm_repeat))
    print("| data | n | edges | gamma | clusters | ssnal s | ssnal median s | KKT | admm s | admm/ssnal "
          "| cvxpy s | cvxpy/ssnal | rel. obj. diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        make, gamma = DATA[name]
        for n in sizes:
            A = make(n)
            graph = knn_graph(A, k=10, phi=0.5)
            times, res = timings(lambda: solve(A, graph, gamma, "ssnal"), repeat if n <= 10000 else 1)
            t_s = times.min()
            row = [name, n, graph.n_edges, gamma, res.n_clusters, f"{t_s:.3f}", f"{np.median(times):.3f}",
                   f"{res.kkt_residual:.1e}"]
            row[-1] += "" if res.success else " (FAILED)"
            if n <= admm_max:
                t_a, ra = best_of(lambda: solve(A, graph, gamma, "admm"), admm_repeat if n <= 10000 else 1)
                row += [f"{t_a:.3f}" + ("" if ra.success else " (not converged)"), f"{t_a / t_s:.1f}"]
            else:
                row += ["-", "-"]
            if n <= cvxpy_max:
                t_c, f_c = cvxpy_time(A, graph, gamma)
                row += [f"{t_c:.3f}", f"{t_c / t_s:.1f}", f"{abs(res.primal_objective - f_c) / max(1, abs(f_c)):.1e}"]
            else:
                row += ["-", "-", "-"]
            print("| " + " | ".join(str(x) for x in row) + " |", flush=True)


class _ProofClock:
    """Seconds spent proving partitions (``solvers.core._prove`` and ``_prove_fine_groups``, the
    merge of the finest groups tried before a re-solve), summed over a solve."""

    NAMES = ("_prove", "_prove_fine_groups")

    def __init__(self):
        from advcluster.solvers import core

        self.seconds = 0.0
        for name in self.NAMES:
            setattr(core, name, self._timed(getattr(core, name)))

    def _timed(self, inner):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t

        return timed


def synthetic_cases(names, sizes, factors):
    """``(name, A, gammas)`` of the benchmark's generated data: each size, gammas as multiples."""
    for name in names:
        make, base = DATA[name]
        for n in sizes:
            yield name, make(n), base * np.asarray(factors)


def real_cases():
    """Wide real data, standardised: breast cancer (569 x 30), wine (178 x 13) and digits 0-3
    (720 x 58, constant pixels dropped), each at gammas from singletons to a few clusters."""
    from sklearn import datasets

    for name, load, keep in (("breast-cancer-30d", datasets.load_breast_cancer, None),
                             ("wine-13d", datasets.load_wine, None),
                             ("digits4-58d", datasets.load_digits, 4)):
        X, y = load(return_X_y=True)
        if keep is not None:
            X = X[y < keep]
        X = X[:, X.std(axis=0) > 0]
        yield name, (X - X.mean(axis=0)) / X.std(axis=0), np.array([1.0, 2.5, 10.0, 25.0, 50.0])


def certification(cases, repeat):
    """What proving the partition costs: solve with and without it, interleaved, in the same run."""
    clock = _ProofClock()
    print("\n## Proving the partition: ssnal with certify=True against certify=False (best of %d, "
          "interleaved; n > 10000 once)\n" % repeat)
    print("| data | n | gamma | clusters | certified | re-solves | undecided | plain s | certified s "
          "| overhead | proof s | proof share |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    proven = total = 0
    for name, A, gammas in cases:
        n = len(A)
        graph = knn_graph(A, k=10, phi=0.5)
        for gamma in gammas:
            plain, cert, proof = [], [], []
            for _ in range(repeat if n <= 10000 else 1):
                t = time.perf_counter()
                solve(A, graph, gamma, "ssnal", certify=False)
                plain.append(time.perf_counter() - t)
                clock.seconds = 0.0
                t = time.perf_counter()
                res = solve(A, graph, gamma, "ssnal")
                cert.append(time.perf_counter() - t)
                proof.append(clock.seconds)
            k = int(np.argmin(cert))
            resolves = res.message.count("re-solved") and res.message.split("re-solved ")[1].split(" ")[0]
            proven += res.labels_certified
            total += 1
            row = [name, n, f"{gamma:g}", res.n_clusters, res.labels_certified, resolves or 0, res.n_undecided,
                   f"{min(plain):.3f}", f"{cert[k]:.3f}", f"{cert[k] / min(plain) - 1:+.1%}",
                   f"{proof[k]:.3f}", f"{proof[k] / cert[k]:.1%}"]
            print("| " + " | ".join(str(x) for x in row) + " |", flush=True)
    print(f"\ncertified: {proven} of {total} solves")


def path(n, n_gammas, cold_every):
    make, gamma = DATA["moons-2d"]
    A = make(n)
    graph = knn_graph(A, k=10, phi=0.5)
    gammas = np.geomspace(gamma / 20, gamma * 2, n_gammas)
    t = time.perf_counter()
    results = clusterpath(A, graph, gammas)
    t_path = time.perf_counter() - t
    cold = [solve(A, graph, g).time for g in gammas[::cold_every]]
    print(f"\n## Warm-started path: moons-2d, n = {n}, {n_gammas} gammas in [{gammas[0]:.3g}, {gammas[-1]:.3g}]\n")
    print("| total s | s per gamma | cold s per gamma (every %dth gamma) | cold/warm | all converged | clusters |" % cold_every)
    print("|---|---|---|---|---|---|")
    per = t_path / n_gammas
    print(
        f"| {t_path:.2f} | {per:.3f} | {np.mean(cold):.3f} | {np.mean(cold) / per:.1f} | "
        f"{all(r.success for r in results)} | {results[0].n_clusters} -> {results[-1].n_clusters} |"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000, 50000])
    ap.add_argument("--data", nargs="+", choices=sorted(DATA), default=list(DATA))
    ap.add_argument("--no-path", action="store_true", help="skip the warm-started path")
    ap.add_argument("--admm-max", type=int, default=10000, help="largest n solved with admm")
    ap.add_argument("--cvxpy-max", type=int, default=2000, help="largest n solved with cvxpy")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--path-n", type=int, default=5000)
    ap.add_argument("--path-gammas", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="n = 1000 only and a 10-gamma path at n = 1000")
    ap.add_argument("--certify-only", action="store_true",
                    help="only the cost of proving the partition (certify=True against False)")
    ap.add_argument("--factors", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0, 4.0],
                    help="gammas of the certification part, as multiples of each data set's gamma")
    ap.add_argument("--real", action="store_true",
                    help="with --certify-only: wide real data (breast cancer, wine, digits) instead")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.path_n, args.path_gammas, args.repeat = [1000], 1000, 10, 1
    header()
    if args.certify_only:
        certification(real_cases() if args.real else synthetic_cases(args.data, args.sizes, args.factors),
                      args.repeat)
        return
    per_gamma(args.data, args.sizes, args.admm_max, args.cvxpy_max, args.repeat)
    if not args.no_path:
        path(args.path_n, args.path_gammas, cold_every=10 if args.path_gammas >= 20 else 2)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the whole run: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
