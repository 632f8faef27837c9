"""The graph systems both solvers meet: ``P = I + sigma J diag(c) J^T``, a shifted weighted Laplacian.

ADMM solves with ``P`` (``c = 1``) every iteration; SSNAL preconditions its
Newton systems with it.  Two ways to apply ``P^{-1}``:

- a sparse factorisation: exact, and cheap on graphs with small separators
  (kNN graphs of low-dimensional data).  For up to three columns, ``LDL^T`` by
  QDLDL (the OSQP project's factorisation) on the upper triangle's fixed
  pattern: a new ``sigma`` or ``c`` refactorises numerically, reusing the
  ordering and the symbolic analysis (several times faster than SuperLU on
  2-D kNN graphs).  For wider right-hand sides, sparse LU by SuperLU, whose
  supernodal solves take all columns at once (faster there than QDLDL's column
  by column; both measured in BENCHMARKS.md);
- Jacobi, ``diag(P)^{-1}``, inside conjugate gradients: no factorisation.
  kNN graphs of high-dimensional data are expander-like: their factors fill in
  (7 M non-zeros for 10-D blobs at n = 10,000, 0.5 M in 2-D) while ``P`` is
  well conditioned relative to its diagonal.

:class:`ShiftedLaplacian` starts with the cheap way and switches to the
factor, for good, at the first solve the cheap way cannot finish within
``max_jacobi`` iterations (``max_jacobi = 0``: the factor from the start).
"""

from __future__ import annotations

import itertools
import threading
import weakref

import numpy as np
import qdldl
import scipy.sparse as sp
from scipy.sparse.linalg import splu

# Each graph's fill-reducing ordering of P and its inverse, for SuperLU: P's pattern (the
# edges and the diagonal) is the same for every sigma and c, so the minimum-degree ordering
# is computed once per graph and later factorisations only permute (BENCHMARKS.md).
_ORDERINGS = weakref.WeakKeyDictionary()
LDL_MAX_COLUMNS = 3  # wider right-hand sides go to SuperLU's supernodal solves


def spd_splu(M, permc_spec="MMD_AT_PLUS_A"):
    """SuperLU's LU of a symmetric positive definite matrix (``P``, SSNAL's deflation matrix,
    the fused Hessians of the proofs in one or two features): symmetric mode, a symmetric
    minimum-degree order and diagonal pivots.  Partial pivoting (SuperLU's default
    threshold 1) leaves the symmetric order for off-diagonal pivots on ill-conditioned
    matrices and fills in: a fused Hessian of 98,000 unknowns took over 100 s against 0.75 s
    (BENCHMARKS.md)."""
    return splu(M, permc_spec=permc_spec, diag_pivot_thresh=0.0, options=dict(SymmetricMode=True))


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
    p = z.copy() if coarse is None else z - coarse.lift_solve(coarse.restrict_hess(z))  # z may be r itself
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


class LDL:
    """``P = L D L^T`` by QDLDL, on the upper triangle of ``P``'s fixed pattern
    (:meth:`Graph.laplacian`): ``P`` is symmetric, so each CSR row's entries up to the
    diagonal, read as a CSC column, are that column of the upper triangle.

    The ordering (AMD) and symbolic analysis depend on the pattern alone, so each graph's are
    made once (per thread) and shared by every LDL on it (ADMM's, SSNAL's, the proofs'
    flows'): a factorisation is numeric only (1 ms of a 9 ms solve at n = 1,000 in 2-D), and
    a solve refactorises first where another LDL of the graph has factorised since.
    """

    def __init__(self, graph):
        self.graph, self.values, self.token = graph, None, None

    def factorise(self, P):
        """Factorise ``P``, a CSR matrix on the graph's Laplacian pattern (:meth:`Graph.laplacian`)."""
        self.pattern = _Pattern.of(self.graph, P)
        self.values, self.token = P.data[self.pattern.keep], next(_TOKENS)
        self.pattern.load(self)

    def solve(self, R):
        solver = self.pattern.load(self)
        X = np.empty_like(R)
        for k in range(R.shape[1]):
            X[:, k] = solver.solve(R[:, k])
        return X


_TOKENS = itertools.count()
_PATTERNS = weakref.WeakKeyDictionary()  # graph -> {thread: _Pattern}
_PATTERNS_LOCK = threading.Lock()


