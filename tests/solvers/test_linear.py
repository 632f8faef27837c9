"""The shifted graph Laplacian ``I + sigma J diag(c) J^T`` and its two solvers (solvers/linear.py).

References are dense: the matrix is rebuilt from the edge list with numpy and
solved by ``numpy.linalg.solve``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp

from advcluster.graph import Graph, knn_graph
from advcluster.solvers.linear import LDL_MAX_COLUMNS, ShiftedLaplacian, LDL, LU, cg


def dense_shifted_laplacian(n, edges, c, sigma):
    P = np.eye(n)
    for (i, j), ce in zip(edges, c):
        P[i, i] += sigma * ce
        P[j, j] += sigma * ce
        P[i, j] -= sigma * ce
        P[j, i] -= sigma * ce
    return P


def random_instance(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(5, 60)), int(rng.integers(1, 6))
    A = rng.standard_normal((n, d))
    if seed % 2:  # kNN graph
        graph = knn_graph(A, k=int(rng.integers(1, min(6, n - 1) + 1)), phi=0.5)
    else:  # sparse random graph, usually disconnected
        W = sp.triu(sp.random(n, n, density=0.08, random_state=rng), k=1)
        graph = Graph.from_matrix((W + W.T).tocsr())
    c = rng.uniform(0.0, 2.0, graph.n_edges) * (rng.random(graph.n_edges) > 0.2)  # some exact zeros
    sigma = float(10 ** rng.uniform(-2, 4))
    return rng, graph, c, sigma, rng.standard_normal((n, d))


@pytest.mark.parametrize("seed", range(24))
def test_matrix_matches_the_edge_list(seed):
    _, graph, c, sigma, _ = random_instance(seed)
    P = graph.laplacian(sigma * c, shift=1.0).toarray()
    np.testing.assert_allclose(P, dense_shifted_laplacian(graph.n, graph.edges, c, sigma), rtol=1e-14, atol=1e-12)
    J = graph.incidence
    np.testing.assert_allclose(P, np.eye(graph.n) + sigma * (J @ sp.diags_array(c) @ J.T).toarray(), atol=1e-9)


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("max_jacobi", [0, 1, 200])
def test_solve_matches_dense(seed, max_jacobi):
    """Whichever way the system is solved (LU, CG, CG switching to LU), the answer is P^{-1} R."""
    _, graph, c, sigma, R = random_instance(seed)
    system = ShiftedLaplacian(graph, max_jacobi).update(sigma, c)
    P = dense_shifted_laplacian(graph.n, graph.edges, c, sigma)
    X = system.solve(R, x0=np.zeros_like(R), rtol=1e-12)
    expected = np.linalg.solve(P, R)
    np.testing.assert_allclose(X, expected, rtol=0, atol=1e-9 * (1 + np.abs(expected).max()) * np.linalg.cond(P))
    if max_jacobi == 0:
        assert system.direct and system.n_factor == 1
    # Either CG finished (no factor) or the system switched to the LU for good.
    assert system.direct == (system.n_factor == 1)


@pytest.mark.parametrize("seed", range(24))
def test_later_factorisations_reuse_the_analysis(seed):
    """Up to three columns: LDL^T (QDLDL), later factorisations (new sigma and c, zeros
    included) update the same factor.  Wider: SuperLU's LU, whose first factorisation of a
    graph orders by minimum degree and later ones (also in a new system) reuse that order.
    Every solve is P^{-1} R."""
    rng, graph, c, sigma, R = random_instance(seed)
    ldl = R.shape[1] <= LDL_MAX_COLUMNS
    first = ShiftedLaplacian(graph, 0).update(sigma, c)
    first.factor_solve(R)
    assert isinstance(first.factor, LDL if ldl else LU)
    if not ldl:
        assert first.factor.order is None  # the first factorisation is SuperLU's own
    solver = first.factor.pattern.solver if ldl else None
    for system in (first, first, ShiftedLaplacian(graph, 0)):
        c2 = rng.uniform(0.0, 2.0, graph.n_edges) * (rng.random(graph.n_edges) > 0.2)
        sigma2 = float(10 ** rng.uniform(-2, 4))
        system.update(sigma2, c2)
        X = system.factor_solve(R)
        if ldl:  # numeric refactorisation of the same analysis, also in a new system on the graph
            assert system.factor.pattern.solver is solver
        if not ldl:
            assert system.factor.order is not None
        P = dense_shifted_laplacian(graph.n, graph.edges, c2, sigma2)
        expected = np.linalg.solve(P, R)
        np.testing.assert_allclose(X, expected, rtol=0, atol=1e-9 * (1 + np.abs(expected).max()) * np.linalg.cond(P))
    assert first.n_factor == 3


@pytest.mark.parametrize("seed", range(8))
def test_factors_sharing_a_graphs_analysis_stay_apart(seed):
    """LDLs of one graph share its analysis (and its solver, per thread): solves interleaved with
    other factorisations, and solves on other threads at the same time, each use their own P."""
    rng, graph, _, _, R = random_instance(seed)
    R = R[:, :LDL_MAX_COLUMNS]
    systems = []
    for _ in range(3):
        c, sigma = rng.uniform(0.0, 2.0, graph.n_edges), float(10 ** rng.uniform(-2, 3))
        systems.append((ShiftedLaplacian(graph, 0).update(sigma, c), np.linalg.solve(
            dense_shifted_laplacian(graph.n, graph.edges, c, sigma), R)))
    for system, _ in systems:
        system.factor_solve(R)  # each factorises in turn; the last one's factor is loaded
    for system, expected in systems[::-1] + systems:  # each solve must use its own matrix
        np.testing.assert_allclose(system.factor_solve(R), expected, rtol=0, atol=1e-8 * (1 + np.abs(expected).max()))
    assert len({id(s.factor.pattern.solver) for s, _ in systems}) == 1

    def on_a_thread(k):
        system, expected = systems[k % 3]
        fresh = ShiftedLaplacian(graph, 0).update(system.sigma, system.c)
        return all(np.allclose(fresh.factor_solve(R), expected, rtol=0, atol=1e-8 * (1 + np.abs(expected).max()))
                   for _ in range(20)), fresh.factor.pattern.solver

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(on_a_thread, range(6)))
    assert all(ok for ok, _ in results)
    assert all(solver is not systems[0][0].factor.pattern.solver for _, solver in results)  # other threads: their own


def test_switches_to_the_factor_when_cg_cannot_finish():
    A = np.random.default_rng(0).standard_normal((300, 2))
    graph = knn_graph(A, k=8)
    system = ShiftedLaplacian(graph, max_jacobi=2).update(1e4)  # badly conditioned: CG needs far more than 2 steps
    R = np.ones((300, 2)) + A
    X = system.solve(R, x0=np.zeros_like(R), rtol=1e-12)
    assert system.direct and system.n_factor == 1
    np.testing.assert_allclose(system.matrix @ X, R, atol=1e-8)
    system.update(2e4)  # a new sigma drops the factor but keeps the choice
    assert system.direct and not system.factored
    system.solve(R, x0=X)
    assert system.n_factor == 2


def test_pcg_follows_the_choice():
    """Jacobi while CG finishes in max_jacobi iterations; the factor (for good) once it does not."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((50, 3))
    system = ShiftedLaplacian(knn_graph(A, k=4), max_jacobi=60).update(0.5)
    P = system.matrix.toarray()
    R = rng.standard_normal((50, 3))
    np.testing.assert_allclose(system.jacobi(R), R / system.matrix.diagonal()[:, None])
    H = P + np.diag(rng.uniform(0, 1, 50))  # an operator close to P
    x, k = system.pcg(H.__matmul__, R, 1e-8, 100)
    assert not system.direct and system.n_factor == 0 and k <= 60
    np.testing.assert_allclose(H @ x, R, atol=1e-6)
    system.max_jacobi = 1  # too few: the factor takes over
    x, k = system.pcg(H.__matmul__, R, 1e-12, 100)
    assert system.direct and system.n_factor == 1
    np.testing.assert_allclose(H @ x, R, atol=1e-9)
    np.testing.assert_allclose(system.matrix @ system.solve(R), R, atol=1e-10)


