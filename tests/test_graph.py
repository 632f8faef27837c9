"""Tests for advcluster.graph: weight graphs (docs/model.md, section 1).

The kNN graph is checked against a brute-force reference written here (full
distance matrix, k nearest *other* points by (distance, index), union); the
other builders against closed forms; the linear-algebra views against their
definitions (J J^T = unweighted Laplacian, L = D - W).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from advcluster.graph import ClusterEdges, Graph, complete_graph, knn_graph, same_partition, uniform_graph


# --------------------------------------------------------------------------- references
def sq_dists(A):
    """Full matrix of squared distances from coordinate differences."""
    A = np.asarray(A, dtype=float)
    diff = A[:, None, :] - A[None, :, :]
    return np.sum(diff * diff, axis=-1)


def brute_knn_lists(A, k):
    """For each i, the k nearest other points, ties broken by the smaller index."""
    D2 = sq_dists(A)
    n = len(D2)
    idx = np.arange(n)
    out = []
    for i in range(n):
        others = idx[idx != i]
        order = np.lexsort((others, D2[i, others]))  # by distance, then index
        out.append(others[order[:k]])
    return out


def brute_knn_graph(A, k, phi):
    """Union kNN graph with Gaussian weights: sorted (m, 2) edges and weights."""
    D2 = sq_dists(A)
    pairs = {(min(i, j), max(i, j)) for i, nbrs in enumerate(brute_knn_lists(A, k)) for j in nbrs}
    edges = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return edges, np.exp(-phi * D2[edges[:, 0], edges[:, 1]])


def dense_weights(g):
    """Dense W built entry by entry from the edge list (independent of to_matrix)."""
    W = np.zeros((g.n, g.n))
    for (i, j), w in zip(g.edges, g.weights):
        W[i, j] = W[j, i] = w
    return W


def assert_valid_graph(g, gaussian=False):
    """The structural contract every Graph meets; Gaussian weights lie in (0, 1]."""
    e, w = g.edges, g.weights
    assert e.ndim == 2 and e.shape == (g.n_edges, 2)
    assert np.issubdtype(e.dtype, np.integer)
    assert w.shape == (g.n_edges,) and w.dtype == float
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    if gaussian:
        assert np.all(w > 0) and np.all(w <= 1)
    if g.n_edges:
        assert e.min() >= 0 and e.max() < g.n
        assert np.all(e[:, 0] < e[:, 1])
        key = e[:, 0].astype(np.int64) * g.n + e[:, 1]
        assert np.all(np.diff(key) > 0), "edges not sorted lexicographically / not unique"
    W = g.to_matrix()
    assert sp.issparse(W) and W.shape == (g.n, g.n)
    assert (W != W.T).nnz == 0
    assert W.diagonal().max(initial=0) == 0
    if g.n <= 500:
        np.testing.assert_array_equal(W.toarray(), dense_weights(g))
    else:
        assert W.nnz == 2 * g.n_edges
        np.testing.assert_array_equal(W[e[:, 0], e[:, 1]], w)


def assert_same_graph(g, h):
    assert g.n == h.n
    np.testing.assert_array_equal(g.edges, h.edges)
    np.testing.assert_array_equal(g.weights, h.weights)


KINDS = ["gaussian", "integer", "decimal", "duplicates"]


def random_data(rng, kind, n, d):
    if kind == "gaussian":
        return rng.normal(size=(n, d))
    if kind == "integer":  # few distinct values: many ties and duplicates
        return rng.integers(0, 3, size=(n, d)).astype(float)
    if kind == "decimal":  # like Iris petal width: 0.1-step values, repeated
        return np.round(rng.choice(np.arange(0.1, 2.6, 0.1), size=(n, d)), 1)
    if kind == "duplicates":  # a few distinct rows, each repeated
        base = rng.normal(size=(max(1, n // 4), d))
        return base[rng.integers(0, len(base), n)]
    raise AssertionError(kind)


def iris_petal_width():
    datasets = pytest.importorskip("sklearn.datasets")
    return datasets.load_iris().data[:100, 3:4]  # rows 0..99, feature 4: two species


# --------------------------------------------------------------------------- kNN graph
@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("kind", KINDS)
def test_knn_matches_brute_force(seed, d, kind):
    rng = np.random.default_rng([seed, d, KINDS.index(kind)])
    n = int(rng.integers(2, 36))
    A = random_data(rng, kind, n, d)
    phi = float(rng.choice([0.0, 0.5, 2.0]))
    for k in sorted({1, 2, 3, n // 2, n - 1} & set(range(1, n))):
        g = knn_graph(A, k=k, phi=phi)
        edges, weights = brute_knn_graph(A, k, phi)
        np.testing.assert_array_equal(g.edges, edges, err_msg=f"n={n}, d={d}, k={k}")
        np.testing.assert_allclose(g.weights, weights, rtol=1e-13, atol=0)
        assert g.n == n
        assert_valid_graph(g, gaussian=True)


@pytest.mark.parametrize("k", [1, 3, 5, 10, 20, 40, 99])
def test_knn_iris_petal_width_ties(k):
    # 100 values taking 15 distinct values: almost every neighbour set has ties.
    A = iris_petal_width()
    g = knn_graph(A, k=k)
    edges, weights = brute_knn_graph(A, k, 0.5)
    np.testing.assert_array_equal(g.edges, edges)
    np.testing.assert_allclose(g.weights, weights, rtol=1e-13, atol=0)
    # Deterministic: a second build (and one from a copy) gives the same graph.
    assert_same_graph(g, knn_graph(A.copy(), k=k))
    assert_same_graph(g, knn_graph(np.asfortranarray(A), k=k))


def test_knn_iris_k10_splits_the_two_species():
    # docs/model.md, section 1: the ties make the kNN graph disconnected along the species.
    g = knn_graph(iris_petal_width(), k=10)
    assert g.n_components == 2
    np.testing.assert_array_equal(g.component_labels, np.repeat([0, 1], 50))


def test_knn_hand_computed_nearest_neighbours():
    A = np.array([[0.0], [1.0], [3.0], [6.0]])
    g = knn_graph(A, k=1, phi=0.5)
    np.testing.assert_array_equal(g.edges, [[0, 1], [1, 2], [2, 3]])
    np.testing.assert_allclose(g.weights, np.exp(-0.5 * np.array([1.0, 4.0, 9.0])))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_knn_tie_goes_to_smaller_index(sign):
    # Point 0 is at distance 5 from both 1 and 2; with k = 1 it must pick 1,
    # whichever side of 0 point 1 lies on.  Points 1 and 2 have closer partners
    # (3 and 4), so (0, 1) versus (0, 2) shows which way the tie was broken.
    A = sign * np.array([[0.0], [5.0], [-5.0], [5.5], [-5.5]])
    g = knn_graph(A, k=1)
    np.testing.assert_array_equal(g.edges, [[0, 1], [1, 3], [2, 4]])


def test_knn_identical_points_pick_smallest_other_indices():
    g = knn_graph(np.ones((6, 2)), k=2, phi=3.0)
    # 0 -> {1, 2}, 1 -> {0, 2}, 2 -> {0, 1}, 3, 4, 5 -> {0, 1}; never itself.
    expected = [[0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [1, 2], [1, 3], [1, 4], [1, 5]]
    np.testing.assert_array_equal(g.edges, expected)
    np.testing.assert_array_equal(g.weights, np.ones(len(expected)))


@pytest.mark.parametrize("seed", range(3))
def test_knn_many_duplicates_beyond_k(seed):
    # Each value repeated far more than k + 2 times: the tree's first k + 2 candidates
    # cannot decide the tie, every point needs the full tie group.
    rng = np.random.default_rng(seed)
    A = rng.integers(0, 4, size=(300, 1)).astype(float)
    for k in (1, 4, 9):
        edges, weights = brute_knn_graph(A, k, 0.5)
        g = knn_graph(A, k=k)
        np.testing.assert_array_equal(g.edges, edges)
        np.testing.assert_allclose(g.weights, weights, rtol=1e-13, atol=0)


def test_knn_high_dimension_matches_brute_force():
    rng = np.random.default_rng(7)
    A = np.round(rng.normal(size=(60, 20)), 0)  # > 15 features: the other tree, with ties
    for k in (1, 5, 30):
        edges, _ = brute_knn_graph(A, k, 0.1)
        np.testing.assert_array_equal(knn_graph(A, k=k, phi=0.1).edges, edges)


def test_knn_is_union_and_every_node_has_its_k_neighbours():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(80, 3))
    k = 4
    g = knn_graph(A, k=k)
    Wd = g.to_matrix().toarray()
    for i, nbrs in enumerate(brute_knn_lists(A, k)):
        assert np.all(Wd[i, nbrs] > 0)
    # Union, not intersection: some edge is a kNN relation in one direction only.
    lists = [set(nb) for nb in brute_knn_lists(A, k)]
    one_way = [(i, j) for i, j in g.edges if (j in lists[i]) != (i in lists[j])]
    assert one_way
    degree = (Wd > 0).sum(axis=1)
    assert degree.min() >= k


def test_knn_default_parameters_are_k10_phi_half():
    rng = np.random.default_rng(11)
    A = rng.normal(size=(40, 2))
    edges, weights = brute_knn_graph(A, 10, 0.5)
    g = knn_graph(A)
    np.testing.assert_array_equal(g.edges, edges)
    np.testing.assert_allclose(g.weights, weights, rtol=1e-13)


def test_knn_phi_zero_gives_unit_weights():
    A = np.random.default_rng(0).normal(size=(30, 2))
    g = knn_graph(A, k=3, phi=0)
    np.testing.assert_array_equal(g.weights, 1.0)


def test_knn_k_equal_n_minus_one_is_complete_graph():
    A = np.random.default_rng(5).normal(size=(12, 3))
    assert_same_graph(knn_graph(A, k=11, phi=0.7), complete_graph(A, phi=0.7))


def test_knn_accepts_integer_data_and_numpy_integer_k():
    A = np.arange(10).reshape(5, 2)  # int dtype
    g = knn_graph(A, k=np.int64(2))
    edges, _ = brute_knn_graph(A, 2, 0.5)
    np.testing.assert_array_equal(g.edges, edges)


@pytest.mark.parametrize("kind", ["gaussian", "decimal"])
def test_knn_edge_count_is_at_most_nk(kind):
    # Sub-quadratic size: the union of n lists of k neighbours has at most n k edges.
    n, k = 5000, 10
    A = random_data(np.random.default_rng(1), kind, n, 2)
    g = knn_graph(A, k=k)
    assert g.n == n
    assert k * n // 2 <= g.n_edges <= n * k
    assert (g.to_matrix() > 0).sum(axis=1).min() >= k
    assert_valid_graph(g, gaussian=True)


def test_knn_far_apart_blobs_are_disconnected():
    rng = np.random.default_rng(2)
    A = np.vstack([rng.normal(size=(20, 2)), 100 + rng.normal(size=(15, 2))])
    g = knn_graph(A, k=5)  # k < 15: no point has a neighbour in the other blob
    assert g.n_components == 2
    np.testing.assert_array_equal(g.component_labels, np.repeat([0, 1], [20, 15]))
    # Numbered by first appearance, not by blob: interleave the blobs.
    perm = np.array([20, 0, 21, 1] + list(range(2, 20)) + list(range(22, 35)))
    h = knn_graph(A[perm], k=5)
    labels = h.component_labels
    assert labels[0] == 0 and labels[1] == 1
    np.testing.assert_array_equal(labels, (perm < 20).astype(int))


# --------------------------------------------------------------------------- complete / uniform
@pytest.mark.parametrize("n", [1, 2, 3, 7, 15])
@pytest.mark.parametrize("phi", [0.0, 0.5, 3.0])
def test_complete_graph_all_pairs_gaussian(n, phi):
    A = np.random.default_rng(n).normal(size=(n, 3))
    g = complete_graph(A, phi=phi)
    assert g.n == n and g.n_edges == n * (n - 1) // 2
    assert_valid_graph(g, gaussian=True)
    D2 = sq_dists(A)
    expected = np.exp(-phi * D2)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(g.to_matrix().toarray(), expected, rtol=1e-13, atol=0)
    assert g.is_uniform_complete() is (phi == 0 or n <= 2)
    assert g.n_components == 1


def test_complete_graph_on_one_point_has_no_edges():
    g = complete_graph([[1.0, 2.0]])
    assert g.n == 1 and g.n_edges == 0
    assert g.edges.shape == (0, 2) and g.weights.shape == (0,)
    assert g.n_components == 1 and g.component_labels.tolist() == [0]
    assert g.laplacian().toarray().tolist() == [[0.0]]


def test_complete_graph_underflowed_weights_do_not_connect():
    # exp(-0.5 * 1e6) is 0 in floating point: such edges exist but couple nothing.
    A = np.array([[0.0], [0.5], [1000.0], [1000.5]])
    g = complete_graph(A)
    assert g.n_edges == 6
    assert_valid_graph(g)
    assert np.sum(g.weights == 0) == 4
    assert g.n_components == 2
    np.testing.assert_array_equal(g.component_labels, [0, 0, 1, 1])


@pytest.mark.parametrize("n", [1, 2, 5, 10])
@pytest.mark.parametrize("weight", [1.0, 0.25, 3])
def test_uniform_graph(n, weight):
    g = uniform_graph(n, weight=weight)
    assert g.n == n and g.n_edges == n * (n - 1) // 2
    np.testing.assert_array_equal(g.weights, float(weight))
    Wd = g.to_matrix().toarray()
    np.testing.assert_array_equal(Wd, weight * (np.ones((n, n)) - np.eye(n)))
    assert g.is_uniform_complete() is True
    assert g.n_components == 1
    np.testing.assert_allclose(g.laplacian().toarray(), weight * (n * np.eye(n) - np.ones((n, n))))


def test_uniform_graph_default_weight_is_one():
    np.testing.assert_array_equal(uniform_graph(4).weights, np.ones(6))


def test_is_uniform_complete_false_cases():
    assert uniform_graph(4).is_uniform_complete() is True
    # Missing one pair.
    e = uniform_graph(4).edges
    assert Graph(4, e[1:], np.ones(5)).is_uniform_complete() is False
    # Unequal weights.
    assert Graph(4, e, np.r_[np.ones(5), 2.0]).is_uniform_complete() is False
    # All zero: complete but uncoupled.
    assert Graph(4, e, np.zeros(6)).is_uniform_complete() is False
    assert Graph(1, np.zeros((0, 2), int), []).is_uniform_complete() is True


# --------------------------------------------------------------------------- incidence / Laplacian
GRAPHS = {
    "knn": lambda: knn_graph(np.random.default_rng(0).normal(size=(25, 2)), k=3),
    "knn_ties": lambda: knn_graph(iris_petal_width(), k=5),
    "complete": lambda: complete_graph(np.random.default_rng(1).normal(size=(9, 4))),
    "uniform": lambda: uniform_graph(6, 0.5),
    "sparse": lambda: Graph.from_edges(7, [[0, 3], [5, 2], [6, 0]], [0.3, 2.0, 0.0]),
    "edgeless": lambda: Graph(5, np.zeros((0, 2), int), []),
    "single": lambda: uniform_graph(1),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_incidence_and_laplacian_identities(name):
    g = GRAPHS[name]()
    assert_valid_graph(g, gaussian=name.startswith(("knn", "complete")))
    m, n = g.n_edges, g.n
    J = g.incidence
    assert sp.issparse(J) and J.shape == (n, m)
    Jd = J.toarray()
    for e, (i, j) in enumerate(g.edges):
        expected = np.zeros(n)
        expected[i], expected[j] = 1.0, -1.0
        np.testing.assert_array_equal(Jd[:, e], expected)
    # J J^T is the unweighted Laplacian (degree - adjacency of the edge set).
    adj = np.zeros((n, n))
    adj[g.edges[:, 0], g.edges[:, 1]] = adj[g.edges[:, 1], g.edges[:, 0]] = 1
    np.testing.assert_array_equal((J @ J.T).toarray(), np.diag(adj.sum(1)) - adj)
    # laplacian() is D - W with W from to_matrix().
    Wd = g.to_matrix().toarray()
    L = g.laplacian()
    assert sp.issparse(L) and L.shape == (n, n)
    np.testing.assert_allclose(L.toarray(), np.diag(Wd.sum(1)) - Wd, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(L.toarray() @ np.ones(n), 0, atol=1e-12)
    np.testing.assert_allclose(g.degree, Wd.sum(1), rtol=1e-14, atol=1e-15)  # weighted degrees
    assert not g.degree.flags.writeable
    # B(X) = J^T X stacks the edge differences x_i - x_j.
    X = np.random.default_rng(0).normal(size=(n, 3))
    np.testing.assert_allclose(J.T @ X, X[g.edges[:, 0]] - X[g.edges[:, 1]], atol=1e-14)


def test_laplacian_with_other_weights():
    g = knn_graph(np.random.default_rng(4).normal(size=(15, 2)), k=2)
    w = np.random.default_rng(5).uniform(0, 2, size=g.n_edges)
    h = Graph(g.n, g.edges, w)
    np.testing.assert_allclose(g.laplacian(w).toarray(), h.laplacian().toarray(), rtol=1e-14)
    assert not np.allclose(g.laplacian(w).toarray(), g.laplacian().toarray())
    with pytest.raises(ValueError, match="weights must have shape"):
        g.laplacian(w[:-1])
    np.testing.assert_allclose(g.weighted_degree(w), g.laplacian(w).diagonal(), rtol=1e-14)
    np.testing.assert_allclose(g.weighted_degree(g.weights), g.degree, rtol=1e-14)
    with pytest.raises(ValueError, match=r"weights must have shape \(\d+,\), one per edge"):
        g.weighted_degree(np.ones((g.n_edges, 2)))


@pytest.mark.parametrize("seed", range(12))
def test_shifted_laplacian_keeps_one_pattern(seed):
    """shift I + J diag(w) J^T for any weights, zeros included: the same CSR pattern (every
    edge and the diagonal, sorted) whatever the weights, and the dense reference's values."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    g = knn_graph(rng.normal(size=(n, 2)), k=min(3, n - 1)) if n > 1 else uniform_graph(1)
    patterns = []
    for _ in range(3):
        w = rng.uniform(0, 2, g.n_edges) * (rng.random(g.n_edges) > 0.3)
        shift = float(rng.uniform(0, 3))
        L = g.laplacian(w, shift=shift)
        dense = shift * np.eye(n)
        for (i, j), we in zip(g.edges, w):
            dense[[i, j], [i, j]] += we
            dense[i, j] -= we
            dense[j, i] -= we
        np.testing.assert_allclose(L.toarray(), dense, rtol=1e-14, atol=1e-14)
        assert L.nnz == 2 * g.n_edges + n and L.has_sorted_indices
        patterns.append((L.indptr.copy(), L.indices.copy()))
    for indptr, indices in patterns[1:]:
        np.testing.assert_array_equal(indptr, patterns[0][0])
        np.testing.assert_array_equal(indices, patterns[0][1])


