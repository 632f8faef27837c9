"""Exact convex clustering for uniform weights in one dimension.

With every pair weighted ``w`` and ``lam = gamma w``, sort the values
``a_(0) <= ... <= a_(n-1)``.  A block of consecutive sorted points fused at
value ``x`` satisfies ``x = mean_block(a) + lam (#above - #below)``
(Hocking et al. 2011), which is the mean over the block of
``y_i = a_(i) + lam (n - 1 - 2 i)``; blocks never split as ``lam`` grows, and
adjacent blocks must stay ordered.  So the sorted solution is the isotonic
(non-decreasing) regression of ``y``, computed exactly by pooling adjacent
violators in ``O(n)`` after an ``O(n log n)`` sort.  For ``p = 1`` the problem
separates by coordinate, so the same holds column by column in any dimension.

A dual certificate ``Z`` is recovered so the answer is judged by the same KKT
residual as every other method: across blocks ``z_e = lam sign(x_i - x_j)``;
inside a block of size ``s`` the minimum-norm flow ``z_ij = (t_i - t_j) / s``,
or, when that leaves the box ``|z| <= lam``, a fractional-tournament flow built
greedily (checked; a bounded least-squares flow is the fallback).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import isotonic_regression, lsq_linear

from . import problem
from .core import Iterate, register


def exact_centers(A, lam):
    """The exact centres for uniform weights with ``lam = gamma w``, column by column (d = 1, or p = 1).

    No dual, no evidence: the fast path for callers that solve thousands of small problems
    (the attacks); :func:`advcluster.solve` with ``method="exact1d"`` adds the certificate.
    """
    return np.column_stack([_column(A[:, c], lam) for c in range(A.shape[1])])


def _column(a, lam):
    order = np.argsort(a, kind="stable")
    n = len(a)
    y = a[order] + lam * (n - 1 - 2 * np.arange(n))
    x = np.empty(n)
    x[order] = isotonic_regression(y, increasing=True).x
    return x


def _waterfill(scores, total):
    """Amounts ``l_j`` in [0, 1] summing to ``total``, taken from the largest scores first.

    ``l_j = clip(scores_j - tau, 0, 1)`` with ``tau`` found exactly on the piecewise
    linear, non-increasing function ``tau -> sum_j clip(scores_j - tau, 0, 1)``.
    """
    breaks = np.unique(np.concatenate([scores, scores - 1.0]))
    f = np.clip(scores[None, :] - breaks[:, None], 0.0, 1.0).sum(axis=1)  # decreasing in breaks
    k = np.searchsorted(-f, -total)  # first break with f <= total
    if k == 0:
        tau = breaks[0]
    else:
        t0, t1, f0, f1 = breaks[k - 1], breaks[k], f[k - 1], f[k]
        tau = t1 if f0 == f1 else t0 + (f0 - total) * (t1 - t0) / (f0 - f1)
    return np.clip(scores - tau, 0.0, 1.0)


def _tournament_flow(t):
    """Antisymmetric ``Z`` with ``|Z_ij| <= 1`` and row sums ``t`` (``sum t = 0``).

    A fractional tournament: ``Y_ij = (1 + Z_ij) / 2`` in [0, 1] with
    ``Y_ij + Y_ji = 1`` and scores ``sum_j Y_ij = (t_i + s - 1) / 2``.  Greedy in
    the manner of Havel-Hakimi: the strongest remaining point loses the games it
    must lose to the next strongest ones (water-filling), and is removed.
    """
    s = len(t)
    score = (t + (s - 1)) / 2.0
    Y = np.zeros((s, s))
    alive = np.ones(s, dtype=bool)
    for _ in range(s - 1):
        idx = np.flatnonzero(alive)
        v = idx[np.argmax(score[idx])]
        others = idx[idx != v]
        losses = min(max(len(others) - score[v], 0.0), float(len(others)))
        beat_v = _waterfill(score[others], losses)
        Y[others, v] = beat_v
        Y[v, others] = 1.0 - beat_v
        score[others] -= beat_v
        alive[v] = False
    return Y - Y.T


def _dual_column(graph, a, x, lam):
    """A dual ``z`` (m,) with ``J z = a - x`` and ``|z_e| <= lam``, from exact fusion."""
    i, j = graph.edges.T
    diff = x[i] - x[j]
    z = lam * np.sign(diff)
    free = diff == 0
    if not free.any():
        return z
    t = (a - x) - graph.incidence @ z  # what the in-block flows must carry
    _, block, size = np.unique(x, return_inverse=True, return_counts=True)
    s = size[block]
    fi, fj = i[free], j[free]
    z[free] = (t[fi] - t[fj]) / s[fi]  # minimum-norm flow
    over = np.abs(z[free]) > lam * (1 + 1e-12)
    for b in np.unique(block[fi[over]]):
        nodes = np.flatnonzero(block == b)  # sorted, so (nodes[p], nodes[q]) with p < q is an edge
        sel = np.flatnonzero(free & (block[i] == b))
        pos = np.searchsorted(nodes, i[sel]), np.searchsorted(nodes, j[sel])
        Z = _tournament_flow(t[nodes] / lam)
        if np.abs(Z.sum(axis=1) * lam - t[nodes]).max() <= 1e-9 * (1 + np.abs(t[nodes]).max()):
            z[sel] = lam * np.clip(Z[pos], -1.0, 1.0)
        else:  # not expected; a bounded least-squares flow is slower but general
            J = graph.incidence[nodes][:, sel].toarray()
            z[sel] = lsq_linear(J, t[nodes], bounds=(-lam, lam), method="bvls", tol=1e-15).x
    return z


@register("exact1d", norms=(1, 2), summary="exact solution for uniform weights in 1-D (p=1: any d)")
def run(A, graph, gamma, *, p, tol, max_iter, x0, z0, verbose, certificate=True):
    """Exact solution by isotonic regression; no tolerance, no iterations.

    Applies to a complete graph with equal weights, with ``d = 1`` (p = 1 or 2)
    or ``p = 1`` in any dimension.  ``certificate=False`` skips the dual
    recovery (faster; the KKT residual then reports the missing dual).
    """
    n, d = A.shape
    if not graph.is_uniform_complete():
        raise ValueError(
            "method 'exact1d' needs a complete graph with equal weights (uniform_graph(n)); "
            "use method='ssnal' or 'admm' for other weights."
        )
    if d > 1 and p != 1:
        raise ValueError(
            f"method 'exact1d' solves one feature (or p=1 coordinate by coordinate); A has {d} features "
            "with p=2: use method='ssnal', or p=1."
        )
    lam = gamma * (graph.weights[0] if graph.n_edges else 0.0)
    X = exact_centers(A, lam)
    U = problem.edge_diff(graph, X)
    if certificate and graph.n_edges:
        Z = np.column_stack([_dual_column(graph, A[:, c], X[:, c], lam) for c in range(d)])
        msg = "exact solution (isotonic regression of the shifted sorted values), dual certificate recovered"
    else:
        Z = np.zeros_like(U)
        msg = "exact solution (isotonic regression of the shifted sorted values)" + (
            ", dual certificate skipped" if graph.n_edges else ""
        )
    # Without the certificate the answer is exact by construction but carries no dual evidence.
    return Iterate(X=X, U=U, Z=Z, n_iter=1, converged=True, message=msg, exact=not certificate)
