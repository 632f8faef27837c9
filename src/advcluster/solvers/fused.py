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
from .linear import spd_splu

DENSE_MAX = 600  # Hessians of at most this order are solved dense
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


def group_means(X, labels, K):
    """Mean of the rows of ``X`` in each group (K, d)."""
    sums = np.zeros((K, X.shape[1]))
    np.add.at(sums, labels, X)
    return sums / np.bincount(labels, minlength=K)[:, None]


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
        self.W = np.bincount(inv.ravel(), weights=graph.weights[self.cross], minlength=key.size)
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
        """``hess F`` at ``c``: a dense array up to order :data:`DENSE_MAX`, else sparse (K d, K d)."""
        K, d = c.shape
        if not self.pa.size or d == 1:
            return sp.diags_array(np.repeat(self.sizes, d)).tocsc()
        diff, r = self.pair_geometry(c)
        u = diff / r[:, None]
        B = (self.gamma * self.W / r)[:, None, None] * (np.eye(d)[None] - u[:, :, None] * u[:, None, :])
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

    def solve_hessian(self, H, rhs):
        """``H^{-1} rhs`` for ``rhs`` of shape (K, d); ``LinAlgError`` when ``H`` is numerically singular."""
        K, d = rhs.shape
        if d == 1 or not self.pa.size:  # H = diag(n_a)
            return rhs / self.sizes[:, None]
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

    def minimise(self, c, max_steps=30):
        """Newton's method from ``c`` while the joined centres stay apart: ``(c, ok)``.

        Runs until the gradient is at rounding level (``16 eps`` relative) or stops decreasing
        (two or three steps from a solver's centres; near a fusion threshold the gradient's own
        rounding, amplified by ``R_ab / ||c_a - c_b||``, sets the floor).  Steps are damped so
        that no joined pair more than halves its distance at once.  ``ok`` is False when a pair
        collapses: the groups should be one.
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
            if not np.all(r > 0):
                return c, False
            try:
                step = self.solve_hessian(self.hessian(c), g)
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
            gt = self.gradient(c - step)
            gtn = problem.fro(gt)
            if not gtn < gnorm:
                break
            c, g, gnorm = c - step, gt, gtn
        return c, bool(np.all(self.pair_geometry(c)[1] > 0))
