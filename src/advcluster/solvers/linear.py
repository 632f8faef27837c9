"""The graph systems both solvers meet: ``P = I + sigma J diag(c) J^T``, a shifted weighted Laplacian.

ADMM solves with ``P`` (``c = 1``) every iteration; SSNAL preconditions its
Newton systems with it.  Two ways to apply ``P^{-1}``:

- sparse LU (SuperLU, minimum-degree ordering): exact, and cheap on graphs
  with small separators (kNN graphs of low-dimensional data);
- Jacobi, ``diag(P)^{-1}``, inside conjugate gradients: no factorisation.
  kNN graphs of high-dimensional data are expander-like: their LU fills in
  (7 M non-zeros for 10-D blobs at n = 10,000, 0.5 M in 2-D) while ``P`` is
  well conditioned relative to its diagonal.

:class:`ShiftedLaplacian` starts with the cheap way and switches to the
factor, for good, at the first solve the cheap way cannot finish within
``max_cg`` iterations (``max_cg = 0``: the factor from the start).
"""

from __future__ import annotations

import weakref

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

# Each graph's fill-reducing ordering of P and its inverse: P's pattern (the edges and the
# diagonal) is the same for every sigma and c, so SuperLU's minimum-degree ordering is
# computed once per graph and later factorisations only permute (a third of the
# factorisation time on 2-D kNN graphs).
_ORDERINGS = weakref.WeakKeyDictionary()
SUPERLU_OPTIONS = dict(SymmetricMode=True)  # P and SSNAL's deflation matrix are symmetric


def shifted_laplacian(n, edges, c, sigma):
    """``I + sigma J diag(c) J^T`` (n x n, CSR), assembled straight from the edge list."""
    i, j = edges.T
    degree = np.bincount(i, c, n) + np.bincount(j, c, n)
    rows = np.concatenate([i, j, np.arange(n)])
    cols = np.concatenate([j, i, np.arange(n)])
    return sp.csr_array((np.concatenate([-sigma * c, -sigma * c, 1 + sigma * degree]), (rows, cols)), shape=(n, n))


def inner(a, b):
    """Frobenius inner product of two arrays of the same shape."""
    return float(np.einsum("ij,ij->", a, b))


def cg(apply, precond, b, x0, rtol, maxiter, coarse=None):
    """Preconditioned conjugate gradients on (n, d) arrays: ``(x, iterations, converged)``.

    With ``coarse`` (an object with ``restrict``, ``restrict_hess`` and
    ``lift_solve``: ``W^T``, ``W^T H`` and ``W (W^T H W)^{-1}``), CG is deflated
    by the span of ``W`` (Saad, Yeung, Erhel & Guyomarc'h 2000).
    """
    x = x0.copy()
    if coarse is not None:
        x += coarse.lift_solve(coarse.restrict(b - apply(x)))
    r = b - apply(x)
    bnorm = np.sqrt(inner(b, b))
    z = precond(r)
    p = z if coarse is None else z - coarse.lift_solve(coarse.restrict_hess(z))
    rz = inner(r, z)
    for k in range(maxiter + 1):
        if np.sqrt(inner(r, r)) <= rtol * bnorm:
            return x, k, True
        if k == maxiter:
            break
        w = apply(p)
        pw = inner(p, w)
        if pw <= 0:  # not positive definite in floating point: stop, say so
            return x, k, False
        a = rz / pw
        x += a * p
        r -= a * w
        z = precond(r)
        rz, rz_old = inner(r, z), rz
        p = z + (rz / rz_old) * p
        if coarse is not None:
            p -= coarse.lift_solve(coarse.restrict_hess(z))
    return x, maxiter, False


class ShiftedLaplacian:
    """``P = I + sigma J diag(c) J^T`` with a lazily built factor and an adaptive choice of solver.

    Parameters
    ----------
    graph : Graph
    max_cg : int
        Jacobi-CG iterations allowed per solve before the sparse LU takes over;
        0 always factorises.
    """

    def __init__(self, graph, max_cg=20):
        self.graph, self.max_cg = graph, max_cg
        self.direct = max_cg == 0
        self.matrix = self.diagonal = self.lu = self.sigma = None
        self.order = None  # (ordering, inverse) when the factor is of the permuted P
        self.n_factor = 0

    def update(self, sigma, c=None):
        """Set ``sigma`` and the edge weights ``c`` (default 1); drops the factor."""
        c = np.ones(self.graph.n_edges) if c is None else c
        self.sigma = sigma
        self.matrix = shifted_laplacian(self.graph.n, self.graph.edges, c, sigma)
        self.diagonal = self.matrix.diagonal()[:, None]
        self.lu = None
        return self

    def jacobi(self, R):
        """``diag(P)^{-1} R``."""
        return R / self.diagonal

    def factor_solve(self, R):
        """``P^{-1} R`` by sparse LU (factorised on first use after :meth:`update`).

        The graph's first factorisation orders by minimum degree and keeps the ordering;
        later ones factorise the symmetrically permuted ``P`` in that order.
        """
        if self.lu is None:
            self.order = _ORDERINGS.get(self.graph)
            if self.order is None:
                self.lu = splu(self.matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", options=SUPERLU_OPTIONS)
                order = np.argsort(self.lu.perm_c)
                _ORDERINGS[self.graph] = (order, np.argsort(order))
            else:
                order = self.order[0]
                permuted = self.matrix[order][:, order].tocsc()
                self.lu = splu(permuted, permc_spec="NATURAL", options=SUPERLU_OPTIONS)
            self.n_factor += 1
        if self.order is None:
            return self.lu.solve(np.ascontiguousarray(R)).reshape(R.shape)
        order, inverse = self.order
        X = self.lu.solve(np.take(R, order, axis=0)).reshape(R.shape)
        return np.take(X, inverse, axis=0)

    def pcg(self, apply, b, rtol, maxiter, x0=None, coarse=None):
        """CG on ``apply(x) = b`` preconditioned with ``P``: ``(x, iterations)``.

        While Jacobi is the choice it gets ``max_cg`` iterations (from ``x0``,
        default ``diag(P)^{-1} b``); if they fall short the factor takes over
        for good and CG restarts from ``P^{-1} b`` with ``maxiter`` more.
        """
        k = 0
        if not self.direct:
            start = self.jacobi(b) if x0 is None else x0
            x, k, ok = cg(apply, self.jacobi, b, start, rtol, self.max_cg, coarse)
            if ok:
                return x, k
            self.direct = True
        x, k_lu, _ = cg(apply, self.factor_solve, b, self.factor_solve(b), rtol, maxiter, coarse)
        return x, k + k_lu

    def solve(self, R, x0=None, rtol=1e-10):
        """``P^{-1} R``: Jacobi-CG from ``x0`` to relative residual ``rtol`` while it converges in time, else LU."""
        if self.direct:
            return self.factor_solve(R)
        return self.pcg(self.matrix.__matmul__, R, rtol, 0, x0)[0]
