r"""Certificates for convex clustering: when is a clustering guaranteed not to change?

Four tools, all about the convex clustering model of docs/model.md, section 1
(``min_X 1/2 ||X - A||_F^2 + gamma sum_{i<j} w_ij ||x_i - x_j||_p``):

* :func:`recovery_bounds`: the recovery conditions of Sun, Toh & Yuan (2021,
  Theorem 5, "the SSNAL paper") for a given partition ``V_1..V_K`` of the rows of ``A``.
* :func:`certify`: the same conditions on perturbed data ``A + E`` with the
  *unperturbed* partition (Zheng & Li 2025, Theorem 2, "the paper"): when they hold, the
  clustering of ``A + E`` is the clustering of ``A``.
* :func:`certified_radius`: the largest perturbation size for which Theorem 2
  certifies *every* perturbation, for fixed weights (closed form) and for Gaussian
  weights recomputed from the perturbed data (a monotone bound, bisection).
* :func:`calmness`: the empirical modulus ``||X*(A+E) - X*(A)||_F / ||E||_F``.

Notation (docs/model.md, section 3).  ``I_a`` are the index sets, ``n_a`` their sizes,
``abar^(a)`` the centroids, ``q`` the conjugate exponent of ``p`` (``p = 2 -> q = 2``,
``p = 1 -> q = inf``, ``p = inf -> q = 1``), and

.. math::

    w_i^{(b)} = \sum_{j \in I_b} w_{ij},\qquad
    w^{(a,b)} = \sum_{i \in I_a, j \in I_b} w_{ij},\qquad
    \mu_{ij}^{(a)} = \sum_{b \ne a} |w_i^{(b)} - w_j^{(b)}|,\quad i, j \in I_a.

(C1): ``w_ij > 0`` and ``n_a w_ij > mu_ij`` for all ``i != j`` in the same ``I_a``.

.. math::

    \gamma_{\min} = \max_a \max_{i \ne j \in I_a}
        \frac{\|a_i - a_j\|_q}{n_a w_{ij} - \mu^{(a)}_{ij}},\qquad
    \gamma_{\max} = \min_{a < b} \frac{\|\bar a^{(a)} - \bar a^{(b)}\|_q}
        {\frac{1}{n_a}\sum_{l \ne a} w^{(a,l)} + \frac{1}{n_b}\sum_{l \ne b} w^{(b,l)}}.

(C2): ``gamma_min < gamma_max``.  With (C1), (C2) and distinct centroids, every
``gamma`` in ``[gamma_min, gamma_max)`` recovers the partition exactly.

Weights: everywhere a ``weights`` argument appears it is either

* a :class:`~advcluster.graph.Graph`: the weights are *fixed*, the clean graph is
  kept for the perturbed data; or
* a callable ``A -> Graph`` (a *builder*): the weights are *recomputed* from the
  perturbed data, e.g. ``functools.partial(knn_graph, k=10, phi=0.5)``.
  :func:`certify` and :func:`calmness` accept any builder.  :func:`certified_radius`
  must know how the weights depend on the data, so it accepts exactly
  :func:`~advcluster.graph.complete_graph` and :func:`~advcluster.graph.knn_graph`,
  bare or wrapped in ``functools.partial`` with keyword arguments (``phi``, ``k``).
  Uniform weights do not depend on the data: pass ``uniform_graph(n)`` itself.

Nothing here builds an ``n x n`` array: pairs inside a cluster are visited through
the graph's edges (when (C1) holds every such pair is an edge; when a cluster misses
some, the count of its internal edges shows it), the point-to-cluster weights
``w_i^(b)``, ``b != a(i)``, form the sparse ``n x K`` matrix ``W_cross Y`` (``Y`` the
membership matrix, ``W_cross`` the edges between clusters), and pairs of clusters are
visited in blocks of about a million (all of them up to ~4 million pairs; beyond, a
k-d tree in the q-metric prunes the pairs that cannot attain a minimum).
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from sklearn.neighbors import KDTree

from ._validation import check_data, check_gamma
from .graph import Graph, _check_phi, _first_appearance, complete_graph, knn_graph

__all__ = [
    "RecoveryBounds",
    "recovery_bounds",
    "Certificate",
    "certify",
    "CertifiedRadius",
    "certified_radius",
    "calmness",
]

# Cluster pairs are handled in row blocks of at most this many pairs.
_PAIR_CHUNK = 1 << 20
# Up to this many pairs of clusters, every pair is visited; beyond, a k-d tree prunes them.
_BRUTE_CLUSTER_PAIRS = 1 << 22
_TREE_METRIC = {1: "manhattan", 2: "euclidean", math.inf: "chebyshev"}
# Bisection for recomputed weights stops at this relative width.
_BISECT_RTOL = 1e-12
_BISECT_MAX = 200


# --------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------


def _check_p(p):
    """``(p, q)`` with ``q`` the conjugate exponent; ``p`` in {1, 2, inf}."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ValueError(f"p must be 1, 2 or np.inf, got {p!r}.")
    if p == 1:
        return 1, math.inf
    if p == 2:
        return 2, 2
    if p == math.inf:
        return math.inf, 1
    raise ValueError(f"p must be 1, 2 or np.inf, got {p!r}.")


def _metric(q):
    return {1: "cityblock", 2: "euclidean", math.inf: "chebyshev"}[q]


def _row_norms(X, q):
    if q == 2:
        return np.sqrt(np.einsum("ij,ij->i", X, X))
    if q == 1:
        return np.abs(X).sum(axis=1)
    return np.abs(X).max(axis=1, initial=0.0)


def _ball_factor(q, d):
    """``max ||v||_q / ||v||_2`` over ``v`` in ``R^d``: 1 for q = 2 or inf, sqrt(d) for q = 1."""
    return math.sqrt(d) if q == 1 else 1.0


def _check_like(X, shape, name, what):
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape {shape} ({exc}).") from None
    if X.shape != shape:
        raise ValueError(f"{name} must have the shape of A, {shape}, got {X.shape}; {what}.")
    if not np.all(np.isfinite(X)):
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{name} contains NaN or inf (first at row {r}, column {c}); pass finite values.")
    return X


@dataclass(frozen=True, eq=False)
class _Partition:
    codes: np.ndarray  # (n,) cluster of each point, 0..K-1 by first appearance
    sizes: np.ndarray  # (K,)

    @property
    def n_clusters(self):
        return len(self.sizes)

    def centroids(self, A):
        K, d = self.n_clusters, A.shape[1]
        C = np.zeros((K, d))
        np.add.at(C, self.codes, A)
        return C / self.sizes[:, None]


def _partition(labels, n) -> _Partition:
    try:
        lab = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"labels must be a 1-D sequence of cluster labels ({exc}).") from None
    if lab.ndim != 1:
        raise ValueError(f"labels must be 1-D (n_samples,), got shape {lab.shape}; use np.ravel(labels).")
    if lab.size != n:
        raise ValueError(
            f"labels has {lab.size} entries but A has {n} rows; pass one label per sample (row of A)."
        )
    if lab.dtype.kind == "f" and np.isnan(lab).any():
        raise ValueError(f"labels contain NaN (first at index {int(np.flatnonzero(np.isnan(lab))[0])}); "
                         "give every sample a cluster.")
    try:
        _, inverse = np.unique(lab, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"labels must be comparable values (ints or strings): {exc}") from None
    codes = _first_appearance(inverse.ravel())
    return _Partition(codes, np.bincount(codes))


