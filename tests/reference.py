"""Independent references for the solver tests (a helper module, not collected by pytest).

Nothing here solves with :mod:`advcluster.solvers` or reuses its operators: the
primal is solved by cvxpy + Clarabel, exact 1-D solutions are certified by a
closed form plus a dual flow, and the optimality measures of docs/model.md, section 2
are written out again with a dense incidence matrix built from the edge list, so
a mistake in ``problem.evidence`` or ``graph.incidence`` cannot hide itself.
(:func:`method_applies` only reads the registry, to know each method's scope.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

CLARABEL_TOL = dict(
    tol_gap_abs=1e-11,
    tol_gap_rel=1e-11,
    tol_feas=1e-11,
    tol_ktratio=1e-9,
    max_iter=400,
)


def uniform_complete(graph):
    """Every pair is an edge and all weights are equal and positive (checked here, not by Graph)."""
    n, w = graph.n, np.asarray(graph.weights)
    return graph.n_edges == n * (n - 1) // 2 and (w.size == 0 or (w[0] > 0 and np.all(w == w[0])))


def method_applies(method, A, graph, p):
    """Whether a registered method claims the problem: ``p`` among its norms, and
    ``exact1d`` only on a uniform complete graph with one feature or ``p = 1``."""
    from advcluster.solvers import METHODS

    if p not in METHODS[method].norms:
        return False
    if method == "exact1d":
        return uniform_complete(graph) and (np.shape(A)[1] == 1 or p == 1)
    return True


def unit_spread(A):
    """``(mean, s)``: the data's mean row and RMS distance from it (1 when all rows coincide), the
    frame in which advcluster reports its relative measures."""
    A = np.asarray(A, dtype=float)
    mean = A.mean(axis=0)
    s = float(np.sqrt(np.mean(np.sum((A - mean) ** 2, axis=1))))
    return mean, (s if s > 0 else 1.0)


def dense_incidence(graph):
    """``J`` (n x m) with ``J[i, e] = 1``, ``J[j, e] = -1`` for edge ``e = (i, j)``, built from ``graph.edges``."""
    J = np.zeros((graph.n, graph.n_edges))
    for e, (i, j) in enumerate(np.asarray(graph.edges)):
        J[i, e] = 1.0
        J[j, e] = -1.0
    return J


def objective(A, graph, gamma, X, p):
    """``1/2 ||X - A||_F^2 + gamma sum_e w_e ||x_i - x_j||_p``, from a dense incidence matrix."""
    D = dense_incidence(graph).T @ X
    pen = np.sqrt((D**2).sum(axis=1)) if p == 2 else np.abs(D).sum(axis=1)
    return 0.5 * float(((X - A) ** 2).sum()) + gamma * float(np.dot(np.asarray(graph.weights), pen))


def cvxpy_solve(A, graph, gamma, p):
    """Solve the primal with cvxpy + Clarabel at tight tolerances.

    Returns ``(X, f)``: the centres and the objective at them (recomputed in
    numpy, not cvxpy's reported value).
    """
    import cvxpy as cp

    A = np.asarray(A, dtype=float)
    n, d = A.shape
    w = np.asarray(graph.weights, dtype=float)
    if graph.n_edges == 0 or gamma == 0:
        return A.copy(), 0.0
    X = cp.Variable((n, d))
    D = dense_incidence(graph).T @ X
    if p == 2:
        pen = cp.norm(D, 2, axis=1)
    else:
        pen = cp.sum(cp.abs(D), axis=1)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - A) + gamma * (w @ pen)))
    with warnings.catch_warnings():  # "optimal_inaccurate" at these tolerances still means ~1e-7 on centres
        warnings.simplefilter("ignore", UserWarning)
        prob.solve(solver=cp.CLARABEL, **CLARABEL_TOL)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"cvxpy/Clarabel failed: status {prob.status}")
    Xv = np.asarray(X.value)
    return Xv, objective(A, graph, gamma, Xv, p)


def _prox(D, radius, p):
    """Prox of ``sum_e radius_e ||.||_p`` (written again, independently of problem.prox)."""
    out = np.zeros_like(D)
    for e in range(D.shape[0]):
        if p == 2:
            nrm = np.linalg.norm(D[e])
            if nrm > radius[e]:
                out[e] = D[e] * (1.0 - radius[e] / nrm)
        else:
            out[e] = np.sign(D[e]) * np.maximum(np.abs(D[e]) - radius[e], 0.0)
    return out


def _project_dual(Z, radius, p):
    out = np.array(Z, dtype=float, copy=True)
    for e in range(Z.shape[0]):
        if p == 2:
            nrm = np.linalg.norm(Z[e])
            if nrm > radius[e]:
                out[e] = Z[e] * radius[e] / nrm
        else:
            out[e] = np.clip(Z[e], -radius[e], radius[e])
    return out


def kkt(A, graph, gamma, X, U, Z, p):
    """docs/model.md, section 2 optimality measures, recomputed with a dense incidence matrix.

    Returns ``(kkt_residual, relative_duality_gap)`` where::

        eta_P = ||J^T X - U|| / (1 + ||U||)
        eta_D = sum_e max(0, ||Z_e||_q - r_e) / (1 + ||A||)
        eta   = (||J Z + X - A|| + ||U - Prox(U + Z)||) / (1 + ||A|| + ||U||)
        gap   = |P(X) - D(Pi(Z))| / (1 + |P| + |D|),  D(Z) = <A, J Z> - 1/2 ||J Z||^2
    """
    A = np.asarray(A, float)
    J = dense_incidence(graph)
    r = gamma * np.asarray(graph.weights, dtype=float)
    normA, normU = np.linalg.norm(A), np.linalg.norm(U)
    eta_p = np.linalg.norm(J.T @ X - U) / (1 + normU)
    if p == 2:
        zq = np.sqrt((Z**2).sum(axis=1)) if Z.size else np.zeros(0)
    else:
        zq = np.abs(Z).max(axis=1) if Z.size else np.zeros(0)
    eta_d = np.maximum(zq - r, 0.0).sum() / (1 + normA)
    eta = (np.linalg.norm(J @ Z + X - A) + np.linalg.norm(U - _prox(U + Z, r, p))) / (1 + normA + normU)
    primal = objective(A, graph, gamma, X, p)
    V = J @ _project_dual(Z, r, p)
    dual = float((A * V).sum() - 0.5 * (V * V).sum())
    gap = abs(primal - dual) / (1 + abs(primal) + abs(dual))
    return max(eta_p, eta_d, eta), gap


def two_point(a1, a2, gamma, w):
    """Closed form for two points and one edge, p = 2 (docs/model.md, section 1)."""
    a1, a2 = np.asarray(a1, float), np.asarray(a2, float)
    diff = a1 - a2
    nrm = np.linalg.norm(diff)
    shrink = max(0.0, 1.0 - 2.0 * gamma * w / nrm) if nrm > 0 else 0.0
    mid = (a1 + a2) / 2
    return np.vstack([mid + shrink * diff / 2, mid - shrink * diff / 2])


def certified_1d(a, graph, gamma, x_approx):
    """Exact 1-D solution near ``x_approx``, with a certified error bound.

    For one feature the objective is ``1/2 ||x - a||^2 + sum_e r_e |x_i - x_j|``
    (``r_e = gamma w_e``).  Given the fusion pattern read off ``x_approx``
    (groups of near-equal values) and the order of the groups, summing the
    stationarity equations ``x_i - a_i + (J z)_i = 0`` over a group cancels the
    in-group edges and gives each group's value in closed form::

        n_b x_b = sum_{i in b} (a_i - (J_cross z_cross)_i),   z_e = r_e sign(x_i - x_j) across groups.

    A dual for the in-group edges must solve ``J_free z = t`` with ``|z_e| <= r_e``,
    ``t = a - x - J_cross z_cross``: the minimum-norm solution when it fits the
    box, else a feasible point found by linear programming.
    With ``delta = J z - (a - x)``, ``x`` is the exact solution for the data
    ``a + delta`` (its KKT conditions hold exactly there), and the solution map
    is nonexpansive, so ``||x - x*|| <= ||delta||``: the returned bound.

    Returns ``(x, bound)``; ``bound = inf`` when no grouping of ``x_approx``
    is consistent.
    """
    from scipy.optimize import linprog

    a = np.asarray(a, float)
    x_approx = np.asarray(x_approx, float)
    n = len(a)
    r = gamma * np.asarray(graph.weights, dtype=float)
    edges = np.asarray(graph.edges).reshape(-1, 2)
    J = dense_incidence(graph)
    scale = 1.0 + np.abs(a).max()
    best = (x_approx, np.inf)
    order = np.argsort(x_approx, kind="stable")
    for group_tol in (1e-6, 1e-7, 1e-5, 1e-8, 1e-4):
        group = np.empty(n, dtype=int)
        group[order] = np.concatenate([[0], np.cumsum(np.diff(x_approx[order]) > group_tol * scale)])
        gval = np.array([x_approx[group == b].mean() for b in range(group.max() + 1)])
        gi, gj = group[edges[:, 0]], group[edges[:, 1]]
        cross = gi != gj
        s = np.sign(gval[gi] - gval[gj])
        z = np.where(cross, r * s, 0.0)
        c = J @ z
        xg = np.array([(a - c)[group == b].mean() for b in range(len(gval))])
        x = xg[group]
        if np.any(np.sign(xg[gi[cross]] - xg[gj[cross]]) != s[cross]):
            continue  # the closed-form group values do not keep the assumed order
        t = a - x - c
        free = (~cross) & (r > 0)
        if free.any():
            # the minimum-norm flow first; bounded least squares when it leaves the box
            Jf = J[:, free]
            zf = Jf.T @ (np.linalg.pinv(Jf @ Jf.T) @ t)
            if np.any(np.abs(zf) > r[free]):  # a feasible flow by linear programming (HiGHS)
                lp = linprog(np.zeros(free.sum()), A_eq=Jf, b_eq=t, bounds=np.column_stack([-r[free], r[free]]))
                if lp.status != 0:
                    continue
                zf = np.clip(lp.x, -r[free], r[free])
            z[free] = zf
        delta = J @ z - (a - x)
        bound = float(np.linalg.norm(delta))
        if bound < best[1]:
            best = (x, bound)
        if bound <= 1e-12 * scale:
            break
    return best


@pytest.fixture(scope="module", autouse=True)
def single_threaded_blas():
    """Run a test module with one BLAS thread.

    The tests solve many tiny problems; on a small shared machine a threaded
    BLAS spends far longer synchronising than computing (a 56 x 1500 product
    measured 0.1 s with two threads, 0.7 ms with one).  Import this fixture into
    a test module to apply it there.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def reference_partition(A, graph, gamma, p=2, margin=1e-6):
    """The partition of the exact solution, decided independently of advcluster, or None.

    cvxpy + Clarabel solve the problem on the data centred and rescaled by a power of two (an
    exact change of units, so Clarabel's absolute tolerances mean the same on every instance).
    Each candidate grouping (components of the edges shorter than a cut placed in one of the
    widest gaps of Clarabel's edge lengths) is then checked as a dual certificate would be:
    the group means of Clarabel's centres, the cross-edge duals ``r_e u_e``, and, by a second
    conic program, in-group flows ``J_in z = t`` (``t`` with its group sums removed) maximising
    the smallest relative room ``1 - ||z_e|| / r_e``.  The candidate is accepted when that room
    and every cross distance exceed ``margin``: far above Clarabel's error (about 1e-9 here), so
    the grouping is the exact partition.  None when no candidate is that clear (an instance at
    a fusion threshold).  ``p = 1`` separates by column: each column is decided on its own and
    points share a cluster when they share a group in every column.

    Returns ``(labels, X_ref)``: labels by first appearance (or None), and Clarabel's centres in
    the caller's units (None when Clarabel fails, as it does on a few badly scaled problems).
    """
    import cvxpy as cp

    A = np.asarray(A, dtype=float)
    n, d = A.shape
    mean = A.mean(axis=0)
    rms = float(np.sqrt(np.mean(np.sum((A - mean) ** 2, axis=1)))) or 1.0
    k = 2.0 ** np.round(np.log2(rms))
    As, gs = (A - mean) / k, gamma / k
    try:
        Xs, _ = cvxpy_solve(As, graph, gs, p)
    except (cp.error.SolverError, RuntimeError):
        return None, None
    columns = [slice(None)] if p == 2 else [slice(c, c + 1) for c in range(d)]
    fused = np.ones(graph.n_edges, dtype=bool)
    for cols in columns:
        decided = _decide(As[:, cols], graph, gs, Xs[:, cols], margin)
        if decided is None:
            return None, Xs * k + mean
        fused &= decided
    return _components_first_appearance(graph, fused & (np.asarray(graph.weights) > 0)), Xs * k + mean


def _components_first_appearance(graph, mask):
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    edges = np.asarray(graph.edges).reshape(-1, 2)
    i, j = edges[mask].T
    adj = sp.coo_array((np.ones(i.size), (i, j)), shape=(graph.n, graph.n))
    comp = connected_components(adj, directed=False)[1]
    order, seen = {}, []
    for c in comp:
        if c not in order:
            order[c] = len(order)
        seen.append(order[c])
    return np.array(seen)


def _decide(A, graph, gamma, X, margin):
    """Fused edges of one block of columns (see :func:`reference_partition`), or None."""
    import cvxpy as cp

    edges = np.asarray(graph.edges).reshape(-1, 2)
    w = np.asarray(graph.weights, dtype=float)
    r = gamma * w
    positive = w > 0
    i, j = edges.T
    dist = np.sqrt(((X[i] - X[j]) ** 2).sum(axis=1))
    lengths = np.unique(dist[positive])
    lengths = lengths[lengths > 0]
    cuts = [0.0]
    if lengths.size > 1:
        ratio = lengths[1:] / lengths[:-1]
        cuts = [float(np.sqrt(lengths[q] * lengths[q + 1])) for q in np.argsort(-ratio)[:3]] + [0.0]
    if lengths.size:
        cuts.insert(0, 2.0 * lengths[-1])  # everything fused
    J = dense_incidence(graph)
    for cut in cuts:
        fused = positive & (dist <= cut)
        labels = _components_first_appearance(graph, fused)
        K = labels.max() + 1
        Y = np.array([X[labels == a].mean(axis=0) for a in range(K)])
        Xg = Y[labels]
        cross = positive & (labels[i] != labels[j])
        inner = positive & (labels[i] == labels[j])
        gap = np.sqrt(((Xg[i[cross]] - Xg[j[cross]]) ** 2).sum(axis=1))
        if gap.size and gap.min() <= margin:
            continue
        Z = np.zeros((graph.n_edges, A.shape[1]))
        Z[cross] = (r[cross] / gap)[:, None] * (Xg[i[cross]] - Xg[j[cross]])
        t = A - Xg - J @ Z
        for a in range(K):  # remove each group's sum (Clarabel's error; exactly zero at X*)
            t[labels == a] -= t[labels == a].mean(axis=0)
        if not inner.any():
            if np.abs(t).max() <= 1e-7:
                return fused
            continue
        z = cp.Variable((int(inner.sum()), A.shape[1]))
        room = cp.Variable()
        rin = r[inner]
        constraints = [J[:, inner] @ z == t, cp.norm(z, 2, axis=1) <= cp.multiply(1 - room, rin), room <= 1]
        problem = cp.Problem(cp.Maximize(room), constraints)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                problem.solve(solver=cp.CLARABEL)
            except cp.error.SolverError:
                continue
        if problem.status in ("optimal", "optimal_inaccurate") and room.value is not None and room.value > margin:
            return fused
    return None


def restricted_reference(A, graph, gamma, labels):
    """The minimiser over centres constant on the groups of ``labels``, by cvxpy + Clarabel on
    the points (``X = M c``, ``M`` the membership matrix): the same problem modelled apart."""
    import cvxpy as cp

    K = int(labels.max()) + 1
    M = np.zeros((A.shape[0], K))
    M[np.arange(A.shape[0]), labels] = 1.0
    c = cp.Variable((K, A.shape[1]))
    D = dense_incidence(graph).T @ M @ c
    w = np.asarray(graph.weights)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(M @ c - A) + gamma * (w @ cp.norm(D, 2, axis=1))))
    problem.solve(solver=cp.CLARABEL, **CLARABEL_TOL)
    return np.asarray(c.value)


def assert_reference(A, graph, gamma, res, where):
    """``res`` is proven, and its partition and centres are the reference's."""
    assert res.labels_certified and res.success, where
    labels, X_ref = reference_partition(A, graph, gamma)
    if labels is not None:
        np.testing.assert_array_equal(res.labels, labels, err_msg=where)
    if X_ref is not None:
        assert np.abs(res.centers - X_ref).max() <= 1e-5 * unit_spread(A)[1], where
