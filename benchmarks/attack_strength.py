"""How strong are advcluster's attacks? ``auto`` against the literature's, at equal queries; and,
for convex clustering, the least flip found against the certified radius.

Cells: data set x victim clusterer x threat model.  Data (standardised to unit variance per
feature): iris, wine, breast cancer, digits (classes 0-3), blobs (4 centres, 300 points, 2-D),
moons (300 points).  Victims: convex clustering (kNN k = 10, phi = 0.5 / the median squared
distance to the 10 nearest neighbours, gamma chosen once per data set as the smallest of a grid
with at most twice the classes' number of clusters), KMeans,
Ward, single linkage, a Gaussian mixture, spectral clustering (kNN affinity), DBSCAN (eps: the
median distance to the 5th neighbour) and HDBSCAN; each with the number of classes where it
takes one.  Threat models (2 % of the points with 0.1, 5 % with 0.25, 10 % with 0.5; injection
of 1 % and 5 %): ``rows`` of the points (those nearest another clean cluster's mean,
the points an attacker would pick, the same for every attack) moved by at most ``eps`` standard
deviations per entry (``Pointwise(ord="inf")``), and injection of a share of points anywhere in
the data's bounding box (``Injection(ord="count")``).

Every attack gets the same number of queries (lower-level fits) and maximises 1 - ARI against
the clean clustering (BL1).  Attacks: ``auto`` (merge-split for moved points, capture-bridge for
injection), ``random``, ``cina-genetic`` and ``chhabra-spillover`` (moved points), and
``random`` (injection).

    python benchmarks/attack_strength.py                 # the BENCHMARKS.md run
    python benchmarks/attack_strength.py --quick         # iris and blobs, three victims
    python benchmarks/attack_strength.py --seed 1        # every attack with another random state
    python benchmarks/attack_strength.py --ratio-only    # the certificate comparison alone
    python benchmarks/attack_strength.py --ratio-only --directions  # and many structured flips
    python benchmarks/attack_strength.py --table T.csv   # the same comparison from a sweep's table

The cells also run as a study (``advcluster sweep benchmarks/attack_strength.toml``, resumable
and parallel); ``--table`` reads its exported table.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from functools import partial

import numpy as np
from common import header
from joblib import Parallel, delayed
from sklearn import datasets as skd
from sklearn.cluster import DBSCAN, HDBSCAN, AgglomerativeClustering, KMeans, SpectralClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from advcluster import (
    BL1,
    BL2,
    ConvexClusteringModel,
    Injection,
    Pointwise,
    SklearnClusterer,
    attack,
    certified_radius,
    complete_graph,
    recovery_bounds,
    solve,
)
from advcluster.deviation import deviation
from advcluster.choose import gamma_for_clusters, neighbour_scale, scaled_phi
from advcluster.sweep import boundary_rows


def load(name):
    """``(data standardised, number of classes)``."""
    if name == "iris":
        X, y = skd.load_iris(return_X_y=True)
    elif name == "wine":
        X, y = skd.load_wine(return_X_y=True)
    elif name == "breast-cancer":
        X, y = skd.load_breast_cancer(return_X_y=True)
    elif name == "digits-4":
        X, y = skd.load_digits(return_X_y=True)
        keep = y < 4
        X, y = X[keep], y[keep]
        X = X[:, X.std(axis=0) > 0]
    elif name == "blobs":
        X, y = skd.make_blobs(300, centers=4, cluster_std=1.0, random_state=0)
    elif name == "moons":
        X, y = skd.make_moons(300, noise=0.08, random_state=0)
    else:
        raise ValueError(name)
    return (X - X.mean(axis=0)) / X.std(axis=0), len(np.unique(y))


def convex_setup(X, k):
    """``gamma`` and ``phi``: ``phi = 0.5 / m`` for ``m`` the median squared distance to the 10 nearest
    neighbours (weights on the data's own scale, so that wide data are not near-singletons at
    every gamma), and the smallest gamma of a geometric grid in [0.05, 500] whose clustering has at
    most ``2 k`` clusters (the sweep's ``gamma = "auto"``, ``phi = "auto"``)."""
    phi = scaled_phi(X, 10)
    return dict(gamma=gamma_for_clusters(X, 2 * k, 10, phi), phi=phi)


def victims(X, k, which):
    eps = neighbour_scale(X, 5)
    makers = {
        "convex": lambda: ConvexClusteringModel(**convex_setup(X, k), k=10),
        "kmeans": lambda: SklearnClusterer(KMeans(k, n_init=3, random_state=0)),
        "ward": lambda: SklearnClusterer(AgglomerativeClustering(k, linkage="ward")),
        "single": lambda: SklearnClusterer(AgglomerativeClustering(k, linkage="single")),
        "gmm": lambda: SklearnClusterer(GaussianMixture(k, random_state=0)),
        "spectral": lambda: SklearnClusterer(SpectralClustering(k, affinity="nearest_neighbors", random_state=0)),
        "dbscan": lambda: SklearnClusterer(DBSCAN(eps=eps)),
        "hdbscan": lambda: SklearnClusterer(HDBSCAN(min_cluster_size=10)),
    }
    return {name: makers[name] for name in which}


def threats(X, labels, quick):
    cells = [("rows 5%, eps 0.25", 0.05, 0.25), ("rows 10%, eps 0.5", 0.10, 0.5), ("inject 5%", 0.05, None)]
    if not quick:  # the shares and budgets paired, small with small
        cells = [("rows 2%, eps 0.1", 0.02, 0.1), ("rows 5%, eps 0.25", 0.05, 0.25), ("rows 10%, eps 0.5", 0.10, 0.5),
                 ("inject 1%", 0.01, None), ("inject 5%", 0.05, None)]
    out = []
    for name, share, eps in cells:
        if eps is None:
            k = max(1, int(round(share * len(X))))
            out.append((name, Injection(k, ord="count"), float(k)))
        else:
            out.append((name, Pointwise(index=boundary_rows(X, labels, share), ord="inf"), eps))
    return out


def run_cell(data, victim, X, k, queries, quick, seed=0):
    """Every attack on every threat model of one (data set, victim): a list of row dicts."""
    warnings.simplefilter("ignore")
    model = victims(X, k, [victim])[victim]()
    clean = model.reference(X).labels
    rows = []
    for tname, pert, budget in threats(X, clean, quick):
        attacks = ["auto", "random"] + (["cina-genetic", "chhabra-spillover"] if isinstance(pert, Pointwise) else [])
        for name in attacks:
            problem = BL1(model, X, pert, budget, deviation="ari")
            t = time.perf_counter()
            try:
                res = attack(problem, name, random_state=seed, max_evals=queries)
            except ValueError as exc:  # e.g. one clean cluster: nothing to attack
                rows.append(dict(data=data, victim=victim, threat=tname, attack=name, error=str(exc)))
                continue
            after = problem.model.respond(problem.perturbation.apply(X, res.theta)).labels[:len(X)]
            n = len(X)
            same0 = clean[:, None] == clean[None]
            same1 = after[:, None] == after[None]
            rows.append(dict(data=data, victim=victim, threat=tname, attack=name if name != "auto" else
                             f"auto ({res.optimizer})", value=res.deviation,
                             delta_rel=float(np.count_nonzero(same0 != same1)) / (n * (n - 1)),
                             ari_drop=1 - adjusted_rand_score(clean, after), queries=res.n_evals,
                             seconds=time.perf_counter() - t, clusters=len(np.unique(clean))))
    return rows


def strength(args):
    data_sets = ["iris", "blobs"] if args.quick else args.data
    which = ["convex", "kmeans", "single"] if args.quick else args.victims
    jobs = []
    for data in data_sets:
        X, k = load(data)
        jobs += [delayed(run_cell)(data, v, X, k, args.queries, args.quick, args.seed) for v in which
                 if f"{data}:{v}" not in args.skip]
    t = time.perf_counter()
    rows = []
    for k, cell in enumerate(Parallel(n_jobs=args.jobs, return_as="generator_unordered")(jobs), 1):
        rows += cell
        print(f"  {k}/{len(jobs)} cells ({cell[0]['data']}, {cell[0]['victim']}), {time.perf_counter() - t:.0f} s",
              file=sys.stderr, flush=True)
    print(f"\n{len(rows)} attack runs in {time.perf_counter() - t:.0f} s ({args.jobs} processes), "
          f"{args.queries} queries each\n")
    summarise(rows)


def summarise(rows):
    cells = {}
    for r in rows:
        if "error" in r:
            continue
        cells.setdefault((r["data"], r["victim"], r["threat"]), []).append(r)
    print("| data | victim | threat | clusters | auto (chosen) | 1 - ARI | best baseline | 1 - ARI | delta/n(n-1) auto / best |")
    print("|---|---|---|---|---|---|---|---|---|")
    wins = ties = total = 0
    ratios = []
    for (data, victim, threat), rs in sorted(cells.items()):
        auto = next(r for r in rs if r["attack"].startswith("auto"))
        base = max((r for r in rs if not r["attack"].startswith("auto")), key=lambda r: r["value"])
        total += 1
        wins += auto["value"] > base["value"] + 1e-12
        ties += abs(auto["value"] - base["value"]) <= 1e-12
        if base["value"] > 0:
            ratios.append(auto["value"] / base["value"])
        print(f"| {data} | {victim} | {threat} | {auto['clusters']} | {auto['attack'][6:-1]} | {auto['value']:.3f} "
              f"| {base['attack']} | {base['value']:.3f} | {auto['delta_rel']:.3f} / {base['delta_rel']:.3f} |")
    at_least = wins + ties
    print(f"\nauto reaches at least the best baseline in {at_least} of {total} cells ({100 * at_least / max(total, 1):.0f} %): "
          f"more in {wins}, equal in {ties}; mean of auto / best baseline over cells where the best baseline "
          f"does damage: {np.mean(ratios):.2f} (median {np.median(ratios):.2f})")
    errors = [r for r in rows if "error" in r]
    if errors:
        reasons = sorted({f"{r['victim']} on {r['data']}: {r['error']}" for r in errors})
        print(f"{len(errors)} run(s) refused: " + "; ".join(reasons[:5]))


def from_table(path):
    """The rows :func:`summarise` reads, from a sweep's exported table (attack_strength.toml)."""
    import csv

    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            row = dict(data=r["dataset"], victim=r["model"], threat=r["threat"])
            if r["status"] != "done":
                rows.append(dict(row, attack=r["attack"], error=r["error"]))
                continue
            rows.append(dict(row, attack=f"auto ({r['optimizer']})" if r["attack"] == "auto" else r["attack"],
                             value=float(r["deviation"]), delta_rel=float(r["delta_share"]),
                             clusters=int(r["clean_clusters"])))
    return rows


def structured_flips(model, X, labels, where):
    """The least flip along many structured directions, each bisected to 1e-3 (relative), to see
    whether merge-split's answer or the certificate is loose: per point, that point away from
    its cluster's mean (the rest of the cluster towards it, or still); per cluster, 20 random
    axes (the halves on either side of the median apart, or every point moved away from the
    mean along the axis); per pair of clusters, the merge; the certificate's binding pair apart.
    Returns ``{kind: (least flip, directions)}``."""
    k = labels.max() + 1
    means = np.stack([X[labels == c].mean(axis=0) for c in range(k)])

    def flips(E):
        return deviation(labels, model.respond(X + E).labels, "delta") >= 1

    def least(D, hi=3.0):
        D = D / np.linalg.norm(D, axis=1).max()
        if not flips(hi * D):
            return np.inf
        lo = 0.0
        while hi - lo > 1e-3 * hi:
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if flips(mid * D) else (mid, hi)
        return hi

    found = {}
    for i in range(len(X)):
        u = X[i] - means[labels[i]]
        D = np.zeros_like(X)
        D[labels == labels[i]] = -u
        D[i] = u
        found.setdefault("one point out, its cluster in", []).append(least(D))
        D = np.zeros_like(X)
        D[i] = u
        found.setdefault("one point out", []).append(least(D))
    rng = np.random.default_rng(0)
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        for _ in range(20):
            axis = rng.normal(size=X.shape[1])
            along = (X[idx] - means[c]) @ axis
            D = np.zeros_like(X)
            D[idx] = np.where(along > np.median(along), 1.0, -1.0)[:, None] * axis
            found.setdefault("a cluster's halves apart", []).append(least(D))
            D[idx] = np.sign(along)[:, None] * axis
            found.setdefault("a cluster's points away from its mean, along an axis", []).append(least(D))
    for a in range(k):
        for b in range(a + 1, k):
            D = np.zeros_like(X)
            D[labels == a], D[labels == b] = means[b] - means[a], means[a] - means[b]
            found.setdefault("two clusters merged", []).append(least(D))
    if where is not None and len(where) == 2:
        D = np.zeros_like(X)
        D[where[0]], D[where[1]] = X[where[0]] - X[where[1]], X[where[1]] - X[where[0]]
        found["the binding pair apart"] = [least(D)]
    return {kind: (min(v), len(v)) for kind, v in found.items()}


MAX_RATIO_CLUSTERS = 10  # the ratio table: clusterings of 2 to this many clusters


def ratio(args):
    """For convex clustering with complete Gaussian weights (recomputed on the perturbed data),
    at every gamma of a grid whose clean clustering has 2 to :data:`MAX_RATIO_CLUSTERS` clusters
    and a positive certified radius (per-point balls): the smallest flip merge-split finds (BL2,
    every point may move) against the radius, and with ``--directions`` (data of at most 100
    points) the least flip along many structured directions (:func:`structured_flips`)."""
    print("\n| data | n | gamma | clusters | certified radius | least flip found | ratio | queries | binding |")
    print("|---|---|---|---|---|---|---|---|---|")
    details = []
    cases = [(f"blobs-3 (std 0.3), seed {s}", skd.make_blobs(60, centers=3, cluster_std=0.3, random_state=s, center_box=(-6, 6))[0])
             for s in range(3)]
    cases += [(name, load(name)[0]) for name in ("iris", "wine")]
    for name, X in cases:
        found = False
        graph = complete_graph(X, 0.05)
        for gamma in np.geomspace(0.001, 1.0, 16):
            labels = solve(X, graph, gamma).labels
            k = labels.max() + 1
            if not 2 <= k <= MAX_RATIO_CLUSTERS:
                continue
            cr = certified_radius(X, labels, partial(complete_graph, phi=0.05), gamma, method=args.certificate)
            if not cr.radius > 0:
                continue
            model = ConvexClusteringModel(gamma, weights="complete", phi=0.05)
            problem = BL2(model, X, Pointwise(ord="point"), target=1, deviation="delta", max_norm=4 * cr.radius + 2)
            res = attack(problem, "merge-split", max_evals=args.queries * 3)
            flip = f"{res.norm:.4f}" if res.feasible else "none"
            r = f"{res.norm / cr.radius:.2f}" if res.feasible else "-"
            print(f"| {name} | {len(X)} | {gamma:.4g} | {k} | {cr.radius:.4f} | {flip} | {r} | {res.n_evals} | {cr.binding} |")
            if args.directions and len(X) <= 100:
                details.append((f"{name}, gamma {gamma:.4g}", cr.radius, structured_flips(model, X, labels, cr.where)))
            found = True
        if not found:
            rb = recovery_bounds(X, solve(X, graph, 0.01).labels, graph)
            print(f"| {name} | {len(X)} | - | - | 0 at every gamma of the grid with 2 to {MAX_RATIO_CLUSTERS} clusters "
                  f"| - | - | - | (C1) {'holds' if rb.c1 else 'fails'} |")
    if details:
        print("\nThe least flip along structured directions (each bisected; / the certified radius):\n")
        print("| data | kind of move | directions | least flip | / radius |")
        print("|---|---|---|---|---|")
        for name, radius, found in details:
            for kind, (flip, count) in found.items():
                print(f"| {name} | {kind} | {count} | {flip:.4f} | {flip / radius:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--queries", type=int, default=60, help="lower-level fits per attack")
    ap.add_argument("--jobs", type=int, default=2, help="cells run in parallel (processes)")
    ap.add_argument("--seed", type=int, default=0, help="the attacks' random_state (the victims keep theirs)")
    ap.add_argument("--ratio-only", action="store_true")
    ap.add_argument("--certificate", default="best", choices=["theorem2", "flow", "best"],
                    help="the certified radius: Theorem 2's, the flows', or the larger (default)")
    ap.add_argument("--directions", action="store_true",
                    help="with the ratio: the least flip along many structured directions too (about 40 s a case)")
    ap.add_argument("--table", metavar="CSV", help="summarise a sweep's exported table (attack_strength.toml) "
                    "instead of running the cells")
    ap.add_argument("--no-ratio", action="store_true", help="the cells only")
    ap.add_argument("--skip", nargs="*", default=[], metavar="DATA:VICTIM", help="cells left out")
    ap.add_argument("--data", nargs="+", default=["iris", "wine", "breast-cancer", "digits-4", "blobs", "moons"])
    ap.add_argument("--victims", nargs="+",
                    default=["convex", "kmeans", "ward", "single", "gmm", "spectral", "dbscan", "hdbscan"])
    args = ap.parse_args()
    if args.table:
        summarise(from_table(args.table))
        return
    header()
    if not args.ratio_only:
        strength(args)
    if not args.no_ratio:
        ratio(args)


if __name__ == "__main__":
    main()
