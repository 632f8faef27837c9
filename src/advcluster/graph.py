"""Weight graphs for convex clustering.

A :class:`Graph` holds ``n`` nodes and ``m`` undirected edges ``(i, j)`` with
``i < j``, sorted lexicographically, each with a weight ``w_ij >= 0``.  The
builders follow docs/model.md, section 1:

* :func:`knn_graph`: union k-nearest-neighbour graph with Gaussian weights
  ``w_ij = exp(-phi ||a_i - a_j||^2)`` (the SSNAL default, k = 10, phi = 0.5);
* :func:`complete_graph`: all pairs, Gaussian weights;
* :func:`uniform_graph`: all pairs, weight 1;
* :meth:`Graph.from_matrix`: any symmetric dense or sparse weight matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee, shortest_path

from ._validation import Integer, Real, Rule, check_data, check_nonnegative, is_integer, is_real

__all__ = ["Graph", "KnnGraphs", "Relabelling", "WEIGHT_SCHEMES", "GRAPH_RULES", "build_graph", "knn_graph",
           "complete_graph", "uniform_graph"]

WEIGHT_SCHEMES = ("knn", "complete", "uniform")


class WeightsRule(Rule):
    """``weights`` as :func:`build_graph` takes them: a scheme's name, a :class:`Graph`, or a
    symmetric ``(n, n)`` weight matrix (dense or sparse; checked when the graph is built)."""

    def __call__(self, value, name):
        if isinstance(value, str):
            if value not in WEIGHT_SCHEMES:
                raise ValueError(f"unknown {name} {value!r}; choose one of {WEIGHT_SCHEMES}, an advcluster Graph, "
                                 "or a symmetric (n_samples, n_samples) weight matrix.")
        elif not isinstance(value, (Graph, np.ndarray, list, tuple)) and not sp.issparse(value):
            raise ValueError(f"{name} must be one of {WEIGHT_SCHEMES}, an advcluster Graph, or a symmetric "
                             f"(n_samples, n_samples) weight matrix, got {type(value).__name__}.")
        return value


# What every entry point that builds a graph (estimator, model) accepts.
GRAPH_RULES = {"weights": WeightsRule(), "k": Integer(1), "phi": Real(0.0)}


@dataclass(frozen=True, eq=False)
class Graph:
    """An undirected weighted graph on ``n`` nodes.

    Parameters
    ----------
    n : int
        Number of nodes (data points).
    edges : ndarray of shape (m, 2), int
        Edge end points with ``edges[:, 0] < edges[:, 1]``, sorted, no repeats.
    weights : ndarray of shape (m,), float
        Non-negative finite edge weights.

    Build one with :func:`knn_graph`, :func:`complete_graph`,
    :func:`uniform_graph`, :meth:`from_matrix` or :meth:`from_edges`; the
    constructor checks its arguments and raises ``ValueError`` on bad ones.
    """

    n: int
    edges: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        n = self.n
        if not is_integer(n) or n < 1:
            raise ValueError(f"Graph size n must be a positive integer, got {n!r}.")
        edges = np.asarray(self.edges)
        weights = np.asarray(self.weights, dtype=float)
        if edges.size == 0:
            edges = np.zeros((0, 2), dtype=np.int64)
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise ValueError(f"edges must have shape (m, 2), got {edges.shape}.")
        if not np.issubdtype(edges.dtype, np.integer):
            raise ValueError(f"edges must hold integers, got dtype {edges.dtype}.")
        edges = edges.astype(np.int64)
        if weights.shape != (edges.shape[0],):
            raise ValueError(
                f"weights must have shape ({edges.shape[0]},), one per edge, got {weights.shape}."
            )
        if edges.size:
            if edges.min() < 0 or edges.max() >= n:
                raise ValueError(f"edge end points must lie in 0..{n - 1}.")
            if np.any(edges[:, 0] >= edges[:, 1]):
                raise ValueError("each edge (i, j) must have i < j; use Graph.from_edges to normalise.")
            key = edges[:, 0] * n + edges[:, 1]
            if np.any(np.diff(key) <= 0):
                raise ValueError("edges must be sorted and unique; use Graph.from_edges to normalise.")
        _check_weights(weights)
        edges.setflags(write=False)
        weights.setflags(write=False)
        object.__setattr__(self, "n", int(n))
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "weights", weights)

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_edges(cls, n, edges, weights=None) -> "Graph":
        """Graph from any list of edges: orientation, order and self-loops are normalised.

        Repeated edges are an error (their weights would be ambiguous);
        self-loops are dropped since ``||x_i - x_i|| = 0``.
        """
        edges = np.asarray(edges)
        if edges.size == 0:
            edges = np.zeros((0, 2), np.int64)
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise ValueError(f"edges must have shape (m, 2), got {edges.shape}.")
        if not np.issubdtype(edges.dtype, np.integer):
            raise ValueError(f"edges must hold integers, got dtype {edges.dtype}.")
        weights = np.ones(len(edges)) if weights is None else np.asarray(weights, dtype=float)
        if weights.shape != (len(edges),):
            raise ValueError(f"weights must have shape ({len(edges)},), one per edge, got {weights.shape}.")
        _check_weights(weights)  # before self-loops are dropped, so no bad weight passes silently
        i, j = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
        keep = i != j
        i, j, weights = i[keep], j[keep], weights[keep]
        order = np.lexsort((j, i))
        e = np.column_stack([i[order], j[order]]).astype(np.int64)
        if len(e) > 1 and np.any(np.all(e[1:] == e[:-1], axis=1)):
            raise ValueError("edges contain a repeated pair; give each pair once.")
        return cls(n, e, weights[order])

    @classmethod
    def from_matrix(cls, W) -> "Graph":
        """Graph from a symmetric weight matrix (dense array or scipy sparse).

        Entries above the diagonal that are non-zero become edges; the diagonal is
        ignored.  Raises ``ValueError`` if ``W`` is not square, not symmetric, or
        has negative or non-finite entries.
        """
        if sp.issparse(W):
            W = sp.csr_array(W, dtype=float)
            if W.ndim != 2 or W.shape[0] != W.shape[1]:
                raise ValueError(f"W must be a square matrix, got shape {W.shape}.")
            if W.nnz and not np.all(np.isfinite(W.data)):
                raise ValueError("W contains NaN or inf; weights must be finite.")
            if W.nnz and W.data.min() < 0:
                raise ValueError("W has negative entries; weights must be >= 0.")
            asym = abs(W - W.T)
            if asym.nnz and asym.max() > 1e-12 * max(1.0, abs(W).max()):
                raise ValueError("W is not symmetric; pass (W + W.T) / 2 for a symmetric graph.")
            upper = sp.triu(W, k=1).tocoo()
            i, j, w = upper.row, upper.col, upper.data
            n = W.shape[0]
        else:
            W = np.asarray(W, dtype=float)
            if W.ndim != 2 or W.shape[0] != W.shape[1]:
                raise ValueError(f"W must be a square matrix, got shape {W.shape}.")
            if not np.all(np.isfinite(W)):
                raise ValueError("W contains NaN or inf; weights must be finite.")
            if W.size and W.min() < 0:
                raise ValueError("W has negative entries; weights must be >= 0.")
            if not np.allclose(W, W.T, rtol=0, atol=1e-12 * max(1.0, np.abs(W).max(initial=0))):
                raise ValueError("W is not symmetric; pass (W + W.T) / 2 for a symmetric graph.")
            n = W.shape[0]
            i, j = np.triu_indices(n, k=1)
            w = W[i, j]
        keep = w != 0
        if n == 0:
            raise ValueError("W is empty; a graph needs at least one node.")
        return cls.from_edges(n, np.column_stack([i[keep], j[keep]]), w[keep])

    # ------------------------------------------------------------------ views
    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @cached_property
    def degree(self) -> np.ndarray:
        """Weighted degrees ``sum_j w_ij`` (n,), read-only."""
        degree = self.weighted_degree(self.weights)
        degree.setflags(write=False)
        return degree

    def weighted_degree(self, weights) -> np.ndarray:
        """``sum_j c_ij`` for each node, for edge weights ``c`` (one per edge): ``diag(J diag(c) J^T)``."""
        w = self._per_edge(weights)
        i, j = self.edges.T
        return np.bincount(i, w, self.n) + np.bincount(j, w, self.n)

    def _per_edge(self, weights):
        w = np.asarray(weights, dtype=float)
        if w.shape != (self.n_edges,):
            raise ValueError(f"weights must have shape ({self.n_edges},), one per edge, got {w.shape}.")
        return w

    @cached_property
    def incidence(self) -> sp.csr_array:
        """Node-arc incidence matrix ``J`` (n x m): ``J[i, e] = 1``, ``J[j, e] = -1``.

        ``B(X) = J^T X`` stacks the edge differences ``x_i - x_j`` and
        ``B*(Z) = J Z``; ``J J^T`` is the unweighted Laplacian.
        """
        m = self.n_edges
        rows = self.edges.T.ravel()
        cols = np.tile(np.arange(m), 2)
        vals = np.concatenate([np.ones(m), -np.ones(m)])
        return sp.csr_array((vals, (rows, cols)), shape=(self.n, m))

    @cached_property
    def difference(self) -> sp.csr_array:
        """``J^T`` (m x n) in CSR form: ``difference @ X`` is ``B(X)``, the edge differences."""
        return self.incidence.T.tocsr()

    def to_matrix(self) -> sp.csr_array:
        """Symmetric sparse weight matrix ``W`` (n x n)."""
        i, j = self.edges.T
        W = sp.coo_array((self.weights, (i, j)), shape=(self.n, self.n))
        return (W + W.T).tocsr()

    def laplacian(self, weights=None, shift=0.0) -> sp.csr_array:
        """``diag(shift) + J diag(w) J^T``, the weighted graph Laplacian shifted (weights default to
        ``self.weights``; ``shift`` a number or one per node), in CSR with one fixed pattern per graph: every edge and the diagonal,
        explicit zeros kept, indices sorted.  Assembled by writing into that pattern."""
        w = self.weights if weights is None else self._per_edge(weights)
        if is_real(shift):
            shift = float(shift)
        else:
            shift = np.asarray(shift, dtype=float) if isinstance(shift, (np.ndarray, list, tuple)) else None
            if shift is None or shift.shape != (self.n,):
                raise ValueError(f"shift must be a finite number or one per node, shape ({self.n},).")
        if not np.all(np.isfinite(shift)):
            raise ValueError("shift must be a finite number or one per node, all finite.")
        indptr, indices, upper, lower, diagonal = self._laplacian_pattern
        data = np.empty(len(indices))
        data[upper] = data[lower] = -w
        data[diagonal] = shift + self.weighted_degree(w)
        return sp.csr_array((data, indices, indptr), shape=(self.n, self.n))

    @cached_property
    def _laplacian_pattern(self):
        # CSR pattern of J J^T, and where (i, j), (j, i) and (i, i) of each edge and node sit in it.
        n, m = self.n, self.n_edges
        rows = np.concatenate([self.edges[:, 0], self.edges[:, 1], np.arange(n)])
        cols = np.concatenate([self.edges[:, 1], self.edges[:, 0], np.arange(n)])
        order = np.lexsort((cols, rows))
        slot = np.empty(2 * m + n, dtype=np.intp)
        slot[order] = np.arange(2 * m + n)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
        return indptr, cols[order], slot[:m], slot[m : 2 * m], slot[2 * m :]

    def components_of(self, mask):
        """Connected components of the nodes joined by the edges ``mask`` selects: ``(count, labels)``."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (self.n_edges,):
            raise ValueError(f"mask must be a boolean array of shape ({self.n_edges},), one per edge, "
                             f"got dtype {mask.dtype} and shape {mask.shape}.")
        if mask.all():  # every edge (a proof's one-cluster candidate): found once per graph
            count, labels = self._joined_by_all
            return count, labels.copy()
        return self._connected(mask)

    def _connected(self, mask):
        i, j = self.edges[mask, 0], self.edges[mask, 1]  # sorted by i: the upper triangle's CSR needs no sort
        indptr = np.concatenate([[0], np.cumsum(np.bincount(i, minlength=self.n))])
        return connected_components(sp.csr_array((np.ones(len(i)), j, indptr), shape=(self.n, self.n)), directed=False)

    @cached_property
    def _joined_by_all(self):
        return self._connected(np.ones(self.n_edges, dtype=bool))

    def hops_from(self, sources, mask):
        """Each node's number of steps from the nearest of ``sources`` along the edges ``mask``
        selects (inf where none reaches it): one breadth-first search."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (self.n_edges,):
            raise ValueError(f"mask must be a boolean array of shape ({self.n_edges},), one per edge, "
                             f"got dtype {mask.dtype} and shape {mask.shape}.")
        sources = np.asarray(sources, dtype=np.int64)
        n = self.n
        rows, cols = np.r_[self.edges[mask, 0], np.full(sources.size, n)], np.r_[self.edges[mask, 1], sources]
        adj = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n + 1, n + 1))
        return shortest_path(adj, directed=False, unweighted=True, indices=n)[:n] - 1

    @cached_property
    def _components(self):
        # Only edges with positive weight connect: a zero weight couples nothing.
        k, lab = self.components_of(self.weights > 0)
        return k, first_appearance(lab)

    @property
    def n_components(self) -> int:
        """Number of connected components (edges of weight 0 do not connect)."""
        return self._components[0]

    @property
    def component_labels(self) -> np.ndarray:
        """Component of each node, numbered by first appearance (node 0 is in component 0)."""
        return self._components[1]

    def is_uniform_complete(self) -> bool:
        """True when every pair is an edge and all weights are equal and positive."""
        return self._uniform_complete

    @cached_property
    def _uniform_complete(self) -> bool:
        n = self.n
        return bool(
            self.n_edges == n * (n - 1) // 2
            and (self.n_edges == 0 or (self.weights[0] > 0 and np.all(self.weights == self.weights[0])))
        )

    def relabelled(self, order) -> "Relabelling":
        """The same graph with node ``order[k]`` renumbered ``k`` (``order`` a permutation of 0..n-1)."""
        order = np.asarray(order)
        if order.shape != (self.n,) or not np.array_equal(np.sort(order), np.arange(self.n)):
            raise ValueError(f"order must be a permutation of 0..{self.n - 1}.")
        position = np.empty(self.n, dtype=np.int64)
        position[order] = np.arange(self.n)
        ends = position[self.edges]
        sign = np.where(ends[:, 0] < ends[:, 1], 1.0, -1.0)  # -1: the edge's ends swap, B(X)_e changes sign
        ends.sort(axis=1)
        edge_order = np.lexsort((ends[:, 1], ends[:, 0]))
        graph = Graph(self.n, ends[edge_order], self.weights[edge_order])
        return Relabelling(order, graph, edge_order, sign[edge_order])

    @cached_property
    def local(self) -> "Relabelling":
        """The graph renumbered by reverse Cuthill-McKee: neighbours get nearby numbers, so
        products with its incidence and Laplacian matrices read memory in order (10-D blobs,
        n = 10,000: the solvers 15 % faster; no gain below a few thousand nodes)."""
        pattern = sp.csr_array((np.ones(self.n_edges), self.edges.T), shape=(self.n, self.n))
        return self.relabelled(reverse_cuthill_mckee(pattern + pattern.T, symmetric_mode=True))

    def __repr__(self):
        return f"Graph(n={self.n}, n_edges={self.n_edges}, n_components={self.n_components})"


@dataclass(frozen=True, eq=False)
class Relabelling:
    """A graph with renumbered nodes, and the maps of node and edge arrays in and out of it.

    Node ``order[k]`` is node ``k`` of ``graph``; edge ``edge_order[e]`` is its edge ``e``,
    with ``sign[e] = -1`` where the renumbering swapped the edge's ends (``B(X)_e`` and
    the dual ``Z_e`` change sign).
    """

    order: np.ndarray
    graph: Graph
    edge_order: np.ndarray
    sign: np.ndarray

    def nodes_in(self, X):
        """Rows of a node array (n, d) in the new numbering (None stays None)."""
        return None if X is None else _rows(X, len(self.order), "node")[self.order]

    def nodes_out(self, X):
        """Rows of a node array back in the original numbering."""
        out = np.empty_like(_rows(X, len(self.order), "node"))
        out[self.order] = X
        return out

    def edges_in(self, Z):
        """Rows of an edge array (m, d) in the new numbering and orientation (None stays None)."""
        return None if Z is None else _rows(Z, len(self.edge_order), "edge")[self.edge_order] * self.sign[:, None]

    def edges_out(self, Z):
        """Rows of an edge array back in the original numbering and orientation."""
        out = np.empty_like(_rows(Z, len(self.edge_order), "edge"))
        out[self.edge_order] = Z * self.sign[:, None]
        return out


def _rows(X, count, kind):
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != count:
        raise ValueError(f"expected a 2-D array with one row per {kind} ({count}), got shape {X.shape}.")
    return X


def first_appearance(labels, k=None) -> np.ndarray:
    """Renumber labels ``0, 1, 2, ...`` in order of first appearance.

    ``k``: the labels are already codes in ``0..k-1``, which skips a sort (O(n))."""
    labels = np.asarray(labels)
    if k is None:
        _, labels = np.unique(labels, return_inverse=True)
        labels = labels.ravel()
        k = int(labels.max()) + 1 if labels.size else 0
    first = np.full(k, labels.size, dtype=np.intp)
    np.minimum.at(first, labels, np.arange(labels.size, dtype=np.intp))
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(k)
    return rank[labels]


def same_partition(a, b) -> bool:
    """True when the labelings ``a`` and ``b`` group the points alike (whatever the names)."""
    return bool(np.array_equal(first_appearance(np.asarray(a)), first_appearance(np.asarray(b))))


class ClusterEdges:
    """A graph's edges grouped by the clusters of ``labels`` (codes ``0..K-1``), once for all
    clusters, so that per-cluster work costs what the cluster has, not the whole graph.

    ``local[p]``: point ``p``'s position in its cluster; ``members(c)``: the points of cluster
    ``c``, ascending (``np.flatnonzero(labels == c)``); ``inside(c)``: the ids of the edges with
    both ends in ``c``, ascending; ``leaving(c)``: ``(first, second)``, the ids of the edges
    between ``c`` and another cluster whose first (second) end is in ``c``."""

    def __init__(self, edges, labels):
        labels = np.asarray(labels)
        K = int(labels.max()) + 1 if labels.size else 0
        self._order = np.argsort(labels, kind="stable")
        self._start = np.searchsorted(labels[self._order], np.arange(K + 1))
        self.local = np.empty(labels.size, dtype=np.intp)
        self.local[self._order] = np.arange(labels.size) - self._start[labels[self._order]]
        first, second = labels[edges[:, 0]], labels[edges[:, 1]]
        same = first == second
        self._inside = _grouped(first, np.flatnonzero(same), K)
        cross = np.flatnonzero(~same)
        self._first, self._second = _grouped(first, cross, K), _grouped(second, cross, K)

    def members(self, c):
        return self._order[self._start[c]:self._start[c + 1]]

    def inside(self, c):
        return _slice(self._inside, c)

    def leaving(self, c):
        return _slice(self._first, c), _slice(self._second, c)


def _grouped(keys, ids, K):
    """``(ids sorted by key, stably, and each key's bounds)``."""
    order = np.argsort(keys[ids], kind="stable")
    return ids[order], np.searchsorted(keys[ids[order]], np.arange(K + 1))


def _slice(grouped, c):
    ids, bounds = grouped
    return ids[bounds[c]:bounds[c + 1]]


def _check_weights(w):
    if not np.all(np.isfinite(w)):
        bad = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"weights contain NaN or inf (edge {bad}); weights must be finite.")
    if w.size and w.min() < 0:
        bad = int(np.argmin(w))
        raise ValueError(f"weights must be >= 0; edge {bad} has weight {w[bad]!r}.")


