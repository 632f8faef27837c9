"""The quantities of Theorem 5 (docs/model.md, section 3) computed from a graph's edges,
for weights known exactly or up to an interval; pairs of clusters visited in blocks, or
pruned with a k-d tree when there are many."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from ._inputs import metric, row_norms

# Cluster pairs are handled in row blocks of at most this many pairs.
PAIR_CHUNK = 1 << 20
# Up to this many pairs of clusters, every pair is visited; beyond, a k-d tree prunes them.
BRUTE_CLUSTER_PAIRS = 1 << 22
TREE_METRIC = {1: "manhattan", 2: "euclidean", math.inf: "chebyshev"}


def group_extreme(keys, values, K, largest=False):
    """Per group: the smallest (or largest) value and the position attaining it (-1 if the group is empty)."""
    best = np.full(K, -np.inf if largest else np.inf)
    where = np.full(K, -1, dtype=np.int64)
    if keys.size:
        order = np.lexsort((-values if largest else values, keys))
        g, first = np.unique(keys[order], return_index=True)
        where[g] = order[first]
        best[g] = values[where[g]]
    return best, where


def pair_blocks(K):
    """Row blocks ``[s, e)`` covering the pairs ``a < b`` with at most about PAIR_CHUNK pairs each."""
    rows = max(1, PAIR_CHUNK // max(K, 1))
    for s in range(0, K - 1, rows):
        yield s, min(K - 1, s + rows)


def block_pairs(C, s, e, q):
    """Pairs ``(a, b)``, ``s <= a < e``, ``a < b``, and their centroid distances ``||C_a - C_b||_q``."""
    Dm = cdist(C[s:e], C[s:], metric(q))
    a, b = np.nonzero(np.arange(s, e)[:, None] < np.arange(s, C.shape[0])[None, :])
    return a + s, b + s, Dm[a, b]


class ClusterPairs:
    """Pairs of clusters ``a < b`` with their centroid distances ``D_ab = ||C_a - C_b||_q``.

    Up to :data:`BRUTE_CLUSTER_PAIRS` pairs, every pair is visited (in row blocks).
    Beyond, a minimum over pairs is found in two steps: an upper bound from each
    centroid's nearest other centroid (:meth:`nearest`), then only the pairs that can
    beat it, those with ``D_ab <= R_a`` for radii ``R`` the caller derives from that
    bound (:meth:`within`, a k-d tree radius query in the q-metric).  When the radii
    would return too many pairs it falls back to all of them.
    """

    def __init__(self, C, q):
        self.C, self.q, self.K = C, q, C.shape[0]
        self.brute = self.K * (self.K - 1) // 2 <= BRUTE_CLUSTER_PAIRS
        if not self.brute:
            from sklearn.neighbors import KDTree  # here: scikit-learn takes a second to import
        self._tree = None if self.brute else KDTree(C, metric=TREE_METRIC[q])
        self._cache = None

    def all(self):
        if self._cache is not None:
            yield from self._cache
            return
        blocks = (block_pairs(self.C, s, e, self.q) for s, e in pair_blocks(self.K))
        if self.K * (self.K - 1) // 2 > PAIR_CHUNK:
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
        if self._tree.query_radius(self.C, R, count_only=True).sum() > BRUTE_CLUSTER_PAIRS:
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
        return a, b, row_norms(self.C[a] - self.C[b], self.q)


class Structure:
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
        self.d_int = row_norms(A[ii] - A[jj], q)  # ||a_i - a_j||_q over internal edges
        K = part.n_clusters
        sizes = part.sizes
        need = sizes * (sizes - 1) // 2
        self.internal_edges = np.bincount(self.ic, minlength=K)
        self.missing = need - self.internal_edges
        self.centroids = part.centroids(A)
        self.pairs = ClusterPairs(self.centroids, q)

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


def missing_examples(struct, clusters):
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