def _check_graph(graph, n, what="weights"):
    if not isinstance(graph, Graph):
        raise ValueError(
            f"{what} must be an advcluster Graph, got {type(graph).__name__}; build it with knn_graph, "
            "complete_graph, uniform_graph or Graph.from_matrix."
        )
    if graph.n != n:
        raise ValueError(f"the graph has {graph.n} nodes but A has {n} rows; build the graph from the same data.")
    return graph


def _resolve_weights(weights, A):
    """``(graph on A, builder or None)``: a Graph means fixed weights, a callable recomputed ones."""
    n = A.shape[0]
    if isinstance(weights, Graph):
        return _check_graph(weights, n), None
    if callable(weights):
        return _build(weights, A), weights
    _bad_weights(weights)


def _bad_weights(weights):
    raise ValueError(
        f"weights must be a Graph (fixed weights) or a callable A -> Graph (weights recomputed from the "
        f"perturbed data, e.g. functools.partial(knn_graph, k=10)), got {type(weights).__name__}."
    )


def _build(builder, A):
    graph = builder(A)
    if not isinstance(graph, Graph):
        raise ValueError(f"the weight builder must return a Graph, it returned {type(graph).__name__}.")
    return _check_graph(graph, A.shape[0], "the graph returned by the weight builder")


def _builder_spec(builder, n):
    """``("complete", {"phi"})`` or ``("knn", {"k", "phi"})`` for a builder certified_radius understands."""
    func, keywords, args = builder, {}, ()
    if isinstance(builder, functools.partial):
        func, keywords, args = builder.func, dict(builder.keywords), builder.args
    if func not in (complete_graph, knn_graph) or args:
        raise ValueError(
            "certified_radius needs to know how the weights depend on the data: pass a Graph (fixed weights), "
            "complete_graph or knn_graph, or functools.partial(complete_graph, phi=...) / "
            "functools.partial(knn_graph, k=..., phi=...) with keyword arguments only; "
            f"got {builder!r}. (certify accepts any callable A -> Graph.)"
        )
    sig = inspect.signature(func)
    try:
        bound = sig.bind_partial(**keywords)
    except TypeError as exc:
        raise ValueError(f"bad keyword arguments for {func.__name__}: {exc}.") from None
    if "A" in bound.arguments:
        raise ValueError(f"the builder must leave A free; {func.__name__} was given A.")
    params = {k: v.default for k, v in sig.parameters.items() if k != "A"}
    params.update(bound.arguments)
    params["phi"] = _check_phi(params["phi"])
    if func is knn_graph:
        k = params["k"]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
            raise ValueError(f"k must be an integer in 1..{n - 1}, got {k!r}.")
        params["k"] = int(k)
        return "knn", params
    return "complete", params


# --------------------------------------------------------------------------
# the quantities of Theorem 5, for weights known up to an interval
# --------------------------------------------------------------------------


def _group_extreme(keys, values, K, largest=False):
    """Per group: the smallest (or largest) value and the position attaining it (-1 if the group is empty)."""
    best = np.full(K, -np.inf if largest else np.inf)
    where = np.full(K, -1, dtype=np.int64)
    if keys.size:
        order = np.lexsort((-values if largest else values, keys))
        g, first = np.unique(keys[order], return_index=True)
        where[g] = order[first]
        best[g] = values[where[g]]
    return best, where


