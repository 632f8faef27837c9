"""Exact 1-D search: the piecewise-constant deviation ``f(eps)`` as plateaus, breakpoints bisected.

``f`` depends on ``eps`` only through the partition ``y(eps)``, which is piecewise constant.
Evaluate a grid, then bisect every grid interval whose end points have different partitions,
recursively on each side whose partition differs from the midpoint's, until each breakpoint
is bracketed within ``xtol = rtol * (hi - lo)``. Midpoints of all open brackets are evaluated
together, level by level (in parallel with ``n_jobs``).

What is exact (docs/partitions.md, section 6): the lower level's labels are proven (every
evaluation says whether, :attr:`Evaluation.certified`), so each bracket's ends have different
exact partitions and a breakpoint lies between them, within ``xtol``; each plateau's value is
the exact deviation of its partition.  Every breakpoint between grid points whose partitions
differ is located.  For convex clustering of one feature with fixed weights (uniform weights,
or ``reweight=False``), and for ``p = 1``, no change can hide between two grid points: an
interval is also bisected when the order of the cluster centres differs at its ends, and
where partition and order agree at both ends they hold throughout (the data for which a
partition with a given order of centres is optimal form a convex polyhedron, and the data move
along a line).  Otherwise (p = 2 in several features, weights rebuilt from the data, black
boxes) a partition that changes and changes back between two neighbouring grid points is not
seen in general: refine the grid (``num``).

BL1: the best evaluated point within the budget, ties to the smallest ``|eps|``, so the
answer is the inner end of the best plateau (to ``xtol``). BL2: the smallest ``|eps|`` on
either side whose deviation reaches the target: the reaching side of a bracket, within ``xtol``
of the least perturbation that reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._records import Record
from .core import Outcome, register
from .grid import grid_points


@dataclass(frozen=True)
class Plateau(Record):
    """A maximal interval of ``eps`` with one partition, bounded by evaluated points.

    ``lower`` / ``upper`` are the outermost evaluated points of the plateau; the
    breakpoints lie within ``xtol`` outside them (or the plateau meets the range's end).
    ``certified``: the labels of every evaluation in it are proven.
    """

    lower: float
    upper: float
    value: float
    n_changed: int
    n_clusters: int
    n_points: int
    certified: bool = True


def _same(a, b):
    return np.array_equal(a.labels, b.labels)


def _same_state(a, b):
    """Same partition, and for one-feature centres the same order of clusters."""
    if a.order is not None and b.order is not None and not np.array_equal(a.order, b.order):
        return False
    return _same(a, b)


def plateaus(evaluations) -> list[Plateau]:
    """Group evaluations sorted by ``eps`` into plateaus of equal partitions."""
    evs = sorted(evaluations, key=lambda e: e.theta[0])
    out, start = [], 0
    for k in range(1, len(evs) + 1):
        if k == len(evs) or not _same(evs[k], evs[start]):
            first, last = evs[start], evs[k - 1]
            out.append(Plateau(float(first.theta[0]), float(last.theta[0]), first.value,
                               first.n_changed, first.n_clusters, k - start,
                               all(e.certified for e in evs[start:k])))
            start = k
    return out


@register("staircase", dims="1", threats="moves", summary="exact in 1-D: grid, then bisect every breakpoint to a tolerance")
def run(search, *, num=None, points=None, rtol=1e-8):
    """Exact plateaus of ``f(eps)`` for a one-parameter perturbation.

    Options
    -------
    num : int
        Initial grid points over the search box (default 321).
    points : array, optional
        Explicit initial grid (sorted or not).
    rtol : float
        Breakpoints located to ``rtol`` times the width of the grid's range.

    Returns ``extra["plateaus"]`` (list of :class:`Plateau`, sorted) and
    ``extra["breakpoints"]`` (array (k, 2) of brackets ``[left, right]``).
    """
    if not (isinstance(rtol, float) and 0 < rtol < 1):
        raise ValueError(f"rtol must be a float in (0, 1), got {rtol!r}.")
    problem = search.problem
    pts = np.unique(grid_points(problem, num, points)[:, 0])
    if pts.size < 2:
        raise ValueError("staircase needs at least two distinct grid points.")
    xtol = rtol * (pts[-1] - pts[0])
    evs = sorted(search.evaluate_many(pts[:, None]), key=lambda e: e.theta[0])
    open_ = [(a, b) for a, b in zip(evs[:-1], evs[1:]) if not _same_state(a, b)]
    brackets = []
    while open_:
        wide = [(a, b) for a, b in open_ if b.theta[0] - a.theta[0] > xtol]
        brackets += [(a, b) for a, b in open_ if b.theta[0] - a.theta[0] <= xtol]
        mids = [0.5 * (a.theta[0] + b.theta[0]) for a, b in wide]
        found = search.evaluate_many(np.array(mids)[:, None]) if wide else []
        open_ = []
        for (a, b), m in zip(wide, found):
            if not _same_state(a, m):
                open_.append((a, m))
            if not _same_state(m, b):
                open_.append((m, b))
    brackets = sorted((ab for ab in brackets if not _same(*ab)), key=lambda ab: ab[0].theta[0])
    table = plateaus(search.history)
    unproven = sum(not (a.certified and b.certified) for a, b in brackets)
    return Outcome(
        f"{len(table)} plateaus, {len(brackets)} breakpoints located to {xtol:.2g}"
        + (f" ({unproven} between labels not proven)" if unproven else ""),
        extra=dict(plateaus=table, breakpoints=np.array([[a.theta[0], b.theta[0]] for a, b in brackets]).reshape(-1, 2),
                   xtol=xtol),
    )