def _gaussian(A, edges, phi):
    diff = A[edges[:, 0]] - A[edges[:, 1]]
    return np.exp(-phi * np.einsum("ij,ij->i", diff, diff))


def knn_graph(A, k: int = 10, phi: float = 0.5) -> Graph:
    """Union k-nearest-neighbour graph with Gaussian weights.

    ``(i, j)`` is an edge when ``j`` is among the ``k`` nearest other points of
    ``i`` or ``i`` among those of ``j``; ``w_ij = exp(-phi ||a_i - a_j||^2)``
    (Sun, Toh & Yuan 2021).  Neighbours are found with a k-d tree
    (:class:`scipy.spatial.cKDTree`, queried on every core for large data), so
    memory is ``O(n k)`` and time ``O(n k log n)`` for data in general position.
    Ties are broken deterministically: among points at equal distance, the smaller
    index wins; a point never counts as its own neighbour, even when duplicated.
    Distances are compared as the computed squared distances
    ``sum((a_i - a_j)**2)``, so two distances that agree only up to rounding
    (``0.3 - 0.2`` versus ``0.2 - 0.1``) are not a tie.
    A point whose k-th neighbour distance is shared by many points costs time
    proportional to that number (the tree must list them to pick the smallest
    indices).

    Parameters
    ----------
    A : array of shape (n_samples, n_features)
    k : int, 1 <= k < n_samples
    phi : float >= 0
    """
    A, k, phi = _knn_arguments(A, k, phi)
    return _union_graph(A, _knn_indices(A, k), phi)