def _pair_blocks(K):
    """Row blocks ``[s, e)`` covering the pairs ``a < b`` with at most about _PAIR_CHUNK pairs each."""
    rows = max(1, _PAIR_CHUNK // max(K, 1))
    for s in range(0, K - 1, rows):
        yield s, min(K - 1, s + rows)


def _block_pairs(C, s, e, q):
    """Pairs ``(a, b)``, ``s <= a < e``, ``a < b``, and their centroid distances ``||C_a - C_b||_q``."""
    Dm = cdist(C[s:e], C[s:], _metric(q))
    a, b = np.nonzero(np.arange(s, e)[:, None] < np.arange(s, C.shape[0])[None, :])
    return a + s, b + s, Dm[a, b]


class _ClusterPairs:
    """Pairs of clusters ``a < b`` with their centroid distances ``D_ab = ||C_a - C_b||_q``.

    Up to :data:`_BRUTE_CLUSTER_PAIRS` pairs, every pair is visited (in row blocks).
    Beyond, a minimum over pairs is found in two steps: an upper bound from each
    centroid's nearest other centroid (:meth:`nearest`), then only the pairs that can
    beat it, those with ``D_ab <= R_a`` for radii ``R`` the caller derives from that
    bound (:meth:`within`, a k-d tree radius query in the q-metric).  When the radii
    would return too many pairs it falls back to all of them.
    """

    def __init__(self, C, q):
        self.C, self.q, self.K = C, q, C.shape[0]
        self.brute = self.K * (self.K - 1) // 2 <= _BRUTE_CLUSTER_PAIRS
        self._tree = None if self.brute else KDTree(C, metric=_TREE_METRIC[q])
        self._cache = None

    def all(self):
        if self._cache is not None:
            yield from self._cache
            return
        blocks = (_block_pairs(self.C, s, e, self.q) for s, e in _pair_blocks(self.K))
        if self.K * (self.K - 1) // 2 > _PAIR_CHUNK:
            yield from blocks
            return
        self._cache = list(blocks)  # one block at most: keep it for repeated passes
        yield from self._cache

    def nearest(self):
        """Each cluster with its nearest other centroid (a sample of pairs containing the closest one)."""
        if self.K < 2:
            return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
        ind = self._tree.query(self.C, k=2, return_distance=False)
        rows = np.arange(self.K)
        other = np.where(ind[:, 0] == rows, ind[:, 1], ind[:, 0])
        return self._exact(rows, other)

    def within(self, R):
        """Pairs that include every pair with ``D_ab <= R_a`` (all pairs when brute or R is not finite)."""
        if self.brute or not np.all(np.isfinite(R)):
            yield from self.all()
            return
        R = R * (1 + 1e-9) + 1e-300  # inclusive, despite rounding in the tree's distances
        if self._tree.query_radius(self.C, R, count_only=True).sum() > _BRUTE_CLUSTER_PAIRS:
            yield from self.all()
            return
        found = self._tree.query_radius(self.C, R, return_distance=False)
        a = np.repeat(np.arange(self.K), [len(f) for f in found])
        b = np.concatenate(found).astype(np.int64) if len(found) else np.zeros(0, np.int64)
        yield self._exact(a, b)

    def _exact(self, a, b):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = lo != hi
        key = np.unique(lo[keep] * self.K + hi[keep])
        a, b = key // self.K, key % self.K
        return a, b, _row_norms(self.C[a] - self.C[b], self.q)


class _Structure:
    """Edges of a graph split by a partition: what Theorem 5 needs, for weights in ``[lo, hi]``."""

    def __init__(self, A, part, graph, q):
        self.A, self.part, self.q = A, part, q
        n = A.shape[0]
        codes = part.codes
        pos = graph.weights > 0  # a zero weight couples nothing: treated as a missing edge
        edges, w = graph.edges[pos], graph.weights[pos]
        ci, cj = codes[edges[:, 0]], codes[edges[:, 1]]
        inside = ci == cj
        self.n = n
        self.edges = edges
        self.weights = w
        self.internal = np.flatnonzero(inside)
        self.cross = np.flatnonzero(~inside)
        ii, jj = edges[self.internal].T
        self.ii, self.jj, self.ic = ii, jj, codes[ii]
        xi, xj = edges[self.cross].T
        self.xi, self.xj = xi, xj
        self.xci, self.xcj = codes[xi], codes[xj]
        self.d_int = _row_norms(A[ii] - A[jj], q)  # ||a_i - a_j||_q over internal edges
        K = part.n_clusters
        sizes = part.sizes
        need = sizes * (sizes - 1) // 2
        self.internal_edges = np.bincount(self.ic, minlength=K)
        self.missing = need - self.internal_edges
        self.centroids = part.centroids(A)
        self.pairs = _ClusterPairs(self.centroids, q)

    def evaluate(self, lo, hi):
        """Lower bound on ``n_a w_ij - mu_ij`` (internal edges) and upper bound on ``sum_{l != a} w^(a,l)``.

        ``lo``, ``hi`` (per edge of ``self.edges``) bound each weight.  With ``lo = hi`` the
        values are exact.  ``w_i^(b) - w_j^(b)`` lies in ``[Lo_i^b - Hi_j^b, Hi_i^b - Lo_j^b]``,
        so ``|.| <= max(Hi_i^b - Lo_j^b, Hi_j^b - Lo_i^b)``.
        """
        n, K = self.n, self.part.n_clusters
        c = self.cross
        if c.size:
            rows = np.concatenate([self.xi, self.xj])
            cols = np.concatenate([self.xcj, self.xci])
            Mhi = sp.csr_array((np.concatenate([hi[c], hi[c]]), (rows, cols)), shape=(n, K))
            Mlo = Mhi if lo is hi else sp.csr_array((np.concatenate([lo[c], lo[c]]), (rows, cols)), shape=(n, K))
            Mhi.sum_duplicates()
            Mlo.sum_duplicates()
            T = np.bincount(self.xci, hi[c], K) + np.bincount(self.xcj, hi[c], K)
        else:
            T = np.zeros(K)
        if self.internal.size and c.size:
            P = Mhi[self.ii] - Mlo[self.jj]
            Q = Mhi[self.jj] - Mlo[self.ii]
            mu = np.asarray(P.maximum(Q).sum(axis=1)).ravel()
        else:
            mu = np.zeros(self.internal.size)
        slack = self.part.sizes[self.ic] * lo[self.internal] - mu
        return slack, mu, T


def _missing_examples(struct, clusters):
    """One pair per cluster in ``clusters`` that is not a (positive-weight) edge; O(n + m) in all."""
    codes, sizes, n = struct.part.codes, struct.part.sizes, struct.n
    members = np.argsort(codes, kind="stable")
    mstart = np.concatenate([[0], np.cumsum(sizes)])
    eorder = np.argsort(struct.ic, kind="stable")
    estart = np.concatenate([[0], np.cumsum(struct.internal_edges)])
    deg = np.bincount(np.concatenate([struct.ii, struct.jj]), minlength=n)
    out = {}
    for a in clusters:
        mem = members[mstart[a]:mstart[a + 1]]
        i = mem[np.flatnonzero(deg[mem] < mem.size - 1)[0]]
        e = eorder[estart[a]:estart[a + 1]]
        ii, jj = struct.ii[e], struct.jj[e]
        nb = np.concatenate([jj[ii == i], ii[jj == i], [i]])
        j = np.setdiff1d(mem, nb)[0]
        out[a] = (int(min(i, j)), int(max(i, j)))
    return out


# --------------------------------------------------------------------------
# recovery_bounds
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RecoveryBounds:
    """The recovery conditions of Theorem 5 (Sun, Toh & Yuan 2021) for one partition.

    Clusters are numbered ``0..K-1`` by first appearance in ``labels``; points are
    row indices of ``A``; pairs are ``(i, j)`` with ``i < j``.

    Attributes
    ----------
    p, q : float
        The norm of the model and its conjugate (the norm used in the bounds).
    sizes : ndarray (K,)
        Cluster sizes ``n_a``.
    internal_edges, missing_pairs : ndarray (K,)
        Pairs inside each cluster that are edges with ``w_ij > 0``, and those that are
        not: (C1) needs ``missing_pairs == 0``.
    missing_example : ndarray (K, 2)
        One missing pair per cluster (``-1`` where none is missing).
    slack : ndarray (K,)
        ``min (n_a w_ij - mu_ij)`` over the pairs of the cluster that are edges
        (``inf`` when there are none); (C1) needs it ``> 0`` *and* no missing pair
        (a missing pair has slack ``-mu_ij <= 0``).
    slack_pair : ndarray (K, 2)
        The pair attaining ``slack`` (``-1`` if none).
    cluster_c1 : ndarray (K,) of bool
        (C1) restricted to each cluster.
    cluster_gamma_min : ndarray (K,)
        ``max ||a_i - a_j||_q / (n_a w_ij - mu_ij)`` over the cluster's pairs
        (``0`` for a singleton, ``inf`` where the cluster fails (C1)).
    c1 : bool
        (C1) for every cluster.
    gamma_min : float
        ``max_a cluster_gamma_min[a]``; ``inf`` when (C1) fails (the theorem then
        certifies no gamma).
    gamma_min_pair : tuple or None
        The pair attaining ``gamma_min``.
    gamma_max : float
        The bound of Theorem 5 (``inf`` for a single cluster, or when the attaining
        clusters have no weight to any other cluster).
    gamma_max_clusters : tuple or None
        The clusters ``(a, b)`` attaining ``gamma_max``.
    distinct_centroids : bool
        All centroids differ.
    c2 : bool
        ``gamma_min < gamma_max`` (False when (C1) fails).
    coarsening_bound : float
        ``max_a n_a ||c - abar^(a)||_q / sum_{b != a} w^(a,b)``, ``c`` the mean of all
        points (part 2 of the theorem); ``0`` for a single cluster.
    coarsening_cluster : int or None
        The cluster attaining it.
    """

    p: float
    q: float
    sizes: np.ndarray
    internal_edges: np.ndarray
    missing_pairs: np.ndarray
    missing_example: np.ndarray
    slack: np.ndarray
    slack_pair: np.ndarray
    cluster_c1: np.ndarray
    cluster_gamma_min: np.ndarray
    c1: bool
    gamma_min: float
    gamma_min_pair: tuple | None
    gamma_max: float
    gamma_max_clusters: tuple | None
    distinct_centroids: bool
    c2: bool
    coarsening_bound: float
    coarsening_cluster: int | None

    @property
    def n_clusters(self) -> int:
        return len(self.sizes)

    @property
    def n_samples(self) -> int:
        return int(self.sizes.sum())

    @property
    def c1_slack(self) -> float:
        """Smallest slack over all clusters (``inf`` when no cluster has a pair)."""
        return float(self.slack.min(initial=np.inf))

    @property
    def certified(self) -> bool:
        """(C1), (C2) and distinct centroids: some gamma is certified to recover the partition."""
        return bool(self.c1 and self.c2 and self.distinct_centroids)

    def recovers(self, gamma) -> bool:
        """Whether Theorem 5 guarantees that ``gamma`` recovers the partition exactly."""
        gamma = check_gamma(gamma)
        return bool(self.certified and self.gamma_min <= gamma < self.gamma_max)

    def coarsens(self, gamma) -> bool:
        """Whether part 2 of Theorem 5 guarantees a non-trivial coarsening of the partition at ``gamma``."""
        gamma = check_gamma(gamma)
        return bool(self.c1 and self.gamma_min <= gamma < self.coarsening_bound)

    def failure(self) -> str:
        """Why no gamma is certified, in words ('' when some gamma is)."""
        if not self.c1:
            bad = np.flatnonzero(~self.cluster_c1)
            a = int(bad[0])
            more = f" (and {bad.size - 1} more cluster(s))" if bad.size > 1 else ""
            if self.missing_pairs[a]:
                i, j = self.missing_example[a]
                return (
                    f"(C1) fails in cluster {a}{more}: {self.missing_pairs[a]} of its "
                    f"{self.sizes[a] * (self.sizes[a] - 1) // 2} pairs are not edges with positive weight "
                    f"(e.g. ({i}, {j})); (C1) needs every pair inside a cluster to be an edge"
                )
            i, j = self.slack_pair[a]
            return f"(C1) fails in cluster {a}{more}: n_a w_ij - mu_ij = {self.slack[a]:.4g} <= 0 at pair ({i}, {j})"
        if not self.distinct_centroids:
            return f"centroids of clusters {self.gamma_max_clusters} coincide"
        if not self.c2:
            return f"(C2) fails: gamma_min = {self.gamma_min:.6g} >= gamma_max = {self.gamma_max:.6g}"
        return ""

    def __str__(self):
        K = self.n_clusters
        qn = "inf" if self.q == math.inf else f"{self.q:g}"
        pn = "inf" if self.p == math.inf else f"{self.p:g}"
        lines = [
            f"Recovery conditions (Sun, Toh & Yuan 2021, Thm 5): n = {self.n_samples}, K = {K}, "
            f"p = {pn} (q = {qn})"
        ]
        if self.c1:
            where = ""
            if np.isfinite(self.c1_slack):
                where = f" at pair {tuple(int(v) for v in self.slack_pair[np.argmin(self.slack)])}"
            lines.append(f"  (C1) holds: min n_a w_ij - mu_ij = {self.c1_slack:.6g}{where}")
        else:
            lines.append("  " + self.failure())
        lines.append(
            f"  gamma_min = {self.gamma_min:.6g}" + (f" (pair {self.gamma_min_pair})" if self.gamma_min_pair else "")
            + f", gamma_max = {self.gamma_max:.6g}"
            + (f" (clusters {self.gamma_max_clusters})" if self.gamma_max_clusters else "")
        )
        if self.c1:
            lines.append(f"  (C2) {'holds' if self.c2 else 'fails'}: gamma_min {'<' if self.c2 else '>='} gamma_max; "
                         f"centroids {'distinct' if self.distinct_centroids else 'NOT distinct'}")
        if self.certified:
            lines.append(f"  recovers the partition for every gamma in [{self.gamma_min:.6g}, {self.gamma_max:.6g})")
        else:
            lines.append("  no gamma is certified to recover the partition")
        lines.append(
            f"  coarsening bound {self.coarsening_bound:.6g}"
            + (f" (cluster {self.coarsening_cluster})" if self.coarsening_cluster is not None else "")
            + ": gamma in [gamma_min, bound) gives a non-trivial coarsening" + ("" if self.c1 else " (needs (C1))")
        )
        lines.append("  cluster   size   edges/pairs   min slack   gamma_min")
        for a in range(min(K, 10)):
            pairs = self.sizes[a] * (self.sizes[a] - 1) // 2
            lines.append(
                f"  {a:7d} {self.sizes[a]:6d} {self.internal_edges[a]:8d}/{pairs:<6d} "
                f"{self.slack[a]:11.4g} {self.cluster_gamma_min[a]:11.4g}"
            )
        if K > 10:
            lines.append(f"  ... {K - 10} more clusters")
        return "\n".join(lines)


def recovery_bounds(A, labels, graph, p=2) -> RecoveryBounds:
    r"""Theorem 5 of Sun, Toh & Yuan (2021) for the partition given by ``labels``.

    Computes (C1) cluster by cluster with its slack
    ``min_{i != j in I_a} (n_a w_ij - mu_ij^(a))``, ``gamma_min``, ``gamma_max``, (C2)
    and the coarsening bound of part 2 (formulas in the module docstring).  If (C1),
    (C2) and distinct centroids hold, every ``gamma`` in ``[gamma_min, gamma_max)``
    recovers the partition exactly (:meth:`RecoveryBounds.recovers`).  The conditions
    are sufficient, not necessary.

    Parameters
    ----------
    A : array of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
        The partition; any hashable labels, clusters numbered by first appearance.
    graph : Graph
        The weights ``w_ij`` (edges absent from the graph, or of weight 0, are ``w_ij = 0``).
    p : {2, 1, np.inf}
        The norm of the model; the bounds use the conjugate norm ``q``.

    Returns
    -------
    RecoveryBounds

    Notes
    -----
    (C1) needs ``w_ij > 0`` for *every* pair inside a cluster.  That is checked from
    edge counts (a cluster of size ``s`` needs ``s (s - 1) / 2`` internal edges), never
    by listing pairs: with a kNN graph, a cluster larger than about ``2k + 1`` points
    always fails.  When (C1) holds every internal pair is an edge, so ``gamma_min`` is
    a maximum over internal edges.  ``w_i^(b)`` for ``b != a`` comes from the sparse
    product of the cross-cluster weights with the membership matrix.  Cost: ``O(m)``
    for ``m`` edges (plus ``O(m deg)`` for ``mu``) and ``O(K^2 d)`` for the pairs of
    clusters in ``gamma_max``; memory ``O(n + m)``.
    """
    A = check_data(A)
    part = _partition(labels, A.shape[0])
    graph = _check_graph(graph, A.shape[0], "graph")
    p, q = _check_p(p)
    struct = _Structure(A, part, graph, q)
    slack, _, T = struct.evaluate(struct.weights, struct.weights)
    return _bounds_from(struct, slack, T, p, q)


def _bounds_from(struct, slack, T, p, q):
    part, A = struct.part, struct.A
    K, sizes = part.n_clusters, part.sizes
    cslack, at = _group_extreme(struct.ic, slack, K)
    slack_pair = np.full((K, 2), -1, dtype=np.int64)
    ok = at >= 0
    slack_pair[ok, 0], slack_pair[ok, 1] = struct.ii[at[ok]], struct.jj[at[ok]]
    missing = struct.missing
    cluster_c1 = (missing == 0) & (cslack > 0)
    example = np.full((K, 2), -1, dtype=np.int64)
    for a, pair in _missing_examples(struct, np.flatnonzero(missing > 0)).items():
        example[a] = pair
    # gamma_min per cluster: over internal edges of clusters satisfying (C1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(slack > 0, struct.d_int / slack, np.inf)
    cg, gat = _group_extreme(struct.ic, ratio, K, largest=True)
    cg = np.where(gat >= 0, cg, 0.0)
    cg = np.where(cluster_c1, cg, np.inf)
    c1 = bool(cluster_c1.all())
    if c1 and struct.internal.size:
        a = int(np.argmax(cg))
        e = gat[a]
        gamma_min, gamma_min_pair = float(cg[a]), (int(struct.ii[e]), int(struct.jj[e]))
    elif c1:
        gamma_min, gamma_min_pair = 0.0, None
    else:
        gamma_min, gamma_min_pair = math.inf, None
    gamma_max, gm_pair, distinct = _gamma_max(struct.pairs, T / sizes)
    # coarsening bound (part 2)
    if K > 1:
        grand = A.mean(axis=0)
        num = sizes * _row_norms(struct.centroids - grand, q)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            cb = np.where(num == 0, 0.0, num / T)
        b = int(np.argmax(cb))
        coarsening, coarsening_cluster = float(cb[b]), b
    else:
        coarsening, coarsening_cluster = 0.0, None
    return RecoveryBounds(
        p=p,
        q=q,
        sizes=sizes,
        internal_edges=struct.internal_edges,
        missing_pairs=missing,
        missing_example=example,
        slack=cslack,
        slack_pair=slack_pair,
        cluster_c1=cluster_c1,
        cluster_gamma_min=cg,
        c1=c1,
        gamma_min=gamma_min,
        gamma_min_pair=gamma_min_pair,
        gamma_max=gamma_max,
        gamma_max_clusters=gm_pair,
        distinct_centroids=distinct,
        c2=bool(c1 and gamma_min < gamma_max),
        coarsening_bound=coarsening,
        coarsening_cluster=coarsening_cluster,
    )


def _gamma_max(pairs, t):
    """``min_{a<b} D_ab / (t_a + t_b)``, its pair, and whether all centroids differ.

    A zero distance gives 0; a positive distance over zero gives inf.  Pruned search:
    a pair beating the bound ``g`` found on nearest centroids has
    ``D_ab <= g (t_a + t_b) <= g (t_a + max t)``.
    """

    def ratio(a, b, D):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(D == 0, 0.0, D / (t[a] + t[b]))

    best, pair, distinct = math.inf, None, True
    if pairs.brute:
        chunks = pairs.all()
    else:
        a, b, D = pairs.nearest()  # contains the closest pair: decides distinctness
        distinct = not (D.size and D.min() == 0)
        r = ratio(a, b, D)
        g = float(r.min(initial=math.inf))
        if t.max(initial=0.0) == 0:  # no cross weight at all: only coinciding centroids give a finite ratio
            k = int(np.argmin(r))
            return float(r[k]), (int(a[k]), int(b[k])), distinct
        chunks = pairs.within(g * (t + t.max(initial=0.0)))
    for a, b, D in chunks:
        if D.size and D.min() == 0:
            distinct = False
        r = ratio(a, b, D)
        k = int(np.argmin(r)) if r.size else -1
        if k >= 0 and (r[k] < best or pair is None):
            best, pair = float(r[k]), (int(a[k]), int(b[k]))
    return best, pair, distinct


# --------------------------------------------------------------------------
# certify: Theorem 2 of the paper for one perturbation
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Certificate:
    """Theorem 2 of Zheng & Li (2025) for one perturbation ``E``.

    Attributes
    ----------
    holds : bool
        True: the clustering of ``A + E`` at ``gamma`` is guaranteed to be the
        unperturbed partition.  False: the sufficient conditions fail (the clustering
        may or may not change).
    gamma : float
    bounds : RecoveryBounds
        The tilde quantities: Theorem 5 on ``A + E`` with the unperturbed partition and
        the weights of the pipeline (fixed, or recomputed on ``A + E``).
    gamma_min_margin : float
        ``gamma - gamma~_min`` (needs ``>= 0``).
    gamma_max_margin : float
        ``gamma~_max - gamma`` (needs ``> 0``).
    c1_slack : float
        ``min (n_a w~_ij - mu~_ij)`` over internal edges (needs ``> 0`` and no missing pair).
    c2_margin : float
        ``gamma~_max - gamma~_min`` (needs ``> 0``).
    recomputed : bool
        Whether the weights were recomputed from ``A + E``.
    reason : str
        Which condition fails and by how much ('' when it holds).
    """

    holds: bool
    gamma: float
    bounds: RecoveryBounds
    gamma_min_margin: float
    gamma_max_margin: float
    c1_slack: float
    c2_margin: float
    recomputed: bool
    reason: str

    def __str__(self):
        head = "holds: the clustering is guaranteed unchanged" if self.holds else f"does not hold: {self.reason}"
        return "\n".join([
            f"Certificate (Zheng & Li 2025, Thm 2) at gamma = {self.gamma:g}, weights "
            f"{'recomputed on A + E' if self.recomputed else 'fixed'}: {head}",
            f"  margins: gamma - gamma~_min = {self.gamma_min_margin:.6g}, gamma~_max - gamma = "
            f"{self.gamma_max_margin:.6g}, (C1) slack = {self.c1_slack:.6g}, (C2) gamma~_max - gamma~_min = "
            f"{self.c2_margin:.6g}",
        ])


def certify(A, labels, weights, gamma, E, p=2) -> Certificate:
    r"""Is the clustering of ``A`` guaranteed to survive the perturbation ``E``?

    The paper's Theorem 2: compute the quantities of Theorem 5 on ``A + E`` with the
    unperturbed partition ``labels`` (tilde quantities).  If (C1~), (C2~), distinct
    centroids and ``gamma~_min <= gamma < gamma~_max`` hold, convex clustering of
    ``A + E`` at ``gamma`` recovers ``labels`` exactly.

    Parameters
    ----------
    A : array (n_samples, n_features)
    labels : array-like (n_samples,)
        The unperturbed partition (typically the clustering of ``A`` at ``gamma``).
    weights : Graph or callable
        A Graph: fixed weights (the clean graph is kept).  A callable ``A -> Graph``:
        weights recomputed on ``A + E``.
    gamma : float >= 0
    E : array (n_samples, n_features)
        The perturbation.
    p : {2, 1, np.inf}

    Returns
    -------
    Certificate
        ``holds`` and the margins of every condition.
    """
    A = check_data(A)
    n = A.shape[0]
    _partition(labels, n)
    gamma = check_gamma(gamma)
    E = _check_like(E, A.shape, "E", "one perturbation row per sample")
    Ap = A + E
    if isinstance(weights, Graph):
        graph, recomputed = _check_graph(weights, n), False
    elif callable(weights):
        graph, recomputed = _build(weights, Ap), True
    else:
        _bad_weights(weights)
    b = recovery_bounds(Ap, labels, graph, p)
    holds = b.recovers(gamma)
    reason = ""
    if not holds:
        reason = b.failure()
        if not reason:
            if gamma < b.gamma_min:
                reason = f"gamma = {gamma:.6g} < gamma~_min = {b.gamma_min:.6g} (pair {b.gamma_min_pair})"
            else:
                reason = f"gamma = {gamma:.6g} >= gamma~_max = {b.gamma_max:.6g} (clusters {b.gamma_max_clusters})"
    return Certificate(
        holds=holds,
        gamma=gamma,
        bounds=b,
        gamma_min_margin=gamma - b.gamma_min,
        gamma_max_margin=b.gamma_max - gamma,
        c1_slack=b.c1_slack if not b.missing_pairs.any() else min(b.c1_slack, 0.0),
        c2_margin=b.gamma_max - b.gamma_min,
        recomputed=recomputed,
        reason=reason,
    )


# --------------------------------------------------------------------------
# certified_radius
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CertifiedRadius:
    """The certified radius of :func:`certified_radius`.

    Attributes
    ----------
    radius : float
        Every perturbation with ``max_i ||e_i||_2 < radius`` (or ``E = eps D`` with
        ``|eps| < radius``) is guaranteed by Theorem 2 to leave the clustering unchanged;
        also ``<= radius`` when ``attained``.  ``0`` when the clean clustering is not
        certified; ``inf`` when no constraint binds.
    binding : str
        The constraint that sets the radius: ``"gamma_min"`` (a pair inside a cluster),
        ``"gamma_max"`` (a pair of centroids), ``"c1"`` (the slack of (C1), recomputed
        weights), ``"knn"`` (a neighbour set would change), ``"clean"`` (the clean data
        are not certified), or ``"none"``.
    where : tuple or None
        The pair of points (``gamma_min``, ``c1``), pair of clusters (``gamma_max``) or
        point (``knn``) of the binding constraint.
    attained : bool
        Whether perturbations of size exactly ``radius`` are certified too (False
        when the binding constraint is strict: ``gamma < gamma~_max``, neighbour sets).
    weights : str
        ``"fixed"``, ``"complete-gaussian"`` or ``"knn-gaussian"``.
    perturbation : str
        ``"ball"`` (``||e_i||_2 <= rho`` for all i) or ``"direction"`` (``E = eps D``).
    bounds : RecoveryBounds
        Theorem 5 on the clean data.
    reason : str
        In words: why the radius is what it is.
    """

    radius: float
    binding: str
    where: tuple | None
    attained: bool
    weights: str
    perturbation: str
    bounds: RecoveryBounds = field(repr=False)
    reason: str

    def __str__(self):
        return (
            f"Certified radius {self.radius:.6g} ({self.perturbation}, weights {self.weights}); "
            f"binding: {self.binding}{'' if self.where is None else ' ' + str(self.where)}; {self.reason}"
        )


class _Geometry:
    """Per unit of rho: bounds on how far pair and centroid differences can move."""

    def __init__(self, A, part, q, direction):
        self.q, self.direction = q, direction
        self.kappa = _ball_factor(q, A.shape[1])
        self.n_clusters = part.n_clusters
        if direction is not None:
            self.dbar = part.centroids(direction)

    def pair(self, i, j, q):
        """Bound on ``||e_i - e_j||_q / rho`` (q = 2 for the Euclidean one used by Gaussian weights)."""
        if self.direction is None:
            return np.full(len(i), 2.0 * (self.kappa if q == self.q else 1.0))
        return _row_norms(self.direction[i] - self.direction[j], q)

    def max_centroid_move(self):
        """Per cluster ``a``: an upper bound on ``||ebar_a - ebar_b||_q / rho`` over all ``b``."""
        if self.direction is None:
            return np.full(self.n_clusters, 2.0 * self.kappa)
        # ||dbar_a - dbar_b|| <= ||dbar_a - c|| + ||dbar_b - c|| for any c (the mean: 0 for a translation)
        nq = _row_norms(self.dbar - self.dbar.mean(axis=0), self.q)
        return nq + nq.max(initial=0.0)

    def centroid_pairs(self, a, b):
        """Bound on ``||ebar_a - ebar_b||_q / rho``."""
        if self.direction is None:
            return np.full(len(a), 2.0 * self.kappa)
        return _row_norms(self.dbar[a] - self.dbar[b], self.q)


def _knn_margin(A, k, geom):
    """Largest rho (strict) below which no k-nearest-neighbour set can change, and the point binding it.

    Point ``i`` keeps its neighbours ``N(i)`` if ``max_{l in N} r~_il < min_{l not in N} r~_il``.
    Ball: every distance moves by at most ``||e_i - e_l|| <= 2 rho``, so it suffices that
    ``r_(k) + 2 rho < r_(k+1) - 2 rho``: ``rho < (r_(k+1) - r_(k)) / 4``.  Direction
    ``E = eps D``: ``r~_il`` is within ``|eps| ||d_i - d_l||`` of ``r_il`` for ``l`` in ``N``,
    and ``r~_il >= r_(k+1) - |eps| (||d_i - c|| + max_l ||d_l - c||)`` outside (``c`` the
    mean row of ``D``), so ``rho < min_{l in N} (r_(k+1) - r_il) / (||d_i - d_l|| + ||d_i - c||
    + max_l ||d_l - c||)``.
    """
    n = A.shape[0]
    if k >= n - 1:  # every other point is a neighbour: nothing can change
        return math.inf, None
    m = k + 2
    ind = KDTree(A).query(A, k=m, return_distance=False)
    rows = np.arange(n)
    self_hit = ind == rows[:, None]
    has_self = self_hit.any(axis=1)
    # drop the point itself, or the last candidate when k + 2 duplicates hid it
    drop = np.where(has_self, np.argmax(self_hit, axis=1), m - 1)
    keep = np.ones_like(ind, dtype=bool)
    keep[rows, drop] = False
    ind = ind[keep].reshape(n, m - 1)
    dist = np.sqrt(np.sum((A[rows[:, None]] - A[ind]) ** 2, axis=-1))
    order = np.lexsort((ind, dist), axis=-1)
    ind = np.take_along_axis(ind, order, axis=-1)
    dist = np.take_along_axis(dist, order, axis=-1)
    nb, r_nb, r_next = ind[:, :k], dist[:, :k], dist[:, k]
    if geom.direction is None:
        lim = (r_next - r_nb[:, -1]) / 4.0
    else:
        # ||d_i - d_l|| <= ||d_i - c|| + ||d_l - c|| with c the mean direction (0 for a translation)
        dc = geom.direction - geom.direction.mean(axis=0)
        dn = np.sqrt(np.einsum("ij,ij->i", dc, dc))
        g = np.sqrt(np.sum((geom.direction[rows[:, None]] - geom.direction[nb]) ** 2, axis=-1))
        G = dn + dn.max()
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(g + G[:, None] > 0, (r_next[:, None] - r_nb) / (g + G[:, None]), np.inf)
        lim = per.min(axis=1)
    i = int(np.argmin(lim))
    return float(max(lim[i], 0.0)), (i,)


def _fixed_radius(struct, geom, gamma, slack, T):
    """Closed form for fixed weights; returns (radius, binding, where, attained).

    Pair constraint (closed): ``d_ij + rho h_ij <= gamma s_ij`` -> ``rho <= (gamma s_ij - d_ij) / h_ij``.
    Centroid constraint (strict): ``D_ab - rho H_ab > gamma c_ab`` -> ``rho < (D_ab - gamma c_ab) / H_ab``.
    """
    best = (math.inf, "none", None, True)
    if struct.internal.size:
        h = geom.pair(struct.ii, struct.jj, struct.q)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(h > 0, (gamma * slack - struct.d_int) / h, np.inf)
        k = int(np.argmin(r))
        if r[k] < best[0]:
            best = (float(r[k]), "gamma_min", (int(struct.ii[k]), int(struct.jj[k])), True)
    t = T / struct.part.sizes
    pairs = struct.pairs

    def radius(a, b, D):
        H = geom.centroid_pairs(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(H > 0, (D - gamma * (t[a] + t[b])) / H, np.inf)

    if pairs.brute:
        chunks = pairs.all()
    else:  # a pair with radius <= r has D_ab <= r H_ab + gamma (t_a + t_b) <= R_a
        r0 = float(radius(*pairs.nearest()).min(initial=math.inf))
        chunks = pairs.within(r0 * geom.max_centroid_move() + gamma * (t + t.max(initial=0.0)))
    for a, b, D in chunks:
        r = radius(a, b, D)
        k = int(np.argmin(r)) if r.size else -1
        if k >= 0 and r[k] < best[0]:
            best = (float(r[k]), "gamma_max", (int(a[k]), int(b[k])), False)
    return best


class _RecomputedBound:
    """Theorem 2's conditions under the worst case of Gaussian weights recomputed on ``A + E``.

    For every edge ``e = (i, j)`` with clean length ``r_e = ||a_i - a_j||_2`` and
    ``||e_i - e_j||_2 <= rho g_e``, the recomputed weight ``exp(-phi r~^2)`` lies in
    ``[exp(-phi (r_e + rho g_e)^2), exp(-phi max(r_e - rho g_e, 0)^2)]`` (``exp(-phi r^2)``
    decreases in ``r``); this interval is inside the Lipschitz one,
    ``w_e +- sqrt(2 phi / e) rho g_e``.  The interval bounds are propagated through
    ``mu`` (an upper bound), the slack ``n_a w_ij - mu_ij`` (lower bound) and the
    cross weights of ``gamma_max`` (upper bound); all of them get worse as ``rho``
    grows, so :meth:`violation` is monotone (None up to some rho, not None beyond) and
    bisection finds that rho.
    """

    def __init__(self, struct, geom, gamma, phi):
        self.s, self.geom, self.gamma, self.phi = struct, geom, gamma, phi
        e = struct.edges
        self.r = np.sqrt(np.sum((struct.A[e[:, 0]] - struct.A[e[:, 1]]) ** 2, axis=1))
        self.g = geom.pair(e[:, 0], e[:, 1], 2)
        self.h_int = geom.pair(struct.ii, struct.jj, struct.q)
        self.move = geom.max_centroid_move()

    def violation(self, rho):
        """None if every condition holds at ``rho``, else ``(binding, where)`` of one that fails."""
        s, gamma = self.s, self.gamma
        t = rho * self.g
        lo = np.exp(-self.phi * (self.r + t) ** 2)
        hi = np.exp(-self.phi * np.maximum(self.r - t, 0.0) ** 2)
        slack, _, T = s.evaluate(lo, hi)
        if slack.size:
            bad = np.flatnonzero(slack <= 0)
            if bad.size:
                return "c1", (int(s.ii[bad[0]]), int(s.jj[bad[0]]))
            viol = gamma * slack - (s.d_int + rho * self.h_int)
            k = int(np.argmin(viol))
            if viol[k] < 0:
                return "gamma_min", (int(s.ii[k]), int(s.jj[k]))
        tt = T / s.part.sizes
        # a violated pair has D_ab <= rho H_ab + gamma (tt_a + tt_b) <= R_a
        for a, b, D in s.pairs.within(rho * self.move + gamma * (tt + tt.max(initial=0.0))):
            m = D - rho * self.geom.centroid_pairs(a, b) - gamma * (tt[a] + tt[b])
            k = int(np.argmin(m)) if m.size else -1
            if k >= 0 and not m[k] > 0:
                return "gamma_max", (int(a[k]), int(b[k]))
        return None


def _bisect(check, hi):
    """Largest rho in [0, hi] with check(rho) None (check(0) must be None); also what fails just above."""
    fail = check(hi)
    if fail is None:
        return hi, None
    lo = 0.0
    for _ in range(_BISECT_MAX):
        if hi - lo <= _BISECT_RTOL * hi:
            break
        mid = 0.5 * (lo + hi)
        v = check(mid)
        if v is None:
            lo = mid
        else:
            hi, fail = mid, v
    return lo, fail


def certified_radius(A, labels, weights, gamma, direction=None, p=2) -> CertifiedRadius:
    r"""Largest perturbation size for which Theorem 2 certifies that the clustering is unchanged.

    Perturbations: ``||e_i||_2 <= rho`` for every row (``direction=None``), or
    ``E = eps D`` with ``|eps| <= rho`` (``direction = D``, same shape as ``A``).

    Parameters
    ----------
    A : array (n_samples, n_features)
    labels : array-like (n_samples,)
        The clean partition (typically the clustering of ``A`` at ``gamma``).
    weights : Graph, or complete_graph / knn_graph (bare or as functools.partial)
        A Graph: fixed weights.  The builders: Gaussian weights recomputed on the
        perturbed data (complete graph, or kNN graph with its ``k``).
    gamma : float >= 0
    direction : array (n_samples, n_features), optional
    p : {2, 1, np.inf}

    Returns
    -------
    CertifiedRadius

    Notes
    -----
    Write ``d_ij = ||a_i - a_j||_q``, ``s_ij = n_a w_ij - mu_ij``, ``D_ab = ||abar^a -
    abar^b||_q`` and ``c_ab`` the denominator of ``gamma_max``.  At ``gamma`` the clean
    clustering is certified iff (C1) holds, ``d_ij <= gamma s_ij`` for every pair inside a
    cluster and ``D_ab > gamma c_ab`` for every pair of clusters.  Theorem 2 asks the
    same of the perturbed quantities.

    *Fixed weights* (``s``, ``c`` and (C1) do not move).  Ball: ``||e_i - e_j||_q <= 2
    kappa rho`` and ``||ebar_a - ebar_b||_q <= 2 kappa rho`` (``ebar_a`` the mean of the
    ``e_i`` in cluster ``a``; ``kappa = max ||v||_q / ||v||_2``, 1 for q = 2 or inf,
    ``sqrt(d)`` for q = 1), so by the triangle inequality ``d~_ij <= d_ij + 2 kappa rho``
    and ``D~_ab >= D_ab - 2 kappa rho``, and the conditions hold for all such ``E`` iff

    .. math::

        \rho \le \min_{i,j} \frac{\gamma s_{ij} - d_{ij}}{2\kappa}
        \quad\text{and}\quad
        \rho < \min_{a<b} \frac{D_{ab} - \gamma c_{ab}}{2\kappa}.

    Both bounds are attained by some perturbation (move ``i`` and ``j`` apart along
    the direction that maximises ``||.||_q``; for q = 2, move clusters ``a`` and ``b``
    rigidly towards each other), so the pair bound is exact for every q and the
    centroid bound for q = 2.  Direction ``E = eps D``: replace ``2 kappa`` by
    ``||d_i - d_j||_q`` and ``||dbar_a - dbar_b||_q`` (the exact size of the change of
    the difference; the triangle inequality is then the only slack).

    *Gaussian weights recomputed* on ``A + E``, ``w~_ij = exp(-phi ||a~_i - a~_j||_2^2)``.
    With ``r_ij = ||a_i - a_j||_2`` and ``||e_i - e_j||_2 <= t_ij`` (``t = 2 rho``, or
    ``rho ||d_i - d_j||_2`` along a direction), ``exp(-phi r^2)`` decreasing in ``r``
    gives ``w~_ij`` in ``[exp(-phi (r + t)^2), exp(-phi max(r - t, 0)^2)]``, an interval
    inside the Lipschitz one ``w_ij +- sqrt(2 phi / e) t`` (``|d/dr exp(-phi r^2)| <=
    sqrt(2 phi / e)``).  Then ``w~_i^(b) - w~_j^(b)`` lies in ``[Lo_i^b - Hi_j^b,
    Hi_i^b - Lo_j^b]`` (sums of the interval ends over ``I_b``), so ``mu~_ij <= sum_b
    max(Hi_i^b - Lo_j^b, Hi_j^b - Lo_i^b)``, ``s~_ij >= n_a lo_ij - (that)``, and
    ``c~_ab`` is at most ``c_ab`` with every cross weight at its upper end.  Every one
    of these bounds gets worse as ``rho`` grows, so "all conditions hold under the
    bounds" is monotone in ``rho`` (true on ``[0, rho*]``, false beyond); it is found
    by bisection between 0 and the fixed-weight radius (which it cannot exceed) to a
    relative width of 1e-12, and the lower end, at which the conditions were checked,
    is returned.
    For a kNN graph the edge set must not change either.  A neighbour set ``N(i)``
    (the ``k`` nearest other points) stays the same if ``max_{l in N(i)} r~_il <
    min_{l not in N(i)} r~_il``.  Each distance moves by at most ``||e_i - e_l||_2
    <= 2 rho``, and the k-th distance can grow by ``2 rho`` while the (k+1)-th shrinks
    by ``2 rho`` at the same time (points ``l_k``, ``i``, ``l_{k+1}`` on a line), so
    the condition is ``r_(k)(i) + 2 rho < r_(k+1)(i) - 2 rho``:

    .. math::

        \rho < \min_i \frac{r_{(k+1)}(i) - r_{(k)}(i)}{4},

    with ``r_(k)(i)`` the distance from ``i`` to its k-th nearest other point (a tie
    gives radius 0).  This is sufficient, not necessary: the union graph can survive a
    changed neighbour set.  Along a direction, ``(r_(k+1)(i) - r_il) / (||d_i - d_l||_2
    + ||d_i - c||_2 + max_m ||d_m - c||_2)`` over ``l`` in ``N(i)`` (``c`` the mean row
    of ``D``).  Weights that are recomputed on a fixed complete graph need no such
    condition.

    When the clean clustering is not certified ((C1), (C2) or distinct centroids fail,
    or ``gamma`` is outside ``[gamma_min, gamma_max)``) the radius is 0 and ``reason``
    says why.  The radius is computed in floating point from these formulas: a
    perturbation exactly at the radius meets a constraint with equality, and there
    rounding decides what :func:`certify` reports.

    Examples
    --------
    >>> import numpy as np
    >>> from advcluster.graph import uniform_graph
    >>> A = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> r = certified_radius(A, [0, 0, 1, 1], uniform_graph(4), gamma=1.0)
    >>> round(r.radius, 6), r.binding
    (0.5, 'gamma_min')
    """
    A = check_data(A)
    n = A.shape[0]
    part = _partition(labels, n)
    gamma = check_gamma(gamma)
    p, q = _check_p(p)
    D = None if direction is None else _check_like(direction, A.shape, "direction", "one direction row per sample")
    if isinstance(weights, Graph):
        graph, kind, params = _check_graph(weights, n), "fixed", {}
    elif callable(weights):
        kind, params = _builder_spec(weights, n)
        graph = complete_graph(A, phi=params["phi"]) if kind == "complete" else knn_graph(A, **params)
        kind = {"complete": "complete-gaussian", "knn": "knn-gaussian"}[kind]
    else:
        _bad_weights(weights)
    pert = "ball" if D is None else "direction"
    struct = _Structure(A, part, graph, q)
    slack, _, T = struct.evaluate(struct.weights, struct.weights)
    bounds = _bounds_from(struct, slack, T, p, q)
    if not bounds.recovers(gamma):
        why = bounds.failure() or (
            f"gamma = {gamma:.6g} < gamma_min = {bounds.gamma_min:.6g}" if gamma < bounds.gamma_min
            else f"gamma = {gamma:.6g} >= gamma_max = {bounds.gamma_max:.6g}"
        )
        return CertifiedRadius(0.0, "clean", None, False, kind, pert, bounds,
                               f"Theorem 5 does not certify the clean clustering: {why}.")
    geom = _Geometry(A, part, q, D)
    radius, binding, where, attained = _fixed_radius(struct, geom, gamma, slack, T)
    if kind == "fixed":
        return CertifiedRadius(radius, binding, where, attained, kind, pert, bounds,
                               _reason(binding, where, "closed form, fixed weights"))
    if kind == "knn-gaussian":
        r_knn, at = _knn_margin(A, params["k"], geom)
        if r_knn <= radius:
            radius, binding, where, attained = r_knn, "knn", at, False
    if radius == 0:
        return CertifiedRadius(0.0, binding, where, attained, kind, pert, bounds,
                               _reason(binding, where, "zero margin"))
    bound = _RecomputedBound(struct, geom, gamma, params["phi"])
    if not math.isfinite(radius):
        # only a rigid translation moves no pair: weights and distances do not change
        return CertifiedRadius(math.inf, "none", None, True, kind, pert, bounds,
                               "the perturbation moves no pair of points or centroids")
    rho, fail = _bisect(bound.violation, radius)
    if fail is None:  # the upper bound itself is feasible: the fixed-weight / kNN limit binds
        return CertifiedRadius(rho, binding, where, attained, kind, pert, bounds,
                               _reason(binding, where, "recomputed weights do not bind"))
    return CertifiedRadius(rho, fail[0], fail[1], True, kind, pert, bounds,
                           _reason(fail[0], fail[1], "bisection on the recomputed-weight bound"))


def _reason(binding, where, how):
    text = {
        "gamma_min": f"pair {where} inside a cluster would split (gamma~_min reaches gamma)",
        "gamma_max": f"clusters {where} would fuse (gamma~_max reaches gamma)",
        "c1": f"(C1) slack of pair {where} reaches 0",
        "knn": f"the neighbour set of point {where[0] if where else '?'} could change",
        "none": "no constraint binds",
    }[binding]
    return f"{text}; {how}."


# --------------------------------------------------------------------------
# calmness
# --------------------------------------------------------------------------


def calmness(A, weights, gamma, directions, radii, method="ssnal", **solve_options) -> list[dict]:
    r"""Empirical calmness modulus ``||X*(A + E) - X*(A)||_F / ||E||_F``.

    For each direction ``D`` and radius ``r``, ``E = r D / ||D||_F`` and the problem is
    solved on ``A + E`` (weights fixed, or recomputed on ``A + E`` by a builder).

    With fixed weights ``X*(A) = prox_{gamma P}(A)`` and proximal maps are firmly
    nonexpansive, so the modulus is at most exactly 1 for every ``E``
    (``||X*(A) - X*(A')||_F <= ||A - A'||_F``), up to the solver's accuracy.  With
    recomputed weights no such bound holds.

    Parameters
    ----------
    A : array (n_samples, n_features)
    weights : Graph or callable A -> Graph
    gamma : float >= 0
    directions : array (n_samples, n_features) or (n_directions, n_samples, n_features)
        Nonzero directions.
    radii : float or 1-D array of floats > 0
        Frobenius norms of the perturbations.
    method : str
        Passed to :func:`advcluster.solvers.solve`, with ``solve_options`` (e.g. ``tol``).

    Returns
    -------
    list of dict
        One row per (direction, radius): ``direction`` (index), ``radius``, ``ratio``,
        ``bound`` (1.0 for fixed weights, ``nan`` for recomputed), ``labels_changed``
        (the partition differs from the clean one), ``success`` (both solves met their
        tolerance).
    """
    from .solvers import solve

    A = check_data(A)
    gamma = check_gamma(gamma)
    graph, builder = _resolve_weights(weights, A)
    try:
        Ds = np.asarray(directions, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"directions must be arrays of the shape of A, {A.shape} ({exc}).") from None
    if Ds.shape == A.shape:
        Ds = Ds[None]
    if Ds.ndim != 3 or Ds.shape[1:] != A.shape or Ds.shape[0] == 0:
        raise ValueError(
            f"directions must have shape {A.shape} or (n_directions, {A.shape[0]}, {A.shape[1]}), got {Ds.shape}."
        )
    for k, Dk in enumerate(Ds):
        _check_like(Dk, A.shape, f"directions[{k}]", "one direction row per sample")
    nrm = np.sqrt(np.einsum("kij,kij->k", Ds, Ds))
    if np.any(nrm == 0):
        raise ValueError(f"direction {int(np.flatnonzero(nrm == 0)[0])} is zero; give nonzero directions.")
    radii = np.atleast_1d(np.asarray(radii, dtype=float))
    if radii.ndim != 1 or radii.size == 0 or not np.all(np.isfinite(radii)) or np.any(radii <= 0):
        raise ValueError(f"radii must be a non-empty 1-D sequence of finite numbers > 0, got {radii!r}.")
    clean = solve(A, graph, gamma, method, **solve_options)
    rows = []
    for k, Dk in enumerate(Ds):
        for r in radii:
            E = (r / nrm[k]) * Dk
            Ap = A + E
            g = graph if builder is None else _build(builder, Ap)
            res = solve(Ap, g, gamma, method, **solve_options)
            diff = res.centers - clean.centers
            rows.append(dict(
                direction=k,
                radius=float(r),
                ratio=float(np.sqrt(np.sum(diff * diff)) / np.sqrt(np.sum(E * E))),
                bound=1.0 if builder is None else math.nan,
                labels_changed=not _same_partition(res.labels, clean.labels),
                success=bool(res.success and clean.success),
            ))
    return rows


def _same_partition(a, b):
    return bool(np.array_equal(_first_appearance(np.asarray(a)), _first_appearance(np.asarray(b))))
