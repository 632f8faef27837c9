"""Convex clustering's parameters chosen from the data, when the user gives none.

* ``phi``, the bandwidth of the Gaussian weights ``exp(-phi ||a_i - a_j||^2)``: :func:`scaled_phi`,
  ``0.5 / m`` for ``m`` the median squared distance of a point to its ``k`` nearest neighbours,
  so the weights are on the data's scale (with ``phi = 0.5`` on wide data every weight is
  nearly 0 and every gamma gives near-singletons).
* ``gamma``, from the clusterpath: :func:`choose_gamma` solves on a geometric grid (warm
  started, partitions read without proofs: fast), from where points start to fuse until one
  cluster holds almost everything, and picks

  - with ``n_clusters=K``: a gamma whose clustering has ``K`` major clusters (the middle of the
    longest run of such grid points; between grid points found by bisection);
  - otherwise the most stable clustering: the longest run of grid points with the same number
    of major clusters, at least 2.  Where no such number holds over two grid points (digits:
    0, 2, 4, 9, 12, 11, 9, ... major clusters), the grid point whose partition changes least
    towards both neighbouring gammas: the largest ``min(ARI(previous), ARI(next))``
    (adjusted Rand index, Hubert & Arabie 1985), among those with at least 2 major clusters.

  The answer is the geometric middle of the run. The scan ends at one cluster (or one major
  cluster holding 95 % of the points), after :data:`MAX_POINTS` solves, or once the same number
  of major clusters (at least 2) has held over three decades of gamma.

A *major* cluster holds at least ``max(2, ceil(2 % of n))`` points (:func:`major_clusters`). On
kNN graphs of real data convex clustering leaves outlying points alone or in small groups far
into the path, and those come and go with every step of gamma; counted apart, as outliers, they
do not hide the stable structure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._records import Record

__all__ = ["GAMMA_GRID", "GammaChoice", "MAJOR_SHARE", "choices_in_words", "choose_gamma", "gamma_for_clusters",
           "major_clusters", "neighbour_scale", "scaled_phi", "standardize"]

MAJOR_SHARE = 0.02  # a major cluster holds at least this share of the points (and 2)
PER_DECADE = 5  # grid points per decade of gamma
MAX_POINTS = 40  # solves of one scan at most
BISECTIONS = 8
STABLE_RUN = 3 * PER_DECADE  # grid steps: a run this long (three decades) ends the scan

GAMMA_GRID = np.geomspace(0.05, 500.0, 31)
"""The gammas :func:`gamma_for_clusters` tries, in order."""


def standardize(X):
    """``(Z, shift, scale)``: each column to mean 0 and standard deviation 1 (a constant column to
    0), ``Z * scale + shift == X``. Budgets and radii on ``Z`` are in standard deviations."""
    X = np.asarray(X, dtype=float)
    shift, sd = X.mean(axis=0), X.std(axis=0)
    scale = np.where(sd > 0, sd, 1.0)
    return (X - shift) / scale, shift, scale


def choices_in_words(est) -> list[str]:
    """What a fitted :class:`~advcluster.ConvexClustering` chose for its ``"auto"`` parameters."""
    lines = []
    if est.phi == "auto":
        lines.append(f"phi = {est.phi_:.4g}: 0.5 / the median squared distance of a row to its {est.k} nearest "
                     "neighbours")
    if est.gamma_choice_ is not None:
        lines.append(f"gamma = {est.gamma_:.4g}: {est.gamma_choice_.reason}")
    return lines


def _neighbour_distances(X, k):
    """Each point's distances to its ``k`` nearest other points, shape ``(n, k)``."""
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=float)
    k = min(k, X.shape[0] - 1)
    return NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)[0][:, 1:]


def scaled_phi(X, k=10) -> float:
    """``0.5 / m`` for ``m`` the median squared distance of a point to its ``k`` nearest neighbours
    (the Gaussian weights' bandwidth on the data's scale; 0.5 when every point has duplicates)."""
    m = float(np.median(_neighbour_distances(X, k) ** 2))
    return 0.5 / m if m > 0 else 0.5


def neighbour_scale(X, k=5) -> float:
    """The median distance of a point to its ``k``-th nearest other point (DBSCAN's ``eps`` on the
    data's scale; scikit-learn counts the point itself among ``min_samples``, so ``k = min_samples - 1``
    would be exact: the median over ``k = min_samples`` is a little larger, and keeps a margin)."""
    return float(np.median(_neighbour_distances(X, k)[:, -1]))