@pytest.mark.parametrize("seed", range(12))
def test_relabelling_maps_node_and_edge_arrays(seed):
    """Renumbered graph: the same weighted edges under the new numbers, and the maps in and out
    commute with B and B* (edges whose ends swap change sign)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    if seed % 3 == 0 or n < 3:
        W = sp.triu(sp.random(n, n, density=0.15, random_state=rng), k=1)
        g = Graph.from_matrix((W + W.T).tocsr())  # often disconnected, sometimes without edges
    else:
        g = knn_graph(rng.normal(size=(n, 2)), k=min(3, n - 1))
    order = rng.permutation(n)
    rel = g.relabelled(order)
    h = rel.graph
    assert h.n == n and h.n_edges == g.n_edges
    old = {tuple(e): w for e, w in zip(g.edges.tolist(), g.weights)}
    new = {tuple(sorted((int(order[a]), int(order[b])))): w for (a, b), w in zip(h.edges.tolist(), h.weights)}
    assert new == old
    X, Z = rng.normal(size=(n, 3)), rng.normal(size=(g.n_edges, 3))
    np.testing.assert_array_equal(rel.nodes_out(rel.nodes_in(X)), X)
    np.testing.assert_array_equal(rel.edges_out(rel.edges_in(Z)), Z)
    np.testing.assert_allclose(h.difference @ rel.nodes_in(X), rel.edges_in(g.difference @ X), atol=1e-14)
    np.testing.assert_allclose(h.incidence @ rel.edges_in(Z), rel.nodes_in(g.incidence @ Z), atol=1e-13)


def test_local_order_narrows_the_band():
    """graph.local (reverse Cuthill-McKee) puts neighbours close: on shuffled blobs the largest
    and the mean |i - j| over the edges shrink several-fold."""
    rng = np.random.default_rng(0)
    A = np.concatenate([rng.normal(size=(100, 2)) + 6 * c for c in range(5)])[rng.permutation(500)]
    g = knn_graph(A, k=5)
    h = g.local.graph
    spread = lambda graph: np.diff(graph.edges, axis=1).ravel()  # noqa: E731
    assert spread(h).max() < spread(g).max() / 3 and spread(h).mean() < spread(g).mean() / 5
    assert g.local is g.local  # computed once per graph


def test_new_graph_methods_reject_bad_input():
    g = Graph.from_edges(3, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"mask must be a boolean array of shape \(2,\)"):
        g.components_of([1, 0])
    with pytest.raises(ValueError, match=r"mask must be a boolean array of shape \(2,\)"):
        g.components_of(np.ones(3, bool))
    with pytest.raises(ValueError, match="shift must be a finite number"):
        g.laplacian(shift=np.nan)
    with pytest.raises(ValueError, match=r"mask must be a boolean array of shape \(2,\)"):
        g.hops_from([0], [True, False, True])
    rel = g.relabelled([2, 0, 1])
    with pytest.raises(ValueError, match=r"one row per node \(3\), got shape \(2, 1\)"):
        rel.nodes_in(np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"one row per node \(3\)"):
        rel.nodes_out(np.zeros(3))
    with pytest.raises(ValueError, match=r"one row per edge \(2\), got shape \(3, 2\)"):
        rel.edges_in(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"one row per edge \(2\)"):
        rel.edges_out(np.zeros((1, 2)))


@pytest.mark.parametrize("order", [[0, 0, 1], [0, 1], [0, 1, 3], [[0, 1, 2]]])
def test_relabelled_rejects_what_is_not_a_permutation(order):
    g = Graph.from_edges(3, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="permutation of 0..2"):
        g.relabelled(order)


def test_graph_arrays_are_read_only():
    g = uniform_graph(3)
    with pytest.raises(ValueError):
        g.edges[0, 0] = 2
    with pytest.raises(ValueError):
        g.weights[0] = 5.0


def test_repr_names_size_edges_components():
    assert repr(Graph.from_edges(4, [[0, 1]])) == "Graph(n=4, n_edges=1, n_components=3)"


# --------------------------------------------------------------------------- from_matrix / from_edges
def test_from_matrix_dense_and_sparse_agree_and_round_trip():
    W = np.array(
        [
            [5.0, 0.2, 0.0, 1.5],  # the diagonal is ignored
            [0.2, 0.0, 0.0, 0.7],
            [0.0, 0.0, 9.0, 0.0],
            [1.5, 0.7, 0.0, 0.0],
        ]
    )
    g = Graph.from_matrix(W)
    np.testing.assert_array_equal(g.edges, [[0, 1], [0, 3], [1, 3]])
    np.testing.assert_array_equal(g.weights, [0.2, 1.5, 0.7])
    assert g.n == 4 and g.n_components == 2
    np.testing.assert_array_equal(g.component_labels, [0, 0, 1, 0])
    W0 = W - np.diag(np.diag(W))
    np.testing.assert_array_equal(g.to_matrix().toarray(), W0)
    for conv in (sp.csr_array, sp.csr_matrix, sp.coo_array, sp.csc_array, sp.lil_matrix):
        h = Graph.from_matrix(conv(W))
        assert_same_graph(g, h)
    assert_same_graph(g, Graph.from_matrix(g.to_matrix()))
    assert_same_graph(g, Graph.from_matrix(W.tolist()))


def test_from_matrix_sparse_explicit_zeros_are_not_edges():
    W = sp.csr_array((np.array([0.0, 0.0, 2.0, 2.0]), (np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1]))), shape=(3, 3))
    assert W.nnz == 4
    g = Graph.from_matrix(W)
    np.testing.assert_array_equal(g.edges, [[1, 2]])
    np.testing.assert_array_equal(g.weights, [2.0])


def test_from_matrix_single_node_and_zero_matrix():
    assert Graph.from_matrix([[0.0]]).n_edges == 0
    g = Graph.from_matrix(np.zeros((4, 4)))
    assert g.n == 4 and g.n_edges == 0 and g.n_components == 4
    np.testing.assert_array_equal(g.component_labels, [0, 1, 2, 3])


@pytest.mark.parametrize("name", ["knn", "knn_ties", "complete", "uniform"])
def test_builders_round_trip_through_matrix(name):
    g = GRAPHS[name]()
    assert_same_graph(g, Graph.from_matrix(g.to_matrix()))
    assert_same_graph(g, Graph.from_matrix(g.to_matrix().toarray()))


def test_from_edges_normalises_orientation_order_and_self_loops():
    edges = [[3, 1], [0, 2], [2, 2], [1, 0], [4, 0]]
    weights = [0.3, 0.4, 0.9, 0.1, 0.5]
    g = Graph.from_edges(5, edges, weights)
    np.testing.assert_array_equal(g.edges, [[0, 1], [0, 2], [0, 4], [1, 3]])
    np.testing.assert_array_equal(g.weights, [0.1, 0.4, 0.5, 0.3])  # weights follow their edges
    assert g.edges.dtype == np.int64
    assert_valid_graph(g)


def test_from_edges_defaults_and_empty():
    g = Graph.from_edges(3, [[2, 0]])
    np.testing.assert_array_equal(g.edges, [[0, 2]])
    np.testing.assert_array_equal(g.weights, [1.0])
    for empty in ([], np.zeros((0, 2), int)):
        h = Graph.from_edges(3, empty)
        assert h.n_edges == 0 and h.edges.shape == (0, 2) and h.n_components == 3
    assert Graph.from_edges(2, [[1, 1]], [0.5]).n_edges == 0  # only a self-loop


@pytest.mark.parametrize("edges", [[[0, 1], [0, 1]], [[0, 1], [1, 0]], [[2, 3], [0, 1], [3, 2]]])
def test_from_edges_rejects_repeated_pairs(edges):
    with pytest.raises(ValueError, match="repeated pair"):
        Graph.from_edges(4, edges)


@pytest.mark.parametrize(
    "edges, weights, match",
    [
        ([[0, 5]], None, "end points must lie in 0..3"),
        ([[-1, 2]], None, "end points must lie in 0..3"),
        ([[0, 1], [1, 2]], [1.0], r"weights must have shape \(2,\)"),
        ([], [1.0], r"weights must have shape \(0,\)"),
        ([[0, 1, 2]], None, r"edges must have shape \(m, 2\)"),
        ([0, 1], None, r"edges must have shape \(m, 2\)"),
        ([[0.5, 1.7]], None, "edges must hold integers"),
        ([[0, 1]], [-0.5], "weights must be >= 0"),
        ([[0, 1]], [np.nan], "NaN or inf"),
        ([[2, 2]], [np.inf], "NaN or inf"),  # even on a dropped self-loop
    ],
)
def test_from_edges_bad_input(edges, weights, match):
    with pytest.raises(ValueError, match=match):
        Graph.from_edges(4, edges, weights)


@pytest.mark.parametrize(
    "n, edges, weights, match",
    [
        (0, np.zeros((0, 2), int), [], "positive integer"),
        (2.0, [[0, 1]], [1.0], "positive integer"),
        (True, np.zeros((0, 2), int), [], "positive integer"),
        (3, [[0, 3]], [1.0], "end points must lie in 0..2"),
        (3, [[-1, 1]], [1.0], "end points must lie in 0..2"),
        (3, [[1, 0]], [1.0], "i < j"),
        (3, [[1, 1]], [1.0], "i < j"),
        (3, [[1, 2], [0, 1]], [1.0, 1.0], "sorted and unique"),
        (3, [[0, 1], [0, 1]], [1.0, 1.0], "sorted and unique"),
        (3, [[0, 1]], [1.0, 2.0], r"weights must have shape \(1,\)"),
        (3, [[0, 1]], [], r"weights must have shape \(1,\)"),
        (3, [[0.0, 1.0]], [1.0], "edges must hold integers"),
        (3, [0, 1], [1.0], r"edges must have shape \(m, 2\)"),
        (3, [[0, 1]], [-1.0], "weights must be >= 0; edge 0"),
        (3, [[0, 1], [1, 2]], [1.0, np.nan], r"NaN or inf \(edge 1\)"),
        (3, [[0, 1]], [np.inf], "NaN or inf"),
    ],
)
def test_graph_constructor_bad_input(n, edges, weights, match):
    with pytest.raises(ValueError, match=match):
        Graph(n, np.asarray(edges), weights)


def test_graph_constructor_accepts_valid_input():
    g = Graph(np.int32(4), [[0, 1], [0, 3], [2, 3]], [1, 0, 2.5])
    assert g.n == 4 and type(g.n) is int
    assert g.edges.dtype == np.int64 and g.weights.dtype == float
    assert g.n_edges == 3 and g.n_components == 2  # the zero weight on (0, 3) does not connect


# --------------------------------------------------------------------------- components
def test_components_first_appearance_and_zero_weights():
    g = Graph(6, [[0, 4], [1, 3], [2, 5]], [1.0, 0.5, 0.0])
    # (2, 5) has weight 0: it is an edge but couples nothing.
    assert g.n_components == 4
    np.testing.assert_array_equal(g.component_labels, [0, 1, 2, 1, 0, 3])
    h = Graph(6, [[0, 4], [1, 3], [2, 5]], [1.0, 0.5, 0.1])
    assert h.n_components == 3
    np.testing.assert_array_equal(h.component_labels, [0, 1, 2, 1, 0, 2])


def test_first_appearance_renumbering():
    # scipy already numbers components this way in practice; the helper guarantees it.
    from advcluster.graph import first_appearance

    np.testing.assert_array_equal(first_appearance(np.array([2, 2, 0, 1, 0, 5])), [0, 0, 1, 2, 1, 3])
    np.testing.assert_array_equal(first_appearance(np.array([], dtype=int)), [])


def test_components_of_edgeless_graph_are_singletons():
    g = Graph(4, np.zeros((0, 2), int), [])
    assert g.n_components == 4
    np.testing.assert_array_equal(g.component_labels, [0, 1, 2, 3])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20))))
def test_components_match_union_find(case):
    n, pairs = case
    g = Graph.from_edges(n, list({(min(a, b), max(a, b)) for a, b in pairs}) or [])
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    roots = [find(i) for i in range(n)]
    first = {}
    expected = [first.setdefault(r, len(first)) for r in roots]
    assert g.n_components == len(first)
    np.testing.assert_array_equal(g.component_labels, expected)


def _pairs_with_flags(n):
    pair = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.booleans())
    return st.tuples(st.just(n), st.lists(pair, max_size=20))


def _masked_graph(case):
    """``(n, graph, mask, chosen)`` from drawn ``(a, b, keep)`` triples: each pair once, kept or not."""
    n, triples = case
    chosen = {}
    for a, b, keep in triples:
        if a != b:
            chosen.setdefault((min(a, b), max(a, b)), keep)
    g = Graph.from_edges(n, list(chosen) or [])
    return n, g, np.array([chosen[tuple(e)] for e in g.edges.tolist()], dtype=bool), chosen


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(_pairs_with_flags))
def test_components_of_masked_edges_match_union_find(case):
    """components_of(mask) joins the nodes by the selected edges only."""
    n, g, mask, chosen = _masked_graph(case)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for (a, b), keep in chosen.items():
        if keep:
            parent[find(a)] = find(b)
    roots = np.array([find(i) for i in range(n)])
    k, labels = g.components_of(mask)
    assert k == len(set(roots.tolist()))
    # the same partition: labels agree exactly when roots agree
    np.testing.assert_array_equal(labels[:, None] == labels[None, :], roots[:, None] == roots[None, :])


# --------------------------------------------------------------------------- bad input to builders
BAD_DATA = [
    (np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]), "NaN or inf.*row 1, column 0"),
    (np.array([[0.0, 1.0], [1.0, np.inf], [1.0, 1.0]]), "NaN or inf.*row 1, column 1"),
    (np.array([0.0, 1.0, 2.0]), "must be 2-D.*reshape"),
    (np.zeros((3, 2, 2)), "must be 2-D"),
    (np.zeros((0, 2)), "empty"),
    (np.zeros((3, 0)), "empty"),
    ([["a", "b"], ["c", "d"]], "numeric array"),
]


@pytest.mark.parametrize("A, match", BAD_DATA)
def test_knn_bad_data(A, match):
    with pytest.raises(ValueError, match=match):
        knn_graph(A, k=1)


@pytest.mark.parametrize("A, match", BAD_DATA)
def test_complete_graph_bad_data(A, match):
    with pytest.raises(ValueError, match=match):
        complete_graph(A)


@pytest.mark.parametrize(
    "k, match",
    [
        (5, r"k=5 neighbours need at least k \+ 1 = 6 points, but A has 5"),
        (7, "but A has 5; choose k <= 4"),
        (0, "k must be a positive integer"),
        (-2, "k must be a positive integer"),
        (2.0, "k must be a positive integer"),
        (2.5, "k must be a positive integer"),
        ("3", "k must be a positive integer"),
        (True, "k must be a positive integer"),
        (None, "k must be a positive integer"),
    ],
)
def test_knn_bad_k(k, match):
    A = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(ValueError, match=match):
        knn_graph(A, k=k)


def test_knn_single_point_has_no_valid_k():
    with pytest.raises(ValueError, match="need at least k \\+ 1 = 2 points, but A has 1"):
        knn_graph([[1.0, 2.0]], k=1)


@pytest.mark.parametrize("phi", [-0.5, np.nan, np.inf, -np.inf, "0.5", None, True, [0.5], np.array([1.0, 2.0])])
@pytest.mark.parametrize("builder", ["knn", "complete"])
def test_bad_phi(phi, builder):
    A = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(ValueError, match="phi must be a finite number >= 0"):
        if builder == "knn":
            knn_graph(A, k=2, phi=phi)
        else:
            complete_graph(A, phi=phi)


def test_phi_accepts_numpy_and_int_scalars():
    A = np.random.default_rng(0).normal(size=(6, 2))
    assert_same_graph(knn_graph(A, k=2, phi=np.float32(0.5)), knn_graph(A, k=2, phi=0.5))
    assert_same_graph(complete_graph(A, phi=1), complete_graph(A, phi=1.0))


@pytest.mark.parametrize(
    "n, weight, match",
    [
        (0, 1.0, "n must be a positive integer"),
        (-3, 1.0, "n must be a positive integer"),
        (2.0, 1.0, "n must be a positive integer"),
        (True, 1.0, "n must be a positive integer"),
        (3, -1.0, "weight must be a finite number >= 0"),
        (3, np.nan, "weight must be a finite number >= 0"),
        (3, np.inf, "weight must be a finite number >= 0"),
        (1, -1.0, "weight must be a finite number >= 0"),  # checked with no edges too
        (1, np.nan, "weight must be a finite number >= 0"),
        (3, "1", "weight must be a finite number >= 0"),
    ],
)
def test_uniform_graph_bad_input(n, weight, match):
    with pytest.raises(ValueError, match=match):
        uniform_graph(n, weight=weight)


BAD_MATRICES = [
    (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative entries"),
    (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN or inf"),
    (np.array([[0.0, np.inf], [np.inf, 0.0]]), "NaN or inf"),
    (np.array([[0.0, 1.0], [2.0, 0.0]]), "not symmetric"),
    (np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]), r"square matrix.*shape \(2, 3\)"),
    (np.zeros((0, 0)), "empty"),
]


@pytest.mark.parametrize(
    "W, match", BAD_MATRICES + [(np.array([0.0, 1.0]), "square matrix"), (np.zeros((2, 2, 2)), "square matrix")]
)
def test_from_matrix_bad_dense_input(W, match):
    with pytest.raises(ValueError, match=match):
        Graph.from_matrix(W)


@pytest.mark.parametrize("W, match", BAD_MATRICES)
def test_from_matrix_bad_sparse_input(W, match):
    with pytest.raises(ValueError, match=match):
        Graph.from_matrix(sp.csr_array(W))


def test_from_matrix_symmetry_tolerance_is_relative_and_tight():
    W = np.array([[0.0, 1.0], [1.0 + 1e-14, 0.0]])
    assert Graph.from_matrix(W).n_edges == 1  # rounding-level asymmetry is accepted
    for bad in (np.array([[0.0, 1.0], [1.0 + 1e-6, 0.0]]), np.array([[0.0, 1e6], [1e6 + 1.0, 0.0]])):
        with pytest.raises(ValueError, match="not symmetric"):
            Graph.from_matrix(bad)
        with pytest.raises(ValueError, match="not symmetric"):
            Graph.from_matrix(sp.csr_array(bad))


# --------------------------------------------------------------------------- property tests
@st.composite
def random_graphs(draw):
    n = draw(st.integers(1, 10))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    weights = draw(
        st.lists(
            st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False), min_size=len(chosen), max_size=len(chosen)
        )
    )
    return n, chosen, weights


@settings(max_examples=80, deadline=None)
@given(random_graphs(), st.randoms(use_true_random=False))
def test_property_from_edges_and_matrix_round_trip(case, rnd):
    n, chosen, weights = case
    # Shuffle the order and flip orientations: from_edges must normalise.
    items = list(zip(chosen, weights))
    rnd.shuffle(items)
    edges = [(j, i) if rnd.random() < 0.5 else (i, j) for (i, j), _ in items]
    g = Graph.from_edges(n, edges, [w for _, w in items])
    assert_valid_graph(g)
    assert g.n_edges == len(chosen)
    expected = sorted(zip(chosen, weights))
    np.testing.assert_array_equal(g.edges.reshape(-1, 2), np.array([e for e, _ in expected]).reshape(-1, 2))
    np.testing.assert_array_equal(g.weights, [w for _, w in expected])
    assert_same_graph(g, Graph.from_matrix(g.to_matrix()))
    assert_same_graph(g, Graph.from_matrix(g.to_matrix().toarray()))
    # L is PSD and its zero eigenvalues count the components.  Weights in [1e-3, 1e3]
    # on <= 10 nodes keep every non-zero eigenvalue above 1e-5, far from rounding.
    ev = np.linalg.eigvalsh(g.laplacian().toarray())
    tol = 1e-10 * max(1.0, np.abs(ev).max())
    assert ev.min() >= -tol
    assert int(np.sum(ev <= tol)) == g.n_components


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 25).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(st.integers(-3, 3), min_size=2, max_size=2), min_size=n, max_size=n),
            st.integers(1, n - 1),
        )
    ),
    st.sampled_from([0.0, 0.5, 1.0]),
)
def test_property_knn_tied_integer_data_matches_reference(case, phi):
    rows, k = case
    A = np.array(rows, dtype=float) / 2
    g = knn_graph(A, k=k, phi=phi)
    edges, weights = brute_knn_graph(A, k, phi)
    np.testing.assert_array_equal(g.edges, edges)
    np.testing.assert_allclose(g.weights, weights, rtol=1e-13, atol=0)
    Wd = g.to_matrix().toarray()
    np.testing.assert_array_equal(Wd, Wd.T)
    assert ((Wd > 0).sum(axis=1) >= k).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(_pairs_with_flags), st.data())
def test_hops_from_match_a_plain_breadth_first_search(case, data):
    """hops_from(sources, mask): steps along the selected edges from the nearest source."""
    n, g, mask, chosen = _masked_graph(case)
    sources = sorted(set(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))))
    neighbours = {i: set() for i in range(n)}
    for (a, b), keep in chosen.items():
        if keep:
            neighbours[a].add(b)
            neighbours[b].add(a)
    expected = np.full(n, np.inf)
    frontier = list(sources)
    expected[frontier] = 0
    while frontier:
        nxt = []
        for u in frontier:
            for v in neighbours[u]:
                if expected[v] == np.inf:
                    expected[v] = expected[u] + 1
                    nxt.append(v)
        frontier = nxt
    np.testing.assert_array_equal(g.hops_from(sources, mask), expected)


# ---------------------------------------------------------------- KnnGraphs (updates after moves)

def _moved_copies(seed):
    """A reference and three moved copies: integer grids (many ties), Gaussian data, duplicates."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(15, 200))
    d = int(rng.choice([1, 2, 3, 5, 20]))
    k = int(rng.integers(1, min(12, n - 1) + 1))
    kind = seed % 3
    A = rng.integers(0, 4, (n, d)).astype(float) if kind == 0 else rng.normal(size=(n, d))
    if kind == 2:
        A[rng.integers(0, n, n // 5)] = A[rng.integers(0, n, n // 5)]
    copies = []
    for r in range(3):
        B = A.copy()
        rows = rng.choice(n, int(rng.integers(1, max(2, n // 10))), replace=False)
        if kind == 0:
            B[rows] = rng.integers(0, 4, (rows.size, d))
        elif kind == 2 and r == 2:  # moved onto other points: duplicates made and undone
            B[rows] = A[rng.integers(0, n, rows.size)]
        else:
            B[rows] += rng.normal(0, rng.choice([0.01, 0.3, 2.0]), (rows.size, d))
        copies.append(B)
    return A, k, copies


@pytest.mark.parametrize("seed", range(120))
def test_knn_graphs_updates_equal_fresh_builds(seed):
    from advcluster.graph import KnnGraphs

    A, k, copies = _moved_copies(seed)
    graphs = KnnGraphs(A, k, 0.5)
    for B in copies:
        fresh, updated = knn_graph(B, k, 0.5), graphs.graph_for(B)
        np.testing.assert_array_equal(updated.edges, fresh.edges)
        np.testing.assert_array_equal(updated.weights, fresh.weights)


def test_knn_graphs_unmoved_data_share_the_reference_graph_and_bad_shapes_are_named():
    from advcluster.graph import KnnGraphs

    A = np.random.default_rng(0).normal(size=(40, 2))
    graphs = KnnGraphs(A, 5)
    assert graphs.graph_for(A.copy()) is graphs.graph
    B = A + 1.0  # every row moved: more than max_moved, built afresh
    np.testing.assert_array_equal(graphs.graph_for(B).edges, knn_graph(B, 5).edges)
    with pytest.raises(ValueError, match="same points"):
        graphs.graph_for(A[:30])
    with pytest.raises(ValueError, match="max_moved"):
        KnnGraphs(A, 5, max_moved=-1)
    with pytest.raises(ValueError, match="choose k <= 39"):
        KnnGraphs(A, 40)
    with pytest.raises(ValueError, match="phi"):
        KnnGraphs(A, 5, phi=-1.0)


def test_knn_graphs_search_only_the_lists_that_can_change():
    from advcluster.graph import KnnGraphs

    A = np.random.default_rng(1).normal(size=(2000, 2))
    graphs = KnnGraphs(A, 10)
    B = A.copy()
    B[:20] += 0.01
    changed = graphs.changed_lists(B, np.arange(20))
    assert set(range(20)) <= set(changed) and changed.size < 400  # about 2 k lists per moved point


def test_carry_edges_moves_rows_onto_the_shared_edges():
    from advcluster.graph import carry_edges

    rng = np.random.default_rng(7)
    A = rng.normal(size=(60, 2))
    old = knn_graph(A, 4)
    B = A.copy()
    B[:6] += 1.5
    new = knn_graph(B, 4)
    values = rng.normal(size=(old.n_edges, 3))
    index = {tuple(e): k for k, e in enumerate(old.edges.tolist())}
    expected = np.array([values[index[tuple(e)]] if tuple(e) in index else np.zeros(3) for e in new.edges.tolist()])
    shared = sum(tuple(e) in index for e in new.edges.tolist())
    assert 0 < shared < new.n_edges  # both kinds of edge occur
    np.testing.assert_array_equal(carry_edges(values, old.edges, new), expected)
    np.testing.assert_array_equal(carry_edges(values[:0], old.edges[:0], new), np.zeros((new.n_edges, 3)))
    with pytest.raises(ValueError, match="one row per edge"):
        carry_edges(values[:-1], old.edges, new)


@pytest.mark.parametrize("seed", range(8))
def test_cluster_edges_group_as_a_direct_scan_does(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    labels = rng.integers(0, int(rng.integers(1, 6)), n)
    labels = np.unique(labels, return_inverse=True)[1]
    pairs = rng.integers(0, n, (int(rng.integers(0, 120)), 2))
    edges = pairs[pairs[:, 0] != pairs[:, 1]]
    grouped = ClusterEdges(edges, labels)
    a, b = labels[edges[:, 0]], labels[edges[:, 1]]
    for c in range(labels.max() + 1):
        members = np.flatnonzero(labels == c)
        np.testing.assert_array_equal(grouped.members(c), members)
        np.testing.assert_array_equal(grouped.local[members], np.arange(members.size))
        np.testing.assert_array_equal(grouped.inside(c), np.flatnonzero((a == c) & (b == c)))
        first, second = grouped.leaving(c)
        np.testing.assert_array_equal(first, np.flatnonzero((a == c) & (b != c)))
        np.testing.assert_array_equal(second, np.flatnonzero((b == c) & (a != c)))


def test_same_partition_ignores_names_only():
    assert same_partition([0, 0, 1, 2], [5, 5, 3, 1]) and not same_partition([0, 0, 1, 2], [0, 1, 1, 2])
    assert not same_partition([0, 0, 1], [0, 0, 0])
