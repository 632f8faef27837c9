"""In-group dual flows with room: the part of a partition's certificate that a solver leaves open
(docs/partitions.md, section 3).

Given the divergence ``T`` (n, d) that the edges inside the groups must carry, find ``z`` on
those edges with ``J_in z = T`` and ``||z_e|| <= r_e``, with as much room ``r_e - ||z_e||`` as the
proof needs.  Two ways, cheap first (:meth:`Flows.candidates`):

1. *From the solver's dual* ``z0``: for wide data (more than three columns), first its
   residual routed along the widest spanning forest (:meth:`Flows.routed`, no Laplacian),
   and the most room (2.) found around any edges that overloads; then alternating
   projections onto the balls shrunk by the room wanted and onto ``{J_in z = T}`` in the
   norm weighted by ``1 / s``, ``s_e`` the room ``z0`` leaves (floored), so corrections go
   where there is room: one Laplacian.
2. *The most room there is*: ``max 1 - t`` subject to ``J_in z = T`` and
   ``||z_e|| <= t r_e``, a second-order cone program, solved by Clarabel's interior-point
   method (Goulart & Chen 2024) and then refined to the proof's rounding level.  The solver's
   dual can saturate edges that a flow need not saturate; this finds one that does not
   whenever one exists.

Each group's Laplacian is singular (constants): one point of each group is grounded.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from itertools import islice

import clarabel
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree
from scipy.sparse.linalg import spsolve_triangular

from . import problem
from ..graph import Graph
from .fused import group_means
from .linear import LDL_MAX_COLUMNS, LDL, LU, cg

MAX_ROUNDS = 8  # rounds of alternating projections
REWEIGHTED_ROUNDS = 8  # then rounds with the conductances refreshed from the flow
QUICK_PROGRESS = 0.01  # quick projections stop when a round lowers the largest load by less than this share
ROUTE_PASSES = 2  # routings of the residual along the same forest (the second routes the first's rounding)
ROUTE_ROOM = 1e-6  # routing starts from the solver's dual with at least this relative room on every edge
FACTOR_MAX_NODES = 2000  # grounded Laplacians of wide data up to this size are factorised
MOST_ROOM_MAX_UNKNOWNS = 20_000  # the most-room flow of one group (or region): at most this many unknowns (nodes x d)
# A most-room optimum above this has no flow in its balls for sure (beyond the interior-point
# method's accuracy; a group at its fusion threshold has an optimum of 1 - 1e-13).
NO_FLOW_LOAD = 1 + 1e-6
# The most-room flow around the edges short of room: regions of at most these many unknowns, then
# each group's (GROUP_REGION_STEPS).  The second region is for wide data only (more than
# LDL_MAX_COLUMNS columns), where a group's program is costly (breast cancer, gamma 25: 1.1 s with
# it, 8.0 s without); with up to three columns it cost more than it saved (moons n = 50,000,
# gamma 5: 0.2 s of a 1.3 s proof).
REGION_MAX_UNKNOWNS = (300, 4_000)
# Each group's program runs first on its edges within this many steps of its edges short of
# room (the rest of its flow held), and on the whole group only where that leaves less
# relative room than REGION_ROOM (moons, n = 50,000: a fifth of the edges, a third of the time).
GROUP_REGION_STEPS = 4
REGION_ROOM = 1e-6


def _threads():
    """The cores this process may use, fewer where ``OMP_NUM_THREADS`` says so (joblib's workers)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(limit))) if limit.isdigit() else cores


THREADS = _threads()  # most-room programs solved at once (:func:`in_order`)


class Flows:
    """The in-group flow problem of one candidate partition.

    Parameters
    ----------
    graph : Graph
    labels : ndarray (n,)
        The candidate's groups.
    inner : ndarray of int
        The edges inside groups (positive weight).
    r : ndarray
        Their radii ``gamma w_e``.
    T : ndarray (n, d)
        The divergence the flows must carry.
    z0 : ndarray
        The solver's dual on those edges (inside the balls).
    atol : float
        Residual to which the iterative Laplacian solves run (the proof's rounding scale).
    """

    def __init__(self, graph, labels, inner, r, T, z0, atol):
        n, d = T.shape
        self.root = np.full(int(labels.max()) + 1, n)
        np.minimum.at(self.root, labels, np.arange(n))
        self.ground = np.zeros(n)
        self.ground[self.root] = 1.0
        self.graph, self.labels, self.inner, self.atol = graph, labels, inner, atol
        ends = problem.rows(graph.edges, inner)
        self.i, self.j = ends.T
        # J_in: column e holds +1 at i_e and -1 at j_e (built directly: indexing J's rows costs more).
        self.J = sp.csc_array((np.tile([1.0, -1.0], inner.size), ends.ravel(), np.arange(0, 2 * inner.size + 1, 2)),
                              shape=(n, inner.size))
        self.r, self.z0 = r, z0
        # What a flow can carry: T less its group means (which are the fused solution's
        # rounding; no flow inside a group changes a group's sum, the proof's beta counts them).
        self.T = T - problem.rows(group_means(T, labels, int(labels.max()) + 1), labels)
        self.overloaded = []  # groups whose flow cannot fit its balls (set by the most-room search)
        self.outside = None  # edges left outside their balls by the last projections (set by them)
        self.no_flow = False  # set where whole groups have no flow in their balls (a most-room optimum > NO_FLOW_LOAD)
        self.room = -np.inf  # the relative room of the last flow proposed (set by candidates)

    def candidates(self, margin, quick=False):
        """Flows in the balls, cheapest first, each with more room than the last (see
        :meth:`_proposals`): from the solver's dual, aiming for ``margin`` (relative room per
        edge); then (unless ``quick``) the flow with the most room around the edges left short
        of room, on regions and then group by group (groups are independent problems)."""
        best = -np.inf
        for z, refine in self._proposals(margin, quick):
            if z is None:
                continue
            if refine:
                z = self.refined(z)
            room = self.room = 1 - float(np.max(problem.norms(z, 2) / self.r))
            if room > best and room >= 0:
                best = room
                yield z

    def _proposals(self, margin, quick):
        """``(flow, refine)``: the flows to try, and whether the balance equations still need
        :meth:`refined` (a routed flow is at the rounding its routing leaves)."""
        if self.T.shape[1] > LDL_MAX_COLUMNS:  # routing costs less than wide Laplacian solves
            shrunk = (1 - np.maximum(margin, ROUTE_ROOM)) * self.r  # room on every edge, in floating point too
            routed = self.routed(problem.project_dual(self.z0, shrunk, 2))
            if routed is not None:
                over = problem.norms(routed, 2) > self.r
                if not np.any(over):
                    yield routed, False
                elif not quick:  # a few edges over: re-route around them, the rest held
                    for z in self._rerouted(routed, over):
                        yield z, True
                    if self.no_flow:
                        return
        # With up to three columns the most-room programs are cheap, and run between the two
        # phases of projections, where they cost less than the second phase's
        # refactorisations; the second phase is for the rooms they cannot resolve (a group
        # at its fusion threshold: room 1e-13, below the interior-point method's accuracy).
        between = not quick and self.T.shape[1] <= LDL_MAX_COLUMNS
        z, inside = self._projected(margin, quick, phases=(0,) if between else (0, 1))
        if z is None:
            if not quick:
                yield self._most_room_by_group(np.arange(self.root.size), self.z0), True
            return
        if between and not np.all(inside):
            short = self._short(z, margin)
            if self._probed(z, short):
                return
            last = None
            for last, refine in self._repaired(z, margin):
                yield last, refine
            # The second phase only where the programs' flow, refined, left an edge outside its
            # ball (room below their accuracy): not where that flow was inside (the candidate then
            # failed on rounding, which extended precision settles) or a group has no flow.
            if (self.no_flow or last is None or self.room >= 0
                    or np.max(problem.norms(last, 2) / self.r) > NO_FLOW_LOAD):
                return
            z, inside = self._projected(margin, quick, phases=(1,), z=z)
            if np.all(inside):
                yield z, True
            return
        if np.all(inside):
            yield z, True
        if not quick:
            yield from self._repaired(z, margin)

    def _repaired(self, z, margin):
        """``(flow, True)``: ``z`` with the most room re-found around its edges short of room, on
        growing regions (:meth:`_rerouted`), then on each group holding one, most loaded first
        (the search ends at a group where no flow fits)."""
        short = self._short(z, margin)
        for rerouted in self._rerouted(z, short):
            yield rerouted, True
        if self.no_flow:
            return
        yield self._most_room_by_group(self._by_load(z, short), z, until_overloaded=True, short=short), True

    def _short(self, z, margin):
        """The edges of ``z`` with less than half the ``margin`` of room wanted."""
        return problem.norms(z, 2) > (1 - margin / 2) * self.r

    def _probed(self, z, short):
        """Whether the most loaded group, when small (:data:`REGION_MAX_UNKNOWNS`), has no flow
        in its balls (then :attr:`no_flow` is set): a wrong candidate usually overloads one group
        at once, and this ends its search for one small program."""
        group = self._by_load(z, short)[0]
        if np.count_nonzero(self.labels == group) * z.shape[1] > REGION_MAX_UNKNOWNS[0]:
            return False
        edges = np.flatnonzero(self.labels[self.i] == group)
        part = self._restricted(edges, z)._most_room()
        self.no_flow = part is not None and np.max(problem.norms(part, 2) / self.r[edges]) > NO_FLOW_LOAD
        return self.no_flow

    def _by_load(self, z, short):
        """The groups holding a ``short`` edge, most loaded first."""
        groups = self.labels[self.i[short]]
        load = np.zeros(self.root.size)
        np.maximum.at(load, groups, problem.norms(z[short], 2) / self.r[short])
        groups = np.unique(groups)
        return groups[np.argsort(-load[groups], kind="stable")]

    def _rerouted(self, z, short):
        """``z`` with the most-room flow on growing regions around the ``short`` edges (see
        :meth:`_region`; at most :data:`REGION_MAX_UNKNOWNS` unknowns, the second with more than
        three columns only), the flow elsewhere held.  A region of whole groups (independent
        problems) whose most room is none sets :attr:`no_flow`."""
        if not np.any(short):
            return
        tried = 0
        limits = REGION_MAX_UNKNOWNS if self.T.shape[1] > LDL_MAX_COLUMNS else REGION_MAX_UNKNOWNS[:1]
        for limit in limits:
            edges, whole = self._region(short, limit)
            if not tried < edges.size < self.r.size:
                continue
            tried = edges.size
            part = self._restricted(edges, z)._most_room()
            if part is not None:
                if whole and np.max(problem.norms(part, 2) / self.r[edges]) > NO_FLOW_LOAD:
                    self.no_flow = True  # one of its groups has no flow in its balls
                    return
                rerouted = z.copy()
                rerouted[edges] = part
                yield rerouted

    def _most_room_by_group(self, groups, z, until_overloaded=False, short=None):
        """The most-room flow on each of ``groups`` on its own (the groups' flow problems are
        independent), ``z`` elsewhere; records in :attr:`overloaded` the groups where even the
        most room is none (``t >= 1``: the group's flow cannot fit its balls, so its points do
        not all fuse).  ``until_overloaded``: stop at the first such group (no flow of the
        partition then fits, whatever the groups after it hold).  ``short``: the edges short of
        room; each group's program then runs first on its edges within
        :data:`GROUP_REGION_STEPS` steps of them, and on the whole group only where that region
        leaves less room than :data:`REGION_ROOM`."""
        start, z = z, z.copy()
        self.overloaded = []
        group = self.labels[self.i]
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.c_[groups, groups + 1])
        near = self._near(short, GROUP_REGION_STEPS) if short is not None and np.any(short) else None

        def program(k):  # the groups share no point, so their programs run in any order, on threads
            edges = np.sort(order[slice(*bounds[k])])
            region = edges if near is None else edges[near[edges]]
            if 0 < region.size < edges.size:
                part = self._restricted(region, start)._most_room()
                if part is not None and np.max(problem.norms(part, 2) / self.r[region]) <= 1 - REGION_ROOM:
                    return region, part, False
            return edges, self._restricted(edges, start)._most_room(), True

        for g, (edges, part, whole) in zip(groups, in_order(program, range(len(groups)))):
            if part is None:
                continue
            z[edges] = part
            if whole and np.max(problem.norms(part, 2) / self.r[edges]) >= 1:
                self.overloaded.append(int(g))
                if until_overloaded:
                    break
        return z

    def _region(self, short, limit):
        """``(edges, whole)``: the edges whose flow the most-room program re-routes, those of the
        groups holding an edge short of room (``whole``), or, when that is more than ``limit``
        unknowns, those within as many steps of the short edges as fit."""
        d = self.T.shape[1]
        groups = np.zeros(int(self.labels.max()) + 1, dtype=bool)
        groups[self.labels[self.i[short]]] = True
        if np.count_nonzero(groups[self.labels]) * d <= limit:
            return np.flatnonzero(groups[self.labels[self.i]]), True
        depth = self._steps(short)
        reach = np.sort(depth[np.isfinite(depth)])
        layer = reach[max(limit // d, 1) - 1] if reach.size * d > limit else np.inf
        return np.flatnonzero(self._near(short, layer, depth)), False  # whole layers of the search only

    def _steps(self, short):
        """Each point's number of steps from the ``short`` edges' end points along the edges inside groups."""
        mask = np.zeros(self.graph.n_edges, dtype=bool)
        mask[self.inner] = True
        return self.graph.hops_from(np.unique(np.r_[self.i[short], self.j[short]]), mask)

    def _near(self, short, steps, depth=None):
        """The edges (a mask) whose both end points are fewer than ``steps`` steps from the ``short`` edges."""
        near = (self._steps(short) if depth is None else depth) < steps
        return near[self.i] & near[self.j]

    def _restricted(self, edges, z):
        """The flow problem on some of the edges: they must carry what ``z`` on the other edges
        leaves of ``T`` at their end points."""
        nodes = np.unique(np.r_[self.i[edges], self.j[edges]])
        local = np.full(self.graph.n, -1)
        local[nodes] = np.arange(nodes.size)
        pairs = np.column_stack([local[self.i[edges]], local[self.j[edges]]])
        graph = Graph(int(nodes.size), pairs, np.ones(edges.size))
        labels = graph.components_of(np.ones(edges.size, dtype=bool))[1]
        others = z.copy()
        others[edges] = 0.0
        T = (self.T - self.J @ others)[nodes]
        return Flows(graph, labels, np.arange(edges.size), self.r[edges], T, self.z0[edges], self.atol)

    def _solver(self, conductance):
        """The grounded Laplacian's solve with these conductances (None when it cannot be factorised)."""
        # Normalised to a largest conductance of 1, so the grounding (1 at one point per group)
        # is on the Laplacian's scale; the potentials are scaled back.
        top = float(conductance.max())
        c = np.zeros(self.graph.n_edges)
        c[self.inner] = conductance / top
        try:
            solve = grounded_solver(self.graph, self.graph.laplacian(c, shift=self.ground), self.T.shape[1],
                                    self.atol)
        except RuntimeError:  # not quasi-definite in floating point: conductances too far apart
            return None
        return lambda R: solve(R) / top

    def refined(self, z, rounds=3):
        """Iterative refinement of ``J_in z = T``: corrections weighted by each edge's room, kept
        while they stay in the balls and shrink the residual (an interior-point solution meets
        the balance equations to its own tolerance only).  In ``T``'s precision: with ``T`` in
        extended precision, the corrections are solved in double and applied in extended."""
        T = self.T
        residual = T - self.J @ z
        size = self._carryable(residual)
        if size <= 10 * self.atol:  # at the proof's rounding level already
            return z
        room = self.r - problem.norms(z, 2)
        if not np.all(room > 0):
            return z
        conductance = _floored(room)  # the steps use the solve's own conductances
        solve = self._solver(conductance)
        if solve is None:
            return z
        for _ in range(rounds):
            step = z + conductance[:, None] * self._edge_diff(solve(residual.astype(float)))
            after = T - self.J @ step
            if not (np.all(problem.norms(step, 2) < self.r) and self._carryable(after) < size):
                break
            z, residual, size = step, after, self._carryable(after)
            if size <= self.atol:
                break
        return z

    def routed(self, z):
        """``z`` plus its residual ``T - J_in z`` carried along a maximum spanning forest of the
        room ``r_e - ||z_e||`` (its paths have the widest bottlenecks there are, Hu 1961): each
        forest edge carries what the residual sums to on its far side, so the balance holds to
        rounding with no Laplacian solve.  None when an edge has no room.  For a solver's dual,
        whose residual is small, this is the cheapest flow in the balls, when it fits."""
        room = self.r - problem.norms(z, 2)
        if not np.all(room > 0):
            return None
        n = self.graph.n
        widest = minimum_spanning_tree(sp.csr_array((1 / np.maximum(room, 1e-300), (self.i, self.j)), shape=(n, n)))
        edge = self._edge_index(*widest.nonzero())  # the forest's edges
        # Breadth-first from one super root joined to each group's root: parents before children.
        rows, cols = np.r_[self.i[edge], np.full(self.root.size, n)], np.r_[self.j[edge], self.root]
        order, parent = breadth_first_order(sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n + 1, n + 1)),
                                            n, directed=False)
        order = order[1:]
        if order.size < n:
            return None
        position = np.empty(n + 1, dtype=np.int64)
        position[order] = np.arange(n)
        child = np.flatnonzero(parent[:n] != n)  # every point but the groups' roots
        # carried[v] = residual[v] + the sum of carried over v's children: a unit upper triangular system.
        M = sp.eye_array(n, format="csr") - sp.csr_array(
            (np.ones(child.size), (position[parent[child]], position[child])), shape=(n, n))
        # The forest edge from each child to its parent, and J's sign at the child.
        e = self._edge_index(child, parent[child])
        sign = np.where(self.i[e] == child, 1.0, -1.0)
        z = z.copy()
        for _ in range(ROUTE_PASSES):
            residual = self.T - self.J @ z
            if self._carryable(residual) <= 10 * self.atol:  # at the proof's rounding level
                break
            carried = np.empty_like(residual)
            carried[order] = spsolve_triangular(M, residual[order], lower=False, unit_diagonal=True)
            z[e] += sign[:, None] * carried[child]
        return z

    def _carryable(self, residual):
        """The size of the part of a balance residual that flows can remove: the residual less
        its groups' means (no flow inside a group changes the group's sum; what is left there is
        the rounding of ``T``'s group means, which the proof's ``beta`` counts)."""
        return problem.fro(residual - problem.rows(group_means(residual, self.labels, self.root.size), self.labels))

    @cached_property
    def _edge_keys(self):
        """``(sorted keys i n + j, their edges)``, for :meth:`_edge_index` (keys up to ``n^2``: 64 bits)."""
        keys = self.i.astype(np.int64) * self.graph.n + self.j
        order = np.argsort(keys, kind="stable")
        return keys[order], order

    def _edge_index(self, a, b):
        """The index of the edge joining ``a[k]`` and ``b[k]`` (either way round)."""
        keys, order = self._edge_keys
        return order[np.searchsorted(keys, np.minimum(a, b).astype(np.int64) * self.graph.n + np.maximum(a, b))]

    def _edge_diff(self, y):
        return problem.rows(y, self.i) - problem.rows(y, self.j)

    def _projected(self, margin, quick=False, phases=(0, 1), z=None):
        """``(z, inside)``: the flow after the last round, and whether it is in the balls; from
        ``z`` (default: the solver's dual), through the given ``phases`` of rounds.
        The first phase (fixed conductances) ends early when, at the pace of its last round,
        its rounds left would not bring the largest load to 1 (projections stall at loads just
        above 1 where the flow needs re-routing, not shrinking).  The second (refreshed
        conductances) runs its rounds: it lowers the number of overloaded edges even where it
        cannot remove them, which keeps the most-room search that follows small (on 30-D data,
        stopping it early made that search 5 times slower).  ``quick``: each phase also ends
        once a round lowers the largest load by less than :data:`QUICK_PROGRESS` (a warm
        start's partition that no longer holds overloads its edges many times over, and more
        rounds do not change that)."""
        r = self.r
        z = self.z0 if z is None else z
        inside = problem.norms(z, 2) <= r
        for phase in phases:
            rounds = (MAX_ROUNDS, REWEIGHTED_ROUNDS)[phase]
            load = np.inf
            for k in range(rounds):
                if k == 0 or phase == 1:  # conductances: the room the flow leaves, refreshed late
                    room = _floored(np.maximum(r - problem.norms(z, 2), 1e-9 * r))
                    solve = self._solver(room)
                    if solve is None:
                        return (None, None) if phase == k == 0 else (z, inside)
                z = problem.project_dual(z, (1 - margin) * r, 2)
                z = z + room[:, None] * self._edge_diff(solve(self.T - self.J @ z))
                loads = problem.norms(z, 2) / r
                inside = loads <= 1
                self.outside = ~inside
                if np.all(inside):
                    return z, inside
                # At this round's pace, the phase's rounds left would not bring the largest load to 1.
                if phase == 0 and loads.max() - 1 > (load - loads.max()) * (rounds - 1 - k):
                    break
                if quick and loads.max() > (1 - QUICK_PROGRESS) * load:
                    break
                load = loads.max()
        return z, inside

    def _most_room(self):
        """The flow with the most room: ``max 1 - t`` subject to ``J_in z = T`` and
        ``||z_e|| <= t r_e``, a second-order cone program solved by Clarabel (Goulart & Chen
        2024); None when it is larger than :data:`MOST_ROOM_MAX_UNKNOWNS` allows or Clarabel
        does not solve it."""
        d = self.T.shape[1]
        m = self.r.size
        nodes = np.unique(np.r_[self.i, self.j])
        if nodes.size * d > MOST_ROOM_MAX_UNKNOWNS:
            return None
        # One point per group is dropped: a group's balance equations sum to zero.
        keep = np.setdiff1d(nodes, self.root)
        equal = sp.kron(self.J.tocsr()[keep], sp.eye(d), format="csr")
        # Cone e: (t r_e, z_e) in the second-order cone, written as s = b - A x with b = 0.
        cone_rows = np.arange(m) * (d + 1)
        rows = np.r_[cone_rows, (cone_rows[:, None] + 1 + np.arange(d)).ravel()]
        cols = np.r_[np.full(m, m * d), np.arange(m * d)]
        vals = np.r_[-self.r, -np.ones(m * d)]
        cones = sp.csr_matrix((vals, (rows, cols)), shape=(m * (d + 1), m * d + 1))
        A = sp.vstack([sp.hstack([equal, sp.csr_matrix((equal.shape[0], 1))]), cones]).tocsc()
        b = np.r_[self.T[keep].ravel(), np.zeros(m * (d + 1))]
        q = np.zeros(m * d + 1)
        q[-1] = 1.0
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        solver = clarabel.DefaultSolver(sp.csc_matrix((m * d + 1, m * d + 1)), q, A, b,
                                        [clarabel.ZeroConeT(equal.shape[0])] + [clarabel.SecondOrderConeT(d + 1)] * m,
                                        settings)
        solution = solver.solve()
        if solution.status not in (clarabel.SolverStatus.Solved, clarabel.SolverStatus.AlmostSolved):
            return None
        return np.asarray(solution.x[:-1]).reshape(m, d)