def gamma_for_clusters(X, max_clusters, k=10, phi=0.5, grid=GAMMA_GRID) -> float:
    """The smallest gamma of ``grid`` whose convex clustering (kNN weights) of ``X`` has at most
    ``max_clusters`` clusters; the grid's largest when none has."""
    from .graph import knn_graph
    from .solvers import solve

    graph = knn_graph(X, min(k, X.shape[0] - 1), phi)
    for gamma in grid:
        if solve(X, graph, float(gamma), certify=False).n_clusters <= max_clusters:
            return float(gamma)
    return float(grid[-1])


def major_clusters(labels) -> tuple[int, int]:
    """``(number of major clusters, points in them)``: clusters of at least
    ``max(2, ceil(MAJOR_SHARE n))`` points."""
    labels = np.asarray(labels)
    sizes = np.bincount(labels[labels >= 0]) if labels.size else np.zeros(0, int)
    big = sizes >= max(2, math.ceil(MAJOR_SHARE * labels.size))
    return int(big.sum()), int(sizes[big].sum())


@dataclass
class GammaChoice(Record):
    """What :func:`choose_gamma` chose, and the path it looked at.

    ``gamma``; ``n_major`` major clusters there (``n_clusters`` in all); ``interval``: the run
    of grid gammas with that many major clusters; ``reason``: one sentence for people;
    ``gammas``, ``counts``, ``majors``: the scanned path (clusters and major clusters per gamma).
    """

    gamma: float
    n_clusters: int
    n_major: int
    interval: tuple
    rule: str
    reason: str
    gammas: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    majors: np.ndarray = field(repr=False)


def _start(X, graph) -> float:
    """A gamma below any fusion of distinct points: a pair fuses only once ``gamma`` times the
    larger weighted degree of its ends reaches half its length; a tenth of the least such ratio."""
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    length = np.linalg.norm(X[i] - X[j], axis=1)
    deg = np.zeros(X.shape[0])
    np.add.at(deg, i, graph.weights)
    np.add.at(deg, j, graph.weights)
    ratio = length / (2 * np.maximum(np.maximum(deg[i], deg[j]), 1e-300))
    ratio = ratio[ratio > 0]
    return float(ratio.min() / 10) if ratio.size else 1.0


def choose_gamma(X, graph, n_clusters=None, method="auto", tol=1e-6) -> GammaChoice:
    """Gamma from the clusterpath of ``X`` on ``graph`` (module docstring): ``n_clusters`` major
    clusters when given, else the most stable clustering. Raises ``ValueError`` when the path
    has no clustering with ``n_clusters`` major clusters (naming the counts it passes through)."""
    from .solvers import solve

    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    if n_clusters is not None and not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be from 1 to the number of samples ({n}), got {n_clusters}.")
    step = 10 ** (1 / PER_DECADE)
    distinct = np.unique(X, axis=0).shape[0]  # duplicates fuse at any gamma > 0
    gamma = _start(X, graph)
    for _ in range(MAX_POINTS):  # two steps a decade until distinct points fuse; one step back
        if solve(X, graph, gamma * step ** 2, method, tol=tol, certify=False).n_clusters < distinct:
            break
        gamma *= step ** 2
    gammas, counts, majors, partitions, x0, z0 = [], [], [], [], None, None
    while len(gammas) < MAX_POINTS:
        res = solve(X, graph, gamma, method, tol=tol, x0=x0, z0=z0, certify=False)
        major, covered = major_clusters(res.labels)
        partitions.append(res.labels)
        gammas.append(gamma)
        counts.append(res.n_clusters)
        majors.append(major)
        if res.n_clusters == 1 or (major == 1 and covered >= 0.95 * n):
            break
        if len(majors) > STABLE_RUN and major >= 2 and len(set(majors[-STABLE_RUN - 1:])) == 1:
            break  # the same major clusters over three decades of gamma: stable enough to stop looking
        x0, z0 = res.centers, res.dual * step
        gamma *= step
    gammas, counts, majors = np.array(gammas), np.array(counts), np.array(majors)
    runs = _runs(majors)
    if n_clusters is None:
        found = [r for r in runs if majors[r[0]] >= 2]
        if not found:
            lo, hi = runs[-1]
            return _choice(X, graph, method, tol, gammas, counts, majors, (lo, hi), "most stable",
                           "the clusterpath has no stage with two or more major clusters; gamma where one "
                           "cluster holds almost everything")
        lo, hi = max(found, key=lambda r: (r[1] - r[0], -r[0]))
        if lo == hi and len(gammas) >= 3:
            return _least_change(gammas, counts, majors, partitions)
        return _choice(X, graph, method, tol, gammas, counts, majors, (lo, hi), "most stable",
                       f"the most stable clustering of the clusterpath: {majors[lo]} major clusters over "
                       f"gamma {gammas[lo]:.4g} to {gammas[hi]:.4g} ({hi - lo + 1} of {len(gammas)} grid points)")
    found = [r for r in runs if majors[r[0]] == n_clusters]
    if found:
        lo, hi = max(found, key=lambda r: (r[1] - r[0], -r[0]))
        return _choice(X, graph, method, tol, gammas, counts, majors, (lo, hi), f"n_clusters={n_clusters}",
                       f"{n_clusters} major clusters over gamma {gammas[lo]:.4g} to {gammas[hi]:.4g} of the "
                       "clusterpath")
    return _bisect(X, graph, method, tol, gammas, counts, majors, n_clusters)


