"""Convex clustering restricted to a partition: one centre per group (docs/partitions.md, section 2).

With groups ``G_1..G_K`` of sizes ``n_a``, data means ``abar_a`` and, for each pair of
groups joined by edges of positive weight, the summed penalty ``R_ab = gamma sum w_e``,
centres constant on the groups (``x_i = c_a`` for ``i`` in ``G_a``) leave

    F(c) = 1/2 sum_a n_a ||c_a - abar_a||^2 + sum_{a<b} R_ab ||c_a - c_b||_2   (+ a constant)

to minimise: convex clustering of the ``K`` means with sizes as weights.  Where the centres of
joined groups stay apart it is smooth and strongly convex, with

    grad_a F = n_a (c_a - abar_a) + sum_b R_ab u_ab,       u_ab = (c_a - c_b) / ||c_a - c_b||
    hess F   = diag(n_a) (x) I + sum_{a<b} (R_ab / ||c_a - c_b||) (e_a - e_b)(e_a - e_b)^T (x) (I - u_ab u_ab^T)

so Newton's method reaches its minimiser to rounding error in a few steps from a solver's
centres.  In one dimension ``I - u u^T = 0``: the Hessian is ``diag(n_a)`` and one step is exact
while the order of the centres holds.  The surrogate attack differentiates the same problem.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import problem
from .linear import cg, spd_splu

# Hessians of at most order DENSE_MAX are solved dense; above it, by a sparse factorisation up
# to DIRECT_MAX (10-D blobs, 43 groups and 41 pairs: 0.6 ms against 1.4 ms dense), and by CG
# first above that from ITERATIVE_MIN_D features.
DENSE_MAX = 250
DIRECT_MAX = 600
ITERATIVE_MIN_D = 3
CG_RTOL = 1e-12
FACTOR_MAX = 4000  # where CG falls short in a proof, wide Hessians up to this order are factorised instead
QUICK_CG_MAX = 50  # minimise(quick=True): CG iterations per Newton step, and no factorisation
# minimise: a Newton step that raises the gradient's norm is halved up to this many times (near a
# collapsing pair the full step overshoots; at the rounding floor none helps, and Newton stops)
GRADIENT_BACKTRACKS = 8
SUMS_BY_COLUMN = 16  # group_sums: one bincount per column up to this many columns (faster than a sparse product)
CONIC_TOL = 1e-14  # Clarabel's tolerances for the coarsened problem (FusedProblem.coarsened)
# FusedProblem.coarsened declines programs with pairs * (d + 1)^2 above this: the cones of wide data
# fill its factorisation in (breast cancer, 30-D, 480 pairs: 20 s; 2-D moons, 606 pairs: 0.01 s).
COARSE_MAX_WORK = 100_000
_BLAS = []  # a threadpoolctl controller, made on first use


def _one_thread():
    """A context with single-threaded BLAS: a few hundred unknowns solve faster on one thread
    than by waking a thread pool (which can cost 50-150 ms after the sparse solver's work)."""
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def block_laplacian(K, d, pa, pb, blocks, diagonal):
    """``diag(diagonal) + sum_e (e_a - e_b)(e_a - e_b)^T (x) blocks[e]``, sparse (K d, K d), for
    pairs ``(pa[e], pb[e])`` and symmetric ``d x d`` blocks: a Laplacian with matrix weights."""
    shape = (len(pa), d, d)
    kk = np.arange(d)
    rows_a = np.broadcast_to((pa * d)[:, None, None] + kk[None, :, None], shape)
    cols_a = np.broadcast_to((pa * d)[:, None, None] + kk[None, None, :], shape)
    rows_b = np.broadcast_to((pb * d)[:, None, None] + kk[None, :, None], shape)
    cols_b = np.broadcast_to((pb * d)[:, None, None] + kk[None, None, :], shape)
    rows = np.concatenate([rows_a, rows_b, rows_a, rows_b, np.arange(K * d)[:, None, None]], axis=None)
    cols = np.concatenate([cols_a, cols_b, cols_b, cols_a, np.arange(K * d)[:, None, None]], axis=None)
    vals = np.concatenate([blocks, blocks, -blocks, -blocks, np.asarray(diagonal, dtype=float)[:, None, None]], axis=None)
    return sp.coo_array((vals, (rows, cols)), shape=(K * d, K * d))


def group_sums(X, labels, K):
    """Sum of the rows of ``X`` in each group (K, d), in ``X``'s precision (at least double):
    one ``bincount`` per column for narrow double data, a sparse product for wide, ``add.at``
    in extended precision (the others round to double)."""
    dtype = np.result_type(X.dtype, float)
    if dtype != np.float64:
        sums = np.zeros((K, X.shape[1]), dtype=dtype)
        np.add.at(sums, labels, X)
        return sums
    if X.shape[1] > SUMS_BY_COLUMN:
        return sp.csr_array((np.ones(labels.size), (labels, np.arange(labels.size))), shape=(K, labels.size)) @ X
    sums = np.zeros((K, X.shape[1]))
    for k in range(X.shape[1]):
        sums[:, k] = np.bincount(labels, X[:, k], minlength=K)
    return sums


def group_means(X, labels, K):
    """Mean of the rows of ``X`` in each group (K, d), in ``X``'s precision (at least double)."""
    return group_sums(X, labels, K) / np.bincount(labels, minlength=K)[:, None]


class FusedProblem:
    """The problem on the groups of ``labels`` (0..K-1): sizes, means and the joined pairs.

    Attributes
    ----------
    K : int
    sizes : ndarray (K,)
    abar : ndarray (K, d)
        Group means of the data.
    pa, pb : ndarray
        The joined pairs of groups, ``pa < pb``.
    W : ndarray
        Summed weights of the edges joining each pair; the penalty is ``gamma * W``.
    cross : ndarray of int
        The edges of positive weight whose ends lie in different groups.
    edge_pair : ndarray of int
        For each of those edges, its pair's index.
    """

    def __init__(self, A, graph, gamma, labels):
        self.A, self.gamma = A, gamma
        self.labels = labels
        K = self.K = int(labels.max()) + 1 if len(labels) else 0
        self.sizes = np.bincount(labels, minlength=K).astype(float)
        self.abar = group_means(A, labels, K)
        i, j = graph.edges.T
        self.cross = np.flatnonzero((labels[i] != labels[j]) & (graph.weights > 0))
        ga, gb = labels[i[self.cross]], labels[j[self.cross]]
        key, inv = np.unique(np.minimum(ga, gb) * K + np.maximum(ga, gb), return_inverse=True)
        self.pa, self.pb = key // K, key % K
        if A.dtype == np.float64:
            self.W = np.bincount(inv.ravel(), weights=graph.weights[self.cross], minlength=key.size)
        else:  # summed in the data's (extended) precision
            self.W = np.zeros(key.size, dtype=A.dtype)
            np.add.at(self.W, inv.ravel(), graph.weights[self.cross])
        self.edge_pair = inv.ravel()

    # F, its gradient and Hessian on the group centres c (K, d)
    def pair_geometry(self, c):
        """Differences ``c_a - c_b`` over the joined pairs and their lengths."""
        diff = c[self.pa] - c[self.pb]
        return diff, problem.norms(diff, 2)

    def objective(self, c):
        _, r = self.pair_geometry(c)
        return float(0.5 * np.sum(self.sizes[:, None] * (c - self.abar) ** 2) + self.gamma * np.dot(self.W, r))

    def gradient(self, c):
        diff, r = self.pair_geometry(c)
        g = self.sizes[:, None] * (c - self.abar)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (self.gamma * self.W / r)[:, None] * diff
        np.add.at(g, self.pa, f)
        np.add.at(g, self.pb, -f)
        return g

    def hessian(self, c):
        """``hess F`` at ``c``: a dense array up to order :data:`DENSE_MAX`; above
        :data:`DIRECT_MAX`, a :class:`BlockHessian` (matrix-free) from :data:`ITERATIVE_MIN_D`
        features; else sparse (K d, K d)."""
        K, d = c.shape
        if not self.pa.size or d == 1:
            return sp.diags_array(np.repeat(self.sizes, d)).tocsc()
        diff, r = self.pair_geometry(c)
        u = diff / r[:, None]
        s = self.gamma * self.W / r
        if K * d > DIRECT_MAX and d >= ITERATIVE_MIN_D:
            return BlockHessian(self.sizes, self.pa, self.pb, s, u)
        B = pair_blocks(s, u)
        if K * d <= DENSE_MAX:
            H = np.zeros((K, d, K, d))
            np.add.at(H, (self.pa, slice(None), self.pa), B)
            np.add.at(H, (self.pb, slice(None), self.pb), B)
            np.add.at(H, (self.pa, slice(None), self.pb), -B)
            np.add.at(H, (self.pb, slice(None), self.pa), -B)
            H = H.reshape(K * d, K * d)
            H[np.diag_indices(K * d)] += np.repeat(self.sizes, d)
            return H
        return block_laplacian(K, d, self.pa, self.pb, B, np.repeat(self.sizes, d)).tocsc()

    def solve_hessian(self, H, rhs, factor_max=None, cg_max=None):
        """``H^{-1} rhs`` for ``rhs`` of shape (K, d); ``LinAlgError`` when ``H`` is numerically
        singular, or when CG (at most ``cg_max`` iterations) falls short on a
        :class:`BlockHessian` of more than ``factor_max`` unknowns (None: factorise whatever the size)."""
        K, d = rhs.shape
        if d == 1 or not self.pa.size:  # H = diag(n_a)
            return rhs / self.sizes[:, None]
        if isinstance(H, BlockHessian):
            x = H.solve(rhs, cg_max)
            if x is not None:
                return x
            if factor_max is not None and rhs.size > factor_max:  # its factor fills in: seconds to minutes
                raise np.linalg.LinAlgError(f"CG did not converge on {rhs.size} unknowns, too many to factorise")
            H = H.sparse()
        with warnings.catch_warnings():
            warnings.simplefilter("error", sla.LinAlgWarning)
            warnings.simplefilter("error", spla.MatrixRankWarning)
            try:
                if not sp.issparse(H):
                    with _one_thread():
                        return sla.solve(H, rhs.ravel(), assume_a="pos").reshape(K, d)
                # symmetric minimum-degree order: half the time of spsolve's default on 10-D groups
                lu = spd_splu(H)
                return lu.solve(rhs.ravel()).reshape(K, d)
            except (sla.LinAlgWarning, spla.MatrixRankWarning, RuntimeError) as exc:
                raise np.linalg.LinAlgError(str(exc)) from None

    def polish(self, c, hessian_of, max_steps=8):
        """Newton's method in this problem's (extended) precision with Hessians of double
        precision, from a minimiser ``c`` of the double-precision problem ``hessian_of``
        (mixed-precision iterative refinement: each step gains about the digits the double
        solve has, until the gradient is at this precision's rounding level or stops falling)."""
        c = np.asarray(c, dtype=self.abar.dtype)
        g = self.gradient(c)
        gnorm = problem.fro(g)
        H = hessian_of.hessian(c.astype(float))  # the steps move c by rounding only: one Hessian serves
        for _ in range(max_steps):
            try:
                step = hessian_of.solve_hessian(H, g.astype(float), FACTOR_MAX)
            except np.linalg.LinAlgError:
                break
            trial = c - step
            gt = self.gradient(trial)
            gtn = problem.fro(gt)
            if not gtn < gnorm:
                break
            c, g, gnorm = trial, gt, gtn
        return c

    def coarsened(self):
        """The minimiser of ``F`` with coinciding centres allowed: ``(c, ok)``.

        ``F`` is convex clustering of the ``K`` group means with the sizes as weights, a
        second-order cone program (``min 1/2 sum_a n_a ||c_a - abar_a||^2 + gamma sum W_ab t_ab``
        subject to ``||c_a - c_b|| <= t_ab``) solved by Clarabel (Goulart & Chen 2024) on ``K d``
        unknowns instead of ``n d``.  Where the groups refine the exact partition (every group
        inside one cluster of ``X*``), ``X*`` is constant on them, so ``c[labels] = X*`` and the
        pairs of groups that coincide are the merges that give the exact partition
        (docs/partitions.md, section 7).  ``ok`` is False where Clarabel does not solve it, or
        where the program is larger than :data:`COARSE_MAX_WORK` allows."""
        import clarabel

        K, d = self.abar.shape
        P = self.pa.size
        if not P:
            return self.abar.astype(float), True
        if P * (d + 1) ** 2 > COARSE_MAX_WORK:
            return self.abar.astype(float), False
        sizes, abar = self.sizes.astype(float), self.abar.astype(float)
        # Unknowns (c, t); the cone of pair e is (t_e, c_a - c_b), written as s = 0 - G x.
        rows = np.arange(P) * (d + 1)
        inner_rows = (rows[:, None] + 1 + np.arange(d)).ravel()
        G = sp.csc_matrix((np.r_[-np.ones(P), -np.ones(P * d), np.ones(P * d)],
                           (np.r_[rows, inner_rows, inner_rows],
                            np.r_[K * d + np.arange(P), (self.pa[:, None] * d + np.arange(d)).ravel(),
                                  (self.pb[:, None] * d + np.arange(d)).ravel()])),
                          shape=(P * (d + 1), K * d + P))
        H = sp.diags_array(np.r_[np.repeat(sizes, d), np.zeros(P)]).tocsc()
        q = np.r_[-(sizes[:, None] * abar).ravel(), float(self.gamma) * self.W.astype(float)]
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = CONIC_TOL
        solution = clarabel.DefaultSolver(H, q, G, np.zeros(P * (d + 1)), [clarabel.SecondOrderConeT(d + 1)] * P,
                                          settings).solve()
        ok = solution.status in (clarabel.SolverStatus.Solved, clarabel.SolverStatus.AlmostSolved)
        return np.asarray(solution.x[:K * d]).reshape(K, d), ok

    def minimise(self, c, max_steps=30, quick=False):
        """Newton's method from ``c`` while the joined centres stay apart: ``(c, ok)``.

        Runs until the gradient is at rounding level (``16 eps`` relative) or stops decreasing
        along the Newton step halved up to :data:`GRADIENT_BACKTRACKS` times (two or three steps
        from a solver's centres; near a fusion threshold the gradient's own
        rounding, amplified by ``R_ab / ||c_a - c_b||``, sets the floor).  Steps are damped so
        that no joined pair more than halves its distance at once.  ``ok`` is False when a pair
        collapses, or comes so close that the Hessian is singular to working precision
        (:func:`singular_to_working_precision`): the groups should be one.  ``quick``: also
        False where a Newton system needs more than :data:`QUICK_CG_MAX` CG iterations (a
        candidate with groups that nearly touch, from an early iterate: better tried later).
        """
        c = np.array(c, dtype=float)
        if not self.pa.size:
            return self.abar.copy(), True
        scale = np.sqrt(np.sum(self.sizes[:, None] * self.abar**2)) + self.gamma * float(np.sum(self.W)) + 1.0
        g = self.gradient(c)
        gnorm = problem.fro(g)
        for _ in range(max_steps):
            if gnorm <= 16 * np.finfo(float).eps * scale:
                break
            _, r = self.pair_geometry(c)
            if not np.all(r > 0) or (c.shape[1] > 1 and singular_to_working_precision(self.gamma * self.W / r, self.sizes)):
                return c, False
            try:
                step = self.solve_hessian(self.hessian(c), g, factor_max=0 if quick else FACTOR_MAX,
                                          cg_max=QUICK_CG_MAX if quick else None)
            except np.linalg.LinAlgError:
                return c, False
            if not np.all(np.isfinite(step)):
                return c, False
            for _ls in range(40):
                _, rt = self.pair_geometry(c - step)
                if np.all(rt >= 0.5 * r):
                    break
                step = 0.5 * step
            else:
                return c, False
            for _bt in range(GRADIENT_BACKTRACKS):  # shorter steps where the full one raises the gradient
                gt = self.gradient(c - step)
                gtn = problem.fro(gt)
                if gtn < gnorm:
                    break
                step = 0.5 * step
            else:
                break
            c, g, gnorm = c - step, gt, gtn
        return c, bool(np.all(self.pair_geometry(c)[1] > 0))


def pair_blocks(s, u):
    """Blocks ``s_e (I - u_e u_e^T)`` (pairs, d, d) for weights ``s`` and unit rows ``u``: the
    fused Hessian's pair blocks, and ssnal's edge blocks of its generalised Jacobian."""
    d = u.shape[1]
    return s[:, None, None] * (np.eye(d)[None] - u[:, :, None] * u[:, None, :])


def singular_to_working_precision(s, sizes):
    """Whether ``hess F`` (``d >= 2``) has condition number above ``1 / eps`` for sure: at least
    ``max s_ab / mean(n_a)`` (``s_ab = R_ab / ||c_a - c_b||``), since a unit vector on group ``a``
    orthogonal to ``u_ab`` has Rayleigh quotient at least ``s_ab`` and a constant one over all
    groups has ``mean(n_a)``.  A Newton step there is noise (a pair of groups nearly coincides),
    and a sparse factorisation of it can take seconds."""
    return float(np.max(s, initial=0.0)) * np.finfo(float).eps > float(np.mean(sizes))


class BlockHessian:
    """``hess F = diag(n_a) (x) I + sum_{a<b} s_ab (e_a - e_b)(e_a - e_b)^T (x) (I - u_ab u_ab^T)``
    without forming it, for wide data: a sparse factor of it fills in (the groups of a kNN graph
    in 30 features eliminate like a dense graph: one LU of 17,070 unknowns took 17 s on breast
    cancer, BENCHMARKS.md), while CG converges in tens of iterations there.  A product costs
    ``O(pairs d)``.

    The preconditioner inverts ``H`` restricted to small sets of groups: each group alone, or,
    where pairs couple groups strongly (``s_ab >= STRONG sqrt(h_a h_b)``, ``h_a`` the trace of
    group ``a``'s diagonal block over ``d``: the strength test of algebraic multigrid), the
    connected sets of such pairs, up to :data:`SET_MAX` unknowns.  A pair about to fuse has
    ``s_ab = R_ab / ||c_a - c_b||`` far above everything else, and block-Jacobi alone then
    needs thousands of iterations.
    """

    STRONG = 0.25
    SET_MAX = 1024  # unknowns (groups x d) of a strongly coupled set inverted together

    def __init__(self, sizes, pa, pb, s, u):
        self.sizes, self.s, self.u, self._pairs = sizes, s, u, (pa, pb)
        K, d = sizes.size, u.shape[1]
        P = pa.size
        rows, cols = np.r_[np.arange(P), np.arange(P)], np.r_[pa, pb]
        self._E = sp.csr_array((np.r_[np.ones(P), -np.ones(P)], (rows, cols)), shape=(P, K))  # +1 at a, -1 at b
        self._Et = self._E.T.tocsr()
        # Diagonal blocks: (n_a + sum s) I - sum s u u^T over the pairs at a, a column at a time.
        h = sizes + np.bincount(pa, s, K) + np.bincount(pb, s, K)
        V = np.sqrt(s)[:, None] * u
        touching = abs(self._Et)
        D = np.zeros((K, d, d))
        for k in range(d):
            D[:, :, k] = -(touching @ (V * V[:, k:k + 1]))
        D[:, np.arange(d), np.arange(d)] += h[:, None]
        self._inverse = np.linalg.inv(D)  # each block >= n_a I
        self._set_inverses = [(groups, np.linalg.inv(self._restricted(groups, D)))
                              for groups in self._strong_sets(h, d)]

    def __matmul__(self, v):
        dv = self._E @ v
        f = self.s[:, None] * (dv - problem.row_dots(self.u, dv)[:, None] * self.u)
        return self.sizes[:, None] * v + self._Et @ f

    def _strong_sets(self, h, d):
        """Arrays (sets, m) of the groups of the strongly coupled sets of each size ``m >= 2``."""
        from scipy.sparse.csgraph import connected_components

        pa, pb = self._pairs
        strong = self.s >= self.STRONG * np.sqrt(h[pa] * h[pb])
        if not np.any(strong):
            return []
        K = h.size
        adjacency = sp.coo_array((np.ones(int(strong.sum())), (pa[strong], pb[strong])), shape=(K, K))
        _, comp = connected_components(adjacency, directed=False)
        size = np.bincount(comp)
        order = np.argsort(comp, kind="stable")
        sets = []
        for m in np.unique(size[(size >= 2) & (size * d <= self.SET_MAX)]):
            members = order[np.isin(comp[order], np.flatnonzero(size == m))]
            sets.append(members.reshape(-1, m))
        return sets

    def _restricted(self, groups, D):
        """``H`` on each set of ``groups`` (C, m), from its diagonal blocks ``D``: dense (C, m d, m d)."""
        C, m = groups.shape
        d = self.u.shape[1]
        H = np.zeros((C, m, d, m, d))
        for x in range(m):
            H[:, x, :, x, :] = D[groups[:, x]]
        where = np.full(self.sizes.size, -1)
        slot = np.full(self.sizes.size, -1)
        where[groups.ravel()] = np.repeat(np.arange(C), m)
        slot[groups.ravel()] = np.tile(np.arange(m), C)
        pa, pb = self._pairs
        inside = np.flatnonzero((where[pa] >= 0) & (where[pa] == where[pb]))
        B = pair_blocks(self.s[inside], self.u[inside])
        c, x, y = where[pa[inside]], slot[pa[inside]], slot[pb[inside]]
        np.subtract.at(H, (c, x, slice(None), y, slice(None)), B)
        np.subtract.at(H, (c, y, slice(None), x, slice(None)), B)
        return H.reshape(C, m * d, m * d)

    def _precondition(self, r):
        out = np.matmul(self._inverse, r[:, :, None])[:, :, 0]
        for groups, inverse in self._set_inverses:
            C, m = groups.shape
            out[groups] = np.matmul(inverse, r[groups].reshape(C, -1, 1)).reshape(C, m, -1)
        return out

    def solve(self, rhs, maxiter=None):
        """``H^{-1} rhs`` by preconditioned CG to relative residual :data:`CG_RTOL`; None when it
        does not get there within ``min(K d, 2000, maxiter)`` iterations (the caller factorises
        instead; :meth:`FusedProblem.minimise` up to :data:`FACTOR_MAX` unknowns)."""
        maxiter = min(rhs.size, 2000, maxiter or 2000)
        x, _, ok = cg(self.__matmul__, self._precondition, rhs, self._precondition(rhs), CG_RTOL, maxiter)
        return x if ok else None

    def sparse(self):
        """The same matrix, sparse (K d, K d) CSC."""
        d = self.u.shape[1]
        return block_laplacian(self.sizes.size, d, *self._pairs, pair_blocks(self.s, self.u),
                               np.repeat(self.sizes, d)).tocsc()
