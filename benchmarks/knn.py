"""kNN graph building: ``advcluster.knn_graph`` against scikit-learn's neighbour search in the same run.

The baseline is what a user would write with scikit-learn:
``NearestNeighbors(n_neighbors=k + 1).fit(A).kneighbors(A)`` (algorithm "auto", one job,
and with ``n_jobs=-1``), the search alone, without ties resolved or the graph built.
``knn_graph`` includes both (exact ties by index, the union graph, Gaussian weights).
Data as in ``solver.py`` (half-moons in 2-D, five blobs in 10-D), k = 10; best of ``--repeat``.

    python benchmarks/knn.py --sizes 10000 50000 200000
"""

from __future__ import annotations

import argparse

from common import best_of, header
from solver import DATA
from sklearn.neighbors import NearestNeighbors

from advcluster import knn_graph


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000, 200000])
    ap.add_argument("--data", nargs="+", default=list(DATA))
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    header()
    print("\n| data | n | knn_graph s | scikit-learn s (1 job) | ratio | scikit-learn s (all cores) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name in args.data:
        for n in args.sizes:
            A = DATA[name][0](n)
            ours, _ = best_of(lambda: knn_graph(A, 10, 0.5), args.repeat)
            one, _ = best_of(lambda: NearestNeighbors(n_neighbors=11).fit(A).kneighbors(A), args.repeat)
            every, _ = best_of(lambda: NearestNeighbors(n_neighbors=11, n_jobs=-1).fit(A).kneighbors(A), args.repeat)
            print(f"| {name} | {n} | {ours:.2f} | {one:.2f} | {one / ours:.1f} | {every:.2f} | {every / ours:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