def _least_change(gammas, counts, majors, partitions):
    """The grid point (at least 2 major clusters, not the first or last) whose partition agrees
    best with both neighbours': the largest ``min`` of its two adjusted Rand indices."""
    from sklearn.metrics import adjusted_rand_score

    step = [adjusted_rand_score(a, b) for a, b in zip(partitions, partitions[1:])]  # t to t + 1
    agree = [-1.0] + [min(step[t - 1], step[t]) if majors[t] >= 2 else -1.0
                      for t in range(1, len(gammas) - 1)] + [-1.0]
    t = int(np.argmax(agree))
    if agree[t] < 0:  # 2 or more major clusters only at an end of the scan
        t = int(np.flatnonzero(majors >= 2)[0])
        reason = (f"the most stable clustering there is: the clusterpath has 2 or more major clusters only "
                  f"at gamma {gammas[t]:.4g}, an end of its scan")
    else:
        reason = (f"the most stable clustering of the clusterpath by agreement with its neighbours: no number "
                  f"of major clusters holds over two grid points, and this one changes least towards both "
                  f"neighbouring grid gammas ({majors[t]} major clusters, adjusted Rand index {agree[t]:.2f} "
                  "with each)")
    return GammaChoice(float(gammas[t]), int(counts[t]), int(majors[t]), (float(gammas[t]), float(gammas[t])),
                       "most stable", reason, gammas, counts, majors)


def _runs(values):
    """``[(first, last)]`` of the runs of equal consecutive values."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        out.append((i, j))
        i = j + 1
    return out


def _choice(X, graph, method, tol, gammas, counts, majors, run, rule, reason):
    from .solvers import solve

    lo, hi = run
    gamma = float(math.sqrt(gammas[lo] * gammas[hi]))
    res = solve(X, graph, gamma, method, tol=tol, certify=False)
    return GammaChoice(gamma, res.n_clusters, major_clusters(res.labels)[0], (float(gammas[lo]), float(gammas[hi])),
                       rule, reason, gammas, counts, majors)


def _bisect(X, graph, method, tol, gammas, counts, majors, k):
    """Between the grid points whose major counts bracket ``k``: bisect in log gamma."""
    from .solvers import solve

    above = [i for i in range(len(majors) - 1) if majors[i] > k > majors[i + 1] or majors[i] < k < majors[i + 1]]
    seen = sorted(set(int(m) for m in majors))
    if not above:
        raise ValueError(f"the clusterpath has no clustering with {k} major clusters (it passes through "
                         f"{', '.join(map(str, seen))}); choose one of those or give gamma")
    i = above[0]
    lo, hi = gammas[i], gammas[i + 1]
    for _ in range(BISECTIONS):
        mid = math.sqrt(lo * hi)
        res = solve(X, graph, mid, method, tol=tol, certify=False)
        major = major_clusters(res.labels)[0]
        if major == k:
            return GammaChoice(float(mid), res.n_clusters, k, (float(mid), float(mid)), f"n_clusters={k}",
                               f"{k} major clusters at gamma {mid:.4g}, found between grid points of the clusterpath",
                               gammas, counts, majors)
        if (major > k) == (majors[i] > k):
            lo = mid
        else:
            hi = mid
    raise ValueError(f"the clusterpath has no clustering with {k} major clusters that a gamma can hit (it "
                     f"passes through {', '.join(map(str, seen))}); choose one of those or give gamma")
