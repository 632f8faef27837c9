"""SSNAL's inner problem (solvers/ssnal.py): phi's changes along a line and its gradient.

The reference is phi written out from its definition (docs/model.md, section 2)::

    phi(X) = 1/2 ||X - A||^2 + sigma sum_e env_e(B(X)_e + Z_e / sigma) - ||Z||^2 / (2 sigma)

with ``env_e`` the Moreau envelope of ``c_e ||.||``, ``c_e = gamma w_e / sigma``.
"""

from __future__ import annotations

import numpy as np
import pytest

from advcluster.graph import knn_graph
from advcluster.solvers.ssnal import _Coarse, _coarse_parts, _newton_direction, _Subproblem


def phi(A, graph, radius, Z, sigma, X):
    c = radius / sigma
    D = X[graph.edges[:, 0]] - X[graph.edges[:, 1]] + Z / sigma
    nD = np.linalg.norm(D, axis=1)
    env = np.where(nD > c, c * nD - c**2 / 2, nD**2 / 2)
    return 0.5 * np.sum((X - A) ** 2) + sigma * env.sum() - np.sum(Z**2) / (2 * sigma)


def instance(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(5, 40)), int(rng.integers(1, 5))
    centers = 3 * rng.standard_normal((3, d))
    labels = rng.integers(0, 3, n)
    A = centers[labels] + 0.3 * rng.standard_normal((n, d))
    graph = knn_graph(A, k=min(4, n - 1), phi=0.5)
    sigma = float(10 ** rng.uniform(-1, 2))
    radius = float(10 ** rng.uniform(-2, 0.5)) * graph.weights
    # a dual point inside the balls; X fuses a random half of the points onto their centre,
    # so edges between two of them are fused and the others mostly separated
    Z = rng.standard_normal((graph.n_edges, d))
    Z *= (radius * rng.uniform(0, 1, graph.n_edges) / np.maximum(np.linalg.norm(Z, axis=1), 1e-300))[:, None]
    X = np.where(rng.random(n)[:, None] < 0.5, centers[labels], A)
    return rng, A, graph, radius, Z, sigma, X


@pytest.mark.parametrize("seed", range(20))
def test_line_change_is_phi_difference(seed):
    rng, A, graph, radius, Z, sigma, X = instance(seed)
    sub = _Subproblem(A, graph, radius, Z, sigma)
    point = sub.edges(X)
    assert point[3].any() and not point[3].all()  # both kinds of edges
    dX = rng.standard_normal(X.shape) * float(10 ** rng.uniform(-2, 0.5))
    line = sub.along(point, dX)
    base = phi(A, graph, radius, Z, sigma, X)
    for t in (1.0, 0.5, 0.1, 1e-3):
        expected = phi(A, graph, radius, Z, sigma, X + t * dX) - base
        scale = 1 + abs(base) + np.sum(Z**2) / sigma
        assert abs(line.change(t) - expected) <= 1e-10 * scale
        # the point at step t is the subproblem's own edge data there
        Xt, Dt, nDt, active_t = line.point_at(t)
        X2, D2, nD2, active2 = sub.edges(X + t * dX)
        np.testing.assert_allclose(Xt, X2, rtol=0, atol=1e-12)
        np.testing.assert_allclose(Dt, D2, rtol=0, atol=1e-10)
        assert np.array_equal(active_t, nDt > sub.c)


@pytest.mark.parametrize("seed", range(10))
def test_gradient_matches_finite_differences(seed):
    rng, A, graph, radius, Z, sigma, X = instance(seed)
    sub = _Subproblem(A, graph, radius, Z, sigma)
    grad, _, _ = sub.gradient(*sub.edges(X))
    V = rng.standard_normal(X.shape)
    h = 1e-6
    fd = (phi(A, graph, radius, Z, sigma, X + h * V) - phi(A, graph, radius, Z, sigma, X - h * V)) / (2 * h)
    assert abs(np.sum(grad * V) - fd) <= 1e-5 * (1 + abs(fd))


