"""Exact reference for convex clustering of one feature with uniform weights, in rationals.

Independent of advcluster's code (it imports nothing from it).  Used by
``solvers/test_exact_partitions.py`` and ``attacks/test_staircase_exact.py``.

The mathematics (Hocking et al. 2011).  With every pair weighted ``w`` and ``lam = gamma w``,
the solution of ``min 1/2 sum (x_i - a_i)^2 + lam sum_{i<j} |x_i - x_j|`` keeps the order of
the data, and with ``a_(0) <= ... <= a_(n-1)`` sorted the sorted solution is the isotonic
(non-decreasing) regression of ``y_k = a_(k) + lam (n - 1 - 2k)``: pool-adjacent-violators
(PAV) into blocks of consecutive sorted points, each at the mean of its ``y``.  The clusters
are the points with equal centres; a PAV that pools whenever the left mean is ``>=`` the right
one ends with strictly increasing block means, so its blocks are exactly the clusters.

Everything here is exact: floats are dyadic rationals, ``Fraction(float)`` is exact, and
``lam = Fraction(gamma) * Fraction(w)`` is the exact product (not the rounded float product).
To keep PAV fast, the shifted values are brought to one common denominator and PAV runs on
Python integers (comparisons of means by cross-multiplication).

Labels are numbered by first appearance (the first point gets 0, the next point not in its
cluster gets 1, ...), so two labelings describe the same partition iff they are equal.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "F",
    "first_appearance",
    "pav_blocks",
    "rational_pav",
    "rational_pav_partition",
    "rational_centres",
    "has_exact_tie",
    "rational_partition",
    "perturbed",
    "partition_at",
    "delta",
    "ExactStaircase",
    "exact_breakpoints",
    "kkt_holds",
    "minmax_partition",
]


def F(x) -> Fraction:
    """``x`` as an exact Fraction (floats, numpy floats, ints and Fractions)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    return Fraction(float(x))


def first_appearance(keys) -> tuple:
    """Labels ``0, 1, ...`` numbered by first appearance of the (hashable) keys."""
    seen = {}
    return tuple(seen.setdefault(k, len(seen)) for k in keys)


