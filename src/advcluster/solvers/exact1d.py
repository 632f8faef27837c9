"""Exact convex clustering for uniform weights in one dimension (docs/partitions.md, section 4).

With every pair weighted ``w`` and ``lam = gamma w``, sort the values
``a_(0) <= ... <= a_(n-1)``.  A block of consecutive sorted points fused at
value ``x`` satisfies ``x = mean_block(a) + lam (#above - #below)``
(Hocking et al. 2011), which is the mean over the block of
``y_i = a_(i) + lam (n - 1 - 2 i)``; blocks never split as ``lam`` grows, and
adjacent blocks must stay ordered.  So the sorted solution is the isotonic
(non-decreasing) regression of ``y``, computed by pooling adjacent violators in
``O(n)`` after an ``O(n log n)`` sort.  For ``p = 1`` the problem separates by
coordinate, so the same holds column by column in any dimension.

The clusters are the blocks, decided exactly.  Floating-point PAV proposes them; its
answer is then checked against the optimality conditions of isotonic regression (every
prefix of a block has a mean at least the block's; adjacent blocks' means strictly
increase) with a bound on the rounding of each comparison.  Where a comparison is within
its bound (a tie, or a near-tie of a few ulps) the column is solved again in exact
rational arithmetic: the data, ``gamma`` and ``w`` are dyadic rationals, so ``y`` is a
vector of integers times one power of two, and PAV runs on Python integers.

A dual certificate ``Z`` is recovered so the answer is judged by the same KKT
residual as every other method: across blocks ``z_e = lam sign(x_i - x_j)``;
inside a block of size ``s`` the minimum-norm flow ``z_ij = (t_i - t_j) / s``,
or, when that leaves the box ``|z| <= lam``, a fractional-tournament flow built
greedily (checked; a bounded least-squares flow is the fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..graph import first_appearance
from . import problem
from .core import Iterate, register

ULP = np.finfo(float).eps / 2  # unit roundoff


@dataclass(frozen=True, eq=False)
class ExactPartition:
    """The exact solution for uniform weights, column by column.

    Attributes
    ----------
    centers : ndarray (n, d)
        Block means, correctly rounded where the exact path ran, else to a few ulps.
    labels : ndarray (n,)
        The exact partition: points in the same block of every column, by first appearance.
    rank : ndarray (n, d) of int
        Each point's block in its column, numbered in increasing order of value (exact,
        also where two blocks' rounded centres coincide).
    n_exact : int
        Columns that needed rational arithmetic.
    """

    centers: np.ndarray
    labels: np.ndarray
    rank: np.ndarray
    n_exact: int

    @property
    def order(self):
        """For one feature, the clusters (labels) in increasing order of centre; else None."""
        if self.rank.shape[1] != 1:
            return None
        rank = np.empty(int(self.labels.max()) + 1, dtype=np.int64)
        rank[self.labels] = self.rank[:, 0]
        return np.argsort(rank, kind="stable")


def unsupported(graph, d, p) -> str:
    """Why ``exact1d`` does not solve this problem ('' when it does): it needs a complete graph
    of equal weights, and one feature or ``p = 1``."""
    if not graph.is_uniform_complete():
        return ("method 'exact1d' needs a complete graph with equal weights (uniform_graph(n)); "
                "use method='ssnal' or 'admm' for other weights.")
    if d > 1 and p != 1:
        return (f"method 'exact1d' solves one feature (or p=1 coordinate by coordinate); A has {d} features "
                "with p=2: use method='ssnal', or p=1.")
    return ""


def exact_solution(A, gamma, graph, p) -> "ExactPartition":
    """:func:`exact_partition` on ``graph``'s equal weights, or ``ValueError`` saying why it does
    not apply (:func:`unsupported`)."""
    why = unsupported(graph, A.shape[1], p)
    if why:
        raise ValueError(why)
    return exact_partition(A, gamma, graph.weights[0] if graph.n_edges else 0.0)


def exact_partition(A, gamma, w=1.0):
    """The exact solution and partition for uniform weights ``w`` (d = 1, or p = 1 column by column).

    The fast path for callers that solve thousands of small problems (the attacks);
    :func:`advcluster.solve` with ``method="exact1d"`` adds the dual certificate.
    """
    A = np.asarray(A, dtype=float)
    n, d = A.shape
    X = np.empty((n, d))
    rank = np.empty((n, d), dtype=np.int64)
    n_exact = 0
    for c in range(d):
        X[:, c], rank[:, c], exact = _column(A[:, c], float(gamma), float(w))
        n_exact += exact
    if d == 1:
        labels = first_appearance(rank[:, 0])
    else:
        labels = first_appearance(np.unique(rank, axis=0, return_inverse=True)[1].ravel())
    return ExactPartition(X, labels, rank, n_exact)


def _column(a, gamma, w):
    """``(x, rank, exact)`` for one column: centres, each point's block (by value), whether the
    rational path decided it."""
    n = len(a)
    order = np.argsort(a, kind="stable")
    lam = gamma * w
    rank = np.empty(n, dtype=np.int64)
    x = np.empty(n)
    if lam == 0 or n == 1:  # X = A: blocks are the distinct values
        s = a[order]
        rank[order] = np.concatenate([[0], np.cumsum(s[1:] != s[:-1])])
        return a.copy(), rank, False
    k = (n - 1 - 2 * np.arange(n)).astype(float)
    y = a[order] + lam * k
    from scipy.optimize import isotonic_regression  # here: scipy.optimize is slow to import

    fit = isotonic_regression(y, increasing=True)
    starts = fit.blocks[:-1]
    if _blocks_proven(y, fit.x[starts], starts, np.abs(a[order]) + 3 * np.abs(lam * k)):
        x[order] = fit.x
        rank[order] = np.repeat(np.arange(starts.size), np.diff(fit.blocks))
        return x, rank, False
    values, sizes = _rational_pav(a[order], gamma, w, k.astype(np.int64))
    x[order] = np.repeat(values, sizes)
    rank[order] = np.repeat(np.arange(sizes.size), sizes)
    return x, rank, True


def _blocks_proven(y, value, starts, size):
    """Whether floating-point PAV's blocks are certainly the exact ones.

    ``y`` is within ``2 ULP * size`` of the exact shifted values.  With ``z = y - value`` on
    each block, the conditions are: every proper prefix sum of ``z - mean_B(z)`` inside a block
    is positive, and adjacent block means ``value + mean_B(z)`` strictly increase; each is
    accepted only when it clears a bound on its rounding error.
    """
    n = y.size
    counts = np.diff(np.r_[starts, n])
    block = np.repeat(np.arange(starts.size), counts)
    z = y - value[block]
    abs_z = np.abs(z)
    data_err = 2 * ULP * size  # rounding of y itself
    total = np.add.reduceat(z, starts)
    abs_total = np.add.reduceat(abs_z, starts)
    err_total = np.add.reduceat(data_err, starts)
    mean = value + total / counts
    err_mean = 4 * (ULP * abs_total + err_total / counts + ULP * np.abs(mean))
    if np.any(np.diff(mean) <= err_mean[1:] + err_mean[:-1]):
        return False
    # Prefix sums inside blocks: the global running sum minus its value before the block.
    run = np.cumsum(z)
    before = np.r_[0.0, run][starts]
    pos = np.arange(n) - starts[block] + 1  # prefix length
    prefix = run - before[block] - pos * (total / counts)[block]
    err_prefix = 4 * (n * ULP * float(abs_z.sum()) + err_total[block] + pos * err_mean[block])
    inside = pos < counts[block]  # the full block's prefix is zero by definition
    return bool(np.all(prefix[inside] > err_prefix[inside]))


def _dyadic(values):
    """Integers ``m`` and one exponent ``e`` with ``values = m * 2**e`` exactly (Python ints)."""
    mant, expo = np.frexp(np.asarray(values, dtype=float))
    m = (mant * 2.0**53).astype(np.int64)  # exact: a double's mantissa has 53 bits
    e = expo.astype(np.int64) - 53
    e0 = int(e[m != 0].min()) if np.any(m != 0) else 0
    return [int(mi) << int(ei - e0) if mi else 0 for mi, ei in zip(m, e)], e0


def _rational_pav(a_sorted, gamma, w, k):
    """Exact PAV on ``y_i = a_i + gamma w k_i`` (integers times ``2**e``); blocks of equal means
    are pooled.  Returns the block values (correctly rounded) and sizes."""
    ints, e = _dyadic(np.r_[a_sorted, gamma, w])
    a_int, g_int, w_int = ints[:-2], ints[-2], ints[-1]
    # a * 2^e and gamma w * 2^(2e): bring a to the exponent 2e of the product.
    lam, shift = g_int * w_int, -e
    if e < 0:
        y = [(ai << shift) + lam * int(ki) for ai, ki in zip(a_int, k)]
        scale = 2 * e
    else:
        y = [ai + lam * int(ki) * (1 << e) for ai, ki in zip(a_int, k)]
        scale = e
    sums, counts = [], []
    for yi in y:
        s, c = yi, 1
        while sums and sums[-1] * c >= s * counts[-1]:  # mean of the last block >= this one's
            s += sums.pop()
            c += counts.pop()
        sums.append(s)
        counts.append(c)
    values = np.array([_ratio_to_float(s, c, scale) for s, c in zip(sums, counts)])
    return values, np.array(counts)


def _ratio_to_float(num, den, exponent):
    """``num / den * 2**exponent`` correctly rounded (normal range)."""
    return float(Fraction(num, den) * (Fraction(2) ** exponent))


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


def _dual_column(graph, a, x, rank, lam):
    """A dual ``z`` (m,) with ``J z = a - x`` and ``|z_e| <= lam``, from the exact blocks ``rank``."""
    i, j = graph.edges.T
    z = lam * np.sign(rank[i] - rank[j]).astype(float)
    free = rank[i] == rank[j]
    if not free.any():
        return z
    t = (a - x) - graph.incidence @ z  # what the in-block flows must carry
    block = rank
    s = np.bincount(block)[block]
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
            from scipy.optimize import lsq_linear

            J = graph.incidence[nodes][:, sel].toarray()
            z[sel] = lsq_linear(J, t[nodes], bounds=(-lam, lam), method="bvls", tol=1e-15).x
    return z


@register("exact1d", norms=(1, 2), summary="exact solution for uniform weights in 1-D (p=1: any d)", exact=True,
          limits=unsupported)
def run(A, graph, gamma, *, p, tol, max_iter, x0, z0, verbose, certificate=True):
    """Exact solution by isotonic regression; no tolerance, no iterations.

    Applies to a complete graph with equal weights, with ``d = 1`` (p = 1 or 2)
    or ``p = 1`` in any dimension.  The labels are the exact blocks
    (:func:`exact_partition`).  ``certificate=False`` skips the dual recovery (faster;
    the KKT residual then reports the missing dual).
    """
    d = A.shape[1]
    exact = exact_solution(A, gamma, graph, p)
    w = graph.weights[0] if graph.n_edges else 0.0
    X = exact.centers
    U = problem.edge_diff(graph, X)
    U[exact.rank[graph.edges[:, 0]] == exact.rank[graph.edges[:, 1]]] = 0.0
    how = "exact partition (isotonic regression of the shifted sorted values"
    how += f"; {exact.n_exact} column(s) decided in rational arithmetic)" if exact.n_exact else ")"
    if certificate and graph.n_edges:
        lam = gamma * w
        Z = np.column_stack([_dual_column(graph, A[:, c], X[:, c], exact.rank[:, c], lam) for c in range(d)])
        msg = how + ", dual certificate recovered"
    else:
        Z = np.zeros_like(U)
        msg = how + (", dual certificate skipped" if graph.n_edges else "")
    return Iterate(X=X, U=U, Z=Z, n_iter=1, converged=True, message=msg, exact=True, labels=exact.labels)