class _Pattern:
    """A graph's Laplacian pattern's upper triangle (CSC) and the QDLDL solver holding its
    analysis, with the numeric factor of the LDL that loaded it last."""

    def __init__(self, P):
        n = self.n = P.shape[0]
        rows = np.repeat(np.arange(n), np.diff(P.indptr))
        self.keep = P.indices <= rows
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[self.keep], minlength=n))])
        self.indices = P.indices[self.keep]
        self.solver = self.owner = None

    @staticmethod
    def of(graph, P):
        """The calling thread's pattern of ``graph`` (made from ``P`` on first use)."""
        with _PATTERNS_LOCK:  # the registry is shared by the threads; each pattern is its thread's
            per_thread = _PATTERNS.setdefault(graph, {})
            pattern = per_thread.get(threading.get_ident())
            if pattern is None:
                pattern = per_thread[threading.get_ident()] = _Pattern(P)
        return pattern

    def load(self, ldl):
        """The solver with ``ldl``'s factor (refactorised numerically unless it holds it already)."""
        if self.owner != ldl.token:
            upper = sp.csc_array((ldl.values, self.indices, self.indptr), shape=(self.n, self.n))
            if self.solver is None:
                self.solver = qdldl.Solver(upper, upper=True)
            else:
                self.solver.update(upper, upper=True)
            self.owner = ldl.token
        return self.solver


class LU:
    """``P``'s sparse LU by SuperLU.  The graph's first factorisation orders by minimum
    degree and keeps the ordering; later ones factorise the symmetrically permuted ``P``
    in that order."""

    def __init__(self, graph):
        self.graph, self.lu, self.order = graph, None, None

    def factorise(self, matrix):
        """Factorise ``matrix``, a CSR matrix on the graph's Laplacian pattern."""
        self.order = _ORDERINGS.get(self.graph)
        if self.order is None:
            self.lu = spd_splu(matrix.tocsc())
            order = np.argsort(self.lu.perm_c)
            _ORDERINGS[self.graph] = (order, np.argsort(order))
        else:
            order = self.order[0]
            self.lu = spd_splu(matrix[order][:, order].tocsc(), permc_spec="NATURAL")

    def solve(self, R):
        if self.order is None:
            return self.lu.solve(np.ascontiguousarray(R)).reshape(R.shape)
        order, inverse = self.order
        X = self.lu.solve(np.take(R, order, axis=0)).reshape(R.shape)
        return np.take(X, inverse, axis=0)


class ShiftedLaplacian:
    """``P = I + sigma J diag(c) J^T`` with a lazily built factor and an adaptive choice of solver.

    Parameters
    ----------
    graph : Graph
    max_jacobi : int
        Jacobi-CG iterations allowed per solve before the sparse factor takes over;
        0 always factorises.
    """

    def __init__(self, graph, max_jacobi=20):
        self.graph, self.max_jacobi = graph, max_jacobi
        self.direct = max_jacobi == 0
        self.sigma = self.c = self.diagonal = self._matrix = None
        self.factor = None  # LDL or LU, chosen at the first factorisation
        self.factored = False
        self.n_factor = 0

    def update(self, sigma, c=None):
        """Set ``sigma`` and the edge weights ``c`` (default 1); drops the factor."""
        self.sigma = sigma
        self.c = np.ones(self.graph.n_edges) if c is None else c
        self.diagonal = (1 + sigma * self.graph.weighted_degree(self.c))[:, None]
        self._matrix = None
        self.factored = False
        return self

    @property
    def matrix(self):
        """``P`` as a CSR array (built on first use after :meth:`update`)."""
        if self._matrix is None:
            self._matrix = self.graph.laplacian(self.sigma * self.c, shift=1.0)
        return self._matrix

    def jacobi(self, R):
        """``diag(P)^{-1} R``."""
        return R / self.diagonal

    def factor_solve(self, R):
        """``P^{-1} R`` by the sparse factor (factorised on first use after :meth:`update`):
        ``LDL^T`` (QDLDL) for up to :data:`LDL_MAX_COLUMNS` columns, else SuperLU's LU."""
        if not self.factored:
            if self.factor is None:
                self.factor = LDL(self.graph) if R.shape[1] <= LDL_MAX_COLUMNS else LU(self.graph)
            self.factor.factorise(self.matrix)
            self.factored = True
            self.n_factor += 1
        return self.factor.solve(R)

    def pcg(self, apply, b, rtol, maxiter, x0=None, coarse=None):
        """CG on ``apply(x) = b`` preconditioned with ``P``: ``(x, iterations)``.

        While Jacobi is the choice it gets ``max_jacobi`` iterations (from ``x0``,
        default ``diag(P)^{-1} b``); if they fall short the factor takes over
        for good and CG restarts from ``P^{-1} b`` with ``maxiter`` more.
        """
        k = 0
        if not self.direct:
            start = self.jacobi(b) if x0 is None else x0
            x, k, ok = cg(apply, self.jacobi, b, start, rtol, self.max_jacobi, coarse)
            if ok:
                return x, k
            self.direct = True
        x, k_lu, _ = cg(apply, self.factor_solve, b, self.factor_solve(b), rtol, maxiter, coarse)
        return x, k + k_lu

    def solve(self, R, x0=None, rtol=1e-10):
        """``P^{-1} R``: Jacobi-CG from ``x0`` to relative residual ``rtol`` while it converges in
        time, else the factor."""
        if self.direct:
            return self.factor_solve(R)
        return self.pcg(self.matrix.__matmul__, R, rtol, 0, x0)[0]