@pytest.mark.parametrize("seed", range(20))
def test_line_slope_and_minimizer(seed):
    rng, A, graph, radius, Z, sigma, X = instance(seed)
    sub = _Subproblem(A, graph, radius, Z, sigma)
    point = sub.edges(X)
    grad, _, _ = sub.gradient(*point)
    # a descent direction, long enough that edges cross their balls along it
    dX = -grad * float(10 ** rng.uniform(-1, 1)) + 0.1 * rng.standard_normal(X.shape)
    slope0 = float(np.sum(grad * dX))
    assert slope0 < 0
    line = sub.along(point, dX)
    assert line.slope(0.0)[0] == pytest.approx(slope0, rel=1e-9, abs=1e-12)
    h = 1e-6
    for t in (0.3, 0.9):
        fd = (line.change(t + h) - line.change(t - h)) / (2 * h)
        assert line.slope(t)[0] == pytest.approx(fd, rel=1e-5, abs=1e-6 * (1 + abs(fd)))
    t_star = line.minimizer(slope0)
    assert 0 < t_star <= 1
    grid = np.linspace(0, 1, 201)
    best = min(line.change(t) for t in grid)
    assert line.change(t_star) <= best + 1e-9 * (1 + abs(best))
    if t_star < 1:
        assert abs(line.slope(t_star)[0]) <= 1e-5 * abs(slope0)


def dense_hessian(graph, sigma, alpha, u, n, d):
    """``H = I + sigma sum_e B_e^T M_e B_e`` as an (n d) x (n d) array, node-major, written out
    edge by edge from its definition (docs/model.md, section 2)."""
    H = np.eye(n * d)
    for (i, j), a, ue in zip(graph.edges, alpha, u):
        M = sigma * a * (np.eye(d) - np.outer(ue, ue))
        for p, q, s in ((i, i, 1), (j, j, 1), (i, j, -1), (j, i, -1)):
            H[p * d:(p + 1) * d, q * d:(q + 1) * d] += s * M
    return H


def newton_system(seed):
    """A Newton system at a point of :func:`instance`: ``(graph, grad, D, nD, c, active, shrink, sigma)``."""
    rng, A, graph, radius, Z, sigma, X = instance(seed)
    sub = _Subproblem(A, graph, radius, Z, sigma)
    point = sub.edges(X)
    grad, shrink, _ = sub.gradient(*point)
    _, D, nD, active = point
    return rng, graph, grad, D, nD, sub.c, active, shrink, sigma


@pytest.mark.parametrize("seed", range(20))
def test_deflation_space_is_the_galerkin_projection(seed):
    # For a random partition of the points (not only fused groups), E = W^T H W, W^T H Y and
    # W E^{-1} R equal their dense definitions.
    rng, graph, grad, D, nD, c, active, shrink, sigma = newton_system(seed)
    n, d = grad.shape
    alpha = np.where(active, shrink, 1.0)
    u = np.where(active[:, None], D / np.maximum(nD, 1e-300)[:, None], 0.0)
    K = int(rng.integers(1, n))
    comp = rng.permutation(np.r_[np.arange(K), rng.integers(0, K, n - K)])
    coarse = _Coarse(graph, comp, K, d, sigma, alpha, u)
    H = dense_hessian(graph, sigma, alpha, u, n, d)
    W = np.kron(np.eye(K)[comp], np.eye(d))  # (n d) x (K d), node-major
    E = W.T @ H @ W
    Y = rng.standard_normal((n, d))
    R = rng.standard_normal((K, d))
    scale = np.abs(H).max() * (1 + np.abs(Y).max())
    np.testing.assert_allclose(coarse.restrict(Y).ravel(), W.T @ Y.ravel(), atol=1e-12 * n)
    np.testing.assert_allclose(coarse.restrict_hess(Y).ravel(), W.T @ H @ Y.ravel(), rtol=0, atol=1e-11 * scale)
    expected = W @ np.linalg.solve(E, R.ravel())
    np.testing.assert_allclose(coarse.lift_solve(R).ravel(), expected, rtol=0,
                               atol=1e-8 * np.abs(expected).max() * np.linalg.cond(E) ** 0.5)


