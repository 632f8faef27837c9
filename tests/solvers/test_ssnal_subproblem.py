"""SSNAL's inner problem (solvers/ssnal.py): phi's changes along a line and its gradient.

The reference is phi written out from its definition (docs/model.md, section 2)::

    phi(X) = 1/2 ||X - A||^2 + sigma sum_e env_e(B(X)_e + Z_e / sigma) - ||Z||^2 / (2 sigma)

with ``env_e`` the Moreau envelope of ``c_e ||.||``, ``c_e = gamma w_e / sigma``.
"""

from __future__ import annotations

import numpy as np
import pytest

from advcluster.graph import knn_graph
from advcluster.solvers.ssnal import _Subproblem


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