def test_cg_reports_whether_it_converged():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((40, 40))
    M = M @ M.T + 1e-3 * np.eye(40)  # SPD, condition ~1e5
    b = rng.standard_normal((40, 1))
    x, k, ok = cg(M.__matmul__, lambda r: r, b, np.zeros_like(b), 1e-10, 3)
    assert not ok and k == 3
    x, k, ok = cg(M.__matmul__, lambda r: r, b, np.zeros_like(b), 1e-10, 2000)
    assert ok and k < 2000
    assert np.linalg.norm(M @ x - b) <= 1e-10 * np.linalg.norm(b)
    x, k, ok = cg(M.__matmul__, lambda r: r, b, np.linalg.solve(M, b), 1e-6, 5)  # already solved: no iteration
    assert ok and k == 0


def test_cg_with_a_preconditioner_that_returns_its_argument():
    """The identity preconditioner may hand back r itself: CG must not let its direction
    follow r's in-place updates (that slowed it 14-fold), and needs as many iterations as
    with a copy."""
    rng = np.random.default_rng(3)
    M = rng.standard_normal((40, 40))
    M = M @ M.T + 1e-3 * np.eye(40)
    b = rng.standard_normal((40, 2))
    runs = [cg(M.__matmul__, precond, b, np.zeros_like(b), 1e-10, 2000) for precond in (lambda r: r, lambda r: r.copy())]
    (x, k, ok), (_, k_copy, _) = runs
    assert ok and k == k_copy and k <= 100
    np.testing.assert_allclose(M @ x, b, atol=1e-8)


@pytest.mark.parametrize("max_jacobi, changes", [(100, [11, 21, 31, 41, 51]), (0, [51, 101])])
def test_admm_balances_sigma_every_balance_every_iterations_unless_factorised(max_jacobi, changes):
    """ADMM's residual balancing runs every balance_every iterations while P is solved by CG;
    a factorised P (refactorised at each change) waits 50.  The printed sigma shows when."""
    import contextlib
    import io
    import re

    from advcluster import solve

    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 5))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        solve(A, knn_graph(A, k=6), 2.0, "admm", max_jacobi=max_jacobi, balance_every=10, check_every=1, max_iter=120,
              tol=1e-12, verbose=True, sigma=50.0)
    sigma = [float(s) for s in re.findall(r"admm\s+\d+\s+sigma\s+(\S+)", out.getvalue())]
    assert len(sigma) == 120
    assert [k + 1 for k in range(1, 120) if sigma[k] != sigma[k - 1]] == changes  # seen from the next iteration on