def components(graph, keep):
    """Connected components of the edges ``keep``, by scipy from a dense adjacency matrix."""
    from scipy.sparse.csgraph import connected_components

    adj = np.zeros((graph.n, graph.n))
    adj[graph.edges[keep, 0], graph.edges[keep, 1]] = 1
    return connected_components(adj, directed=False)


def same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def assert_parts(parts, graph, nD, c, d, max_coarse, refine=True):
    """The deflation parts: the components of ||D_e|| <= f c_e for the smallest f in
    (0.2, 0.3, 0.5, 1) whose space fits (f = 1 only, above two dimensions), or none when the
    fused groups do not fit or are all single points."""
    K1, fused = components(graph, nD <= c)
    if K1 * d > max_coarse or K1 == graph.n:
        assert parts is None
        return
    fractions = ((0.2, 0.3, 0.5) if refine and d <= 2 else ()) + (1.0,)
    fits = [f for f in fractions if components(graph, nD <= f * c)[0] * d <= max_coarse]
    K, comp = parts
    assert K * d <= max_coarse and K == comp.max() + 1
    assert same_partition(comp, components(graph, nD <= fits[0] * c)[1])


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("max_coarse", [0, 15, 40, 10_000])
@pytest.mark.parametrize("refine", [True, False])
def test_newton_direction_solves_the_dense_system(seed, max_coarse, refine):
    # Whatever deflation space _coarse_parts picks (none, the fused groups, or finer parts),
    # the direction solves H dX = -grad to CG's relative tolerance.
    from advcluster.solvers.linear import ShiftedLaplacian

    rng, graph, grad, D, nD, c, active, shrink, sigma = newton_system(seed)
    n, d = grad.shape
    assert_parts(_coarse_parts(graph, nD, c, ~active, d, max_coarse, refine), graph, nD, c, d, max_coarse, refine)
    system = ShiftedLaplacian(graph, 0).update(sigma, np.where(active, shrink * (d - 1) / d, 1.0))
    dX, k = _newton_direction(graph, grad, D, nD, c, active, shrink, sigma, system, 1e-10, 500, max_coarse, refine)
    alpha = np.where(active, shrink, 1.0)
    u = np.where(active[:, None], D / np.maximum(nD, 1e-300)[:, None], 0.0)
    H = dense_hessian(graph, sigma, alpha, u, n, d)
    expected = np.linalg.solve(H, -grad.ravel())
    residual = np.linalg.norm(H @ dX.ravel() + grad.ravel())
    assert residual <= 1e-9 * np.linalg.norm(grad), (residual, k)
    np.testing.assert_allclose(dX.ravel(), expected, rtol=0, atol=1e-7 * np.abs(expected).max() * (1 + sigma))


def test_deflation_space_with_more_parts_than_int32_pair_keys():
    # 60,000 parts (every point its own, labels as int32 like scipy's components): the pair
    # keys a * K + b pass 2^31, and with W = I the coarse solve inverts H exactly.
    from advcluster.graph import Graph

    n, d, sigma = 60_000, 2, 3.0
    rng = np.random.default_rng(0)
    graph = Graph(n, np.column_stack([np.arange(n - 1), np.arange(1, n)]), np.ones(n - 1))
    alpha = rng.uniform(0.1, 1.0, n - 1)
    u = rng.standard_normal((n - 1, d))
    u /= np.linalg.norm(u, axis=1)[:, None]
    coarse = _Coarse(graph, np.arange(n, dtype=np.int32), n, d, sigma, alpha, u)
    Y = rng.standard_normal((n, d))
    np.testing.assert_allclose(coarse.lift_solve(coarse.restrict_hess(Y)), Y, rtol=0, atol=1e-9)