def _common(values):
    """Integers ``m_i`` and one positive integer ``D`` with ``values_i = m_i / D`` exactly."""
    D = 1
    for v in values:
        D = math.lcm(D, v.denominator)
    return [v.numerator * (D // v.denominator) for v in values], D


def pav_blocks(y_int):
    """PAV on integers: the block sizes of the isotonic regression of ``y_int`` (in order).

    A stack of blocks ``(sum, count)``; a new block is pooled into the previous one while the
    previous mean is ``>=`` its mean (``s_prev / c_prev >= s / c``, cross-multiplied).
    """
    sums, counts = [], []
    for v in y_int:
        s, c = v, 1
        while sums and sums[-1] * c >= s * counts[-1]:
            s += sums.pop()
            c += counts.pop()
        sums.append(s)
        counts.append(c)
    return sums, counts


def _shifted(values, lam):
    """``(order, y)``: the stable sorting permutation of ``values`` and ``y_k = v_(k) + lam (n-1-2k)``."""
    n = len(values)
    order = sorted(range(n), key=values.__getitem__)  # Python's sort is stable
    y = [values[i] + lam * (n - 1 - 2 * k) for k, i in enumerate(order)]
    return order, y


def rational_pav(values, lam):
    """The exact solution of one column: ``(labels, centre)``.

    ``values``: Fractions; ``lam``: a Fraction >= 0.  ``labels[i]`` is the cluster of point ``i``
    (first appearance); ``centre[i]`` its exact centre (a Fraction).
    """
    values = [F(v) for v in values]
    lam = F(lam)
    order, y = _shifted(values, lam)
    ints, D = _common(y)
    sums, counts = pav_blocks(ints)
    block = [0] * len(values)
    centre = [None] * len(values)
    k = 0
    for b, (s, c) in enumerate(zip(sums, counts)):
        mean = Fraction(s, c * D)
        for i in order[k:k + c]:
            block[i] = b
            centre[i] = mean
        k += c
    return first_appearance(block), centre


def has_exact_tie(values, lam) -> bool:
    """Whether PAV pooled on an exact equality: some final block has a proper prefix whose mean
    equals the block's mean (two adjacent candidate blocks with exactly equal means), for
    ``lam > 0``.  Floating point cannot decide such a column; the exact path must."""
    values = [F(v) for v in values]
    lam = F(lam)
    if lam == 0 or len(values) < 2:
        return False
    _, y = _shifted(values, lam)
    ints, _ = _common(y)
    sums, counts = pav_blocks(ints)
    k = 0
    for s, c in zip(sums, counts):
        run = 0
        for j in range(1, c):
            run += ints[k + j - 1]
            if run * c == s * j:
                return True
        k += c
    return False


def rational_pav_partition(a, gamma, w=1.0):
    """The exact clusters of one column ``a`` (floats) as labels by first appearance."""
    return rational_pav([F(v) for v in a], F(gamma) * F(w))[0]


def rational_partition(A, gamma, w=1.0):
    """Several columns with ``p = 1``: points together iff together in every column.

    ``A``: an (n, d) array or a list of rows; a 1-D sequence is one column.
    """
    rows = [list(r) if hasattr(r, "__len__") else [r] for r in A]
    d = len(rows[0])
    lam = F(gamma) * F(w)
    cols = [rational_pav([F(r[c]) for r in rows], lam)[0] for c in range(d)]
    return first_appearance(zip(*cols))


def rational_centres(A, gamma, w=1.0):
    """The exact centres (n lists of d Fractions) for ``p = 1`` column by column."""
    rows = [list(r) if hasattr(r, "__len__") else [r] for r in A]
    d = len(rows[0])
    lam = F(gamma) * F(w)
    cols = [rational_pav([F(r[c]) for r in rows], lam)[1] for c in range(d)]
    return [list(t) for t in zip(*cols)]


def delta(y0, y1) -> int:
    """Ordered pairs ``i != j`` whose co-membership differs between labelings ``y0`` and ``y1``."""
    n = len(y0)
    count = 0
    for i in range(n):
        for j in range(i + 1, n):
            count += (y0[i] == y0[j]) != (y1[i] == y1[j])
    return 2 * count


# ----------------------------------------------------------------------------------------
# Independent checks of the PAV reference itself
# ----------------------------------------------------------------------------------------


def minmax_partition(values, lam):
    """Clusters from the min-max formula of isotonic regression (no PAV):
    ``x_k = max_{s <= k} min_{t >= k} mean(y[s..t])`` on the sorted shifted values; points with
    equal ``x`` form a cluster.  O(n^3); for checking PAV on small inputs."""
    values = [F(v) for v in values]
    order, y = _shifted(values, F(lam))
    n = len(y)
    pre = [Fraction(0)]
    for v in y:
        pre.append(pre[-1] + v)
    x = [max(min((pre[t + 1] - pre[s]) / (t - s + 1) for t in range(k, n)) for s in range(k + 1))
         for k in range(n)]
    out = [None] * n
    for k, i in enumerate(order):
        out[i] = x[k]
    return first_appearance(out)


def kkt_holds(values, lam, labels) -> bool:
    """Whether ``labels`` is the exact partition of the ORIGINAL problem (not its isotonic form).

    Stationarity ``x_i - a_i + lam sum_{j != i} z_ij = 0`` with ``z`` antisymmetric,
    ``z_ij = sign(x_i - x_j)`` across clusters and ``|z_ij| <= 1`` inside.  Summed over a
    cluster ``B`` it fixes the centre ``c_B = mean_B(a) + lam (#above - #below)``; the centres
    must be pairwise distinct (then the partition is the one of the unique solution).  Inside
    ``B`` (size ``s``) a flow with row sums ``r_i / lam``, ``r_i = a_i - c_B + lam (#above -
    #below)``, exists iff the sum is 0 and the ``k`` smallest sum to at least ``-k (s - k)``
    for every ``k`` (Landau's condition for fractional tournaments).  For ``lam = 0`` the
    clusters must be the groups of equal values.
    """
    a = [F(v) for v in values]
    lam = F(lam)
    n = len(a)
    groups = {}
    for i, g in enumerate(labels):
        groups.setdefault(g, []).append(i)
    if lam == 0:
        return all(len({a[i] for i in m}) == 1 for m in groups.values()) and \
            len({a[m[0]] for m in groups.values()}) == len(groups)
    # Clusters of the convex clustering solution are intervals of the sorted data (order is
    # preserved); order the clusters by their mean of a.
    blocks = sorted(groups.values(), key=lambda m: sum(a[i] for i in m) / len(m))
    below = 0
    centres = []
    for m in blocks:
        s = len(m)
        above = n - below - s
        c = sum(a[i] for i in m) / s + lam * (above - below)
        centres.append(c)
        r = sorted(a[i] - c + lam * (above - below) for i in m)
        if sum(r) != 0:
            return False
        run = Fraction(0)
        for k in range(1, s + 1):
            run += r[k - 1]
            if run < -lam * k * (s - k):
                return False
        below += s
    return all(c0 < c1 for c0, c1 in zip(centres, centres[1:]))


# ----------------------------------------------------------------------------------------
# The exact partition along a line  a + eps * 1_index
# ----------------------------------------------------------------------------------------


def perturbed(a, index, eps):
    """The exact data ``a_i + eps`` for ``i`` in ``index`` (Fractions)."""
    eps = F(eps)
    idx = set(int(i) for i in index)
    return [F(v) + (eps if i in idx else 0) for i, v in enumerate(a)]


def partition_at(a, index, gamma, eps, w=1.0):
    """The exact partition of the exact data ``a_i + eps`` (``i`` in ``index``)."""
    return rational_pav(perturbed(a, index, eps), F(gamma) * F(w))[0]


@dataclass
class ExactStaircase:
    """The exact partition of ``a + eps 1_index`` as a function of ``eps`` on ``[lo, hi]``.

    ``cuts``: sorted candidate points strictly inside ``(lo, hi)`` (every order event and every
    root of a mean equality); between consecutive cuts (and the ends) the partition is constant.
    ``pieces[k]``: the partition on the open interval ``(bounds[k], bounds[k+1])`` with
    ``bounds = [lo, *cuts, hi]``; ``at[k]``: the partition at ``cuts[k]``.
    ``breakpoints``: cuts whose left and right pieces differ.  ``isolated``: cuts whose two
    pieces agree but whose own partition differs from them.
    """

    lo: Fraction
    hi: Fraction
    cuts: list
    pieces: list
    at: list
    breakpoints: list
    isolated: list

    @property
    def bounds(self):
        return [self.lo, *self.cuts, self.hi]

    def partition(self, eps):
        """The partition at ``eps`` (in ``(lo, hi)``) read off the description."""
        eps = F(eps)
        k = bisect.bisect_left(self.cuts, eps)
        if k < len(self.cuts) and self.cuts[k] == eps:
            return self.at[k]
        return self.pieces[k]

    def intervals(self):
        """``(left, right, partition)`` for every open piece."""
        b = self.bounds
        return [(b[k], b[k + 1], p) for k, p in enumerate(self.pieces)]

    def nearest_change(self, eps):
        """Distance from ``eps`` to the nearest breakpoint or isolated point (inf if none)."""
        eps = F(eps)
        pts = self.breakpoints + self.isolated
        return min((abs(eps - p) for p in pts), default=math.inf)


def exact_breakpoints(a, index, gamma, lo, hi, w=1.0) -> ExactStaircase:
    """The exact piecewise-constant partition of ``a_i + eps`` (``i`` in ``index``) on ``[lo, hi]``.

    Order events ``eps = a_j - a_i`` (``i`` in ``index``, ``j`` not) cut the line into
    intervals on which the sorted order is fixed; on each, ``y(eps)`` is affine in ``eps`` (slope
    1 at perturbed positions, 0 elsewhere) and PAV's every decision is the sign of
    ``mean y[s..k] - mean y[k+1..t]`` for some ``s <= k < t``, which changes only at the root of
    a linear equation.  Those roots and the events are the cuts; the exact partition is
    evaluated at every cut and at the midpoint of every gap between cuts.
    """
    a = [F(v) for v in a]
    n = len(a)
    lo, hi, lam = F(lo), F(hi), F(gamma) * F(w)
    idx = set(int(i) for i in index)
    events = sorted({a[j] - a[i] for i in idx for j in range(n) if j not in idx})
    seg = [lo] + [e for e in events if lo < e < hi] + [hi]
    cuts = set(seg[1:-1])
    for u, v in zip(seg[:-1], seg[1:]):
        mid = (u + v) / 2
        order = sorted(range(n), key=lambda i: a[i] + (mid if i in idx else 0))
        # y_k(eps) = b_k + c_k eps on this interval, brought to integers over one denominator.
        b = [a[i] + lam * (n - 1 - 2 * k) for k, i in enumerate(order)]
        c = [1 if i in idx else 0 for i in order]
        bi, D = _common(b)
        pb, pc = [0], [0]
        for k in range(n):
            pb.append(pb[-1] + bi[k])
            pc.append(pc[-1] + c[k])
        for s in range(n):
            for k in range(s, n - 1):
                m1 = k - s + 1
                B1, C1 = pb[k + 1] - pb[s], pc[k + 1] - pc[s]
                for t in range(k + 1, n):
                    m2 = t - k
                    B2, C2 = pb[t + 1] - pb[k + 1], pc[t + 1] - pc[k + 1]
                    # (B1 + C1 D eps) / m1 == (B2 + C2 D eps) / m2
                    den = (C1 * m2 - C2 * m1) * D
                    if den:
                        r = Fraction(B2 * m1 - B1 * m2, den)
                        if u < r < v:
                            cuts.add(r)
    cuts = sorted(cuts)
    bounds = [lo, *cuts, hi]
    pieces = [partition_at(a, idx, gamma, (x + y) / 2, w) for x, y in zip(bounds[:-1], bounds[1:])]
    at = [partition_at(a, idx, gamma, x, w) for x in cuts]
    breakpoints = [x for k, x in enumerate(cuts) if pieces[k] != pieces[k + 1]]
    isolated = [x for k, x in enumerate(cuts) if pieces[k] == pieces[k + 1] and at[k] != pieces[k]]
    return ExactStaircase(lo, hi, cuts, pieces, at, breakpoints, isolated)