def in_order(function, items, threads=None):
    """``function(item)`` for each item, in order, computed on up to ``threads`` threads (default:
    every core; Clarabel releases the GIL) at most ``threads`` items ahead of the consumer, who may
    stop early (the items not started are then cancelled)."""
    threads = THREADS if threads is None else threads
    items = iter(items)
    if threads <= 1:
        yield from map(function, items)
        return
    pool = ThreadPoolExecutor(threads)
    pending = deque(pool.submit(function, item) for item in islice(items, threads))
    try:
        while pending:
            done = pending.popleft()
            pending.extend(pool.submit(function, item) for item in islice(items, 1))
            yield done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _floored(conductance):
    """Conductances at least 1e-12 of the largest, so the grounded Laplacian stays definite."""
    return np.maximum(conductance, 1e-12 * conductance.max())


def grounded_solver(graph, M, d, atol):
    """``M^{-1}`` for a grounded Laplacian on the graph's pattern: its LDL^T factor (up to three
    columns, or up to :data:`FACTOR_MAX_NODES` nodes), else Jacobi-CG to a residual of ``atol``,
    with SuperLU's LU when CG does not converge (kNN graphs of high-dimensional data fill their
    factors in).  A RuntimeError when the factorisation fails."""
    if d <= LDL_MAX_COLUMNS or graph.n <= FACTOR_MAX_NODES:
        factor = LDL(graph)
        factor.factorise(M)  # on the graph's Laplacian pattern: after the first, numeric only
        return factor.solve
    diag = M.diagonal()[:, None]
    lu = []

    def solve(R):
        scale = problem.fro(R)
        if scale == 0:
            return np.zeros_like(R)
        if not lu:
            x, _, ok = cg(M.__matmul__, lambda V: V / diag, R, R / diag, max(1e-13, atol / scale), 500)
            if ok:
                return x
            lu.append(LU(graph))
            lu[0].factorise(M)
        return lu[0].solve(R)

    return solve