def _knn_arguments(A, k, phi):
    """``(A, k, phi)`` of :func:`knn_graph`, checked."""
    A = check_data(A)
    n = A.shape[0]
    phi = check_nonnegative(phi, "phi")
    if not is_integer(k) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if k >= n:
        raise ValueError(
            f"k={k} neighbours need at least k + 1 = {k + 1} points, but A has {n}; "
            f"choose k <= {n - 1}."
        )
    return A, int(k), phi


def _union_graph(A, neighbours, phi):
    """The union graph of the neighbour lists ``neighbours`` (n, k), Gaussian weights."""
    n, k = neighbours.shape
    return _gaussian_graph(A, n, np.column_stack([np.repeat(np.arange(n), k), neighbours.ravel()]), phi)


class KnnGraphs:
    """The kNN graphs (:func:`knn_graph`) of data that differ from a reference in a few rows,
    each equal to a fresh build and made in time proportional to the change.

    An attack moves a few points and rebuilds the graph, again and again.  A point's list of
    ``k`` nearest others changes only when the point moved, when its list held a point that
    moved, or when a moved point comes within its ``k``-th distance (ties included); only those
    lists are searched again, on the new data.  Every update is made from the reference, so
    nothing drifts however many are made.

    Parameters
    ----------
    A : array (n_samples, n_features)
        The reference data (the clean data of an attack).
    k, phi
        As :func:`knn_graph`.
    max_moved : float
        Above this share of moved rows, :meth:`graph_for` builds afresh (the same graph).
    """

    def __init__(self, A, k: int = 10, phi: float = 0.5, max_moved: float = 0.2):
        A, self.k, self.phi = _knn_arguments(A, k, phi)
        self.max_moved = float(check_nonnegative(max_moved, "max_moved"))
        self.reference = np.array(A, dtype=float)
        self.reference.setflags(write=False)
        self.neighbours = _knn_indices(self.reference, self.k)
        self.kth = _sq_dist(self.reference, np.arange(A.shape[0]), self.neighbours[:, -1])
        self.graph = _union_graph(self.reference, self.neighbours, self.phi)

    def graph_for(self, B) -> Graph:
        """``knn_graph(B, k, phi)``, updated from the reference's."""
        B = check_data(B)
        if B.shape != self.reference.shape:
            raise ValueError(f"the data have shape {B.shape}, the reference {self.reference.shape}; "
                             "an update needs the same points with some rows moved.")
        n = B.shape[0]
        moved = np.flatnonzero(np.any(B != self.reference, axis=1))
        if moved.size == 0:
            return self.graph
        if moved.size > self.max_moved * n:
            return knn_graph(B, self.k, self.phi)
        neighbours = self.neighbours.copy()
        changed = self.changed_lists(B, moved)
        neighbours[changed] = _knn_indices(B, self.k, changed)
        return _union_graph(B, neighbours, self.phi)

    def changed_lists(self, B, moved):
        """The points whose neighbour list may differ on ``B`` (rows ``moved`` moved)."""
        n = B.shape[0]
        was_moved = np.zeros(n, dtype=bool)
        was_moved[moved] = True
        held = np.any(was_moved[self.neighbours], axis=1)
        # Each point's distance to the nearest moved point's new place, by a tree over those
        # places: a candidate when within its own k-th distance (widened for the tree's rounding),
        # then checked with the distances the lists are ranked by.
        tree = _kdtree(B[moved])
        dist, nearest = tree.query(self.reference, k=1, workers=_workers(n))
        near = np.flatnonzero(~was_moved & (dist <= np.sqrt(self.kth) * (1 + 1e-9) + 1e-300))
        if near.size and moved.size > 1:  # every moved point within reach of a candidate
            found = tree.query_ball_point(self.reference[near], r=np.sqrt(self.kth[near]) * (1 + 1e-9) + 1e-300,
                                          workers=_workers(near.size))
            counts = np.array([len(f) for f in found], dtype=np.int64)
            near, source = np.repeat(near, counts), moved[np.concatenate(found).astype(np.int64)]
        else:
            source = moved[nearest[near]]
        entered = near[_sq_dist(B, near, source) <= self.kth[near]]
        out = was_moved | held
        out[entered] = True
        return np.flatnonzero(out)


