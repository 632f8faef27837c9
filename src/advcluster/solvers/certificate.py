"""Proving the partition a solve found (docs/partitions.md).

A solver returns centres ``X`` within some distance of the exact solution ``X*``; its labels
are only as good as that distance.  Here a candidate partition is turned into a proof:

1. *The fused solution*: the exact minimiser over centres constant on the candidate's groups
   (:class:`~advcluster.solvers.fused.FusedProblem`, Newton to rounding error).
2. *A dual certificate*: ``Z_e = r_e u_e`` on the edges between groups (``u_e`` the unit
   difference of their centres) and, inside each group, flows ``z_e`` with ``||z_e|| <= r_e``
   whose divergence balances every point: ``X - A + J Z = 0``.  They are found from the
   solver's own dual by alternating projections between the balls and the affine set (a
   weighted graph-Laplacian solve per round).  With both, the KKT conditions hold.
3. *Rounding, accounted for*: the computed ``(X, Z)`` is exact for data ``A''`` with
   ``||A - A''||_F <= beta`` (the residual plus a bound on its rounding).  The partition is
   proven for ``A`` itself when every pair of joined groups is more than ``2 beta`` apart and
   every in-group flow keeps a margin ``r_e - ||z_e||`` above the change of flow that a data
   change of ``beta`` can require (bounded through the groups' algebraic connectivity,
   ``lambda_2 >= 4 / (n_g diam_g)``, Mohar 1991).  A candidate short of that room only is
   redone in extended precision (``np.longdouble``), where ``beta`` is that much smaller.

What no candidate settles is counted, never hidden: an edge whose end points are closer than
the duality gap's radius ``sqrt(2 (P(X) - D(Z)))`` allows (the primal is 1-strongly convex),
with no proof of either fusion or separation, is *undecided*.

For ``p = 1`` the problem separates by feature: each column is proven on its own (a 1-D
problem, ``|z_e| <= r_e``), and a pair is fused when it is fused in every column.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..graph import first_appearance
from . import problem
from .fused import FusedProblem, group_means
from .labels import components
from .flows import Flows

EPS = np.finfo(float).eps
MAX_CANDIDATES = 3  # candidate partitions tried per proof
MIN_GAP = 10.0  # a candidate cuts the edge lengths where consecutive ones differ by this factor
COARSE_CANDIDATES = 2  # cuts of the coarsened problem's pair lengths tried (prove_coarsened)
# Set by clusterpath, whose next gamma mostly merges clusters: a warm start goes straight to the
# partition its groups merge into (the old partition itself where none merge), and prove_coarsened
# searches its flows in full (projections, then most-room programs).  Unset (a warm start after
# moved rows, whose groups often must split): the old partition first, then merged candidates
# with projections only, which fail cheaply.
MERGING_PATH: ContextVar[bool] = ContextVar("merging_path", default=False)
COARSE_ROUNDS = 2  # prove_coarsened: the merged candidate, then once more with points split off (_split_at)
SPLIT_MAX = 0.25  # _split_at splits off at most this share of the points
COARSE_CAP = 1e-3  # pairs of groups farther apart than this (unit spread) are never joined by them


@dataclass(frozen=True, eq=False)
class Proof:
    """What :func:`prove` established.

    Attributes
    ----------
    certified : bool
        The partition is proven exact (up to ``bound``, which is accounted for).
    labels : ndarray (n,)
        The proven partition, or the candidate the best effort ended with.
    n_undecided : int
        Edges of positive weight whose fusion is not proven (0 when certified).
    centers, dual : ndarray or None
        The polished exact solution and its dual certificate, when certified.
    bound : float
        ``beta``: the computed solution is exact for data within ``beta`` (Frobenius) of
        ``A`` (nan when not certified).
    near_threshold : bool
        Not certified, but a candidate's certificate holds in floating point with too little
        room for its rounding: the problem sits within rounding error of a fusion threshold,
        and a tighter solve cannot settle it.
    extended : bool
        Certified, by a certificate redone in extended precision (double's rounding left it
        too little room).
    """

    certified: bool
    labels: np.ndarray
    n_undecided: int
    centers: np.ndarray | None = None
    dual: np.ndarray | None = None
    bound: float = float("nan")
    near_threshold: bool = False
    extended: bool = False


def prove(A, graph, gamma, p, X, Z, gap, label_tol, data_error=0.0, shown_only=False, extended=None, early=False,
          refuted=None):
    """Prove the partition of the solution near ``(X, Z)``, or count what stays undecided.

    Parameters
    ----------
    A : ndarray (n, d)
        The data (centred and scaled by the caller).
    graph, gamma, p
        The problem.
    X, Z : ndarray
        A solver's centres and dual.
    gap : float
        ``P(X) - D(Z)`` (absolute), for the radius of the ball holding ``X*``.
    label_tol : float
        The best-effort threshold (relative to the data's unit spread) when nothing is proven.
    data_error : float
        A bound on how far ``A`` is from the exact data it represents (the rounding of centring
        and scaling), added to the proof's ``beta``.
    shown_only : bool
        Try one candidate only: the partition ``X`` shows at ``label_tol`` (a warm start's, from
        a solution of nearby data), with no search for the flows beyond projections from ``Z``.
        A quick test before any iteration; ``gap`` is then not used.
    extended : callable, optional
        Gives ``(A, gamma, data_error)`` in extended precision (``np.longdouble``): a candidate
        whose certificate holds with less room than double's rounding needs is then redone
        there.  None, or a platform whose ``longdouble`` is double: not tried.
    early : bool
        A try from an iterate short of ``tol`` (a solve that stops where it holds): no extended
        precision, and candidates whose fused Newton systems CG does not solve quickly fail
        (:meth:`FusedProblem.minimise`); its failure settles nothing.
    refuted : list, optional
        Partitions known to have no certificate for these data (a group with no flow in its
        balls: a fact of the data and the partition, not of the iterate), shared by the proofs
        of one solve: they are not tried again, and those found here are added.  Used where the
        columns form one block.
    """
    n, d = A.shape
    positive = graph.weights > 0
    ball = np.sqrt(2.0 * max(gap, 0.0))
    blocks = [slice(None)] if p == 2 and d > 1 else [slice(c, c + 1) for c in range(d)]
    fused = np.ones(graph.n_edges, dtype=bool)
    undecided = np.zeros(graph.n_edges, dtype=bool)
    Xp, Zp, beta, certified, near, extended_used = np.empty_like(X), np.empty_like(Z), 0.0, True, False, False
    for cols in blocks:
        dist = problem.norms(problem.edge_diff(graph, X[:, cols]), 2)
        if shown_only:
            labels = components(graph, positive & (dist <= label_tol))
            result = _certify(A[:, cols], graph, gamma, labels, X[:, cols], Z[:, cols], data_error, quick=True)
        else:
            result = _prove_block(A[:, cols], graph, gamma, positive, X[:, cols], Z[:, cols], dist, ball,
                                  data_error, None if early else _columns(extended, cols), early,
                                  refuted if len(blocks) == 1 else None)
        if result is None or isinstance(result, Near):
            certified = False
            undecided |= positive & (dist <= np.sqrt(2.0) * ball)
            if isinstance(result, Near):  # the best effort: the candidate that nearly holds
                near, fused = True, fused & result.fused
            else:
                fused &= dist <= label_tol
        else:
            proven = result[0]
            fused &= proven[graph.edges[:, 0]] == proven[graph.edges[:, 1]]
            Xp[:, cols], Zp[:, cols] = result[1], result[2]
            beta, extended_used = max(beta, result[3]), extended_used or result[4]
    # One block proven: its candidate's labels are the partition (numbered alike).
    labels = proven if certified and len(blocks) == 1 else components(graph, fused & positive)
    if certified:
        return Proof(True, labels, 0, Xp, Zp, beta, extended=extended_used)
    n_undecided = int(np.count_nonzero(undecided & ~_settled(graph, labels, X, ball)))
    return Proof(False, labels, n_undecided, near_threshold=near)


def prove_coarsened(A, graph, gamma, labels, Z, data_error, quick=None, extended=None, as_is=False):
    """``(proof, split)``: proof of the partition that the groups of ``labels`` merge into (None
    when there is none), and whether some groups were split first.

    The groups' fused problem is solved with coinciding centres allowed
    (:meth:`FusedProblem.coarsened`, a cone program on the groups); each cut of its pair
    lengths at a wide gap (:func:`_ladder`) joins the pairs below it into a candidate,
    certified as in :func:`prove` from the coarsened centres and the dual ``Z`` (docs/partitions.md,
    section 7).  When ``labels`` refine the exact partition, the coarsened centres are the
    exact solution, so a cut gives that partition.  Where a candidate's flows fail, the points
    around the edges left overloaded are split off (:func:`_split_at`) and the whole is tried
    again (:data:`COARSE_ROUNDS` in all): a group that must split then can.  Otherwise nothing
    is proven and nothing is lost.  ``quick``: flows by projection only, one cut (default:
    unless :data:`MERGING_PATH` is set).  ``as_is``: where the cone program joins no pair, the
    groups themselves are the candidate (else nothing is tried).  ``extended``: as for
    :func:`prove`.  ``p = 2`` (or one column)."""
    quick = not MERGING_PATH.get() if quick is None else quick
    extended = _columns(extended, slice(None))
    for round_ in range(COARSE_ROUNDS):
        fp = FusedProblem(A, graph, gamma, labels)
        if not fp.pa.size:
            return None, False
        c, ok = fp.coarsened()
        if not ok:
            return None, False
        _, length = fp.pair_geometry(c)
        overloaded = []
        cuts = [tau for tau in _ladder(length, COARSE_CAP)[:1 if quick else COARSE_CANDIDATES] if np.any(length <= tau)]
        for tau in cuts or ([-1.0] if as_is and round_ == 0 else []):  # -1: no pair joined
            join = length <= tau
            pairs = sp.coo_array((np.ones(np.count_nonzero(join)), (fp.pa[join], fp.pb[join])), shape=(fp.K, fp.K))
            k, merged = connected_components(pairs, directed=False)
            candidate = merged[labels]
            X = group_means(c[labels], candidate, k)[candidate]  # each merged group at its points' mean
            overloaded = []
            found = _certify(A, graph, gamma, first_appearance(candidate, k), X, Z, data_error, quick=quick,
                             extended=extended, short=overloaded)
            if found is not None and not isinstance(found, Near):
                labels_p, Xp, Zp, beta, extended_used = found
                return Proof(True, labels_p, 0, Xp, Zp, beta, extended=extended_used), round_ > 0
        if not overloaded or round_ + 1 == COARSE_ROUNDS:
            return None, False
        labels = _split_at(graph, labels, np.asarray(overloaded, dtype=np.int64))
        if labels is None:
            return None, False
    return None, False


def _split_at(graph, labels, edges):
    """``labels`` with the end points of ``edges`` and their neighbours in the same group split
    off (:func:`split_off`)."""
    i, j = graph.edges.T
    inside = (labels[i] == labels[j]) & (graph.weights > 0)
    near = np.zeros(graph.n, dtype=bool)
    near[graph.edges[edges].ravel()] = True
    step = inside & (near[i] | near[j])
    near[i[step]] = near[j[step]] = True
    return split_off(graph, labels, near)


def split_off(graph, labels, points, most=SPLIT_MAX):
    """``labels`` with the ``points`` (a mask) made single points, and each group's other points
    regrouped by its edges among them (a group that those points cut falls into its pieces);
    None when more than ``most`` of the points would be split off."""
    if np.count_nonzero(points) > most * graph.n:
        return None
    i, j = graph.edges.T
    inside = (labels[i] == labels[j]) & (graph.weights > 0)
    return components(graph, inside & ~points[i] & ~points[j])


def unbalanced(A, graph, X, Z, cut):
    """The points (a mask) whose balance ``a_i - x_i - (J Z)_i`` exceeds ``cut`` in norm: for a
    warm start ``(X, Z)`` solved on other data, where the data or the graph changed (a moved
    row carries its move; an edge added or dropped, its missing dual), the rest balancing to
    the old solve's accuracy."""
    return problem.norms(A - X - problem.edge_adjoint(graph, Z), 2) > cut


def _columns(extended, cols):
    """``extended`` restricted to some columns (None where extended precision adds nothing)."""
    if extended is None or np.finfo(np.longdouble).eps >= EPS:
        return None

    def block():
        A, gamma, data_error = extended()
        return A[:, cols], gamma, data_error

    return block


def _settled(graph, labels, X, ball):
    """Edges separated for sure by the gap's ball (farther apart than ``sqrt(2) * ball``)."""
    dist = problem.norms(problem.edge_diff(graph, X), 2)
    return dist > np.sqrt(2.0) * ball


def _prove_block(A, graph, gamma, positive, X, Z, dist, ball, data_error, extended, early=False, refuted=None):
    """``(labels, centres, dual, beta, extended)`` for one block of columns, a :class:`Near`, or None.
    ``refuted``: as for :func:`prove`.

    A candidate whose certificate holds but for the rounding margins ends the search: it is
    the solver's partition to within rounding, and the other candidates (finer or coarser
    cuts of the same lengths) would fail on the same pairs."""
    tried = []
    for tau in _ladder(dist[positive], np.sqrt(2.0) * ball)[:MAX_CANDIDATES]:
        labels = components(graph, positive & (dist <= tau))
        if any(np.array_equal(labels, t) for t in tried + (refuted or [])):
            continue
        tried.append(labels)
        found = _certify(A, graph, gamma, labels, X, Z, data_error, extended=extended, early=early, refuted=refuted)
        if found is not None:
            return found
    return None


@dataclass(frozen=True, eq=False)
class Near:
    """A candidate (its fused edges) whose certificate holds but for the room its rounding needs."""

    fused: np.ndarray


def _ladder(dist, cap):
    """Fusion thresholds to try, most plausible first: the widest gaps (by ratio, at least
    :data:`MIN_GAP`) in the sorted positive edge lengths, each no larger than ``cap``.

    A solver at tolerance ``tol`` leaves fused pairs at small distances and separated ones far
    apart (10-D blobs at tol 1e-6: fused edges below 1e-7, separated ones above 1e-2); edges
    longer than ``cap`` (the duality gap's radius) are separated for sure and never fused.
    The last threshold, 0, fuses exactly coinciding centres only.
    """
    d = np.sort(dist[dist > 0])  # repeated lengths have ratio 1: never a cut
    below, above = d[d <= cap], d[d > cap]
    if below.size == 0:
        return [0.0]
    cuts = np.r_[below, above[0] if above.size else np.inf]
    ratio = cuts[1:] / cuts[:-1]
    gaps = np.flatnonzero(ratio >= MIN_GAP)
    best = gaps[np.argsort(-ratio[gaps], kind="stable")[:MAX_CANDIDATES]]
    return [min(float(np.sqrt(cuts[k] * cuts[k + 1])), cap) for k in best] + [0.0]


def _certify(A, graph, gamma, labels, X, Z, data_error, quick=False, extended=None, short=None, early=False,
             refuted=None):
    """The fused solution of ``labels`` and its verified certificate; a :class:`Near` when a
    certificate holds in floating point (flows in the balls, groups apart) but without the
    room its rounding needs, and not in extended precision either; None otherwise.  ``quick``:
    flows by projection from ``Z`` only.  ``extended``: a callable giving ``(A, gamma,
    data_error)`` in extended precision, for :func:`_certify_extended`.  ``short``: a list that a
    failure in the flows extends with the edges the projections left overloaded.  ``early``: the
    fused solution by Newton steps whose systems CG solves quickly, or not at all (a try from an
    iterate short of ``tol``: :meth:`FusedProblem.minimise`).  ``refuted``: a list that a candidate
    with a group that has no flow in its balls (:attr:`Flows.no_flow`) is added to."""
    n, d = A.shape
    radius = gamma * graph.weights
    fp = FusedProblem(A, graph, gamma, labels)
    c, ok = fp.minimise(group_means(X, labels, fp.K), quick=early)
    if not ok:
        return None
    Xp = problem.rows(c, labels)
    i, j = graph.edges.T
    Zp = np.zeros((graph.n_edges, d))
    diff = problem.rows(Xp, i[fp.cross]) - problem.rows(Xp, j[fp.cross])
    length = problem.norms(diff, 2)
    if not np.all(length > 0):
        return None
    Zp[fp.cross] = (radius[fp.cross] / length)[:, None] * diff
    inner = np.flatnonzero((labels[i] == labels[j]) & (radius > 0))
    T = A - Xp - problem.edge_adjoint(graph, Zp)  # what the in-group flows must carry
    if inner.size:
        Zp[inner] = problem.project_dual(problem.rows(Z, inner), radius[inner], 2)
    # The room each group's flows need: the bound below with the rounding part of beta alone
    # (the solver's dual still has its residual, which the flows remove), doubled.
    rounding = _rounding(A, graph, Xp, Zp, fp.cross) + data_error
    groups = _Groups(graph, labels, inner) if inner.size else None
    if groups is not None:
        target = 2 * groups.need(_flow_change(graph, fp, length, radius, rounding, d))
        flows = Flows(graph, labels, inner, radius[inner], T, problem.rows(Zp, inner), 0.1 * rounding)
        candidates = flows.candidates(np.minimum(target / radius[inner], 0.5), quick)
    else:
        candidates = iter([None])
    near = None
    for z in candidates:
        if z is not None:
            Zp[inner] = z
        beta = problem.fro(A - Xp - problem.edge_adjoint(graph, Zp)) + rounding
        if not length.min(initial=np.inf) > 2 * beta:
            return None
        if z is None or groups.margins_suffice(radius[inner], z, _flow_change(graph, fp, length, radius, beta, d)):
            return labels, Xp, Zp, beta, False
        near = Near(labels[i] == labels[j])
        best = z
    if near is not None and extended is not None and not quick:
        return _certify_extended(*extended(), graph, labels, fp, c, best, inner, groups) or near
    if near is None and short is not None and groups is not None and flows.outside is not None:
        short.extend(inner[flows.outside].tolist())
    if near is None and refuted is not None and groups is not None and flows.no_flow:
        refuted.append(labels)
    return near


def _certify_extended(A, gamma, data_error, graph, labels, fp, c, z, inner, groups):
    """The certificate of :func:`_certify` redone in extended precision (``A``, ``gamma`` as
    ``np.longdouble``; docs/partitions.md, section 3): the fused centres polished by Newton
    steps solved in double, the cross duals and the flows' residual in extended precision.
    Its rounding, so its ``beta``, is ``eps_ext / eps`` (1/2048 on x86) of double's, for
    partitions whose room is smaller than double's rounding needs.  The same checks, with the
    centres and dual returned in double and ``beta`` covering their rounding; None when they fail."""
    i, j = graph.edges.T
    radius = gamma * graph.weights
    fx = FusedProblem(A, graph, gamma, labels)
    X = problem.rows(fx.polish(c, fp), labels)
    diff = problem.rows(X, i[fp.cross]) - problem.rows(X, j[fp.cross])
    length = problem.norms(diff, 2)
    if not np.all(length > 0):
        return None
    Z = np.zeros((graph.n_edges, A.shape[1]), dtype=A.dtype)
    Z[fp.cross] = (radius[fp.cross] / length)[:, None] * diff
    T = A - X - problem.edge_adjoint(graph, Z)
    rounding = _rounding(A, graph, X, Z, fp.cross) + data_error
    flows = Flows(graph, labels, inner, radius[inner], T, z, 0.1 * rounding)
    Z[inner] = flows.refined(np.asarray(z, dtype=A.dtype), rounds=6)
    beta = (problem.fro(A - X - problem.edge_adjoint(graph, Z)) + rounding) * (1 + 1e-12)  # fro's rounding to double
    if not (length.min(initial=np.inf) > 2 * beta and
            groups.margins_suffice(radius[inner], Z[inner], _flow_change(graph, fp, length, radius, beta, A.shape[1]))):
        return None
    Xd, Zd = X.astype(float), Z.astype(float)
    # The double centres and dual: exact for data within beta plus their own rounding.
    moved = problem.fro(X - Xd) + problem.fro(problem.edge_adjoint(graph, Z - Zd))
    return labels, Xd, Zd, (beta + moved) * (1 + 1e-12), True


def _flow_change(graph, fp, length, radius, beta, d):
    """How much the in-group divergence of each group (K,) can change when the data move by ``beta``.

    The fused centres move by ``||dc_a|| <= beta / sqrt(n_a)`` (the partition-constrained
    solution map is nonexpansive), the data by ``beta``, and in ``d > 1`` the cross duals
    ``r_e u_e`` by ``q_e = 2 r_e (||dc_a|| + ||dc_b||) / length_e``; the divergence they add to
    group ``g`` by at most ``sqrt(2 max cross degree) ||q_{E_g}||``, over the cross edges with an
    end in ``g``.  In one dimension the signs stay, so the cross duals do not move.
    """
    change = np.full(fp.K, 2 * float(beta))
    if d > 1 and fp.cross.size:
        labels = fp.labels
        a, b = labels[graph.edges[fp.cross, 0]], labels[graph.edges[fp.cross, 1]]
        q = (2 * radius[fp.cross] * (1 / np.sqrt(fp.sizes[a]) + 1 / np.sqrt(fp.sizes[b])) * beta / length).astype(float)
        deg = np.bincount(graph.edges[fp.cross].ravel(), minlength=graph.n).max()
        per_group = np.bincount(a, q * q, minlength=fp.K) + np.bincount(b, q * q, minlength=fp.K)
        change += np.sqrt(2.0 * deg) * np.sqrt(per_group)
    return change


def _rounding(A, graph, X, Z, cross):
    """A bound on the rounding in ``beta``: of computing the residual ``A - X - J Z`` (Higham's
    bound for sums: node ``i`` sums ``deg_i + 2`` terms), of the cross duals ``r_e u_e`` and of
    ``r_e = gamma w_e`` (a few ulps of ``r_e`` each)."""
    n, d = A.shape
    eps = float(np.finfo(A.dtype).eps)
    deg = np.bincount(graph.edges.ravel(), minlength=n).astype(float)
    size = np.abs(A) + np.abs(X) + abs(graph.incidence) @ np.abs(Z)
    bound = 0.51 * eps * problem.fro((deg + 3)[:, None] * size.astype(float))
    cross_r = np.bincount(graph.edges[cross].ravel(), np.repeat(problem.norms(Z[cross], 2).astype(float), 2),
                          minlength=n)
    return (bound + (d + 10) * eps * np.sqrt(d) * float(np.sqrt(np.dot(cross_r, cross_r)))) * (1 + 1e-6)


class _Groups:
    """The candidate's groups, for the room their flows need (docs/partitions.md, section 3).

    A change ``beta_t`` of the divergence is carried inside group ``g`` by a flow of norm at
    most ``beta_t / sqrt(lambda_2)`` on any connected subgraph ``H`` of the group's edges, with
    ``lambda_2 >= 4 / (n_g diam_H)`` (Mohar 1991); edges outside ``H`` keep their flow.  So the
    proof needs a spanning ``H`` whose every edge has room ``beta_t sqrt(n_g diam_H) / 2``.
    ``H`` is the edges with that room for a diameter bound ``D``: first ``D = n_g - 1`` (true of
    any connected subgraph), then, where that ``H`` does not connect the group, twice the depth
    of a breadth-first search, repeated while it grows (edges of tiny weight have no room to
    spare and are left out)."""

    MAX_ROUNDS = 6

    def __init__(self, graph, labels, inner):
        self.graph, self.labels, self.inner = graph, labels, inner
        self.group = labels[graph.edges[inner, 0]]
        self.K = int(labels.max()) + 1
        self.size = np.bincount(labels, minlength=self.K).astype(float)
        self.full = np.maximum(self.size - 1, 1)  # the diameter of any connected subgraph is at most this
        self.root = np.full(self.K, graph.n)
        np.minimum.at(self.root, labels, np.arange(graph.n))

    def need(self, beta_t, diameter=None):
        """The room each in-group edge needs, given each group's divergence change ``beta_t`` (K,)."""
        diameter = self.full if diameter is None else diameter
        return (beta_t * np.sqrt(self.size * diameter) / 2)[self.group]

    @cached_property
    def _all_edges(self):
        """:meth:`_diameter_bound` with every edge kept (one search per candidate)."""
        return self._diameter_bound(np.ones(self.inner.size, dtype=bool))

    def margins_suffice(self, r, z, beta_t):
        """Every group is spanned by edges with the room it needs (norms and ``r`` rounded)."""
        margin = (r - problem.norms(z, 2) - (z.shape[1] + 8) * np.finfo(z.dtype).eps * r).astype(float)
        diameter = self.full
        if np.all(margin > self.need(beta_t, diameter)):  # every edge has room for any diameter: no search
            return True
        for k in range(self.MAX_ROUNDS):
            spans, bound = self._diameter_bound(margin > self.need(beta_t, diameter))
            valid = spans & (bound <= diameter)
            if np.all(valid):
                return True
            if k == 0:  # the smallest diameter there can be: every edge with room
                room = margin > 0
                spans, bound = self._all_edges if room.all() else self._diameter_bound(room)
            grown = np.where(valid, diameter, bound)
            if not np.all(spans | valid) or (k > 0 and np.array_equal(grown, diameter)):
                return False
            diameter = grown
        return False

    def _diameter_bound(self, keep):
        """Per group: whether the kept edges connect it, and twice the depth of a breadth-first
        search over them from its first point (a bound on their diameter)."""
        mask = np.zeros(self.graph.n_edges, dtype=bool)
        mask[self.inner[keep]] = True
        depth = self.graph.hops_from(self.root, mask)
        ecc = np.zeros(self.K)
        np.maximum.at(ecc, self.labels, depth)
        spans = np.isfinite(ecc)
        return spans, np.where(spans, np.clip(2 * ecc, 1, self.full), np.inf)  # diam <= n_g - 1
