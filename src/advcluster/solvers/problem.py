"""The convex clustering problem: operators, proximal maps and optimality evidence.

Primal and dual (docs/model.md, section 2, Sun, Toh & Yuan 2021, with r_e = gamma w_e)::

    (P)  min_X 1/2 ||X - A||^2 + sum_e r_e ||U_e||_p   s.t.  B(X) = U
    (D)  max_Z <A, V> - 1/2 ||V||^2,   V = B*(Z),   ||Z_e||_q <= r_e

with ``B(X)_e = x_i - x_j`` for edge ``e = (i, j)`` and ``1/p + 1/q = 1``.
Every solver is judged here, by the same code: :func:`evidence`.
"""

from __future__ import annotations

import numpy as np

PENALTY_NORMS = (1, 2)  # the norms p of the fusion penalty


def edge_diff(graph, X):
    """``B(X)``: the (m, d) array of differences ``x_i - x_j`` over the edges."""
    return graph.difference @ X


def edge_adjoint(graph, Z):
    """``B*(Z) = J Z``: node ``i`` gets ``+Z_e``, node ``j`` gets ``-Z_e``."""
    return graph.incidence @ Z


def rows(X, index):
    """``X[index]`` for an index array: ``np.take`` along the rows, 5-10x faster than fancy
    indexing on narrow rows (numpy 2.x)."""
    return np.take(X, index, axis=0)


def fro(X):
    """Frobenius norm (einsum: no BLAS call, which is slow for small arrays on a busy machine)."""
    return float(np.sqrt(np.einsum("ij,ij->", X, X))) if X.ndim == 2 else float(np.sqrt(np.dot(X, X)))


def spread(A):
    """RMS distance of the rows of ``A`` from their mean; 1 when they all coincide (a scale for ``A``)."""
    s = float(np.sqrt(np.mean(np.sum((A - A.mean(axis=0)) ** 2, axis=1))))
    return s if s > 0 else 1.0


def row_dots(U, V):
    """Row-wise inner products ``<U_e, V_e>``: column by column for up to 4 columns (5x faster
    than einsum's loop over short rows in 2-D), einsum for more."""
    if U.shape[1] > 4:
        return np.einsum("ij,ij->i", U, V)
    s = U[:, 0] * V[:, 0]
    for k in range(1, U.shape[1]):
        s += U[:, k] * V[:, k]
    return s


def norms(U, p):
    """Row norms ``||U_e||_p``."""
    if p == 2:
        return np.sqrt(row_dots(U, U))
    return np.abs(U).sum(axis=1)


def prox(D, radius, p):
    """``Prox`` of ``sum_e radius_e ||.||_p`` at ``D`` (group or plain soft-thresholding)."""
    if p == 2:
        nrm = norms(D, 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(nrm > radius, 1.0 - radius / nrm, 0.0)
        return D * scale[:, None]
    return np.sign(D) * np.maximum(np.abs(D) - radius[:, None], 0.0)


def project_dual(Z, radius, p):
    """Projection onto ``Omega = {Z : ||Z_e||_q <= radius_e}`` (ball for p=2, box for p=1)."""
    if p == 2:
        nrm = norms(Z, 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(nrm > radius, radius / nrm, 1.0)
        return Z * scale[:, None]
    return np.clip(Z, -radius[:, None], radius[:, None])


def dual_norms(Z, p):
    """Row norms ``||Z_e||_q`` in the dual norm."""
    return norms(Z, 2) if p == 2 else np.abs(Z).max(axis=1, initial=0.0)


def primal_objective(A, graph, gamma, X, p, diff=None):
    """``1/2 ||X - A||^2 + gamma sum_e w_e ||x_i - x_j||_p`` (``diff``: ``B(X)`` if already computed)."""
    fit = 0.5 * np.sum((X - A) ** 2)
    if graph.n_edges == 0:
        return float(fit)
    diff = edge_diff(graph, X) if diff is None else diff
    return float(fit + gamma * np.dot(graph.weights, norms(diff, p)))


def dual_objective(A, graph, gamma, Z, p):
    """``<A, V> - 1/2 ||V||^2`` at the projection of ``Z`` onto Omega (a lower bound on (P))."""
    if graph.n_edges == 0:
        return 0.0
    return _dual_value(A, edge_adjoint(graph, project_dual(Z, gamma * graph.weights, p)))


def _dual_value(A, V):
    return float(np.sum(A * V) - 0.5 * np.sum(V * V))


def evidence(A, graph, gamma, X, U, Z, p):
    """Optimality evidence for a primal-dual point, SSNAL paper section 6::

        eta_P = ||B(X) - U|| / (1 + ||U||)
        eta_D = sum_e max(0, ||Z_e||_q - r_e) / (1 + ||A||)
        eta   = (||B*(Z) + X - A|| + ||U - Prox(U + Z)||) / (1 + ||A|| + ||U||)
        kkt_residual = max(eta_P, eta_D, eta)

    Norms are Frobenius.  Returns a dict with these, both objectives, the
    relative duality gap ``|P - D| / (1 + |P| + |D|)`` and ``gap_roundoff``, the
    bound on that gap's own rounding error (``4 eps gamma sum_e w_e (|x_i| + |x_j|)``,
    relative): for huge gamma no point can show a smaller gap.  Each of ``B(X)``
    and ``B*(Z)`` is computed once (``B*`` twice when ``Z`` lies outside Omega).
    """
    radius = gamma * graph.weights
    normA = fro(A)
    if graph.n_edges:
        BX = edge_diff(graph, X)
        normU = fro(U)
        eta_p = fro(BX - U) / (1 + normU)
        excess = dual_norms(Z, p) - radius
        eta_d = np.sum(np.maximum(excess, 0.0)) / (1 + normA)
        JZ = edge_adjoint(graph, Z)
        stat = fro(JZ + X - A)
        comp = fro(U - prox(U + Z, radius, p))
        primal = primal_objective(A, graph, gamma, X, p, diff=BX)
        V = JZ if np.all(excess <= 0) else edge_adjoint(graph, project_dual(Z, radius, p))
        dual = _dual_value(A, V)
    else:
        normU = eta_p = eta_d = comp = 0.0
        stat = fro(X - A)
        primal, dual = primal_objective(A, graph, gamma, X, p), 0.0
    eta = (stat + comp) / (1 + normA + normU)
    # Rounding error of the penalty sum: fused points differ by ~eps * |x|, times gamma w_e.
    # sum_e w_e (|x_i| + |x_j|) = sum_i deg_i |x_i| with the weighted degrees deg.
    roundoff = 4 * np.finfo(float).eps * gamma * float(np.dot(graph.degree, norms(X, p))) if graph.n_edges else 0.0
    return dict(
        primal_objective=primal,
        dual_objective=float(dual),
        duality_gap=abs(primal - dual) / (1 + abs(primal) + abs(dual)),
        gap_roundoff=roundoff / (1 + abs(primal) + abs(dual)),
        primal_infeasibility=float(eta_p),
        dual_infeasibility=float(eta_d),
        stationarity=float(eta),
        kkt_residual=float(max(eta_p, eta_d, eta)),
    )