def carry_edges(values, edges, graph):
    """Rows of ``values`` (one per edge of ``edges``, sorted as a :class:`Graph`'s) moved onto
    ``graph``'s edges: the rows of the edges both have, 0 on the others (a warm start's dual)."""
    values, edges = np.asarray(values, dtype=float), np.asarray(edges)
    if edges.ndim != 2 or edges.shape[1] != 2 or values.shape[:1] != edges.shape[:1]:
        raise ValueError(f"values must have one row per edge: got {values.shape[:1]} rows for edges of shape "
                         f"{edges.shape}; pass the (m, 2) edges the values belong to.")
    n = graph.n
    key_old = edges[:, 0] * n + edges[:, 1]
    key_new = graph.edges[:, 0] * n + graph.edges[:, 1]
    out = np.zeros((graph.n_edges,) + values.shape[1:])
    if len(key_old):
        pos = np.minimum(np.searchsorted(key_old, key_new), len(key_old) - 1)
        hit = key_old[pos] == key_new
        out[hit] = values[pos[hit]]
    return out


def _gaussian_graph(A, n, pairs, phi):
    i, j = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    key = np.sort(i * n + j)  # np.unique's hashing is slower on a million keys
    key = key[np.r_[True, key[1:] != key[:-1]]]
    edges = np.column_stack([key // n, key % n]).astype(np.int64)
    return Graph(n, edges, _gaussian(A, edges, phi))


PARALLEL_QUERIES = 10_000  # tree queries from which the search runs on every core


def _kdtree(points):
    """scipy's k-d tree over ``points`` (scipy.spatial loaded here, not at ``import advcluster``)."""
    from scipy.spatial import cKDTree

    return cKDTree(points)


def _workers(queries):
    """Threads for ``queries`` tree queries: every core from :data:`PARALLEL_QUERIES` on; below,
    starting the threads costs more than they save (178 x 13 points: 2.6 ms against 0.6 ms)."""
    return -1 if queries >= PARALLEL_QUERIES else 1

# Rows of ambiguous points whose radius queries are processed together (bounds memory
# when many points tie).
_RADIUS_CHUNK = 256


def _sq_dist(A, rows, cols):
    """Squared distances ``||a_rows - a_cols||^2`` computed from coordinate differences."""
    diff = A[rows] - A[cols]
    return np.sum(diff * diff, axis=-1)


def _knn_indices(A, k, rows=None):
    """The k nearest other points of every point (of ``rows``, default all), ties broken by the
    smaller index.

    A k-d tree (:class:`scipy.spatial.cKDTree`, on every core for many rows) proposes the
    ``k + 2`` nearest points; it computes distances from coordinate differences, as
    the re-ranking does, so equal distances stay equal (no ``||x||^2 - 2 x.y + ||y||^2``
    rounding).  Candidates are re-ranked by computed squared distance, then index.
    When the k-th other point ties with the farthest candidate, points at that
    distance may have been left out, so that row is redone with a radius query that
    returns every point up to that distance.
    """
    n, d = A.shape
    q = min(n, k + 2)
    tree = _kdtree(A)
    rows = np.arange(n) if rows is None else rows
    ind = tree.query(A[rows], k=q, workers=_workers(len(rows)))[1].reshape(len(rows), q)
    d2 = np.empty(ind.shape)
    for c in range(q):
        d2[:, c] = _sq_dist(A, rows, ind[:, c])
    out, d_kth = _nearest_others(d2, ind, rows, k)
    if q == n:  # every point was a candidate: nothing can be missing
        return out
    # Any point the tree left out is at least as far as its farthest candidate (up to
    # the rounding difference between the tree's sum of squares and ours).
    d_last = d2.max(axis=1)
    rtol = 1e-12 + 8 * d * np.finfo(float).eps
    ambiguous = np.flatnonzero(d_kth >= d_last * (1 - rtol))
    for start in range(0, ambiguous.size, _RADIUS_CHUNK):
        chunk = ambiguous[start:start + _RADIUS_CHUNK]
        radius = np.sqrt(d_last[chunk]) * (1 + 1e-9)
        found = tree.query_ball_point(A[rows[chunk]], r=radius, workers=_workers(chunk.size))
        out[chunk] = _nearest_others_ragged(A, rows[chunk], found, k)
    return out


def _nearest_others(d2, ind, rows, k):
    """First k entries of each row by (distance, index), the row's own point excluded.

    Returns the indices (len(rows), k) and the k-th squared distance of each row.
    """
    d2 = np.where(ind == rows[:, None], -1.0, d2)  # own point sorts first
    order = np.lexsort((ind, d2), axis=-1)
    ind = np.take_along_axis(ind, order, axis=-1)
    d2 = np.take_along_axis(d2, order, axis=-1)
    start = (d2[:, 0] < 0).astype(np.int64)[:, None]
    take = start + np.arange(k)
    return np.take_along_axis(ind, take, axis=-1), np.take_along_axis(d2, take[:, -1:], axis=-1)[:, 0]


def _nearest_others_ragged(A, rows, found, k):
    """As :func:`_nearest_others` for candidate lists of different lengths (radius queries)."""
    counts = np.array([len(f) for f in found], dtype=np.int64)
    r = np.repeat(rows, counts)
    c = np.concatenate(found).astype(np.int64)
    keep = c != r
    r, c = r[keep], c[keep]
    order = np.lexsort((c, _sq_dist(A, r, c), r))
    r, c = r[order], c[order]
    first = np.searchsorted(r, rows)  # rows are increasing, so r is grouped in that order
    size = np.diff(np.append(first, len(r)))
    if np.any(size < k):  # cannot happen: the radius covers the k + 2 tree candidates
        raise RuntimeError("radius query returned fewer than k neighbours; please report this.")
    return c[first[:, None] + np.arange(k)]


def complete_graph(A, phi: float = 0.5) -> Graph:
    """All pairs with Gaussian weights ``w_ij = exp(-phi ||a_i - a_j||^2)``.

    ``O(n^2)`` edges: meant for small data (the paper's experiments).
    """
    A = check_data(A)
    phi = check_nonnegative(phi, "phi")
    n = A.shape[0]
    i, j = np.triu_indices(n, k=1)
    edges = np.column_stack([i, j]).astype(np.int64)
    return Graph(n, edges, _gaussian(A, edges, phi))


def uniform_graph(n: int, weight: float = 1.0) -> Graph:
    """All pairs with the same weight (the paper's Section 3 examples)."""
    if not is_integer(n) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    weight = check_nonnegative(weight, "weight")  # checked even when n = 1 (no edges)
    i, j = np.triu_indices(int(n), k=1)
    return Graph(int(n), np.column_stack([i, j]).astype(np.int64), np.full(len(i), weight))


def check_knn_size(k, n):
    """``ValueError`` unless ``k`` neighbours fit in ``n`` samples (the words of the estimator and models)."""
    if k >= n:
        raise ValueError(f"k={k} neighbours need at least k + 1 = {k + 1} samples, but the data has "
                         f"{n}; set k <= {n - 1} or use weights='complete'.")


SOLVE_COPIES = 16  # (edges x features) float arrays a solve on a graph holds at its peak, measured


SECONDS_PER_EDGE_FEATURE = 2e-6  # a solve's time per edge and feature, measured once (below)


def solve_memory(n, d, weights, k=10) -> tuple[int, float]:
    """``(edges, bytes)``: the edges of the graph ``weights`` on ``n`` points and the memory a solve
    on it takes, about ``edges (24 + 8 SOLVE_COPIES d)`` bytes (the graph, and the solver's arrays
    of one row per edge; measured: 1,797 x 64 digits with complete weights peaked at 12.8 GB,
    this gives 13.3 GB). For ``"knn"``, at most ``n k`` edges."""
    edges = n * (n - 1) // 2 if weights in ("complete", "uniform") else n * min(k, max(n - 1, 0))
    return edges, float(edges) * (24 + 8 * SOLVE_COPIES * d)


def solve_seconds(edges, d) -> float:
    """A rough time of one solve: ``SECONDS_PER_EDGE_FEATURE`` per edge and feature (the one
    measurement behind it: digits, 1,613,706 edges x 64 features, 204 s on 2 cores). Solves
    vary tenfold with gamma; this is an order of magnitude, said as such."""
    return edges * d * SECONDS_PER_EDGE_FEATURE


def build_graph(A, weights="knn", k: int = 10, phi: float = 0.5) -> Graph:
    """The weight graph named by ``weights`` on the rows of ``A``.

    ``weights`` is ``"knn"`` (:func:`knn_graph` with ``k``, ``phi``; needs ``k < n``),
    ``"complete"`` (:func:`complete_graph`), ``"uniform"`` (:func:`uniform_graph`), a
    :class:`Graph`, or a symmetric ``(n, n)`` weight matrix (dense or sparse).
    """
    n = A.shape[0]
    w = GRAPH_RULES["weights"](weights, "weights")
    if isinstance(w, str):
        if w == "knn":
            check_knn_size(k, n)
            return knn_graph(A, k, phi)
        if w == "complete":
            return complete_graph(A, phi)
        return uniform_graph(n)
    graph = w if isinstance(w, Graph) else Graph.from_matrix(w)
    if graph.n != n:
        kind = "Graph" if isinstance(w, Graph) else "weight matrix"
        raise ValueError(
            f"the {kind} given as weights has {graph.n} nodes but the data has {n} samples; "
            "build the weights from the same samples."
        )
    return graph
